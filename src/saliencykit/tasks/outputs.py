"""The shared base of tasks that read a model's raw outputs (all of them, in order) rather than class scores.

Segmentation reads a per-pixel map among several outputs; a user's scorer reads whatever it needs. Both build
the same pipeline (no postprocess, a free batch so masked copies go through in batches) and run the plain
model the same way; this module is that one way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import openvino as ov

from ..model import ModelRunner, is_torch_module, load_model, select_input
from ..pipeline import Pipeline
from ..preprocess import Preprocess
from .base import Task


class RawOutputsTask(Task):
    """A task whose predictions and scores come from every output of the plain model (see the module docstring)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._plain_runner: ModelRunner | None = None

    def pipeline(self, model: Any, preprocess: Any, postprocess: Any, settings: dict[str, Any]) -> Pipeline:
        return self.raw_pipeline(model, preprocess, settings, settings["label_names"])

    def raw_pipeline(
        self, model: Any, preprocess: Any, settings: dict[str, Any], label_names: Sequence[str] | None
    ) -> Pipeline:
        """The task's pipeline: the graph with a free batch (masked copies go through in batches), no postprocess."""
        from ..graph.batch import free_batch

        input_name, input_shape = settings["input_name"], settings["input_shape"]
        source: Any = model
        if isinstance(model, (str, ov.Model)) or hasattr(model, "__fspath__") or is_torch_module(model):
            unknown = settings["example_input"] is None and input_shape is None
            if is_torch_module(model) and unknown and isinstance(preprocess, Preprocess) and preprocess.size:
                h, w = preprocess.hw
                input_shape = (1, h, w, 3) if preprocess.layout == "NHWC" else (1, 3, h, w)
            graph = load_model(model, example_input=settings["example_input"], input_shape=input_shape)
            if preprocess is None:
                preprocess = Preprocess(layout=guess_layout(graph, input_name))
            source = free_batch(graph, input_name)
        batch_size = settings["batch_size"] if settings["batch_size"] is not None else self.default_batch_size
        self.pipeline_ = Pipeline(
            source, preprocess, "identity", settings["device"], label_names, input_name, None, None,
            batch_size, task=self.name, precision=settings.get("precision", "f32"),
        )  # fmt: skip
        return self.pipeline_

    def run(self, pixels: np.ndarray, runner: Any = None) -> list[np.ndarray]:
        """Every output of the model for a pixel batch, batch first (the plain model unless ``runner`` is given)."""
        pipeline = self.pipeline_
        assert pipeline is not None
        if pipeline.predict_fn is not None:
            out = pipeline.predict_fn(pixels)
            return [np.asarray(out)] if isinstance(out, np.ndarray) else [np.asarray(o) for o in out]
        if runner is None:
            if self._plain_runner is None:
                self._plain_runner = self._compile_plain()
            runner = self._plain_runner
        return pipeline.run(runner, pixels)

    def _compile_plain(self) -> ModelRunner:
        """The plain model for many masked images: OpenVINO's throughput hint (parallel streams)."""
        pipeline = self.pipeline_
        assert pipeline is not None
        graph = pipeline.ov_model
        if isinstance(pipeline.preprocess, Preprocess) and pipeline.declarative:
            graph = pipeline.preprocess.embed(graph, pipeline.input_name)
        return ModelRunner(
            graph,
            pipeline.device,
            pipeline.input_name,
            pipeline.batch_size,
            performance="throughput",
            precision=pipeline.precision,
        )

    def predict(self, pixels: np.ndarray, names: Sequence[str]) -> Any:
        return self.read(self.run(pixels), names)

    def predict_images(self, images: list[np.ndarray], runner: Any, map_index: int | None) -> list[Any]:
        """One prediction per RGB uint8 image (``read`` on the plain model's outputs)."""
        assert self.pipeline_ is not None
        return [self.read(self.run(self.pipeline_.pixels(image)[None]), [f"image {i}"])[0] for i, image in
                enumerate(images)]  # fmt: skip

    def finish_map(self, saliency: np.ndarray, target: Any, whitebox: bool, method_name: str) -> np.ndarray:
        from ..visualize import normalize

        return saliency.astype(np.float32) if whitebox else normalize(saliency)


def guess_layout(model: ov.Model, input_name: str | None) -> str:
    """NHWC when the input's last axis is 3 channels and its second is not (TFLite models), else NCHW."""
    shape = select_input(model, input_name).get_partial_shape()
    if shape.rank.is_static and shape.rank.get_length() == 4:
        last, second = shape[3], shape[1]
        if last.is_static and last.get_length() == 3 and not (second.is_static and second.get_length() == 3):
            return "NHWC"
    return "NCHW"
