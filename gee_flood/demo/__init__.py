"""``gee-flood demo``: the whole pipeline on a built-in synthetic flood, with the local Earth Engine emulator."""
