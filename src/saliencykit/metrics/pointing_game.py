"""The pointing game (Zhang et al. 2018, "Top-down neural attention by excitation backprop") and its
energy-based variant (Wang et al. 2020, "Score-CAM").

*Pointing game*: a hit when the map's maximum falls inside the annotated region, with a tolerance of
``tolerance`` pixels (15 in the paper): the point may be up to that Euclidean distance from the region.
*Energy*: the share of the map's (non-negative) mass that lies inside the region, no tolerance.

Regions are boxes ``[x0, y0, x1, y1]`` (x to the right, y down, in the map's pixel coordinates; both edges
inclusive, as pixel indices) or a boolean mask of the map's shape; several boxes form their union. Give
``image_size=(height, width)`` to resize a low-resolution map (e.g. 7 x 7) to the image the boxes refer to first.

Ties: when several pixels share the maximum, the hit counts when any of them is within tolerance (as openvino-xai
does); a constant map points nowhere and is always a miss. openvino-xai 1.1 differs in three ways: its boxes are
``(x, y, w, h)``, it has no tolerance (``tolerance=0`` here), and a constant map is a hit there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from ..errors import MethodError
from ..visualize import resize
from .scoring import JSONResult, check_map

Box = Sequence[float]


@dataclass
class PointingGameResult(JSONResult):
    """Whether the map's maximum hits the region, how far it is, and the energy inside (``point`` is (x, y))."""

    hit: bool
    energy: float
    point: tuple[int, int]
    distance: float
    maxima: int
    protocol: dict[str, Any] = field(default_factory=dict)


def boxes_mask(boxes: Sequence[Box], size: tuple[int, int]) -> np.ndarray:
    """A boolean mask of ``size=(height, width)`` that is True inside any box ``[x0, y0, x1, y1]`` (inclusive).

    >>> boxes_mask([[1, 0, 2, 1]], (3, 4)).astype(int).tolist()
    [[0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    """
    h, w = size
    mask = np.zeros((h, w), bool)
    for box in _check_boxes(boxes):
        x0, y0, x1, y1 = box
        c0, r0 = max(0, int(np.ceil(x0))), max(0, int(np.ceil(y0)))
        c1, r1 = min(w - 1, int(np.floor(x1))), min(h - 1, int(np.floor(y1)))
        if c1 >= c0 and r1 >= r0:
            mask[r0 : r1 + 1, c0 : c1 + 1] = True
    return mask


def _check_boxes(boxes: Sequence[Box]) -> list[tuple[float, float, float, float]]:
    out = []
    for box in boxes:
        values = [float(v) for v in box]
        if len(values) != 4:
            raise MethodError(f"box {list(box)}: give four numbers [x0, y0, x1, y1].")
        x0, y0, x1, y1 = values
        if x1 < x0 or y1 < y0:
            raise MethodError(f"box {values}: expected [x0, y0, x1, y1] with x1 >= x0 and y1 >= y0.")
        out.append((x0, y0, x1, y1))
    return out


def _distance_to_boxes(rows: np.ndarray, cols: np.ndarray, boxes: list[tuple[float, float, float, float]]):
    best = np.full(rows.shape, np.inf)
    for x0, y0, x1, y1 in boxes:
        dx = np.maximum(np.maximum(x0 - cols, cols - x1), 0.0)
        dy = np.maximum(np.maximum(y0 - rows, rows - y1), 0.0)
        best = np.minimum(best, np.hypot(dx, dy))
    return best


def pointing_game(
    saliency: np.ndarray,
    boxes: Sequence[Box] | None = None,
    mask: np.ndarray | None = None,
    tolerance: float = 15,
    image_size: tuple[int, int] | None = None,
) -> PointingGameResult:
    """Pointing-game hit and energy of ``saliency`` against ``boxes`` or ``mask``; see the module docstring.

    >>> m = np.zeros((100, 100), np.float32); m[50, 80] = 1
    >>> pointing_game(m, boxes=[[10, 10, 60, 60]], tolerance=15).hit  # 20 px to the right of the box
    False
    >>> pointing_game(m, boxes=[[10, 10, 60, 60]], tolerance=20).hit
    True
    """
    if (boxes is None) == (mask is None):
        raise MethodError("pointing_game: give either boxes=[[x0, y0, x1, y1], ...] or mask= (not both).")
    if tolerance < 0:
        raise MethodError(f"pointing_game: tolerance={tolerance} must be >= 0.")
    m = check_map(saliency)
    if image_size is not None:
        m = resize(m, (int(image_size[0]), int(image_size[1])))
    h, w = m.shape
    if mask is not None:
        region = np.asarray(mask, bool)
        if region.shape != (h, w):
            raise MethodError(
                f"pointing_game: mask of shape {region.shape} but the map is {(h, w)}; pass image_size= to resize "
                "the map to the mask's size."
            )
        box_list = None
    else:
        box_list = _check_boxes(boxes)  # type: ignore[arg-type]
        region = boxes_mask(box_list, (h, w))
    peak = float(m.max())
    constant = peak - float(m.min()) <= 1e-12
    rows, cols = np.nonzero(m == peak)
    if box_list is not None:
        distances = _distance_to_boxes(rows.astype(np.float64), cols.astype(np.float64), box_list)
    elif region.any():
        distance_map = ndimage.distance_transform_edt(~region)
        distances = distance_map[rows, cols]
    else:
        distances = np.full(rows.shape, np.inf)
    best = int(np.argmin(distances))
    distance = float(distances[best])
    hit = (not constant) and distance <= tolerance
    positive = m - m.min() if m.min() < 0 else m
    total = float(positive.sum())
    energy = float(positive[region].sum() / total) if total > 0 else 0.0
    protocol = {
        "metric": "pointing-game",
        "tolerance_px": float(tolerance),
        "resolution": [h, w],
        "region": "mask" if box_list is None else f"{len(box_list)} box(es), inclusive pixel indices",
        "ties": "hit if any maximum is within tolerance; constant map = miss",
        "energy": "share of the map inside the region (map shifted to >= 0 if it has negatives)",
    }
    return PointingGameResult(
        hit=bool(hit),
        energy=energy,
        point=(int(cols[best]), int(rows[best])),
        distance=distance,
        maxima=int(rows.size),
        protocol=protocol,
    )
