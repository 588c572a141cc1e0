"""Tiny synthetic S1/S2 chips for training tests (generated here; no real data).

Water is a smooth random blob field. Sentinel-1 sees it as dark backscatter under heavy speckle-like noise (SAR
alone is ambiguous pixel by pixel); Sentinel-2 sees it clearly (green above NIR), except under clouds (NaN and
``extras["s2_cloud"]``). A teacher with S2 is therefore much better than SAR alone, like in the real problem.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from gee_flood.data.chip import S1, S2, Chip
from gee_flood.training import ChipListDataset, Splits, config_from_dict
from tests.fixtures.training import SMALL_ARCH


def synthetic_chips(count: int, *, size: int = 32, seed: int = 0, clouds: bool = False, prefix: str = "syn"):
    rng = np.random.default_rng(seed)
    chips = []
    for index in range(count):
        field = gaussian_filter(rng.normal(size=(size, size)), 3)
        water = field > np.quantile(field, 0.65)
        vv = np.where(water, -19.0, -10.0) + rng.normal(0, 4.0, (size, size))
        vh = vv - 7.0 + rng.normal(0, 2.0, (size, size))
        s1 = np.stack([vv, vh]).astype(np.float32)
        land = np.array([0.12, 0.10, 0.09, 0.08, 0.14, 0.22, 0.26, 0.30, 0.31, 0.10, 0.02, 0.22, 0.15])
        wet = np.array([0.10, 0.09, 0.10, 0.06, 0.05, 0.03, 0.03, 0.02, 0.02, 0.01, 0.01, 0.01, 0.01])
        s2 = np.where(water[None], wet[:, None, None], land[:, None, None]) + rng.normal(0, 0.01, (13, size, size))
        s2 = s2.astype(np.float32)
        extras = {}
        if clouds:
            cloud = np.zeros((size, size), bool)
            top, left = rng.integers(0, size // 2, 2)
            cloud[top : top + size // 3, left : left + size // 3] = True
            s2[:, cloud] = np.nan
            extras["s2_cloud"] = cloud
        chips.append(
            Chip(
                chip_id=f"{prefix}_{index:03d}",
                event="synthetic",
                modalities={"s1": s1, "s2": s2},
                specs={"s1": S1, "s2": S2},
                label=water.astype(np.int8),
                valid=np.isfinite(s1).all(axis=0),  # SAR validity, as the readers set it
                extras=extras,
            )
        )
    return chips


def unlabelled(chips):
    return [
        Chip(c.chip_id, c.event, dict(c.modalities), dict(c.specs), label=None, valid=c.valid, extras=dict(c.extras))
        for c in chips
    ]


def tiny_config(role: str, tmp_path, *, inputs=("s1",), steps: int = 30, seed: int = 0, **sections):
    raw = {
        "role": role,
        "data": {"dataset": "memory", "inputs": list(inputs), "crop_size": None, **sections.pop("data", {})},
        "model": {"architecture": SMALL_ARCH},
        "optim": {"lr": 0.01, "batch_size": 4, "max_steps": steps, "warmup_steps": 0, **sections.pop("optim", {})},
        "trainer": {
            "seed": seed,
            "output_dir": str(tmp_path),
            "val_every_steps": 10,
            "progress_bar": False,
            "save_last": False,
            **sections.pop("trainer", {}),
        },
        **sections,
    }
    return config_from_dict(raw)


def splits_of(labelled, validation, pool=None) -> Splits:
    return Splits(
        labelled=ChipListDataset(labelled, name="synthetic"),
        validation=ChipListDataset(validation, name="synthetic"),
        unlabelled=ChipListDataset(unlabelled(pool), name="synthetic") if pool else None,
    )


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
