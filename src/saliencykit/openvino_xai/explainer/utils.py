"""openvino-xai 1.1's ``explainer.utils``: target helpers and its ``get_preprocess_fn`` / ``get_postprocess_fn``."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from enum import Enum
from functools import partial
from typing import Any

import cv2
import numpy as np

from .._errors import XAITargetError
from ..common.utils import sigmoid, softmax


def convert_targets_to_numpy(targets: Any) -> np.ndarray:
    """Targets as a 1-D array (an int, a name, a list of either, an array)."""
    targets = np.asarray(targets)
    if targets.ndim > 1:
        raise XAITargetError(f"targets: expected at most one dimension, got an array of shape {targets.shape}.")
    return np.atleast_1d(targets)


def get_target_indices(targets: Any, label_names: list[str] | None = None) -> list[int] | np.ndarray:
    """Class indices of ``targets``; names are looked up in ``label_names``."""
    targets = convert_targets_to_numpy(targets)
    if not isinstance(targets[0], str) and np.issubdtype(targets.dtype, np.integer):
        return targets
    if not np.issubdtype(targets.dtype, np.str_):
        raise XAITargetError(f"targets: expected class indices (int) or names (str), got {targets.dtype} values.")
    if not label_names:
        raise XAITargetError("targets are class names: pass label_names= to look them up.")
    indices = [i for i, label in enumerate(label_names) if label in targets]
    if len(indices) != len(targets):
        missing = [str(t) for t in targets if str(t) not in label_names]
        raise XAITargetError(f"targets {missing} are not in label_names; check the spelling.")
    return indices


def explains_all(targets: Any) -> bool:
    """Whether ``targets`` is openvino-xai's "every class" value, -1."""
    if isinstance(targets, (int, np.integer)) and not isinstance(targets, bool) and targets == -1:
        return True
    if isinstance(targets, (np.ndarray, list)) and len(targets) == 1 and not isinstance(targets[0], str):
        return bool(targets[0] == -1)
    return isinstance(targets, str) and targets == "-1"


def preprocess_fn(
    x: np.ndarray,
    change_channel_order: bool = False,
    input_size: tuple[int, int] | None = None,
    mean: np.ndarray = np.array([0.0, 0.0, 0.0]),
    std: np.ndarray = np.array([1.0, 1.0, 1.0]),
    hwc_to_chw: bool = False,
    expand_zero_dim: bool = True,
) -> np.ndarray:
    """Channel swap, resize to ``input_size`` (width, height as OpenCV), normalise, layout, batch dimension."""
    if change_channel_order:
        x = x[:, :, ::-1]
    if input_size:
        x = cv2.resize(src=x, dsize=input_size)
    x = (x - mean) / std
    if hwc_to_chw:
        x = x.transpose((2, 0, 1))
    if expand_zero_dim:
        x = np.expand_dims(x, 0)
    return x


#: :func:`preprocess_fn`'s parameters after ``x``: the settings :func:`get_preprocess_fn` binds
_PREPROCESS_SETTINGS = inspect.Signature(list(inspect.signature(preprocess_fn).parameters.values())[1:])


def get_preprocess_fn(*args: Any, **kwargs: Any) -> Callable[[Any], np.ndarray]:
    """:func:`preprocess_fn` with its settings (its arguments after ``x``, by position or name) bound."""
    try:
        settings = _PREPROCESS_SETTINGS.bind(*args, **kwargs).arguments
    except TypeError as exc:
        raise TypeError(f"get_preprocess_fn: {exc}") from None
    return partial(preprocess_fn, **settings)


get_preprocess_fn.__signature__ = _PREPROCESS_SETTINGS  # type: ignore[attr-defined]  # help() shows the settings


class ActivationType(Enum):
    """Activation a postprocess applies to the logits."""

    SIGMOID = "sigmoid"
    SOFTMAX = "softmax"
    NONE = "none"


def postprocess_fn(x: Mapping, logit_name: str = "logits", activation: ActivationType = ActivationType.NONE):
    """The output named ``logit_name`` (else the first output), activated."""
    logits = x.get(logit_name, x[0])
    if activation == ActivationType.SOFTMAX:
        return softmax(logits)
    if activation == ActivationType.SIGMOID:
        return sigmoid(logits)
    return logits


def get_postprocess_fn(logit_name: str = "logits", activation: ActivationType = ActivationType.NONE) -> Callable:
    """:func:`postprocess_fn` with its settings bound."""
    return partial(postprocess_fn, logit_name=logit_name, activation=activation)


def get_score(x: np.ndarray, index: int, activation: ActivationType = ActivationType.NONE):
    """The (activated) score at ``index`` of a (C,) or (1, C) output."""
    if activation == ActivationType.SOFTMAX:
        x = softmax(x)
    if activation == ActivationType.SIGMOID:
        x = sigmoid(x)
    if len(x.shape) == 2:
        if x.shape[0] != 1:
            raise XAITargetError(f"get_score: expected one row of scores, got shape {x.shape}.")
        return x[0, index]
    return x[index]
