"""openvino-xai 1.1's ``ActivationMap``: one class-agnostic map per image, ``{"per_image_map": map}``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import openvino as ov

from ....methods.whitebox import ActivationMap as _ActivationMap
from ...common.utils import IdentityPreprocessFN
from .base import WhiteBoxMethod


class ActivationMap(WhiteBoxMethod):
    """The target feature map averaged over channels; the output is (1, h, w)."""

    per_class = False

    def __init__(
        self,
        model: ov.Model,
        preprocess_fn: Callable[[np.ndarray], np.ndarray] = IdentityPreprocessFN(),
        target_layer: str | None = None,
        embed_scaling: bool = True,
        device_name: str = "CPU",
        prepare_model: bool = True,
    ) -> None:
        super().__init__(model, preprocess_fn, embed_scaling, device_name)
        self._target_layer = target_layer
        self.prepare_model(load_model=prepare_model)  # the branch is inserted now, so a misfit fails here

    def _insert(self, model: ov.Model) -> ov.Model:
        return _ActivationMap(target_layer=self._target_layer).insert(model)
