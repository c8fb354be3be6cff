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
from typing import Any, TypeAlias

import numpy as np
import openvino as ov
from threadpoolctl import threadpool_limits

from .errors import GraphError, ModelOutputError, PreprocessError, TargetError
from .graph.batch import reshape_input
from .graph.blend import BASE_INPUT, IMAGE_INPUT, MASKS_INPUT, insert_mask_blend
from .images import check_image
from .labels import check_label_count
from .model import ModelRunner, check_precision, is_torch_module, load_model, select_input
from .preprocess import Postprocess, Preprocess, apply_postprocess, resolve_postprocess

ModelSource: TypeAlias = str | Path | ov.Model | Any
#: masks per inference request of the in-graph blend: 2 wastes at most one padded mask per call (AISE sends batches
#: of 6); on the demo model it was among the fastest (``bench/blackbox.py``, docs/benchmarks.md)
BLEND_CHUNK = 2
log = logging.getLogger(__name__)
TASKS = ("classification", "detection", "segmentation", "scalar")


def _output_kind(dims: Sequence[int | None]) -> str:
    """What a non-class-score output of shape ``dims`` (batch first) most likely is, and what fits it."""
    if len(dims) == 4:
        return (
            "it looks like a per-pixel map or feature map (N, C, H, W), e.g. a segmentation model: use "
            "Explainer(..., task='segmentation')"
        )
    if len(dims) == 3:
        return (
            "it looks like a detector's boxes or anchors (N, boxes, values): use Explainer(..., task='detection') "
            "with a detection postprocess"
        )
    return "a classifier's output must be (N, C) class scores"


def class_scores_problem(dims: Sequence[int | None]) -> str | None:
    """Why an output of shape ``dims`` (batch first, None for dynamic) is not class scores; None when it is.

    Class scores are (N, C), or (N, C) with singleton extra axes such as (N, C, 1, 1) or (N, 1, 1, C).
    A dynamic axis could be anything: it is judged at run time on the real array.
    """
    if len(dims) < 2:
        return f"it has {len(dims)} dimension(s): expected (N, C) with the batch first"
    extra = [d for d in dims[1:] if d != 1]
    if any(d is None for d in extra):
        return None
    if len(extra) > 1:
        return _output_kind(dims)
    return None


def _output_text(name: str, shape: object, problem: str) -> str:
    return (
        f"model output '{name}' has shape {shape}, which is not class scores (N, C): {problem}. "
        "The classification task needs one score per class, e.g. (N, 1000) or (N, 1000, 1, 1)."
    )


def static_num_classes(model: ov.Model, output: int = 0) -> int | None:
    """The number of classes of a classifier's ``output`` read from the graph; None when the shape is dynamic.

    Raises :class:`ModelOutputError` when the static shape cannot be class scores (e.g. [1, 3, 64, 64]).
    """
    port = model.outputs[output]
    shape = port.get_partial_shape()
    name = port.get_any_name() if port.get_names() else port.get_node().get_friendly_name()
    if shape.rank.is_dynamic:
        return None
    dims = [d.get_length() if d.is_static else None for d in shape]
    problem = class_scores_problem(dims)
    if problem is not None:
        extra = ""
        if len(model.outputs) > 1:
            extra = (
                f" The model has {len(model.outputs)} outputs; saliencykit scores classes from the first one: "
                "put the class scores first when exporting."
            )
        raise ModelOutputError(_output_text(name, shape, problem) + extra)
    rest = [d for d in dims[1:] if d != 1]
    if not rest:
        return 1 if all(d is not None for d in dims[1:]) else None
    return rest[0]


def check_class_scores(outputs: object, batch: int, source: str = "model") -> np.ndarray:
    """``outputs`` of a batch of ``batch`` images as an (N, C) float array; :class:`ModelOutputError` otherwise."""
    try:
        array = np.asarray(outputs, dtype=np.float32)
    except (TypeError, ValueError):
        raise ModelOutputError(
            f"{source} returned {type(outputs).__name__}, not an array of class scores; return a numpy array of "
            f"shape (N, C) for a batch of N images (here N={batch})."
        ) from None
    problem = class_scores_problem(list(array.shape))
    if array.ndim >= 1 and array.shape[0] != batch:
        problem = problem or f"its first axis is {array.shape[0]} for a batch of {batch} images"
    if problem is not None:
        raise ModelOutputError(
            f"{source} returned shape {array.shape} for a batch of {batch} images, which is not class scores: "
            f"{problem}. Expected (N, C) with N={batch}, e.g. ({batch}, 1000)."
        )
    return array.reshape(batch, -1)


def check_finite(scores: np.ndarray, names: Sequence[str] | None = None) -> np.ndarray:
    """``scores`` unchanged when every value is finite; else :class:`ModelOutputError` naming the images."""
    finite = np.isfinite(scores).all(axis=tuple(range(1, scores.ndim)))
    if finite.all():
        return scores
    bad = [int(i) for i in np.flatnonzero(~finite)]
    who = ", ".join(names[i] if names is not None and i < len(names) else f"batch index {i}" for i in bad[:5])
    more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
    raise ModelOutputError(
        f"the model returned NaN or infinite scores for {who}{more}. Such scores cannot be ranked or explained. "
        "Likely causes: the wrong preprocessing scale (mean=/std=, CLI: --mean/--std) overflowing the model, a "
        "reduced precision (f16/bf16) overflowing, or a broken model export.",
        indices=bad,
    )


def _fix_spatial_size(model: ov.Model, preprocess: Preprocess, input_name: str | None) -> ov.Model:
    """``model`` with a dynamic height/width reshaped to ``preprocess.size`` (batch and channels unchanged).

    White-box methods need a feature map of known size; a model exported with a dynamic input size gets the
    size the user chose (``Preprocess(size=...)``, CLI: ``--size``). Models with a fixed size are returned as is.
    """
    port = select_input(model, input_name)
    shape = port.get_partial_shape()
    if shape.rank.is_dynamic or shape.rank.get_length() != 4:
        return model
    axes = (2, 3) if preprocess.layout == "NCHW" else (1, 2)
    if all(shape[a].is_static for a in axes):
        return model
    dims = [shape[i] for i in range(4)]
    dims[axes[0]], dims[axes[1]] = ov.Dimension(preprocess.hw[0]), ov.Dimension(preprocess.hw[1])
    model = model.clone()  # the caller's ov.Model stays as it was
    why = reshape_input(model, select_input(model, input_name), dims)
    if why is not None:
        raise PreprocessError(
            f"the model input {shape} cannot take size={preprocess.hw} ({why}); give another "
            "Preprocess(size=...) (CLI: --size), e.g. the size the model was trained at."
        )
    return model


class Pipeline:
    """Model + preprocessing + postprocessing; see the module docstring.

    ``model`` may also be a plain Python callable ``predict(pixel_batch) -> outputs``; it then receives the
    float32 pixel batch and only black-box methods can explain it.

    ``precision``: the inference precision of every graph compiled for this pipeline, ``"f32"`` (default, exact),
    ``"bf16"`` or ``"f16"`` (faster where the processor supports them; the README's "Precision" gives the figures).
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
        task: str = "classification",
        precision: str = "f32",
    ) -> None:
        self.precision = check_precision(precision)
        if task not in TASKS:
            raise PreprocessError(f"task='{task}': use one of {', '.join(TASKS)}.")
        self.task = task
        self.device = device
        self.input_name = input_name
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise PreprocessError(f"batch_size={batch_size!r}: give a whole number of images per inference, 1 or more.")
        if isinstance(label_names, (str, bytes)):
            raise TargetError(
                f"label_names={label_names!r}: give a list of class names, one per class; to read a labels file use "
                "saliencykit.read_labels(path) (CLI: --labels)."
            )
        self.batch_size = int(batch_size)
        self.label_names = list(label_names) if label_names is not None else None
        self.predict_fn: Callable[[np.ndarray], np.ndarray] | None = None
        self.ov_model: ov.Model | None = None
        is_model = isinstance(model, (str, Path, ov.Model)) or is_torch_module(model)
        if not is_model and callable(model):
            self.predict_fn = model
            if not isinstance(preprocess, Preprocess) or preprocess.size is None:
                raise PreprocessError(
                    "a predict callable needs preprocess=Preprocess(size=...) to know the input size."
                )
        else:
            shape_unknown = example_input is None and input_shape is None
            if is_torch_module(model) and shape_unknown and isinstance(preprocess, Preprocess) and preprocess.size:
                h, w = preprocess.hw
                input_shape = (1, h, w, 3) if preprocess.layout == "NHWC" else (1, 3, h, w)
            self.ov_model = load_model(model, example_input=example_input, input_shape=input_shape)
        if preprocess is None:
            preprocess = Preprocess()
        if isinstance(preprocess, Preprocess) and self.ov_model is not None:
            preprocess = preprocess.for_model(self.ov_model, input_name)
            self.ov_model = _fix_spatial_size(self.ov_model, preprocess, input_name)
        self.preprocess = preprocess
        self.postprocess = resolve_postprocess(self.ov_model, postprocess) if self.ov_model is not None else postprocess
        #: classes the graph says the model scores (None: not known before running it)
        self.num_classes: int | None = None
        if task == "classification" and self.ov_model is not None:
            self.num_classes = static_num_classes(self.ov_model)
            if not callable(self.postprocess):
                self._check_label_count(self.num_classes)
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

    def pixel_batch(self, images: Sequence[np.ndarray], names: Sequence[str] | None = None) -> np.ndarray:
        """:meth:`pixels` of each image as one float32 N x H x W x 3 batch (opaque preprocessing: the images must
        then share a size). With a :class:`Preprocess` each resized image is written into the batch once."""
        names = list(names) if names is not None else ["image"] * len(images)
        preprocess = self.preprocess
        if not isinstance(preprocess, Preprocess):
            return np.stack([self.pixels(im, name) for im, name in zip(images, names)])
        batch = np.empty((len(images), *preprocess.hw, 3), np.float32)
        for i, (image, name) in enumerate(zip(images, names)):
            batch[i] = preprocess.resize_image(image, name, dtype=None)
        return batch

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
        return ModelRunner(graph, self.device, self.input_name, chunk_size=self.batch_size, precision=self.precision)

    def run(self, runner: ModelRunner, pixel_batch: np.ndarray) -> list[np.ndarray]:
        """Every output of ``runner`` for a pixel batch."""
        return runner.infer(self._model_input(pixel_batch))

    def _check_label_count(self, num_classes: int | None) -> None:
        """One name per class (name N is class N): :func:`saliencykit.labels.check_label_count`."""
        if self.label_names is not None and num_classes is not None:
            check_label_count(self.label_names, num_classes, "label_names (CLI: --labels)")

    def scores(self, outputs: np.ndarray, names: Sequence[str] | None = None, batch: int | None = None) -> np.ndarray:
        """Postprocessed class scores (N, C) from the model's first output.

        The one place scores are made: outputs that are not class scores raise :class:`ModelOutputError`, and
        so do NaN or infinite scores (``names`` name the images, for the message and ``error.indices``).
        ``batch`` is the number of images sent, when the outputs come from code that could get it wrong.
        """
        if self.task == "classification":
            source = "the model" if self.predict_fn is None else "the predict callable"
            logits = check_class_scores(outputs, len(outputs) if batch is None else batch, source)
        else:
            logits = np.asarray(outputs).reshape(len(outputs), -1)
        scores = apply_postprocess(logits, self.postprocess)
        if self.task == "classification":
            self._check_label_count(scores.shape[-1])
        return check_finite(scores, names)

    def predict_pixels(self, pixel_batch: np.ndarray, names: Sequence[str] | None = None) -> np.ndarray:
        """Class scores (N, C) for a pixel batch: the ``predict`` that black-box methods call."""
        if self.predict_fn is not None:
            return self.scores(self.predict_fn(pixel_batch), names, len(pixel_batch))
        if self._plain_runner is None:
            self._plain_runner = self.compile()
        return self.scores(self.run(self._plain_runner, pixel_batch)[0], names)

    def blend_scorer(self, pixels: np.ndarray, base: np.ndarray | float) -> Callable[[np.ndarray], np.ndarray] | None:
        """``score(masks)``: class scores (N, C) of ``pixels`` blended towards ``base`` by masks (N, H, W) in [0, 1].

        ``base`` is a colour (3,) or an image like ``pixels``. The blend ``base + masks * (pixels - base)`` runs
        inside the compiled graph (:func:`saliencykit.graph.blend.insert_mask_blend`), compiled once for batches of
        ``BLEND_CHUNK`` masks. None when there is no graph to edit (a Python callable model, opaque
        preprocessing): black-box methods then blend on the host.
        """
        preprocess = self.preprocess
        if self.ov_model is None or not isinstance(preprocess, Preprocess):
            return None
        if self._blend_runner is None:
            try:
                graph = insert_mask_blend(preprocess.embed(self.ov_model, self.input_name), preprocess.hw)
            except GraphError as exc:
                log.info("blending on the host: %s", exc)
                return None
            blank = np.zeros((1, *preprocess.hw, 3), np.float32)
            self._blend_runner = ModelRunner(
                graph,
                self.device,
                MASKS_INPUT,
                chunk_size=BLEND_CHUNK,
                fixed_batch=True,
                constant_inputs={IMAGE_INPUT: blank, BASE_INPUT: blank},
                precision=self.precision,
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
        inference (``bench/blas_threads.py`` measures the difference). A Python callable model keeps its BLAS
        threads: it may need them itself.
        """
        if self.ov_model is None:
            return contextlib.nullcontext()
        return threadpool_limits(limits=1, user_api="blas")

    def predict(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Class scores (N, C) for RGB uint8 images."""
        names = [f"image {i}" for i in range(len(images))]
        if self.declarative:
            return self.predict_pixels(self.pixel_batch(images, names), names)
        pixels = [self.pixels(im, name) for im, name in zip(images, names)]
        return np.concatenate([self.predict_pixels(p[None], [n]) for p, n in zip(pixels, names)])  # sizes may differ
