"""Classification: class scores per image, targets are classes, a target's score is its class probability."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import openvino as ov

from ..explanation import Explanation
from ..graph.query import find_node
from ..pipeline import Pipeline
from ..targets import ClassTarget, check_targets, resolve_targets
from ..visualize import normalize
from .base import Task


class ClassificationTask(Task):
    """A classifier: one score per class (softmax by default); one map per explained class."""

    name = "classification"
    noun = "classifiers"
    default_targets = "top:1"
    default_batch_size = 16
    fallback_reason = "no white-box method fits the graph"

    def pipeline(self, model: Any, preprocess: Any, postprocess: Any, settings: dict[str, Any]) -> Pipeline:
        batch_size = settings["batch_size"] if settings["batch_size"] is not None else self.default_batch_size
        self.pipeline_ = Pipeline(
            model,
            preprocess,
            "softmax" if postprocess is None else postprocess,
            settings["device"],
            settings["label_names"],
            settings["input_name"],
            settings["example_input"],
            settings["input_shape"],
            batch_size,
            precision=settings.get("precision", "f32"),
        )
        return self.pipeline_

    @property
    def in_graph_blend(self) -> bool:
        return True

    def check_target_layer(self, graph: ov.Model, target_layer: Any) -> None:
        find_node(graph, target_layer)  # a named layer that does not exist: say so, with close candidates

    def insert_argument(self, postprocess: Any) -> str:
        return postprocess if isinstance(postprocess, str) else "identity"

    def read(self, outputs: list[np.ndarray], names: Sequence[str]) -> np.ndarray:
        assert self.pipeline_ is not None
        return self.pipeline_.scores(outputs[0], names=list(names))

    def predict(self, pixels: np.ndarray, names: Sequence[str]) -> np.ndarray:
        assert self.pipeline_ is not None
        return self.pipeline_.predict_pixels(pixels, list(names))

    def perturbed(self, pixels: np.ndarray) -> np.ndarray:
        assert self.pipeline_ is not None
        return self.pipeline_.predict_pixels(pixels)

    def predict_images(self, images: list[np.ndarray], runner: Any, map_index: int | None) -> np.ndarray:
        assert self.pipeline_ is not None
        return self.pipeline_.predict(images)

    def check_targets(self, targets: Any) -> None:
        check_targets(targets)

    def targets(self, request: Any, prediction: np.ndarray, size: tuple[int, int]) -> list[ClassTarget]:
        assert self.pipeline_ is not None
        return [ClassTarget(t) for t in resolve_targets(request, prediction, self.pipeline_.label_names)]

    def whitebox_map(self, saliency: np.ndarray, target: ClassTarget, method: Any) -> np.ndarray:
        return saliency[0 if getattr(method, "class_agnostic", False) else target.index]

    def finish_map(self, saliency: np.ndarray, target: Any, whitebox: bool, method_name: str) -> np.ndarray:
        return saliency.astype(np.float32) if whitebox else normalize(saliency)

    def explanation(
        self, source: np.ndarray, targets: list[ClassTarget], maps: dict, prediction: np.ndarray, **common: Any
    ) -> Explanation:
        keys = [t.index for t in targets]
        return Explanation(
            targets=keys,
            maps=maps,
            scores={t: float(prediction[t]) for t in keys},
            image_size=tuple(source.shape[:2]),
            predictions=prediction,
            **common,
        )
