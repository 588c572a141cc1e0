"""Cleanup of a written flood product, streamed: Sentinel-1 border noise and the minimum mapping unit.

Both run on the temporary tiled GeoTIFF that predict writes, before it becomes a COG, one strip of rows at a time:

- **Border noise.** Sentinel-1 GRD scenes carry a strip of low, water-like backscatter along the swath's near and
  far edges (thermal/border noise). Every pixel within ``border_px`` of the scene's no data (the swath edge; the
  raster's own edge is not one) is set to no data in ``flood`` and flagged no data (bit 1) in ``exclusion``.
- **Minimum mapping unit.** Flood regions (8-connected, as Earth Engine's ``connectedPixelCount`` in UN-SPIDER's
  recipe) of fewer than ``min_mapping_unit`` pixels are removed from ``flood``.

The connected regions are labelled by hand across strips: ``scipy.ndimage.label`` needs the whole array, and
dask-image (whose ``label`` merges chunk labels the same way) is not a dependency. Each strip is labelled with
scipy; only regions touching a strip's first or last row can continue into another strip, so only those enter a
union-find that merges them across boundaries, and a second pass relabels each strip (identically) and drops the
pixels of small regions. Memory: a strip plus a few int64 per boundary region (at most two rows per strip).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import rasterio.windows
from scipy import ndimage

from gee_flood.product.layers import EXCLUDED_NODATA, EXCLUSION, FLOOD, LIKELIHOOD, NODATA

#: Rows per strip.
STRIP_ROWS = 512
_EIGHT = np.ones((3, 3), bool)


@dataclass
class CleanupSummary:
    """What the cleanup changed.

    Attributes:
        border_pixels: Valid pixels set to no data as border noise.
        removed_pixels: Flood pixels removed by the minimum mapping unit.
        removed_regions: Flood regions removed.
        flood_pixels: Flood pixels left.
    """

    border_pixels: int = 0
    removed_pixels: int = 0
    removed_regions: int = 0
    flood_pixels: int = 0


def _band(dataset: Any, name: str) -> int:
    return list(dataset.descriptions).index(name) + 1


def _window(dataset: Any, start: int, stop: int) -> rasterio.windows.Window:
    return rasterio.windows.Window(0, start, dataset.width, stop - start)


def mask_border_noise(dataset: Any, border_px: int, strip_rows: int = STRIP_ROWS) -> int:
    """Set pixels within ``border_px`` of the scene's no data to no data (``flood``, ``exclusion``), in place.

    Args:
        dataset: The product GeoTIFF, open ``r+`` (bands named per :data:`gee_flood.product.LAYERS`).
        border_px: Distance in pixels (chessboard); 0 does nothing.
        strip_rows: Rows per strip.

    Returns:
        Valid pixels masked.
    """
    if border_px <= 0:
        return 0
    likelihood, flood, exclusion = (_band(dataset, name) for name in (LIKELIHOOD, FLOOD, EXCLUSION))
    masked = 0
    for start in range(0, dataset.height, strip_rows):
        stop = min(start + strip_rows, dataset.height)
        lo, hi = max(0, start - border_px), min(dataset.height, stop + border_px)
        # the likelihood band is never changed here: the halo rows read are the scene's own no data
        nodata = dataset.read(likelihood, window=_window(dataset, lo, hi)) == NODATA
        near = ndimage.maximum_filter(nodata, size=2 * border_px + 1, mode="constant", cval=False)
        near = near[start - lo : start - lo + stop - start] & ~nodata[start - lo : start - lo + stop - start]
        if not near.any():
            continue
        window = _window(dataset, start, stop)
        bits, flooded = dataset.read(exclusion, window=window), dataset.read(flood, window=window)
        bits[near] |= EXCLUDED_NODATA
        flooded[near] = NODATA
        dataset.write(bits, exclusion, window=window)
        dataset.write(flooded, flood, window=window)
        masked += int(near.sum())
    return masked


class _UnionFind:
    """Regions that touch a strip boundary, over the whole map: parent links and pixel counts (int64, grown).

    Only those regions need merging across strips; a region inside one strip is measured by that strip alone, so
    the union-find holds at most two rows of labels per strip, whatever the number of regions in the map.
    """

    def __init__(self) -> None:
        self.parent = np.zeros(0, np.int64)
        self.size = np.zeros(0, np.int64)

    def add(self, counts: np.ndarray) -> int:
        """Register new regions with these pixel counts; return the global id of the first."""
        first = len(self.parent)
        self.parent = np.concatenate([self.parent, np.arange(first, first + len(counts))])
        self.size = np.concatenate([self.size, counts.astype(np.int64)])
        return first

    def find(self, label: int) -> int:
        root = label
        while self.parent[root] != root:
            root = int(self.parent[root])
        while self.parent[label] != root:  # path compression
            self.parent[label], label = root, int(self.parent[label])
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def roots(self) -> np.ndarray:
        """The root of every region (vectorised pointer jumping)."""
        parent = self.parent.copy()
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                return parent
            parent = jumped


def _touching_pairs(above: np.ndarray, below: np.ndarray) -> np.ndarray:
    """Unique ``(label above, label below)`` pairs of 8-connected pixels across a row boundary."""
    pairs = []
    for shift in (-1, 0, 1):
        upper = above[max(0, shift) : len(above) + min(0, shift)]
        lower = below[max(0, -shift) : len(below) + min(0, -shift)]
        both = (upper >= 0) & (lower >= 0)
        pairs.append(np.stack([upper[both], lower[both]], axis=1))
    joined = np.concatenate(pairs)
    return np.unique(joined, axis=0) if len(joined) else joined


def _global_ids(labels_row: np.ndarray, boundary: np.ndarray, first: int) -> np.ndarray:
    """Global region id of each pixel of a boundary row (-1 where there is no region)."""
    index = np.searchsorted(boundary, labels_row)
    index = np.clip(index, 0, max(len(boundary) - 1, 0))
    found = (labels_row > 0) & (boundary[index] == labels_row) if len(boundary) else np.zeros_like(labels_row, bool)
    return np.where(found, first + index, -1)


def remove_small_regions(dataset: Any, min_pixels: int, strip_rows: int = STRIP_ROWS) -> tuple[int, int]:
    """Remove flood regions (8-connected) of fewer than ``min_pixels`` pixels from ``flood``, in place, streamed.

    Args:
        dataset: The product GeoTIFF, open ``r+``.
        min_pixels: Minimum region size; 0 or 1 does nothing.
        strip_rows: Rows per strip.

    Returns:
        ``(pixels removed, regions removed)``.
    """
    if min_pixels <= 1:
        return 0, 0
    band = _band(dataset, FLOOD)
    regions = _UnionFind()
    boundaries: list[tuple[np.ndarray, int]] = []  # per strip: sorted local ids touching its edges, first global id
    previous_last: np.ndarray | None = None
    inner_small = 0
    for start in range(0, dataset.height, strip_rows):  # pass 1: label strips, merge across their boundaries
        stop = min(start + strip_rows, dataset.height)
        labels, _count = ndimage.label(dataset.read(band, window=_window(dataset, start, stop)) == 1, _EIGHT)
        counts = np.bincount(labels.ravel())
        boundary = np.union1d(labels[0], labels[-1])
        boundary = boundary[boundary > 0]
        first = regions.add(counts[boundary])
        boundaries.append((boundary, first))
        inner = np.ones(len(counts), bool)
        inner[0] = False
        inner[boundary] = False
        inner_small += int(np.count_nonzero(inner & (counts < min_pixels)))
        top = _global_ids(labels[0], boundary, first)
        if previous_last is not None:
            for a, b in _touching_pairs(previous_last, top):
                regions.union(int(a), int(b))
        previous_last = _global_ids(labels[-1], boundary, first)
    roots = regions.roots()
    region_size = np.bincount(roots, weights=regions.size, minlength=len(roots)) if len(roots) else np.zeros(0)
    keep_global = region_size[roots] >= min_pixels if len(roots) else np.zeros(0, bool)
    is_root = roots == np.arange(len(roots))
    removed_regions = inner_small + int(np.count_nonzero(is_root & (region_size < min_pixels)))
    removed = 0
    for index, start in enumerate(range(0, dataset.height, strip_rows)):  # pass 2: drop small regions' pixels
        stop = min(start + strip_rows, dataset.height)
        window = _window(dataset, start, stop)
        flood = dataset.read(band, window=window)
        labels, _count = ndimage.label(flood == 1, _EIGHT)  # the same labels as in pass 1
        keep = np.bincount(labels.ravel()) >= min_pixels
        boundary, first = boundaries[index]
        keep[boundary] = keep_global[first : first + len(boundary)]
        drop = (labels > 0) & ~keep[labels]
        if drop.any():
            flood[drop] = 0
            dataset.write(flood, band, window=window)
            removed += int(drop.sum())
    return removed, removed_regions


def clean_product(dataset: Any, *, min_mapping_unit: int, border_px: int) -> CleanupSummary:
    """Border noise, then the minimum mapping unit, on an open (``r+``) product GeoTIFF; count what is left."""
    summary = CleanupSummary(border_pixels=mask_border_noise(dataset, border_px))
    summary.removed_pixels, summary.removed_regions = remove_small_regions(dataset, min_mapping_unit)
    band = _band(dataset, FLOOD)
    for start in range(0, dataset.height, STRIP_ROWS):
        stop = min(start + STRIP_ROWS, dataset.height)
        summary.flood_pixels += int(np.count_nonzero(dataset.read(band, window=_window(dataset, start, stop)) == 1))
    return summary
