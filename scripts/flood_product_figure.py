"""Draw the flood product of a ``gee-flood demo`` run: the S1 scene, the student's and the change-detection maps
(flood, reference water, excluded), for docs/flood-product.md.

Usage: python scripts/flood_product_figure.py DEMO_OUT [OUT.png]
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import rasterio  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from PIL import Image  # noqa: E402

from gee_flood._io import atomic_path  # noqa: E402

COLOURS = {"not flood": (0.85, 0.85, 0.85), "excluded": (1.0, 0.6, 0.1), "reference water": (0.0, 0.1, 0.4),
           "flood": (0.0, 0.4, 1.0), "no data": (1.0, 1.0, 1.0)}  # fmt: skip


def classes(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        layers = dict(zip(src.descriptions, src.read(), strict=True))
    rgb = np.zeros((*layers["flood"].shape, 3))
    rgb[:] = COLOURS["not flood"]
    rgb[(layers["exclusion"] > 1)] = COLOURS["excluded"]
    rgb[layers["reference_water"] == 1] = COLOURS["reference water"]
    rgb[layers["flood"] == 1] = COLOURS["flood"]
    rgb[(layers["exclusion"] & 1) == 1] = COLOURS["no data"]
    return rgb


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("demo", type=Path)
    parser.add_argument("out", type=Path, nargs="?", default=Path("docs/images/flood_product.png"))
    args = parser.parse_args()
    with rasterio.open(args.demo / "s1_scene.tif") as src:
        vv = src.read(1)
    figure, axes = plt.subplots(1, 3, figsize=(12, 4.4))
    axes[0].imshow(np.clip((vv + 25) / 25, 0, 1), cmap="gray")
    axes[0].set_title("Sentinel-1 VV after the event")
    axes[1].imshow(classes(args.demo / "flood_map.tif"))
    axes[1].set_title("SAR-only student")
    axes[2].imshow(classes(args.demo / "flood_map_change.tif"))
    axes[2].set_title("change detection (UN-SPIDER)")
    for axis in axes:
        axis.set_axis_off()
    figure.legend(handles=[Patch(color=c, label=n) for n, c in COLOURS.items() if n != "no data"], loc="lower center",
                  ncol=4, frameon=False)  # fmt: skip
    figure.tight_layout(rect=(0, 0.07, 1, 0.95))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    with atomic_path(args.out, suffix=".png") as tmp:
        picture = Image.open(buffer).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
        picture.save(tmp, format="PNG", optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
