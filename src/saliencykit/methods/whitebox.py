"""White-box methods: thin, configurable wrappers around the graph insertions in :mod:`saliencykit.graph`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import openvino as ov

from .base import SALIENCY_OUTPUT


@dataclass
class ReciproCAM:
    """ReciproCAM (Byun & Lee 2022): class maps from spatially masked feature maps, computed inside the graph.

    Args:
        target_layer: friendly name of the feature-map node; default: the last spatial map before pooling.
        one_pass: ``"auto"`` uses the exact one-pass path when the head is pointwise up to global pooling;
            ``True`` forces it (error when it does not hold), ``False`` forces the general path.
        kernel: ``"hard"`` (each position alone, the default) or ``"gaussian"`` (3 x 3 weighted neighbourhood).
    """

    target_layer: str | None = None
    one_pass: bool | str = "auto"
    kernel: str = "hard"
    name: str = "reciprocam"
    tasks: ClassVar[tuple[str, ...]] = ("classification",)
    class_agnostic: bool = False

    def insert(self, model: ov.Model, postprocess: str = "softmax") -> ov.Model:
        from ..graph.reciprocam import insert_reciprocam

        return insert_reciprocam(
            model,
            target_layer=self.target_layer,
            postprocess=postprocess,
            one_pass=self.one_pass,
            kernel=self.kernel,
            output_name=SALIENCY_OUTPUT,
        )


@dataclass
class ViTReciproCAM:
    """ViT-ReciproCAM (arXiv 2310.02588): token masking at the input of the ``block_index``-th transformer block.

    Maps are on the patch grid (e.g. 14 x 14 for a 224 x 224 ViT with 16 x 16 patches).
    """

    target_layer: str | None = None
    block_index: int = -1
    use_gaussian: bool = False
    name: str = "vit_reciprocam"
    tasks: ClassVar[tuple[str, ...]] = ("classification",)
    class_agnostic: bool = False

    def insert(self, model: ov.Model, postprocess: str = "softmax") -> ov.Model:
        from ..graph.vit import insert_vit_reciprocam

        return insert_vit_reciprocam(
            model,
            target_layer=self.target_layer,
            block_index=self.block_index,
            postprocess=postprocess,
            use_gaussian=self.use_gaussian,
            output_name=SALIENCY_OUTPUT,
        )


@dataclass
class ActivationMap:
    """Class-agnostic mean of the target feature map (the token grid on a ViT)."""

    target_layer: str | None = None
    name: str = "activation_map"
    tasks: ClassVar[tuple[str, ...]] = ("classification",)
    class_agnostic: bool = True

    def insert(self, model: ov.Model, postprocess: str = "softmax") -> ov.Model:
        from ..errors import GraphError
        from ..graph.activation_map import insert_activation_map

        try:
            return insert_activation_map(model, target_layer=self.target_layer, output_name=SALIENCY_OUTPUT)
        except GraphError as cnn_error:
            from ..graph.vit import insert_vit_activation_map

            try:
                return insert_vit_activation_map(model, target_layer=self.target_layer, output_name=SALIENCY_OUTPUT)
            except GraphError:
                raise cnn_error from None
