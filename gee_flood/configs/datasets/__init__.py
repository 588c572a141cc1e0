"""Dataset configs (``<name>.yaml``), read with :func:`gee_flood.data.load_dataset_config`."""
