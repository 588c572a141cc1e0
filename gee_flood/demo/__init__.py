"""``gee-flood demo``: the whole pipeline on a built-in synthetic flood, with the local Earth Engine emulator.

:func:`offline_session` is the demo's offline world for a notebook (the quickstart): the synthetic flood served by
the emulators, its AOI and dates, and the demo's model training.
"""

from gee_flood.demo.pipeline import DEMO_BUCKET, EMULATOR_PROJECT, DemoOptions, OfflineSession, offline_session

__all__ = ["DEMO_BUCKET", "EMULATOR_PROJECT", "DemoOptions", "OfflineSession", "offline_session"]
