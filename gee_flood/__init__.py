"""gee-flood: flood extent mapping from Sentinel-1 SAR by cross-modal distillation from Sentinel-2."""

__version__ = "0.1.0"
