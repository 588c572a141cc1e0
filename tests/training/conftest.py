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

SMALL_ARCH = {"name": "Unet", "encoder_name": "resnet18", "encoder_depth": 3, "decoder_channels": [32, 16, 8]}
#: A very light network for 256 px chips (about 0.37 GFLOP per chip).
TINY_ARCH = {
    "name": "Unet",
    "encoder_name": "tu-mobilenetv3_small_050",
    "encoder_depth": 3,
    "decoder_channels": [16, 8, 8],
}


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


def fake_ombria(root, *, train: int = 16, test: int = 2, seed: int = 0):
    """Write a tiny OMBRIA-layout folder (256x256 PNGs) whose SAR is dark and S2 blue where the mask is flooded."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, count in (("train", train), ("test", test)):
        for index in range(1, count + 1):
            sample = f"{index:04d}"
            field = gaussian_filter(rng.normal(size=(256, 256)), 12)
            flooded = field > np.quantile(field, 0.6)
            sar = np.clip(np.where(flooded, 40, 140) + rng.normal(0, 30, (256, 256)), 1, 255).astype(np.uint8)
            optical = np.where(flooded[..., None], [20, 90, 200], [120, 100, 60]).astype(np.uint8)
            mask = np.where(flooded, 255, 0).astype(np.uint8)
            for sensor, prefix, image in (("OmbriaS1", "S1", sar), ("OmbriaS2", "S2", optical)):
                for time in ("BEFORE", "AFTER", "MASK"):
                    folder = root / sensor / split / time
                    folder.mkdir(parents=True, exist_ok=True)
                    pixels = mask if time == "MASK" else image
                    Image.fromarray(pixels).save(folder / f"{prefix}_{time.lower()}_{sample}.png")
    return root


#: Overrides that make the committed OMBRIA configs tiny (for tests on a fake OMBRIA folder).
TINY_OMBRIA = {
    "model.architecture": TINY_ARCH,
    "data.crop_size": 32,
    "data.validation_count": 2,
    "optim.batch_size": 2,
    "optim.max_steps": 2,
    "optim.warmup_steps": 0,
    "trainer.val_every_steps": 2,
    "trainer.threads": 1,
    "trainer.progress_bar": False,
}
