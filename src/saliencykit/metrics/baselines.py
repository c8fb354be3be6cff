"""Control "methods" that ignore the model, to calibrate the metrics: a good metric must tell them apart.

An edge detector makes pretty maps (they follow the object's outline) that say nothing about the model; it must
fail the model-randomisation check, and a faithful method should beat it on insertion/deletion.
"""

from __future__ import annotations

import cv2
import numpy as np
import openvino as ov

from .scoring import ExplainFn


def sobel_map(image: np.ndarray, target: int | None = None) -> np.ndarray:
    """Sobel gradient magnitude of the grey image, lightly smoothed, in [0, 1]; ``target`` is ignored.

    >>> sobel_map(np.zeros((8, 8, 3), np.uint8)).shape
    (8, 8)
    """
    grey = cv2.cvtColor(np.asarray(image).astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = cv2.GaussianBlur(np.hypot(gx, gy), (0, 0), sigmaX=2.0)
    peak = float(magnitude.max())
    return magnitude / peak if peak > 0 else magnitude


def sobel_factory(model: ov.Model | None = None) -> ExplainFn:
    """An explain factory (see :func:`~saliencykit.metrics.model_randomization`) that ignores the model."""
    return sobel_map
