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

from ..model import ModelRunner, is_torch_module, load_model
from ..pipeline import Pipeline
from ..preprocess import Preprocess
from .base import Task


class RawOutputsTask(Task):
    """A task whose predictions and scores come from every output of the plain model (see the module docstring)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._plain_runner: ModelRunner | None = None

    def pipeline(self, model: Any, preprocess: Any, postprocess: Any, settings: dict[str, Any]) -> Pipeline:
        from ..graph.batch import free_batch
        from .detection import _guess_layout

        input_name, input_shape = settings["input_name"], settings["input_shape"]
        source: Any = model
        if isinstance(model, (str, ov.Model)) or hasattr(model, "__fspath__") or is_torch_module(model):
            unknown = settings["example_input"] is None and input_shape is None
            if is_torch_module(model) and unknown and isinstance(preprocess, Preprocess) and preprocess.size:
                h, w = preprocess.hw
                input_shape = (1, h, w, 3) if preprocess.layout == "NHWC" else (1, 3, h, w)
            graph = load_model(model, example_input=settings["example_input"], input_shape=input_shape)
            if preprocess is None:
                preprocess = Preprocess(layout=_guess_layout(graph, input_name))
            source = free_batch(graph, input_name)
        batch_size = settings["batch_size"] if settings["batch_size"] is not None else self.default_batch_size
        self.pipeline_ = Pipeline(
            source, preprocess, "identity", settings["device"], settings["label_names"], input_name, None, None,
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
                graph = pipeline.ov_model
                if isinstance(pipeline.preprocess, Preprocess) and pipeline.declarative:
                    graph = pipeline.preprocess.embed(graph, pipeline.input_name)
                self._plain_runner = ModelRunner(
                    graph,
                    pipeline.device,
                    pipeline.input_name,
                    pipeline.batch_size,
                    performance="throughput",
                    precision=pipeline.precision,
                )
            runner = self._plain_runner
        return pipeline.run(runner, pixels)

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
