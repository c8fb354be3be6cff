"""Pure array functions that turn float saliency maps into pictures: normalise, resize, colour, overlay, grid.

Nothing here knows about models; maps stay float32 until one of these functions is called.
"""

from __future__ import annotations

from typing import Any, cast

import cv2
import numpy as np

from .errors import OptionError
from .images import check_image

_COLORMAPS = {
    "jet": cv2.COLORMAP_JET,
    "turbo": cv2.COLORMAP_TURBO,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "inferno": cv2.COLORMAP_INFERNO,
    "magma": cv2.COLORMAP_MAGMA,
    "hot": cv2.COLORMAP_HOT,
    "gray": None,
}


def normalize(saliency: np.ndarray) -> np.ndarray:
    """Min-max normalise a map to float32 [0, 1]; a constant (or non-finite) map becomes zeros.

    >>> normalize(np.array([[1.0, 3.0]])).tolist()
    [[0.0, 1.0]]
    """
    m = np.nan_to_num(np.asarray(saliency, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(m.min()), float(m.max())
    if hi - lo <= 1e-12:
        return np.zeros_like(m)
    return (m - lo) / (hi - lo)


#: the largest side a resized map may have: 4 bytes per pixel, so 32768 x 32768 is already 4 GB
MAX_MAP_SIDE = 32768


def check_size(size: object, name: str = "size") -> tuple[int, int]:
    """``size`` as (height, width) of positive whole numbers up to ``MAX_MAP_SIDE``; ``ValueError`` otherwise."""
    try:
        h, w = cast("tuple[Any, Any]", size)
        ok = all(not isinstance(v, (bool, np.bool_)) and float(v) == int(v) for v in (h, w))
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok or not (1 <= int(h) <= MAX_MAP_SIDE and 1 <= int(w) <= MAX_MAP_SIDE):
        raise ValueError(
            f"{name}={size!r}: give (height, width) in pixels, each between 1 and {MAX_MAP_SIDE}, "
            "e.g. the explained image's image.shape[:2]."
        )
    return int(h), int(w)


def resize(saliency: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinearly resize a float map to ``size=(height, width)``.

    >>> resize(np.zeros((7, 7), np.float32), (224, 300)).shape
    (224, 300)
    """
    h, w = check_size(size)
    m = np.asarray(saliency, dtype=np.float32)
    if m.shape == (h, w):
        return m.copy()
    return cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)


def fit(image: np.ndarray, max_side: int) -> np.ndarray:
    """``image`` shrunk so that its longest side is at most ``max_side`` (0: unchanged).

    Halvings with a Gaussian pyramid, then one bilinear step: the quality of area interpolation at a fraction
    of its cost (OpenCV's INTER_AREA is several times slower than the JPEG encoding of the result).

    >>> fit(np.zeros((100, 50, 3), np.uint8), 40).shape
    (40, 20, 3)
    """
    h, w = image.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return image
    while max(image.shape[:2]) >= 2 * max_side:
        image = cv2.pyrDown(image)
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)


def colorize(saliency: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """Map a [0, 1] float map to an RGB uint8 picture with a named colormap.

    >>> colorize(np.ones((2, 2), np.float32)).shape
    (2, 2, 3)
    """
    if colormap not in _COLORMAPS:
        raise OptionError(f"colormap '{colormap}': use one of {', '.join(_COLORMAPS)}.")
    gray = np.clip(np.asarray(saliency, dtype=np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    code = _COLORMAPS[colormap]
    if code is None:
        return np.repeat(gray[..., None], 3, axis=2)
    return cv2.cvtColor(cv2.applyColorMap(gray, code), cv2.COLOR_BGR2RGB)


def overlay(image: np.ndarray, saliency: np.ndarray, colormap: str = "jet", alpha: float = 0.5) -> np.ndarray:
    """Blend a coloured map over an RGB uint8 image: ``(1 - alpha) * image + alpha * colour``.

    The map is normalised and resized to the image first.

    >>> overlay(np.zeros((10, 20, 3), np.uint8), np.eye(3, dtype=np.float32)).shape
    (10, 20, 3)
    """
    if not 0.0 <= float(alpha) <= 1.0:
        raise OptionError(f"alpha={alpha}: the map's opacity must be between 0 (photo only) and 1 (map only).")
    image = check_image(image, "overlay image")
    colour = colorize(normalize(resize(saliency, image.shape[:2])), colormap)
    blended = (1.0 - alpha) * image.astype(np.float32) + alpha * colour.astype(np.float32)
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def draw_box(image: np.ndarray, box: tuple[float, float, float, float], text: str = "") -> np.ndarray:
    """Draw a box ``(x0, y0, x1, y1)`` and an optional label on a copy of an RGB uint8 image."""
    out = image.copy()
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    thickness = max(1, round(min(out.shape[:2]) / 200))
    cv2.rectangle(out, (x0, y0), (x1, y1), (255, 255, 255), thickness + 1)
    cv2.rectangle(out, (x0, y0), (x1, y1), (0, 0, 0), thickness)
    if text:
        cv2.putText(out, text, (x0 + 2, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 2)
        cv2.putText(out, text, (x0 + 2, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    return out


def draw_outline(image: np.ndarray, region: np.ndarray, text: str = "") -> np.ndarray:
    """Outline a region (a mask of any size, resized to the image's) on a copy of an RGB uint8 image, with a label.

    The outline is white over black, like :func:`draw_box`, so it shows on any map colour.
    """
    out = image.copy()
    h, w = out.shape[:2]
    mask: np.ndarray = np.asarray(region, np.float32)
    if mask.shape != (h, w):
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)
    contours, _ = cv2.findContours((mask >= 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    thickness = max(1, round(min(h, w) / 200))
    cv2.drawContours(out, contours, -1, (255, 255, 255), thickness + 1)
    cv2.drawContours(out, contours, -1, (0, 0, 0), thickness)
    if text and contours:
        x, y, _, _ = cv2.boundingRect(np.concatenate(contours))
        cv2.putText(out, text, (x + 2, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 2)
        cv2.putText(out, text, (x + 2, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    return out


def grid(pictures: list[np.ndarray], columns: int = 4, pad: int = 4) -> np.ndarray:
    """Lay out RGB uint8 pictures (resized to the first one's size) in a grid with white padding."""
    if not pictures:
        raise ValueError("grid: no pictures")
    h, w = pictures[0].shape[:2]
    columns = max(1, min(columns, len(pictures)))
    rows = -(-len(pictures) // columns)
    canvas = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), 255, np.uint8)
    for i, pic in enumerate(pictures):
        r, c = divmod(i, columns)
        tile = pic if pic.shape[:2] == (h, w) else cv2.resize(pic, (w, h), interpolation=cv2.INTER_AREA)
        canvas[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = tile
    return canvas
