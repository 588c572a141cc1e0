from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine

from gee_flood.data.chip import S1, S2
from gee_flood.data.normalization import BandStats, NormalizationStats
from gee_flood.models import ArchitectureSpec, InputModality, ModelCard, build_model, save_checkpoint

UTM = "EPSG:32633"
ORIGIN = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0)


def tiny_card(role: str = "student", inputs=(S1,)) -> ModelCard:
    stats = {
        "s1": BandStats(bands=["VV", "VH"], mean=[-12.0, -19.0], std=[4.0, 4.0]),
        "s2": BandStats(bands=list(S2.bands), mean=[0.1] * 13, std=[0.05] * 13),
    }
    return ModelCard(
        role=role,
        inputs=[InputModality.from_spec(spec) for spec in inputs],
        normalization=NormalizationStats(modalities={spec.name: stats[spec.name] for spec in inputs}),
        architecture=ArchitectureSpec(
            name="Unet", encoder_name="resnet18", encoder_depth=3, decoder_channels=[16, 8, 4]
        ),
    )


def make_checkpoint(path: Path, role: str = "student", inputs=(S1,), seed: int = 0) -> Path:
    card = tiny_card(role, inputs)
    torch.manual_seed(seed)
    return save_checkpoint(build_model(card).eval(), card, path)


def write_s1(path: Path, s1_db: np.ndarray, *, crs=UTM, transform=ORIGIN, descriptions=("VV", "VH"), nodata=None):
    profile = dict(driver="GTiff", width=s1_db.shape[2], height=s1_db.shape[1], count=s1_db.shape[0], dtype="float32")
    if crs is not None:
        profile.update(crs=crs, transform=transform)
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(s1_db.astype(np.float32))
        for index, description in enumerate(descriptions or (), start=1):
            dst.set_band_description(index, description)
    return path


def synthetic_s1(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Dark (water-like, about -22 dB VV) left part with a wavy edge, brighter land (-8 dB), speckle."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    water = cols < width * (0.4 + 0.1 * np.sin(rows / max(height, 1) * 6.0))
    vv = np.where(water, -22.0, -8.0) + rng.normal(0, 1.0, (height, width))
    vh = vv - 7.0
    return np.stack([vv, vh]).astype(np.float32)


@pytest.fixture(scope="session")
def student_ckpt(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "student.ckpt")
