"""The screen at a space's door (门口屏): a page for a tablet, by a device key."""
