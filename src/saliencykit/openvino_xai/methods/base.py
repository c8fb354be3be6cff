"""openvino-xai 1.1's ``MethodBase`` and ``Prediction``: a method owns its compiled model and ``preprocess_fn``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import openvino as ov

from .._errors import XAIRuntimeError, XAIValueError
from ..common.utils import IdentityPreprocessFN

PreprocessFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class Prediction:
    """The model's prediction for one target: label, score and (detection) box."""

    label: int | None = None
    score: float | None = None
    bounding_box: list | tuple | None = None


class MethodBase(ABC):
    """A method: the model it runs, its ``preprocess_fn``, and the predictions of its last explanation."""

    def __init__(
        self, model: ov.Model | None = None, preprocess_fn: PreprocessFn = IdentityPreprocessFN(), device_name="CPU"
    ) -> None:
        if model is not None and not isinstance(model, ov.Model):
            raise XAIValueError(
                f"{type(self).__name__}: model must be an openvino.Model (read it with ov.Core().read_model), "
                f"got {type(model).__name__}."
            )
        self._model = model
        self._model_compiled: ov.CompiledModel | None = None
        self.preprocess_fn = preprocess_fn
        self._device_name = device_name
        self.predictions: dict[int, Prediction] = {}

    @property
    def model_compiled(self) -> ov.CompiledModel | None:
        return self._model_compiled

    @abstractmethod
    def prepare_model(self, load_model: bool = True) -> ov.Model:
        """Build (and with ``load_model`` compile) the model this method runs."""

    def model_forward(self, x: np.ndarray, preprocess: bool = True) -> Mapping:
        """The compiled model's raw outputs (an ``OVDict``) for ``x`` (``preprocess_fn`` applied first)."""
        if self._model_compiled is None:
            raise XAIRuntimeError("the model is not compiled yet: call prepare_model() first.")
        if preprocess:
            x = self.preprocess_fn(x)
        return self._model_compiled(x)

    @abstractmethod
    def generate_saliency_map(self, data: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        """Saliency maps of ``data``."""
