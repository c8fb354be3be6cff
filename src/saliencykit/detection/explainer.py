"""The DetectionExplainer: the Explainer with ``task="detection"`` (targets are boxes), and the detection view of
the method registry. Everything detection-specific lives in :mod:`saliencykit.tasks.detection`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..explainer import Explainer
from ..images import as_images
from ..methods import registry
from ..preprocess import Preprocess
from .boxes import Detections
from .explanation import DetectionExplanation

if TYPE_CHECKING:  # the detection task imports this package: only its type names are needed here
    from ..tasks.detection import BoxTargets, DetectionPostprocess

#: detection methods by name and alias (``method="drise"``): a live view of the method registry
DETECTION_METHODS = registry.View("detection", aliases=True)


def get_detection_method(name: str, **kwargs: Any) -> Any:
    """A detection method from its name: ``"det_class_probability_map"``, ``"drise"`` (``"rise"``) or ``"aise"``."""
    return DETECTION_METHODS.create(name, **kwargs)


class DetectionExplainer(Explainer):
    """Explain the boxes of an object detector with one saliency map per box: ``Explainer(..., task="detection")``.

    >>> explainer = DetectionExplainer(mediapipe_model_path("blazeface"), postprocess="blazeface")  # doctest: +SKIP
    >>> explanation = explainer(photo, targets="all")  # doctest: +SKIP
    >>> explanation.save("maps/")  # maps/box0_face_0.92.jpg  # doctest: +SKIP

    Args:
        model: an IR/ONNX/TFLite path, an ``ov.Model``, a ``torch.nn.Module``, or a Python callable
            ``predict(pixel_batch) -> outputs`` (black-box only).
        preprocess: a :class:`~saliencykit.Preprocess` or a callable ``image -> model input``; default: the
            preset's (``postprocess="blazeface"``), else the model's fixed size with the layout read from its input.
        postprocess: turns the model's outputs (a list, batch first) into one
            :class:`~saliencykit.detection.Detections` (or ``(boxes, scores, classes)``, boxes normalised to [0, 1])
            per image: an :class:`~saliencykit.detection.SSDPostprocess`, the preset names ``"blazeface"`` /
            ``"palm"``, or any callable. An object with a ``dense(outputs)`` method lets black-box methods use
            every anchor before thresholding.
        mode: ``"auto"`` (white-box when the graph has a detection head, else black-box), ``"whitebox"`` or
            ``"blackbox"``.
        method: ``"det_class_probability_map"`` (white-box), ``"drise"`` or ``"aise"`` (black-box), or an object;
            ``DetClassProbabilityMap(per_box=True)`` gives each box a white-box map from its own anchors (the
            default white-box map is per class: boxes of one class share it).
        target_layer: per-scale class-logit layers for the white-box method (default: found automatically).
        batch_size: images per inference request; black-box methods send many masked images at once and the
            runner queues them asynchronously in requests of this size, with OpenVINO's throughput hint.
        class_output: which model output holds class logits, for the white-box method (default: the
            postprocess's ``class_output``, else found).
        others: as for :class:`~saliencykit.Explainer` (``mode``, ``method``, ``target_layer``, ``device``,
            ``label_names``, ``input_name``, ``example_input``, ``input_shape``).
    """

    def __init__(
        self,
        model: Any,
        preprocess: Preprocess | Callable[[np.ndarray], np.ndarray] | None = None,
        postprocess: DetectionPostprocess | str | None = None,
        *args: Any,
        class_output: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs["task"] = "detection"
        super().__init__(model, preprocess, postprocess, *args, class_output=class_output, **kwargs)

    @property
    def postprocess(self) -> Any:
        """The postprocess that turns the model's outputs into detections."""
        return self.task_object.postprocess  # type: ignore[attr-defined]

    @property
    def class_output(self) -> int | str | None:
        return self.task_object.class_output  # type: ignore[attr-defined]

    def __call__(  # type: ignore[override]
        self,
        image: np.ndarray | Sequence[np.ndarray],
        targets: BoxTargets = "all",
        keep_image: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> DetectionExplanation | list[DetectionExplanation]:
        """Explain the boxes ``targets`` of one RGB uint8 image (or a list of them); see :meth:`Explainer.__call__`."""
        return super().__call__(image, targets, keep_image, progress)  # type: ignore[return-value]

    def detect(self, images: np.ndarray | Sequence[np.ndarray]) -> Detections | list[Detections]:
        """The detector's boxes for RGB uint8 images, in pixels of each image (by decreasing score)."""
        found = self.predict(images)
        return found[0] if as_images(images)[1] else found
