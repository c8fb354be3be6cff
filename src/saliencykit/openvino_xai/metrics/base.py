"""openvino-xai 1.1's metric base: a compiled model and ``model_predict(image) -> scores``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
import openvino as ov

from .._errors import XAIValueError
from ..common.utils import IdentityPreprocessFN


class BaseMetric(ABC):
    """A saliency-map quality metric on one model."""

    def __init__(
        self,
        model: ov.Model = None,
        preprocess_fn: Callable[[np.ndarray], np.ndarray] = IdentityPreprocessFN(),
        postprocess_fn: Callable[[Any], np.ndarray] | None = None,
        device_name: str = "CPU",
    ) -> None:
        if not isinstance(model, ov.Model):
            raise XAIValueError(f"{type(self).__name__}: model must be an openvino.Model, got {type(model).__name__}.")
        if postprocess_fn is None:
            raise XAIValueError(f"{type(self).__name__}: postprocess_fn is needed to read scores from the outputs.")
        self.model = model
        self.model_compiled = ov.Core().compile_model(model=model, device_name=device_name)
        self.preprocess_fn = preprocess_fn
        self.postprocess_fn = postprocess_fn

    def model_predict(self, input: np.ndarray) -> np.ndarray:
        """Scores (C,) of one image."""
        return self.postprocess_fn(self.model_compiled([self.preprocess_fn(input)]))[0]

    @abstractmethod
    def __call__(self, saliency_map: np.ndarray, *args: Any, **kwargs: Any) -> dict[str, float]:
        """The metric of one map."""

    @abstractmethod
    def evaluate(self, explanations: list, *args: Any, **kwargs: Any) -> dict[str, float]:
        """The metric over several images."""
