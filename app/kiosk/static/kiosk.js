// The screen at the door: shows the space's state and asks again every 30 s.
// Through a network loss it keeps the last state with its time (also across
// a reload, from localStorage) and says the network is down.
(function () {
  "use strict";
  var REFRESH_MS = 30000;
  var space = document.body.dataset.space;
  var key = new URLSearchParams(window.location.search).get("key") || "";
  var stored = "zhendi-kiosk-" + space;
  var RULES = "请保持安静；离开时请签退，座位留给下一位。";

  function hhmm(iso) {
    return iso ? iso.slice(11, 16) : "";
  }

  // "12月9日 " before a time that is not today's.
  function day(iso, now) {
    if (iso.slice(0, 10) === now.slice(0, 10)) {
      return "";
    }
    return Number(iso.slice(5, 7)) + "月" + Number(iso.slice(8, 10)) + "日 ";
  }

  function show(id, value) {
    document.getElementById(id).textContent = value;
  }

  function isNow(slot, now) {
    var end = hhmm(slot.end) <= hhmm(slot.start) ? "24:00" : hhmm(slot.end);
    return hhmm(slot.start) <= now && now < end;
  }

  function timeline(slots, now) {
    var line = document.getElementById("timeline");
    line.replaceChildren();
    slots.forEach(function (slot) {
      var cell = document.createElement("div");
      cell.className = "slot " + slot.status + (isNow(slot, now) ? " now" : "");
      cell.title = hhmm(slot.start) + "–" + hhmm(slot.end);
      if (slot.start.slice(14, 16) === "00") {
        var label = document.createElement("span");
        label.textContent = slot.start.slice(11, 13);
        cell.appendChild(label);
      }
      line.appendChild(cell);
    });
  }

  function render(state) {
    var seats = state.occupancy;
    show("free", seats.free_now + " / " + seats.capacity);
    show("occupied", "已签到 " + seats.checked_in + " 人");
    var later = seats.next_free_at ? "预计 " + hhmm(seats.next_free_at) + " 起有空位" : "今明两天暂无空位";
    show("next-free", seats.free_now ? "" : later);
    var next = state.next;
    show("next", next ? day(next.start, state.now) + hhmm(next.start) + "–" + hhmm(next.end) + "　" + next.who : "暂无预约");
    show("rules", state.space.rules || RULES);
    timeline(state.timeline, hhmm(state.now));
    document.getElementById("qr").innerHTML = state.check_in_qr || "";
    show("updated", "更新于 " + hhmm(state.now));
  }

  function offline(down) {
    document.getElementById("offline").hidden = !down;
  }

  function refresh() {
    return fetch("/kiosk/spaces/" + space + "/state", {
      headers: { "X-Kiosk-Key": key },
      cache: "no-store",
    })
      .then(function (answer) {
        if (!answer.ok) {
          throw new Error(String(answer.status));
        }
        return answer.json();
      })
      .then(function (state) {
        render(state);
        offline(false);
        try {
          window.localStorage.setItem(stored, JSON.stringify(state));
        } catch (full) {
          // Private mode or a full store: the screen still shows the state.
        }
      })
      .catch(function () {
        offline(true);
      });
  }

  function tick() {
    show("clock", new Date().toLocaleTimeString("zh-CN", {
      hour: "2-digit", minute: "2-digit", timeZone: "Asia/Shanghai",
    }));
  }

  var last = window.localStorage.getItem(stored);
  if (last) {
    render(JSON.parse(last));
  }
  tick();
  refresh();
  window.setInterval(refresh, REFRESH_MS);
  window.setInterval(tick, 10000);
  window.zhendiKiosk = { refresh: refresh };
})();
