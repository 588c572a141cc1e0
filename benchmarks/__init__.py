"""Experiment harnesses of gee-flood: the benchmarks behind docs/benchmarks.md and docs/results/.

Not part of the installed package (pyproject.toml lists ``gee_flood`` alone; the wheel test checks that nothing of
``benchmarks/`` ships). Run each one from the repository root as a module, so that this folder is importable
without any path manipulation::

    python -m benchmarks.ombria --seed 0          # Protocol A (OMBRIA, label-scarce)
    python -m benchmarks.sen1floods11 --seed 0    # Protocol B (Sen1Floods11, needs the data and a GPU)
    python -m benchmarks.speed --threads 2        # inference and training speed
    python -m benchmarks.predict_memory           # peak memory of `gee-flood predict`
    python -m benchmarks.fetch                    # Earth Engine requests of `gee-flood fetch` (local emulator)

``python -m`` puts the working directory first on the import path, so from the repository root they run this
checkout's ``gee_flood`` (the same one ``pip install -e .`` installs).
"""
