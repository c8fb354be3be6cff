"""openvino-xai 1.1's ``common.utils``: its logger, ``has_xai``, ``scaling`` and layout helpers."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import openvino as ov

from .._errors import XAIValueError

#: the logger openvino-xai users read (``INFO:openvino_xai:...`` lines say which method was chosen)
logger = logging.getLogger("openvino_xai")
if not any(getattr(h, "_saliencykit", False) for h in logger.handlers):
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    _handler._saliencykit = True  # type: ignore[attr-defined]
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)

SALIENCY_MAP_OUTPUT_NAME = "saliency_map"


def has_xai(model: Any) -> bool:
    """Whether ``model`` (an ``ov.Model``, or a torch module marked ``has_xai``) has a ``saliency_map`` output."""
    if isinstance(model, ov.Model):
        return any(SALIENCY_MAP_OUTPUT_NAME in output.get_names() for output in model.outputs)
    if hasattr(model, "parameters") and hasattr(model, "forward"):
        return bool(getattr(model, "has_xai", False))
    raise XAIValueError(f"has_xai: expected an openvino.Model or torch.nn.Module, got {type(model).__name__}.")


def get_min_max(saliency_map: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of every row of an (N, -1) array."""
    return np.min(saliency_map, axis=-1), np.max(saliency_map, axis=-1)


def scaling(saliency_map: np.ndarray, cast_to_uint8: bool = True, max_value: int = 255) -> np.ndarray:
    """Min-max scale each map (2-D, or every map of a 3-D stack) to [0, max_value], as openvino-xai does."""
    two_d = saliency_map.ndim == 2
    maps = np.asarray(saliency_map, np.float32)
    if two_d:
        maps = maps[None]
    n, h, w = maps.shape
    flat = maps.reshape(n, h * w)
    lo, hi = get_min_max(flat)
    flat = max_value * (flat - lo[:, None]) / (hi - lo + 1e-12)[:, None]
    maps = flat.reshape(n, h, w)
    if two_d:
        maps = np.squeeze(maps)
    return maps.astype(np.uint8) if cast_to_uint8 else maps


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function."""
    return 1 / (1 + np.exp(-x))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis`` (openvino-xai's: meant for one row)."""
    e_x = np.exp(x - np.max(x, axis=axis))
    return e_x / e_x.sum(axis=axis)


class IdentityPreprocessFN:
    """The default ``preprocess_fn``: the input is already the model's input."""

    def __call__(self, x: Any) -> Any:
        return x


def is_bhwc_layout(image: np.ndarray) -> bool:
    """openvino-xai's layout guess for a 4-D batch: channels last when the last axis is the smallest."""
    _, dim0, dim1, dim2 = image.shape
    return bool(dim0 > dim2 and dim1 > dim2)


def format_to_bhwc(image: np.ndarray) -> np.ndarray:
    """A 3-D or 4-D image as a BHWC batch."""
    if image.ndim == 3:
        image = np.expand_dims(image, axis=0)
    if not is_bhwc_layout(image):
        image = image.transpose((0, 2, 3, 1))
    return image


def infer_size_from_image(image: np.ndarray) -> tuple[int, int]:
    """(height, width) of a 2-D map, an HWC/CHW image or a BHWC/BCHW batch."""
    if image.ndim not in (2, 3, 4):
        raise XAIValueError(f"infer_size_from_image: supports only 2-, 3- and 4-dimensional images, got {image.ndim}.")
    if image.ndim == 2:
        return image.shape
    if image.ndim == 3:
        image = np.expand_dims(image, axis=0)
    _, dim0, dim1, dim2 = image.shape
    if dim0 > dim2 and dim1 > dim2:
        return dim0, dim1
    return dim1, dim2
