"""DetClassProbabilityMap: the white-box detection method, a thin wrapper around the graph insertion."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import openvino as ov

from ..methods.base import SALIENCY_OUTPUT


@dataclass
class DetClassProbabilityMap:
    """Per-class probability maps read from a detector's class head at every scale, inside the graph.

    See :mod:`saliencykit.graph.detection`. The maps are per class: every box of a class gets its class's map.

    Args:
        target_layer: the per-scale class-logit convolutions (friendly or tensor names); default: found by tracing
            back from the class output.
        class_output: which model output holds the class logits (default: the postprocess's, else found).
        activation: ``"auto"``, ``"sigmoid"``, ``"softmax"`` or ``"identity"``.
        reduce_anchors: ``"max"`` or ``"mean"`` over the anchors of a cell.
        combine_scales: ``"max"`` or ``"mean"`` over scales.
    """

    target_layer: str | Sequence[str] | None = None
    class_output: int | str | None = None
    activation: str = "auto"
    reduce_anchors: str = "max"
    combine_scales: str = "max"
    name: str = "det_class_probability_map"
    tasks: ClassVar[tuple[str, ...]] = ("detection",)

    def insert(self, model: ov.Model, hints: dict[str, Any] | None = None) -> ov.Model:
        """A copy of ``model`` with a ``saliency_map`` output (N, K, H, W).

        ``hints`` from the postprocess may give ``class_output``, ``num_classes`` and ``activation``; this method's
        own settings win over them.
        """
        from ..graph.detection import insert_det_class_probability_map

        hints = dict(hints or {})
        default = str(hints["activation"]) if hints.get("activation") in ("sigmoid", "softmax") else "sigmoid"
        return insert_det_class_probability_map(
            model,
            target_layer=self.target_layer,
            class_output=self.class_output if self.class_output is not None else hints.get("class_output"),
            num_classes=hints.get("num_classes"),
            activation=self.activation,
            reduce_anchors=self.reduce_anchors,
            combine_scales=self.combine_scales,
            output_name=SALIENCY_OUTPUT,
            default_activation=default,
        )
