"""The small copy of an image's top-1 map that the run store keeps (column ``map32``): 32 x 32, float16.

Per-class mean maps, shared peaks and the comparison of two audits need every image's map aligned to the image
frame, but not its full resolution: 32 x 32 values (2 KB) per image keep a 100 000-image store small and are
read back without touching the ``.npz`` files. The map is shrunk with ``cv2.INTER_AREA`` (the mean of the pixels
each cell covers), divided by its maximum when that is positive, and stored as C-order float16 bytes.
"""

from __future__ import annotations

import numpy as np

from ..errors import SaliencyKitError

SIDE = 32
NBYTES = SIDE * SIDE * 2


def shrink(saliency: np.ndarray) -> np.ndarray:
    """The map as 32 x 32 float32, scaled so that its maximum is 1 (unchanged when the maximum is <= 0).

    >>> shrink(np.ones((224, 224), np.float32)).shape
    (32, 32)
    """
    import cv2

    m = np.nan_to_num(np.asarray(saliency, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if m.ndim != 2 or m.size == 0:
        raise SaliencyKitError(f"a saliency map of shape {m.shape}: expected a non-empty 2-D (height, width) map.")
    small = np.asarray(cv2.resize(m, (SIDE, SIDE), interpolation=cv2.INTER_AREA), dtype=np.float32)
    peak = float(small.max())
    return np.ascontiguousarray(small / peak if peak > 0 else small, dtype=np.float32)


def encode(saliency: np.ndarray) -> bytes:
    """The ``map32`` bytes of a map (any size): :func:`shrink` as C-order float16.

    >>> len(encode(np.random.default_rng(0).random((7, 7))))
    2048
    """
    return shrink(saliency).astype(np.float16).tobytes(order="C")


def decode(blob: bytes) -> np.ndarray:
    """The 32 x 32 float32 map of ``map32`` bytes.

    >>> decode(encode(np.eye(64))).shape
    (32, 32)
    """
    if len(blob) != NBYTES:
        raise SaliencyKitError(f"a map32 value of {len(blob)} bytes: expected {NBYTES} (32 x 32 float16).")
    return np.frombuffer(blob, np.float16).reshape(SIDE, SIDE).astype(np.float32)
