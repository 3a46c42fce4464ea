// Refresh a region from the server without reloading the page: an element
// with data-refresh="<url>" and data-every="<seconds>" gets the URL's HTML.
"use strict";
document.querySelectorAll("[data-refresh]").forEach((region) => {
  const seconds = Number(region.dataset.every || 30);
  const refresh = async () => {
    try {
      const response = await fetch(region.dataset.refresh, { credentials: "same-origin" });
      if (response.ok && response.headers.get("content-type").startsWith("text/html")) {
        region.innerHTML = await response.text();
        region.dataset.refreshed = String(Date.now());
      }
    } catch (error) {
      // Offline for a moment: the next round tries again.
    }
  };
  setInterval(refresh, seconds * 1000);
  region.addEventListener("refresh", refresh);
});
// A button with data-print prints the page (the sheet's own print styles apply).
document.querySelectorAll("[data-print]").forEach((button) => {
  button.addEventListener("click", () => window.print());
});
