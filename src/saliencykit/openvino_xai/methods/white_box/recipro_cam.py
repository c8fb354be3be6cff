"""openvino-xai 1.1's ``ReciproCAM`` and ``ViTReciproCAM``, on saliencykit's graph insertions."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import openvino as ov

from ....methods.whitebox import ReciproCAM as _ReciproCAM
from ....methods.whitebox import ViTReciproCAM as _ViTReciproCAM
from ..._errors import XAIValueError
from ...common.utils import IdentityPreprocessFN
from .base import LayerWhiteBoxMethod


class FeatureMapPerturbationBase(LayerWhiteBoxMethod):
    """Methods that re-run the head on masked feature maps (one map per class)."""

    per_class = True


class ReciproCAM(FeatureMapPerturbationBase):
    """ReciproCAM for CNNs. Maps score the model's own output (logits, or its softmax when it ends in one)."""

    def _insert(self, model: ov.Model) -> ov.Model:
        return _ReciproCAM(target_layer=self._target_layer).insert(model, "identity")


class ViTReciproCAM(FeatureMapPerturbationBase):
    """ViT-ReciproCAM for vision transformers: token masking at the input of the ``k``-th block from the end."""

    def __init__(
        self,
        model: ov.Model,
        preprocess_fn: Callable[[np.ndarray], np.ndarray] = IdentityPreprocessFN(),
        target_layer: str | None = None,
        embed_scaling: bool | None = True,
        device_name: str = "CPU",
        use_gaussian: bool = True,
        cls_token: bool = True,
        final_norm: bool = True,
        k: int = 1,
        prepare_model: bool = True,
    ) -> None:
        if not cls_token:
            raise XAIValueError(
                "ViTReciproCAM(cls_token=False) is not supported here: the class token is kept in every mosaic."
            )
        if int(k) < 1:
            raise XAIValueError(f"ViTReciproCAM k={k}: count blocks from the end starting at 1.")
        self._use_gaussian = bool(use_gaussian)
        self._k = int(k)
        self._final_norm = final_norm  # the graph is inspected for a final norm; this hint is not needed
        super().__init__(model, preprocess_fn, target_layer, embed_scaling, device_name, prepare_model)

    def _insert(self, model: ov.Model) -> ov.Model:
        method = _ViTReciproCAM(target_layer=self._target_layer, block_index=-self._k, use_gaussian=self._use_gaussian)
        return method.insert(model, "identity")
