"""Render one synthetic scene (terrain, truth, S1 and S2 before/after) to a PNG, for the README.

Usage: python scripts/synthetic_scene_figure.py [OUT.png] [--seed N] [--size PX]
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from PIL import Image  # noqa: E402

from gee_flood._io import atomic_path  # noqa: E402
from gee_flood.data.synthetic import LandCover, SceneConfig, generate_scene  # noqa: E402


def rgb(acquisition) -> np.ndarray:
    bands = [acquisition.band(b) / 10000.0 for b in ("B4", "B3", "B2")]
    return np.clip(np.stack(bands, axis=-1) / 0.3, 0, 1) ** (1 / 1.4)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", nargs="?", default="docs/images/synthetic_scene.png")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=768)
    args = parser.parse_args()
    scene = generate_scene(SceneConfig(seed=args.seed, height=args.size, width=args.size))
    s1_pre = scene.select("S1", post_event=False)[-1]
    s1_post = scene.select("S1", post_event=True)[0]
    s2_pre = scene.select("S2", post_event=False)[-1]
    s2_post = scene.select("S2", post_event=True)[0]
    truth = np.zeros(scene.dem_m.shape, np.uint8)
    truth[scene.flooded] = 1
    truth[scene.permanent_water] = 2
    fig, axes = plt.subplots(2, 5, figsize=(20, 8.6), constrained_layout=True)
    panels = [
        (scene.dem_m, "DEM (m)", "terrain", None),
        (np.minimum(scene.hand_m, 15), "height above nearest drainage (m, capped 15)", "viridis", None),
        (
            scene.land_cover,
            "land cover: " + ", ".join(c.name.lower() for c in LandCover),
            ListedColormap(["#2b6cb0", "#d6c55a", "#2f6b2f", "#c53030", "#a0785a"]),
            (0, 4),
        ),
        (
            truth,
            "truth: flood (cyan), permanent water (blue)",
            ListedColormap(["#eeeeee", "#4fd1c5", "#2b6cb0"]),
            (0, 2),
        ),
        (s2_post.cloud_probability, "post S2 cloud probability (0-100)", "gray", (0, 100)),
        (s1_pre.band("VV"), f"S1 VV dB pre ({s1_pre.properties['orbitProperties_pass'].lower()})", "gray", (-25, 0)),
        (s1_post.band("VV"), f"S1 VV dB post ({s1_post.properties['orbitProperties_pass'].lower()})", "gray", (-25, 0)),
        (s1_post.band("VH"), "S1 VH dB post", "gray", (-30, -5)),
        (rgb(s2_pre), f"S2 RGB pre ({s2_pre.properties['CLOUDY_PIXEL_PERCENTAGE']:.0f}% cloud)", None, None),
        (rgb(s2_post), f"S2 RGB post ({s2_post.properties['CLOUDY_PIXEL_PERCENTAGE']:.0f}% cloud)", None, None),
    ]
    for ax, (image, title, cmap, limits) in zip(axes.ravel(), panels, strict=True):
        kwargs = {} if limits is None else {"vmin": limits[0], "vmax": limits[1]}
        shown = ax.imshow(image, cmap=cmap, interpolation="nearest", **kwargs)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if cmap in ("terrain", "viridis", "gray"):
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
    fig.suptitle(
        f"synthetic scene seed {args.seed}: {args.size}x{args.size} px of 10 m, {scene.georef.crs}, "
        f"event {scene.event_date:%Y-%m-%d}, flooded {scene.flooded.mean():.0%} of the scene"
    )
    out = Path(args.out)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=72, format="png")
    buffer.seek(0)
    with atomic_path(out) as tmp, Image.open(buffer) as image:
        # A 256-colour palette keeps the speckled panels small enough for the repository.
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
            tmp, format="png", optimize=True
        )
    print(out)


if __name__ == "__main__":
    main()
