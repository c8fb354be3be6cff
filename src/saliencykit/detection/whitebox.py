"""DetClassProbabilityMap: the white-box detection method, a thin wrapper around the graph insertions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import openvino as ov

from ..errors import MethodError
from ..methods.base import SALIENCY_OUTPUT

if TYPE_CHECKING:
    from ..graph.detection import AnchorLayout

#: IoU with a box above which an anchor's decoded box counts as the box's, when the postprocess names none
DEFAULT_BOX_IOU = 0.3


@dataclass
class DetClassProbabilityMap:
    """Class probability maps read from a detector's class head at every scale, inside the graph.

    See :mod:`saliencykit.graph.detection`. By default the maps are per class: every box of a class gets its
    class's map, so two faces share one. With ``per_box=True`` each box gets a map made from *its own* anchors:
    the graph outputs every anchor's class probabilities (:func:`~saliencykit.graph.detection.
    insert_det_anchor_probabilities`), and after the postprocess has found the boxes, the anchors whose decoded
    box overlaps a box by IoU >= ``box_iou`` — the anchors the detector used to predict it, the cluster its
    non-maximum suppression merges — are placed on their scale's grid (every other anchor counts 0), resized and
    combined as the per-class map is. The same inference gives the detections and every box's map. It needs a
    postprocess with ``dense(outputs)`` (every anchor's decoded box, as :class:`~saliencykit.detection.
    SSDPostprocess` has).

    Args:
        target_layer: the per-scale class-logit convolutions (friendly or tensor names); default: found by tracing
            back from the class output.
        class_output: which model output holds the class logits (default: the postprocess's, else found).
        activation: ``"auto"``, ``"sigmoid"``, ``"softmax"`` or ``"identity"`` (not with ``per_box``).
        reduce_anchors: ``"max"`` or ``"mean"`` over the anchors of a cell.
        combine_scales: ``"max"`` or ``"mean"`` over scales.
        per_box: one map per box from its own anchors instead of one map per class.
        box_iou: with ``per_box``, the IoU at which an anchor's decoded box belongs to a box (default: the
            postprocess's NMS ``iou_threshold``, else 0.3).
    """

    target_layer: str | Sequence[str] | None = None
    class_output: int | str | None = None
    activation: str = "auto"
    reduce_anchors: str = "max"
    combine_scales: str = "max"
    per_box: bool = False
    box_iou: float | None = None
    name: str = "det_class_probability_map"
    tasks: ClassVar[tuple[str, ...]] = ("detection",)
    #: set by :meth:`insert` with ``per_box``: where each anchor sits in the per-anchor output
    layout: AnchorLayout | None = field(default=None, init=False, repr=False)
    #: set by :meth:`insert` with ``per_box``: the IoU threshold in use
    iou_threshold: float = field(default=DEFAULT_BOX_IOU, init=False, repr=False)

    def insert(self, model: ov.Model, hints: dict[str, Any] | None = None) -> ov.Model:
        """A copy of ``model`` with a ``saliency_map`` output: (N, K, H, W) per class, or with ``per_box`` every
        anchor's probabilities (N, K, P) that :meth:`box_map` turns into a box's map.

        ``hints`` from the postprocess may give ``class_output``, ``num_classes`` and ``activation`` (and for
        ``per_box``: ``dense``, whether it decodes every anchor; ``num_anchors``; ``iou_threshold``); this
        method's own settings win over them.
        """
        from ..graph.detection import insert_det_anchor_probabilities, insert_det_class_probability_map

        hints = dict(hints or {})
        default = str(hints["activation"]) if hints.get("activation") in ("sigmoid", "softmax") else "sigmoid"
        common: dict[str, Any] = {
            "target_layer": self.target_layer,
            "class_output": self.class_output if self.class_output is not None else hints.get("class_output"),
            "num_classes": hints.get("num_classes"),
            "activation": self.activation,
            "output_name": SALIENCY_OUTPUT,
            "default_activation": default,
        }
        if not self.per_box:
            return insert_det_class_probability_map(
                model, reduce_anchors=self.reduce_anchors, combine_scales=self.combine_scales, **common
            )
        self._check_per_box(hints)
        graph, layout = insert_det_anchor_probabilities(model, **common)
        anchors = hints.get("num_anchors")
        if anchors is not None and int(anchors) != layout.num_anchors:
            raise MethodError(
                f"per_box=True: the postprocess decodes {anchors} anchors but the detector's class output has "
                f"{layout.num_anchors}; check the postprocess's anchors (and class_output)."
            )
        self.layout = layout
        iou = self.box_iou if self.box_iou is not None else hints.get("iou_threshold")
        self.iou_threshold = float(iou) if iou is not None else DEFAULT_BOX_IOU
        return graph

    def _check_per_box(self, hints: dict[str, Any]) -> None:
        if self.activation == "identity":
            raise MethodError(
                "per_box=True with activation='identity': a box's map holds its anchors' probabilities with 0 for "
                "the other anchors, which raw logits do not allow; use activation='auto', 'sigmoid' or 'softmax'."
            )
        if self.box_iou is not None and not 0.0 < float(self.box_iou) <= 1.0:
            raise MethodError(f"box_iou={self.box_iou}: give an IoU in (0, 1], e.g. 0.3.")
        if not hints.get("dense"):
            raise MethodError(
                "per_box=True needs to know which anchors predicted each box: give a postprocess with a "
                "dense(outputs) method that returns every anchor's decoded box (saliencykit.detection."
                "SSDPostprocess or a preset such as postprocess='blazeface'), or use per_box=False for per-class "
                "maps."
            )

    def box_anchors(self, anchor_boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
        """Indices of the anchors whose decoded box (A, 4) overlaps ``box`` by IoU >= :attr:`iou_threshold`."""
        from .boxes import box_iou

        iou = box_iou(np.asarray(box, np.float32).reshape(1, 4), np.asarray(anchor_boxes, np.float32).reshape(-1, 4))
        return np.nonzero(iou[0] >= self.iou_threshold)[0]

    def box_map(self, probabilities: np.ndarray, anchor_boxes: np.ndarray, box: np.ndarray, cls: int) -> np.ndarray:
        """The (H, W) map of one box from one image's per-anchor output and every anchor's decoded box (A, 4)."""
        if self.layout is None:
            raise MethodError("box_map: insert the method with per_box=True into the model first.")
        if len(anchor_boxes) != self.layout.num_anchors:
            raise MethodError(
                f"the postprocess decoded {len(anchor_boxes)} anchor boxes but the detector's class output has "
                f"{self.layout.num_anchors} anchors; check the postprocess's anchors."
            )
        anchors = self.box_anchors(anchor_boxes, box)
        return self.layout.box_map(probabilities, anchors, cls, self.reduce_anchors, self.combine_scales)
