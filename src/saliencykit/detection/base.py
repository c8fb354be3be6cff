"""What detection methods are given: ``detect`` (perturbed pixels -> dense detections). The method protocols are
the ones every task shares (:mod:`saliencykit.methods.base`); these names are kept for code that imports them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..methods.base import BlackBoxMethod as DetectionBlackBoxMethod
from ..methods.base import WhiteBoxMethod as DetectionWhiteBoxMethod
from .boxes import DetectionBatch

#: detect(float32 N x H x W x 3 RGB pixel batch) -> candidate detections of the N images
Detect = Callable[[np.ndarray], DetectionBatch]

__all__ = ["Detect", "DetectionBlackBoxMethod", "DetectionWhiteBoxMethod"]
