"""Configs shipped with gee-flood, installed as the package ``gee_flood.configs``.

This folder is the repository's top-level ``configs/``, mapped onto ``gee_flood.configs`` by ``package-dir`` in
``pyproject.toml``, so the same files serve a source checkout, an editable install and a wheel. Training configs
(``<dataset>_<role>[_<kind>].yaml``) are found by name with :func:`gee_flood.training.config.resolve_config`;
dataset configs (``datasets/<name>.yaml``) with :func:`gee_flood.data.load_dataset_config`.
"""
