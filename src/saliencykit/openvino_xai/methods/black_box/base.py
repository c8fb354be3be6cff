"""openvino-xai 1.1's black-box base and ``Preset``: the model is only called, on perturbed model inputs.

saliencykit's RISE and AISE do the work; they perturb a picture (H, W, C), so the preprocessed input is seen
channels-last and turned back into the model's layout for every call, one call per perturbed input, each
through the user's ``postprocess_fn`` as in openvino-xai.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

import numpy as np
import openvino as ov

from ..._errors import XAIRuntimeError, XAIValueError
from ...common.utils import IdentityPreprocessFN, is_bhwc_layout, scaling
from ..base import MethodBase, Prediction


class Preset(Enum):
    """Speed / quality presets of the black-box methods."""

    SPEED = "speed"
    BALANCE = "balance"
    QUALITY = "quality"


def check_classification_output(x: Any) -> None:
    """A ``postprocess_fn`` must return scores (1, num_classes) as a numpy array."""
    if not isinstance(x, np.ndarray):
        raise XAIRuntimeError(f"postprocess_fn must return a numpy array of scores, got {type(x).__name__}.")
    if x.ndim != 2 or x.shape[0] != 1:
        raise XAIRuntimeError(f"postprocess_fn must return scores of shape (1, num_classes), got {x.shape}.")


def preset_of(preset: Any) -> Preset:
    """``preset`` as a :class:`Preset` (the enum or its value)."""
    try:
        return Preset(preset.value if isinstance(preset, Enum) else preset)
    except ValueError:
        raise XAIValueError(f"preset={preset!r}: use Preset.SPEED, Preset.BALANCE or Preset.QUALITY.") from None


class BlackBoxXAIMethod(MethodBase):
    """A method that explains by calling the model on perturbed copies of the preprocessed input.

    With ``prepare_model`` (the default) the model is compiled on construction.
    """

    def __init__(
        self,
        model: ov.Model,
        postprocess_fn: Callable[[Mapping], np.ndarray],
        preprocess_fn: Callable[[np.ndarray], np.ndarray] = IdentityPreprocessFN(),
        device_name: str = "CPU",
        prepare_model: bool = True,
    ) -> None:
        super().__init__(model=model, preprocess_fn=preprocess_fn, device_name=device_name)
        if not callable(postprocess_fn):
            raise XAIValueError("postprocess_fn must be a function: model outputs -> scores (1, num_classes).")
        self.postprocess_fn = postprocess_fn
        if prepare_model:
            self.prepare_model()

    def prepare_model(self, load_model: bool = True) -> ov.Model:
        """Compile the model (black-box methods do not change it)."""
        if load_model:
            self._model_compiled = ov.Core().compile_model(model=self._model, device_name=self._device_name)
        return self._model

    def get_logits(self, data_preprocessed: np.ndarray) -> np.ndarray:
        """``postprocess_fn`` of the model's outputs for a preprocessed batch of one."""
        logits = self.postprocess_fn(self.model_forward(data_preprocessed, preprocess=False))
        check_classification_output(logits)
        return logits

    def _preprocessed(self, data: np.ndarray) -> np.ndarray:
        x = np.asarray(self.preprocess_fn(data))
        if x.ndim != 4 or x.shape[0] != 1:
            raise XAIValueError(
                f"the model input must be one preprocessed image (1, C, H, W) or (1, H, W, C), got {x.shape}; "
                "pass preprocess_fn= to the Explainer when giving raw images."
            )
        return x

    def _pixels_and_predict(self, x: np.ndarray) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        """The input as channels-last pixels (H, W, C) and ``predict(pixel batch) -> scores`` in model layout."""
        channels_last = is_bhwc_layout(x)
        pixels = np.ascontiguousarray(x[0] if channels_last else x[0].transpose(1, 2, 0), np.float32)
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32

        def predict(batch: np.ndarray) -> np.ndarray:
            rows = []
            for item in batch:
                item = item if channels_last else item.transpose(2, 0, 1)
                rows.append(self.get_logits(np.ascontiguousarray(item[None], dtype=dtype)))
            return np.concatenate(rows).astype(np.float32)

        return pixels, predict

    def _explain(self, method: Any, x: np.ndarray, targets: list[int]) -> np.ndarray:
        """saliencykit ``method``'s raw maps (T, H, W) of ``targets`` for the preprocessed input ``x``, with zero
        as the hidden value (openvino-xai's)."""
        pixels, predict = self._pixels_and_predict(x)
        return method.explain(predict, pixels, targets, fill=0.0)

    def _per_target(
        self, targets: list[int], maps: np.ndarray, logits: np.ndarray, scale_output: bool
    ) -> dict[int, np.ndarray]:
        """``{target: map}`` (scaled to uint8 with ``scale_output``); the targets' scores become ``predictions``."""
        self.predictions = {t: Prediction(label=t, score=logits[0][t]) for t in targets}
        return {t: scaling(m) if scale_output else m for t, m in zip(targets, maps)}
