"""openvino-xai 1.1's ``DetClassProbabilityMap``, on saliencykit's detection-head insertion."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import openvino as ov

from ....graph.detection import insert_det_class_probability_map
from ..._errors import XAIValueError
from ...common.utils import SALIENCY_MAP_OUTPUT_NAME, IdentityPreprocessFN
from .base import WhiteBoxMethod


class DetClassProbabilityMap(WhiteBoxMethod):
    """Per-class maps from the class heads named in ``target_layer``: softmax over the classes (a one-class head
    keeps its own activation), resized to ``saliency_map_size`` and combined over scales. ``num_anchors`` (anchors
    per cell, per head) gives the number of classes when the graph cannot tell."""

    per_class = True

    def __init__(
        self,
        model: ov.Model,
        preprocess_fn: Callable[[np.ndarray], np.ndarray] = IdentityPreprocessFN(),
        target_layer: Sequence[str] | None = None,
        embed_scaling: bool | None = True,
        device_name: str = "CPU",
        num_anchors: Sequence[int] | None = None,
        saliency_map_size: tuple[int, int] | list[int] = (23, 23),
        prepare_model: bool = True,
    ) -> None:
        if target_layer is None:
            raise XAIValueError("target_layer is required for the detection: name the class-head layers.")
        super().__init__(model, preprocess_fn, embed_scaling, device_name)
        self._target_layer = [target_layer] if isinstance(target_layer, str) else list(target_layer)
        self._num_anchors = None if num_anchors is None else [int(a) for a in num_anchors]
        if self._num_anchors is not None and len(self._num_anchors) != len(self._target_layer):
            raise XAIValueError(
                f"num_anchors={self._num_anchors}: give one count per target layer ({len(self._target_layer)})."
            )
        size = tuple(int(s) for s in saliency_map_size)
        if len(size) != 2 or min(size) < 1:
            raise XAIValueError(f"saliency_map_size={saliency_map_size!r}: give (height, width).")
        self._saliency_map_size = size
        self.prepare_model(load_model=prepare_model)  # the branch is inserted now, so a misfit fails here

    def _num_classes(self, model: ov.Model) -> int | None:
        if self._num_anchors is None:
            return None
        name = self._target_layer[0]
        for op in model.get_ops():
            if op.get_friendly_name() == name or any(name in out.get_names() for out in op.outputs()):
                shape = op.get_output_partial_shape(0)
                if shape.is_static and len(shape) == 4:
                    _, d1, d2, d3 = (d.get_length() for d in shape)
                    channels = d3 if d1 > d3 and d2 > d3 else d1  # channels-last heads (TFLite) as openvino-xai tells
                    return max(1, channels // self._num_anchors[0])
        return None  # the insertion names a missing or unfit layer itself

    def _insert(self, model: ov.Model) -> ov.Model:
        num_classes = self._num_classes(model)
        # openvino-xai's softmax over the classes; a one-class head (a constant softmax) keeps its own activation
        activation = "softmax" if num_classes is not None and num_classes > 1 else "auto"
        return insert_det_class_probability_map(
            model,
            target_layer=self._target_layer,
            num_classes=num_classes,
            activation=activation,
            output_name=SALIENCY_MAP_OUTPUT_NAME,
        )

    def _size(self) -> tuple[int, int] | None:
        return self._saliency_map_size
