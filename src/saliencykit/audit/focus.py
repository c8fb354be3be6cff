"""Where an image's top-1 map puts its mass: on the annotated object, on the border, concentrated or diffuse.

Every number is a share of the map's *energy*: the map clipped at 0 and normalised to sum 1, on a
:data:`GRID` x :data:`GRID` grid laid over the image frame (maps are stretched over the whole frame, as the
model's resize stretches the image). So a number does not depend on the map's native resolution or the
photo's size, and the numbers of two images, or of two classes, compare directly:

- ``object_energy``: the share inside the union of the annotated objects (boxes, or masks when given); ``None``
  without annotations. The energy variant of the pointing game (Wang et al. 2020, Score-CAM).
- ``pointing_hit``: whether the map's peak lies on an object (Zhang et al. 2018, without tolerance); ``None``
  without annotations.
- ``border_mass``: the share in the outer :data:`BORDER` band (10 % of the width on the left and right, 10 % of
  the height at the top and bottom; 36 % of the frame). A flat map puts 0.36 there.
- ``concentration``: the share held by the top :data:`TOP` (5 %) of grid cells. A flat map gives 0.05, a
  map with all its mass in one spot 1.
- ``peak``: ``[x, y]`` of the map's maximum as fractions of the width and height.
- ``peak_shared``: filled when the report is exported (:mod:`saliencykit.audit.classmaps`): the share of the
  other images predicted as the same class whose peak lies within :data:`NEAR` (0.1 of the frame) of this one.

:func:`reasons` turns them into the suspicious-focus reasons the store and report keep, with the thresholds of
:class:`~saliencykit.audit.cases.Thresholds` (documented there).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .cases import Thresholds

GRID = 64
BORDER = 0.1
TOP = 0.05
NEAR = 0.1
#: a peak within this distance of the frame's centre (in each direction) is where photographers put objects:
#: many images sharing it is no shortcut, so ``shared_peak`` is not raised there
CENTRE = 0.25
REASONS = ("outside_object", "border", "shared_peak", "diffuse")


def energy(saliency: np.ndarray, grid: int = GRID) -> np.ndarray | None:
    """The map on a ``grid`` x ``grid`` frame, clipped at 0 and normalised to sum 1; ``None`` when nothing is left.

    >>> float(energy(np.ones((7, 7))).sum())
    1.0
    """
    import cv2

    m = np.nan_to_num(np.asarray(saliency, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    shrinking = m.shape[0] >= grid and m.shape[1] >= grid
    small = cv2.resize(m, (grid, grid), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    e = np.clip(np.asarray(small, np.float64), 0.0, None)
    total = float(e.sum())
    return e / total if total > 0 else None


def _coverage(lo: float, hi: float, grid: int) -> np.ndarray:
    """How much of each of ``grid`` equal cells of [0, 1] the interval [lo, hi] covers (0..1)."""
    edges = np.arange(grid + 1, dtype=np.float64) / grid
    return np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0.0, None) * grid


def object_region(
    objects: Sequence[Mapping[str, Any]],
    size_hw: tuple[int, int],
    grid: int = GRID,
    masks: Mapping[str, np.ndarray] | None = None,
) -> np.ndarray:
    """The share (0..1) of each grid cell covered by the union of ``objects`` (boxes in pixels of an image of
    ``size_hw``; an object with a ``"mask"`` whose array is in ``masks`` counts by its mask pixels instead).

    >>> object_region([{"box": [0, 0, 50, 100]}], (100, 100), grid=4)[0].tolist()
    [1.0, 1.0, 0.0, 0.0]
    """
    import cv2

    h, w = size_hw
    region = np.zeros((grid, grid), np.float64)
    for obj in objects:
        mask = (masks or {}).get(obj.get("mask") or "")
        if mask is not None:
            m = cv2.resize(np.asarray(mask, np.float32), (grid, grid), interpolation=cv2.INTER_AREA)
            cover = np.clip(m.astype(np.float64), 0.0, 1.0)
        else:
            x0, y0, x1, y1 = (float(v) for v in obj["box"])
            cover = np.outer(_coverage(y0 / h, y1 / h, grid), _coverage(x0 / w, x1 / w, grid))
        region = np.maximum(region, cover)
    return region


def peak_of(saliency: np.ndarray) -> list[float]:
    """``[x, y]`` of the map's maximum (the first one) as fractions 0..1 of the width and height (cell centres).

    >>> m = np.zeros((10, 20)); m[2, 15] = 1; peak_of(m)
    [0.775, 0.25]
    """
    m = np.nan_to_num(np.asarray(saliency, dtype=np.float32), nan=-np.inf)
    row, col = np.unravel_index(int(np.argmax(m)), m.shape)
    return [round(float((col + 0.5) / m.shape[1]), 4), round(float((row + 0.5) / m.shape[0]), 4)]


def border_mask(grid: int = GRID, band: float = BORDER) -> np.ndarray:
    """Cells of the outer ``band`` of a ``grid`` x ``grid`` frame."""
    k = max(1, int(round(band * grid)))
    inner = np.zeros((grid, grid), bool)
    inner[k : grid - k, k : grid - k] = True
    return ~inner


_BORDER = border_mask()


def focus_stats(
    saliency: np.ndarray,
    objects: Sequence[Mapping[str, Any]] | None = None,
    size_hw: tuple[int, int] | None = None,
    masks: Mapping[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """The focus statistics of one map (see the module docstring); ``objects`` in pixels of an image of
    ``size_hw`` (needed with objects).

    >>> m = np.zeros((64, 64)); m[:4, :4] = 1
    >>> f = focus_stats(m, [{"box": [50, 50, 100, 100]}], (100, 100))
    >>> f["border_mass"], f["object_energy"], f["pointing_hit"]
    (1.0, 0.0, False)
    """
    e = energy(saliency)
    peak = peak_of(saliency)
    stats: dict[str, Any] = {
        "object_energy": None,
        "pointing_hit": None,
        "border_mass": 0.0,
        "concentration": 0.0,
        "peak": peak,
        "peak_shared": None,
    }
    if e is not None:
        top = max(1, math.ceil(TOP * e.size))
        stats["border_mass"] = round(float(e[_BORDER].sum()), 6)
        stats["concentration"] = round(float(np.partition(e.ravel(), e.size - top)[-top:].sum()), 6)
    if objects:
        if size_hw is None:
            raise ValueError("focus_stats: objects need the image's size_hw")
        region = object_region(objects, size_hw, GRID, masks)
        stats["object_energy"] = round(float((e * region).sum()), 6) if e is not None else 0.0
        col = min(GRID - 1, int(peak[0] * GRID))
        row = min(GRID - 1, int(peak[1] * GRID))
        stats["pointing_hit"] = bool(e is not None and region[row, col] >= 0.5)
    return stats


def reasons(focus: Mapping[str, Any], thresholds: Thresholds = Thresholds(), class_images: int = 0) -> list[str]:
    """Why a map's focus is suspicious, in :data:`REASONS` order (empty when it is not).

    ``class_images``: how many images share the predicted class (``shared_peak`` needs at least
    :data:`MIN_SHARED`).

    >>> reasons({"object_energy": 0.2, "border_mass": 0.7, "concentration": 0.3, "peak": [0.1, 0.1]})
    ['outside_object', 'border']
    """
    found = []
    object_energy = focus.get("object_energy")
    if object_energy is not None and object_energy < thresholds.object_energy:
        found.append("outside_object")
    if (focus.get("border_mass") or 0.0) >= thresholds.border:
        found.append("border")
    shared = focus.get("peak_shared")
    peak = focus.get("peak") or [0.5, 0.5]
    off_centre = abs(peak[0] - 0.5) > CENTRE or abs(peak[1] - 0.5) > CENTRE
    if shared is not None and class_images >= MIN_SHARED and shared >= thresholds.shared and off_centre:
        found.append("shared_peak")
    if (focus.get("concentration") or 0.0) < thresholds.diffuse:
        found.append("diffuse")
    return found


#: a class needs this many images before a shared peak means anything
MIN_SHARED = 4
