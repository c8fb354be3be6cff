"""The classification pipeline shared by prediction, explanation, metrics and audits.

A :class:`Pipeline` owns the model, its preprocessing and its postprocessing. It turns RGB uint8 images
into the *pixel batch* that methods perturb (float32 N x H x W x 3 RGB at the model's input size), and
compiles graphs that take such batches: with a declarative :class:`Preprocess` the normalisation lives in the
graph; with an opaque callable it runs per image in Python.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
from threadpoolctl import threadpool_limits

from .errors import GraphError, PreprocessError
from .graph.blend import BASE_INPUT, IMAGE_INPUT, MASKS_INPUT, insert_mask_blend
from .images import check_image
from .model import ModelRunner, _is_torch_module, load_model
from .preprocess import Postprocess, Preprocess, apply_postprocess, resolve_postprocess

ModelSource = str | Path | ov.Model | Any
#: masks per inference request of the in-graph blend: on the demo model (2 cores) 2 and 4 were the fastest, and
#: 2 wastes at most one padded mask per call (AISE sends batches of 6)
BLEND_CHUNK = 2
log = logging.getLogger(__name__)


class Pipeline:
    """Model + preprocessing + postprocessing; see the module docstring.

    ``model`` may also be a plain Python callable ``predict(pixel_batch) -> outputs``; it then receives the
    float32 pixel batch and only black-box methods can explain it.
    """

    def __init__(
        self,
        model: ModelSource | Callable[[np.ndarray], np.ndarray],
        preprocess: Preprocess | Callable[[np.ndarray], np.ndarray] | None = None,
        postprocess: Postprocess = "softmax",
        device: str = "CPU",
        label_names: Sequence[str] | None = None,
        input_name: str | None = None,
        example_input: Any = None,
        input_shape: Sequence[int] | None = None,
        batch_size: int = 16,
    ) -> None:
        self.device = device
        self.input_name = input_name
        self.batch_size = batch_size
        self.label_names = list(label_names) if label_names is not None else None
        self.predict_fn: Callable[[np.ndarray], np.ndarray] | None = None
        self.ov_model: ov.Model | None = None
        is_model = isinstance(model, (str, Path, ov.Model)) or _is_torch_module(model)
        if not is_model and callable(model):
            self.predict_fn = model
            if not isinstance(preprocess, Preprocess) or preprocess.size is None:
                raise PreprocessError(
                    "a predict callable needs preprocess=Preprocess(size=...) to know the input size."
                )
        else:
            shape_unknown = example_input is None and input_shape is None
            if _is_torch_module(model) and shape_unknown and isinstance(preprocess, Preprocess) and preprocess.size:
                h, w = preprocess.hw
                input_shape = (1, 3, h, w) if preprocess.layout == "NCHW" else (1, h, w, 3)
            self.ov_model = load_model(model, example_input=example_input, input_shape=input_shape)
        if preprocess is None:
            preprocess = Preprocess()
        if isinstance(preprocess, Preprocess) and self.ov_model is not None:
            preprocess = preprocess.for_model(self.ov_model, input_name)
        self.preprocess = preprocess
        self.postprocess = resolve_postprocess(self.ov_model, postprocess) if self.ov_model is not None else postprocess
        self._plain_runner: ModelRunner | None = None
        self._blend_runner: ModelRunner | None = None

    @property
    def declarative(self) -> bool:
        """Whether preprocessing is a :class:`Preprocess` (embedded in the graph) rather than a callable."""
        return isinstance(self.preprocess, Preprocess)

    @property
    def fill(self) -> np.ndarray:
        """The pixel value that means 'no information' to the model: the preprocessing mean (zero if opaque)."""
        if isinstance(self.preprocess, Preprocess):
            return np.asarray(self.preprocess._mean, np.float32)
        return np.zeros(3, np.float32)

    def pixels(self, image: np.ndarray, name: str = "image") -> np.ndarray:
        """One image as float32 H x W x 3 RGB pixels at the model's input size (original size if opaque)."""
        if isinstance(self.preprocess, Preprocess):
            return self.preprocess.resize_image(image, name)
        return check_image(image, name).astype(np.float32)

    def _model_input(self, pixel_batch: np.ndarray) -> np.ndarray:
        if isinstance(self.preprocess, Preprocess):
            return pixel_batch
        images = np.clip(np.rint(pixel_batch), 0, 255).astype(np.uint8)
        return np.concatenate([np.asarray(self.preprocess(im), np.float32) for im in images])

    def compile(self, graph: ov.Model | None = None) -> ModelRunner:
        """A runner for ``graph`` (default: the plain model) that takes pixel batches."""
        graph = self.ov_model if graph is None else graph
        if graph is None:
            raise PreprocessError("this pipeline wraps a Python callable: there is no graph to compile.")
        if isinstance(self.preprocess, Preprocess):
            graph = self.preprocess.embed(graph, self.input_name)
        return ModelRunner(graph, self.device, self.input_name, chunk_size=self.batch_size)

    def run(self, runner: ModelRunner, pixel_batch: np.ndarray) -> list[np.ndarray]:
        """Every output of ``runner`` for a pixel batch."""
        return runner.infer(self._model_input(pixel_batch))

    def scores(self, outputs: np.ndarray) -> np.ndarray:
        """Postprocessed class scores (N, C) from the model's first output."""
        return apply_postprocess(np.asarray(outputs).reshape(len(outputs), -1), self.postprocess)

    def predict_pixels(self, pixel_batch: np.ndarray) -> np.ndarray:
        """Class scores (N, C) for a pixel batch: the ``predict`` that black-box methods call."""
        if self.predict_fn is not None:
            return apply_postprocess(np.asarray(self.predict_fn(pixel_batch)), self.postprocess)
        if self._plain_runner is None:
            self._plain_runner = self.compile()
        return self.scores(self.run(self._plain_runner, pixel_batch)[0])

    def blend_scorer(self, pixels: np.ndarray, base: np.ndarray | float) -> Callable[[np.ndarray], np.ndarray] | None:
        """``score(masks)``: class scores (N, C) of ``pixels`` blended towards ``base`` by masks (N, H, W) in [0, 1].

        ``base`` is a colour (3,) or an image like ``pixels``. The blend ``base + masks * (pixels - base)`` runs
        inside the compiled graph (:func:`saliencykit.graph.blend.insert_mask_blend`), compiled once for batches of
        ``BLEND_CHUNK`` masks. None when there is no graph to edit (a Python callable model, opaque
        preprocessing): black-box methods then blend on the host.
        """
        if self.ov_model is None or not self.declarative:
            return None
        if self._blend_runner is None:
            try:
                graph = insert_mask_blend(self.preprocess.embed(self.ov_model, self.input_name), self.preprocess.hw)
            except GraphError as exc:
                log.info("blending on the host: %s", exc)
                return None
            blank = np.zeros((1, *self.preprocess.hw, 3), np.float32)
            self._blend_runner = ModelRunner(
                graph,
                self.device,
                MASKS_INPUT,
                chunk_size=BLEND_CHUNK,
                fixed_batch=True,
                constant_inputs={IMAGE_INPUT: blank, BASE_INPUT: blank},
            )
        runner = self._blend_runner
        image = np.ascontiguousarray(pixels, np.float32)[None]
        inputs = {IMAGE_INPUT: image, BASE_INPUT: np.ascontiguousarray(np.broadcast_to(base, image.shape), np.float32)}

        def score(masks: np.ndarray) -> np.ndarray:
            outputs = runner.infer(np.asarray(masks, np.float32)[..., None], inputs=inputs)
            return self.scores(outputs[0])

        return score

    def quiet_blas(self) -> contextlib.AbstractContextManager:
        """One BLAS thread while this pipeline's OpenVINO model infers (black-box explanations).

        numpy's BLAS threads keep spinning after each mask draw and accumulation and take the cores from the
        inference: RISE() on 2 cores, 4.81 -> 4.02 ms per model call (``bench/blas_threads.py``). A Python
        callable model keeps its BLAS threads: it may need them itself.
        """
        if self.ov_model is None:
            return contextlib.nullcontext()
        return threadpool_limits(limits=1, user_api="blas")

    def predict(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Class scores (N, C) for RGB uint8 images."""
        pixels = [self.pixels(im, f"image {i}") for i, im in enumerate(images)]
        if self.declarative:
            return self.predict_pixels(np.stack(pixels))
        return np.concatenate([self.predict_pixels(p[None]) for p in pixels])  # opaque: sizes may differ
