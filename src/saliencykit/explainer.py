"""The Explainer: one facade for every task — it picks the task, chooses a method from the registry (white-box
inside the graph, or black-box), runs it and returns Explanations.

What differs between tasks (predictions, targets, scores, labels) is the task object's
(:mod:`saliencykit.tasks`); which methods exist is the registry's (:mod:`saliencykit.methods.registry`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import GraphError, MethodError
from .explanation import Explanation
from .images import as_images
from .insertion import insert_whitebox
from .methods import BlackBoxMethod, WhiteBoxMethod, registry
from .methods.base import SALIENCY_OUTPUT
from .model import check_precision
from .pipeline import ModelSource, Pipeline
from .preprocess import Postprocess, Preprocess
from .tasks import TASKS as TASK_REGISTRY
from .tasks import Task, get_task, task_class

log = logging.getLogger("saliencykit")

MODES = ("auto", "whitebox", "blackbox")
#: the task names ``task=`` takes (the task registry's)
TASKS = tuple(TASK_REGISTRY)


class Explainer:
    """Explain a model's predictions with saliency maps: a classifier's classes, a detector's boxes, a segmentation
    model's regions, or any scalar a user's scorer reads from the outputs.

    >>> explainer = Explainer("model.xml", preprocess=Preprocess(size=224, mean=127.5, std=127.5))  # doctest: +SKIP
    >>> explanation = explainer(image, targets=["Samoyed", 207])  # doctest: +SKIP

    Args:
        model: an IR/ONNX/TFLite path, an ``ov.Model``, a ``torch.nn.Module``, or a Python callable
            ``predict(pixel_batch) -> outputs`` (black-box only).
        preprocess: a :class:`Preprocess` (embedded in the graph) or a callable ``image -> model input``.
        postprocess: classification: ``"softmax"``, ``"sigmoid"``, ``"identity"`` or a callable on the model's
            outputs; detection: a preset name (``"blazeface"``, ``"palm"``), an ``SSDPostprocess`` or a callable
            ``outputs -> per-image detections``.
        mode: ``"auto"`` (white-box when the graph allows, else black-box), ``"whitebox"`` or ``"blackbox"``.
        method: a registered method name (``registry.help_text(task)`` lists them) or a method object.
        target_layer: node name(s) for white-box methods (default: found automatically).
        label_names: class names, so targets can be given by name and files are named by label.
        task: ``"classification"``, ``"detection"``, ``"segmentation"`` or ``"scalar"`` (:mod:`saliencykit.tasks`);
            task options are further keywords (detection: ``class_output``; segmentation: ``output``,
            ``output_stride``, ``activation``, ``score``; scalar: ``scorer``, a function outputs -> scores).
        precision: inference precision, ``"f32"`` (default), ``"bf16"`` or ``"f16"`` (:class:`Pipeline`).
    """

    def __init__(
        self,
        model: ModelSource | Callable[[np.ndarray], Any],
        preprocess: Preprocess | Callable[[np.ndarray], np.ndarray] | None = None,
        postprocess: Postprocess | Any = None,
        mode: str = "auto",
        method: str | WhiteBoxMethod | BlackBoxMethod | None = None,
        target_layer: Any = None,
        device: str = "CPU",
        label_names: Sequence[str] | None = None,
        *,
        input_name: str | None = None,
        example_input: Any = None,
        input_shape: Sequence[int] | None = None,
        batch_size: int | None = None,
        task: str = "classification",
        precision: str = "f32",
        **task_options: Any,
    ) -> None:
        check_precision(precision)  # before the task loads the model
        self.task_object: Task = get_task(task, **task_options)
        self.task = task
        if mode not in MODES:
            raise MethodError(f"mode='{mode}': use one of {', '.join(MODES)}.")
        settings = {
            "device": device,
            "label_names": label_names,
            "input_name": input_name,
            "example_input": example_input,
            "input_shape": input_shape,
            "batch_size": batch_size,
            "precision": precision,
        }
        self.pipeline: Pipeline = self.task_object.pipeline(model, preprocess, postprocess, settings)
        self.mode = mode
        self.method, self.reason = self._choose(mode, method, target_layer)
        self.method_description = f"{self.method.name} ({self.reason})"
        self._runner = self.pipeline.compile(self._xai_graph) if self.whitebox else None
        if self._runner is not None:
            self._map_index = self._runner.output_names.index(SALIENCY_OUTPUT)

    @property
    def label_names(self) -> list[str] | None:
        return self.pipeline.label_names

    @property
    def whitebox(self) -> bool:
        """Whether the chosen method runs inside the graph."""
        return self._xai_graph is not None

    def options(self) -> dict[str, Any]:
        """The keyword arguments that build this explainer again on another model (same method and settings)."""
        pipeline = self.pipeline
        return {
            "preprocess": pipeline.preprocess,
            "postprocess": pipeline.postprocess,
            "mode": self.mode,
            "method": self.method,
            "device": pipeline.device,
            "label_names": pipeline.label_names,
            "input_name": pipeline.input_name,
            "batch_size": pipeline.batch_size,
            "precision": pipeline.precision,
            "task": self.task,
            **self.task_object.rebuild_options(),
        }

    def with_model(self, model: Any) -> Explainer:
        """This explainer (method, preprocessing, postprocessing, task) rebuilt on ``model``, e.g. a randomised copy."""
        return Explainer(model, **self.options())

    # ------------------------------------------------------------------------------------------- the method

    def _default_blackbox(self) -> Any:
        return registry.lookup(self.task_object.default_blackbox).create(self.task)

    def _check_task(self, method: Any) -> None:
        """A method object made for another task shares the protocols' shape, not the arguments: say so now."""
        tasks = getattr(method, "tasks", None)
        if tasks is not None and self.task not in tasks:
            nouns = " and ".join(task_class(t).noun if t in TASKS else t for t in tasks)
            usable = ", ".join(registry.names(task=self.task))
            raise MethodError(
                f"{type(method).__name__} explains {nouns}; for {self.task_object.noun} use method= one of: "
                f"{usable} (or their classes)."
            )

    def _choose(self, mode: str, method: Any, target_layer: Any) -> tuple[Any, str]:
        """The one method-choice routine: what was named must exist and fit; only ``auto`` falls back."""
        self._xai_graph = None
        if method is not None and not isinstance(method, str):
            if not isinstance(method, (WhiteBoxMethod, BlackBoxMethod)):
                raise MethodError(f"{method!r} is not an explanation method (it has neither insert() nor explain()).")
            self._check_task(method)  # an object the user made; the registry's are made for the task
        if isinstance(method, str):
            try:
                spec = registry.lookup(method, self.task)
            except MethodError:
                raise MethodError(
                    f"method='{method}' is unknown; available methods: {', '.join(registry.names(task=self.task))} "
                    "(CLI: --method)."
                ) from None
            if spec.kind == "blackbox":
                if target_layer is not None:
                    raise MethodError(
                        f"target_layer='{target_layer}' is for white-box methods; method '{method}' is black-box "
                        "and explains the whole image. Drop target_layer= (CLI: --target-layer) or pick a "
                        "white-box method."
                    )
                method = spec.create(self.task)  # black-box methods take no target layer
            elif self.task not in spec.tasks:
                spec.create(self.task)  # refused by name, with the methods for this task
        if isinstance(method, BlackBoxMethod) and not isinstance(method, WhiteBoxMethod):
            if mode == "whitebox":
                raise MethodError(f"method '{method.name}' is black-box but mode='whitebox'.")
            log.info("saliencykit: using %s (asked for)", method.name)
            return method, "asked for"
        if method is not None and mode == "blackbox":
            raise MethodError(f"method {getattr(method, 'name', method)!r} is white-box but mode='blackbox'.")
        if target_layer is not None and mode == "blackbox":
            raise MethodError(
                f"target_layer='{target_layer}' is for white-box methods but mode='blackbox' "
                "(CLI: --target-layer, --mode)."
            )
        if mode == "blackbox":
            return self._default_blackbox(), "black-box mode"
        # falling back to black-box is for the automatic choice only: what the user named must exist and fit
        explicit = mode == "whitebox" or method is not None or target_layer is not None
        if self.pipeline.ov_model is None:
            if explicit:
                raise MethodError(
                    "white-box methods (and target_layer=) need a model graph; a Python callable is explained "
                    f"black-box: use mode='auto' or method='{self.task_object.default_blackbox}'."
                )
            return self._default_blackbox(), "the model is a Python callable"
        if not explicit and not registry.automatic(self.task):  # the task has no white-box method to try
            log.info(
                "saliencykit: using %s because %s", self.task_object.default_blackbox, self.task_object.fallback_reason
            )
            return self._default_blackbox(), self.task_object.fallback_reason
        try:
            if target_layer is not None:
                self.task_object.check_target_layer(self.pipeline.ov_model, target_layer)
            argument = self.task_object.insert_argument(self.pipeline.postprocess)
            chosen, graph, why = insert_whitebox(self.pipeline.ov_model, method, target_layer, argument, self.task)
        except GraphError as exc:
            if explicit:
                raise
            fallback = self._default_blackbox()
            log.warning(
                "saliencykit: falling back to black-box %s (slower: many inferences per image) because %s",
                getattr(fallback, "label", fallback.name),
                exc,
            )
            return fallback, self.task_object.fallback_reason
        self._xai_graph = graph
        log.info("saliencykit: using %s because %s", chosen.name, why)
        return chosen, why

    # -------------------------------------------------------------------------------------------- explain

    def __call__(
        self,
        image: np.ndarray | Sequence[np.ndarray],
        targets: Any = None,
        keep_image: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> Explanation | list[Explanation]:
        """Explain one RGB uint8 image (or a list of them) for ``targets``.

        Classification ``targets``: an int, a label name, a list mixing both, ``"top:k"`` (default ``top:1``),
        ``"all"`` or -1. Detection: a predicted box index (boxes sorted by decreasing score), a list of indices,
        ``"all"`` (default), ``"top:k"``, or boxes ``[x0, y0, x1, y1, class]`` in pixels of the image. Either may be a
        callable ``targets(prediction, index) -> targets`` that chooses per image from its prediction (``index`` is
        the image's position in the call) — a white-box method still needs one inference for it. Segmentation: a
        class (its predicted region), ``"all"`` (default), ``"mask"`` or :class:`~saliencykit.targets.Region`
        (a mask or box, for a class). Scalar: indices or names of the scorer's outputs, ``"all"`` (default).
        ``progress(done, total)`` is called as black-box methods advance (model inputs done / planned), so a
        long explanation can show a progress bar; Ctrl-C stops it and returns nothing half-made.
        """
        targets = self.task_object.default_targets if targets is None else targets
        if not callable(targets):
            self.task_object.check_targets(targets)  # a usage error, before any image is read or inference runs
        self._progress = progress
        self._first = 0
        images, single = as_images(image)
        explain = self._explain_whitebox if self.whitebox else self._explain_blackbox
        results: list[Explanation] = []
        step = max(1, self.pipeline.batch_size) if self.pipeline.declarative else 1
        for start in range(0, len(images), step):
            chunk_targets = _offset(targets, start) if callable(targets) else targets
            self._first = start  # images are named by their position in the call
            results.extend(explain(images[start : start + step], chunk_targets, keep_image))
        return results[0] if single else results

    def _names(self, count: int) -> list[str]:
        return [f"image {self._first + i}" for i in range(count)]

    def _explanation(self, image, chosen, maps, prediction, keep_image, stats) -> Explanation:
        return self.task_object.explanation(
            image,
            chosen,
            maps,
            prediction,
            label_names=self.label_names,
            method=self.method_description,
            image=image if keep_image else None,
            stats=stats,
        )

    def _explain_whitebox(self, images: list[np.ndarray], targets: Any, keep_image: bool) -> list[Explanation]:
        task = self.task_object
        start = time.perf_counter()
        pixels = self.pipeline.pixel_batch(images)
        assert self._runner is not None
        outputs = self.pipeline.run(self._runner, pixels)
        saliency = outputs[self._map_index]
        predictions = task.read([o for k, o in enumerate(outputs) if k != self._map_index], self._names(len(images)))
        elapsed = (time.perf_counter() - start) / len(images)
        results = []
        for i, image in enumerate(images):
            chosen = task.targets(_for_image(targets, predictions[i], i), predictions[i], image.shape[:2])
            maps = {
                t.key: task.finish_map(task.whitebox_map(saliency[i], t, self.method), t, True, self.method.name)
                for t in chosen
            }
            stats = {"model_calls": 1, "wall_time_s": elapsed, "whitebox": True}
            results.append(self._explanation(image, chosen, maps, predictions[i], keep_image, stats))
        return results

    def _explain_blackbox(self, images: list[np.ndarray], targets: Any, keep_image: bool) -> list[Explanation]:
        task = self.task_object
        results = []
        for i, image in enumerate(images):
            start = time.perf_counter()
            predict = _CountedPredict(self.pipeline, task)
            pixels = self.pipeline.pixels(image)
            prediction = predict.predictions(pixels[None], self._names(len(images))[i : i + 1])[0]
            chosen = task.targets(_for_image(targets, prediction, i), prediction, image.shape[:2])
            maps = {}
            if chosen:
                with self.pipeline.quiet_blas():
                    raw = self.method.explain(predict, pixels, chosen, fill=self.pipeline.fill, progress=self._progress)
                maps = {t.key: task.finish_map(raw[k], t, False, self.method.name) for k, t in enumerate(chosen)}
            stats = {
                "model_calls": predict.calls,
                "wall_time_s": time.perf_counter() - start,
                "whitebox": False,
                "perturbed": predict.perturbed(),
            }
            settings = getattr(self.method, "settings", None)
            if callable(settings):
                stats["settings"] = settings()
            results.append(self._explanation(image, chosen, maps, prediction, keep_image, stats))
        return results

    def predict(self, images: np.ndarray | Sequence[np.ndarray]) -> Any:
        """Predictions without explaining: class scores (N, C); detection: boxes per image, in pixels;
        segmentation: a :class:`~saliencykit.tasks.segmentation.SegmentationPrediction` per image; scalar: the
        scorer's scores (N, T)."""
        runner = self._runner if self.whitebox else None
        index = self._map_index if self.whitebox else None
        return self.task_object.predict_images(as_images(images)[0], runner, index)


class _CountedPredict:
    """The ``predict`` a black-box method gets: the task's outputs of perturbed copies, counting model calls, with
    the in-graph blend where the task allows it."""

    def __init__(self, pipeline: Pipeline, task: Task) -> None:
        self.pipeline = pipeline
        self.task = task
        self.calls = 0
        self.in_graph = False

    def perturbed(self) -> str:
        """What the method's perturbations were applied to (``explanation.stats["perturbed"]``)."""
        if self.in_graph:
            return "resized image, blended inside the compiled graph (normalisation in the graph)"
        if self.pipeline.declarative:
            return "resized image, blended on the host (normalisation in the graph)"
        return "original image, blended on the host, then preprocessed by the callable for every copy"

    def predictions(self, pixels: np.ndarray, names: Sequence[str]) -> Sequence[Any]:
        """The task's predictions of the unperturbed image(s)."""
        self.calls += len(pixels)
        return self.task.predict(pixels, names)

    def __call__(self, batch: np.ndarray) -> Any:
        self.calls += len(batch)
        return self.task.perturbed(batch)

    def blend_scorer(self, pixels: np.ndarray, base: np.ndarray | float) -> Callable[[np.ndarray], Any] | None:
        score = self.pipeline.blend_scorer(pixels, base) if self.task.in_graph_blend else None
        if score is None:
            return None
        self.in_graph = True

        def counted(masks: np.ndarray) -> np.ndarray:
            self.calls += len(masks)
            return score(masks)

        return counted


def _for_image(targets: Any, prediction: Any, index: int) -> Any:
    """The targets of one image: ``targets(prediction, index)`` when a callable chooses them per image."""
    return targets(prediction, index) if callable(targets) else targets


def _offset(choose: Callable, start: int) -> Callable:
    """``choose`` seen from a chunk that starts at image ``start`` of the call."""
    return lambda prediction, index: choose(prediction, start + index)
