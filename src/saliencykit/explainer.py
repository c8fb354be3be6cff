"""The Explainer: chooses a method (white-box inside the graph, or black-box), runs it, returns Explanations."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import GraphError, MethodError
from .explanation import Explanation
from .images import as_images
from .methods import METHODS, RISE, BlackBoxMethod, WhiteBoxMethod, get_method
from .methods.base import SALIENCY_OUTPUT
from .pipeline import ModelSource, Pipeline
from .preprocess import Postprocess, Preprocess
from .targets import Targets, check_targets, resolve_targets
from .visualize import normalize
from .xai import insert_whitebox

log = logging.getLogger("saliencykit")

MODES = ("auto", "whitebox", "blackbox")
TASKS = ("classification", "detection")
#: the registry's black-box methods: they take no target layer
BLACKBOX_METHODS = ("rise", "aise")


class Explainer:
    """Explain a classifier's predictions with saliency maps.

    >>> explainer = Explainer("model.xml", preprocess=Preprocess(size=224, mean=127.5, std=127.5))  # doctest: +SKIP
    >>> explanation = explainer(image, targets=["Samoyed", 207])  # doctest: +SKIP

    Args:
        model: an IR/ONNX/TFLite path, an ``ov.Model``, a ``torch.nn.Module``, or a Python callable
            ``predict(pixel_batch) -> scores`` (black-box only).
        preprocess: a :class:`Preprocess` (embedded in the graph) or a callable ``image -> model input``.
        postprocess: ``"softmax"``, ``"sigmoid"``, ``"identity"`` or a callable on the model's outputs.
        mode: ``"auto"`` (white-box when the graph allows, else black-box), ``"whitebox"`` or ``"blackbox"``.
        method: a method name (``"reciprocam"``, ``"vit_reciprocam"``, ``"activation_map"``, ``"rise"``) or object.
        target_layer: node name for white-box methods (default: found automatically).
        label_names: class names, so targets can be given by name and files are named by label.
    """

    def __init__(
        self,
        model: ModelSource | Callable[[np.ndarray], np.ndarray],
        preprocess: Preprocess | Callable[[np.ndarray], np.ndarray] | None = None,
        postprocess: Postprocess | None = None,
        mode: str = "auto",
        method: str | WhiteBoxMethod | BlackBoxMethod | None = None,
        target_layer: str | None = None,
        device: str = "CPU",
        label_names: Sequence[str] | None = None,
        *,
        input_name: str | None = None,
        example_input: Any = None,
        input_shape: Sequence[int] | None = None,
        batch_size: int | None = None,
        task: str = "classification",
        **detection_options: Any,
    ) -> None:
        if task not in TASKS:
            raise MethodError(f"task='{task}': use one of {', '.join(TASKS)}.")
        self.task = task
        if task == "detection":
            from .detection import DetectionExplainer

            sizes = {} if batch_size is None else {"batch_size": batch_size}
            self._detection = DetectionExplainer(
                model, preprocess, postprocess, mode, method, target_layer, device, label_names,
                input_name=input_name, example_input=example_input, input_shape=input_shape,
                **sizes, **detection_options,
            )  # fmt: skip
            self.pipeline = self._detection.pipeline
            self.mode = mode
            self.method, self.reason = self._detection.method, self._detection.reason
            self.method_description = self._detection.method_description
            return
        if detection_options:
            raise MethodError(f"{', '.join(detection_options)}: only for task='detection'.")
        postprocess = "softmax" if postprocess is None else postprocess
        batch_size = 16 if batch_size is None else batch_size
        if mode not in MODES:
            raise MethodError(f"mode='{mode}': use one of {', '.join(MODES)}.")
        self.pipeline = Pipeline(
            model, preprocess, postprocess, device, label_names, input_name, example_input, input_shape, batch_size
        )
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
        if self.task == "detection":
            return self._detection.whitebox
        return isinstance(self.method, WhiteBoxMethod)

    def _graph_postprocess(self) -> str:
        post = self.pipeline.postprocess
        return post if isinstance(post, str) else "identity"

    def _choose(self, mode: str, method: Any, target_layer: str | None) -> tuple[Any, str]:
        self._xai_graph = None
        if isinstance(method, str):
            key = method.lower().replace("-", "_")
            if key not in METHODS:
                raise MethodError(
                    f"method='{method}' is unknown; available methods: {', '.join(METHODS)} (CLI: --method)."
                )
            if key in BLACKBOX_METHODS:
                if target_layer is not None:
                    raise MethodError(
                        f"target_layer='{target_layer}' is for white-box methods; method '{method}' is black-box "
                        "and explains the whole image. Drop target_layer= (CLI: --target-layer) or pick a "
                        "white-box method."
                    )
                method = get_method(method)  # black-box methods take no target layer
        if isinstance(method, BlackBoxMethod):
            if mode == "whitebox":
                raise MethodError(f"method '{method.name}' is black-box but mode='whitebox'.")
            log.info("saliencykit: using %s (asked for)", method.name)
            return method, "asked for"
        if method is not None and not isinstance(method, (str, WhiteBoxMethod)):
            raise MethodError(f"{method!r} is not an explanation method (it has neither insert() nor explain()).")
        if method is not None and mode == "blackbox":
            raise MethodError(f"method {getattr(method, 'name', method)!r} is white-box but mode='blackbox'.")
        if target_layer is not None and mode == "blackbox":
            raise MethodError(
                f"target_layer='{target_layer}' is for white-box methods but mode='blackbox' "
                "(CLI: --target-layer, --mode)."
            )
        if mode == "blackbox":
            return RISE(), "black-box mode"
        # falling back to black-box is for the automatic choice only: what the user named must exist and fit
        explicit = mode == "whitebox" or method is not None or target_layer is not None
        if self.pipeline.ov_model is None:
            if explicit:
                raise MethodError(
                    "white-box methods (and target_layer=) need a model graph; a Python callable is explained "
                    "black-box: use mode='auto' or method='rise'."
                )
            return RISE(), "the model is a Python callable"
        try:
            chosen, self._xai_graph, why = insert_whitebox(
                self.pipeline.ov_model, method, target_layer, self._graph_postprocess()
            )
        except GraphError as exc:
            if explicit:
                raise
            log.warning(
                "saliencykit: falling back to black-box RISE (slower: many inferences per image) because %s", exc
            )
            return RISE(), "no white-box method fits the graph"
        log.info("saliencykit: using %s because %s", chosen.name, why)
        return chosen, why

    def __call__(
        self,
        image: np.ndarray | Sequence[np.ndarray],
        targets: Targets | None = None,
        keep_image: bool = True,
        progress: Callable[[int, int], None] | None = None,
    ) -> Explanation | list[Explanation]:
        """Explain one RGB uint8 image (or a list of them) for ``targets``.

        ``targets``: an int, a label name, a list mixing both, ``"top:k"``, ``"all"`` or -1; or a callable
        ``targets(scores, index) -> targets`` that chooses per image from its scores (``index`` is the image's
        position in the call) — a white-box method still needs one inference for it.
        ``progress(done, total)`` is called as black-box methods advance (model inputs done / planned), so a
        long explanation can show a progress bar; Ctrl-C stops it and returns nothing half-made.
        """
        if self.task == "detection":
            return self._detection(image, "all" if targets is None else targets, keep_image, progress)
        targets = "top:1" if targets is None else targets
        if not callable(targets):
            check_targets(targets)  # a usage error, before any image is read or any inference runs
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

    def _explanation(self, image, targets, maps, scores, keep_image, stats) -> Explanation:
        return Explanation(
            targets=targets,
            maps=maps,
            scores={t: float(scores[t]) for t in targets},
            label_names=self.label_names,
            method=self.method_description,
            image_size=tuple(image.shape[:2]),
            predictions=scores,
            image=image if keep_image else None,
            stats=stats,
        )

    def _explain_whitebox(self, images: list[np.ndarray], targets: Targets, keep_image: bool) -> list[Explanation]:
        start = time.perf_counter()
        pixels = np.stack([self.pipeline.pixels(im) for im in images])
        outputs = self.pipeline.run(self._runner, pixels)
        scores = self.pipeline.scores(outputs[0], names=[f"image {self._first + i}" for i in range(len(images))])
        saliency = outputs[self._map_index]
        elapsed = (time.perf_counter() - start) / len(images)
        results = []
        for i, image in enumerate(images):
            chosen = resolve_targets(_for_image(targets, scores[i], i), scores[i], self.label_names)
            maps = {t: saliency[i, 0 if self.method.class_agnostic else t].astype(np.float32) for t in chosen}
            stats = {"model_calls": 1, "wall_time_s": elapsed, "whitebox": True}
            results.append(self._explanation(image, chosen, maps, scores[i], keep_image, stats))
        return results

    def _explain_blackbox(self, images: list[np.ndarray], targets: Targets, keep_image: bool) -> list[Explanation]:
        results = []
        for i, image in enumerate(images):
            start = time.perf_counter()
            predict = _CountedPredict(self.pipeline)
            pixels = self.pipeline.pixels(image)
            scores = predict(pixels[None], names=[f"image {self._first + i}"])[0]
            chosen = resolve_targets(_for_image(targets, scores, i), scores, self.label_names)
            with self.pipeline.quiet_blas():
                raw = self.method.explain(predict, pixels, chosen, fill=self.pipeline.fill, progress=self._progress)
            maps = {t: normalize(raw[k]) for k, t in enumerate(chosen)}
            stats = {
                "model_calls": predict.calls,
                "wall_time_s": time.perf_counter() - start,
                "whitebox": False,
                "perturbed": predict.perturbed(),
            }
            if hasattr(self.method, "settings"):
                stats["settings"] = self.method.settings()
            results.append(self._explanation(image, chosen, maps, scores, keep_image, stats))
        return results

    def predict(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Class scores (N, C) for RGB uint8 images, without explaining (detection: boxes per image, in pixels)."""
        if self.task == "detection":
            return self._detection.detect(list(images))
        return self.pipeline.predict(as_images(images)[0])


class _CountedPredict:
    """The ``predict`` a black-box method gets: the pipeline's, counting model calls, with the in-graph blend."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.calls = 0
        self.in_graph = False

    def perturbed(self) -> str:
        """What the method's perturbations were applied to (``explanation.stats["perturbed"]``)."""
        if self.in_graph:
            return "resized image, blended inside the compiled graph (normalisation in the graph)"
        if self.pipeline.declarative:
            return "resized image, blended on the host (normalisation in the graph)"
        return "original image, blended on the host, then preprocessed by the callable for every copy"

    def __call__(self, batch: np.ndarray, names: Sequence[str] | None = None) -> np.ndarray:
        self.calls += len(batch)
        return self.pipeline.predict_pixels(batch, names)

    def blend_scorer(self, pixels: np.ndarray, base: np.ndarray | float) -> Callable[[np.ndarray], np.ndarray] | None:
        score = self.pipeline.blend_scorer(pixels, base)
        if score is None:
            return None
        self.in_graph = True

        def counted(masks: np.ndarray) -> np.ndarray:
            self.calls += len(masks)
            return score(masks)

        return counted


def _for_image(targets: Targets | Callable, scores: np.ndarray, index: int) -> Targets:
    """The targets of one image: ``targets(scores, index)`` when a callable chooses them per image."""
    return targets(scores, index) if callable(targets) else targets


def _offset(choose: Callable, start: int) -> Callable:
    """``choose`` seen from a chunk that starts at image ``start`` of the call."""
    return lambda scores, index: choose(scores, start + index)
