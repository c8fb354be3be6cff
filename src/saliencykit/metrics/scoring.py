"""Scoring perturbed images, shared by every metric: :class:`Scorer` turns a model argument into scores;
also maps into pixel-space arrays, substrates.

Metrics work in the pipeline's *pixel space*: the image resized to the model's input size, float32 H x W x 3
RGB 0..255 (``Pipeline.pixels``). Maps are bilinearly resized to that size, perturbed images are built there
and scored in one batch with ``Pipeline.predict_pixels``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any, ClassVar

import cv2
import numpy as np

from ..errors import MethodError, TargetError
from ..pipeline import Pipeline
from ..visualize import normalize, resize

#: explain(image RGB uint8 H x W x 3, target) -> 2-D float map (any resolution)
ExplainFn = Callable[[np.ndarray, int], np.ndarray]

_SCORE_ALIASES = {"probability": "probability", "softmax": "probability", "prob": "probability", "logit": "logit"}

_raw_runners: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Scorer:
    """Pixels and class scores of one model, as the metrics need them.

    Built from an :class:`~saliencykit.Explainer`, a :class:`~saliencykit.pipeline.Pipeline`, or a plain Python
    callable ``predict(pixel_batch (N, H, W, 3) float32) -> scores (N, C)`` that is used as it is (the image is
    then taken at its own size, and its scores count as probabilities).
    """

    def __init__(self, model: Any, score: str = "probability") -> None:
        key = _SCORE_ALIASES.get(str(score).lower())
        if key is None:
            raise MethodError(f"score='{score}': use 'probability' (the model's postprocessing) or 'logit'.")
        self.score = key
        pipeline = getattr(model, "pipeline", model)
        self.pipeline: Pipeline | None = pipeline if isinstance(pipeline, Pipeline) else None
        self._callable: Callable[[np.ndarray], np.ndarray] | None = None
        if self.pipeline is None:
            if not callable(model):
                raise MethodError(
                    f"model: expected an Explainer, a Pipeline or a predict(pixel_batch) callable, "
                    f"got {type(model).__name__}."
                )
            self._callable = model

    @property
    def score_name(self) -> str:
        """What the scores are, for the protocol record: 'softmax', 'sigmoid', 'logit', 'identity' or 'callable'."""
        if self.score == "logit":
            return "logit"
        if self.pipeline is None:
            return "callable"
        post = self.pipeline.postprocess
        return post if isinstance(post, str) else "custom"

    @property
    def fill(self) -> np.ndarray:
        """The pixel value that means 'no information' to the model (its preprocessing mean)."""
        return self.pipeline.fill if self.pipeline is not None else np.zeros(3, np.float32)

    def pixels(self, image: np.ndarray, name: str = "image") -> np.ndarray:
        """``image`` as float32 H x W x 3 pixels at the model's input size."""
        if self.pipeline is not None:
            return self.pipeline.pixels(image, name)
        arr = np.asarray(image)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise MethodError(f"{name}: expected an H x W x 3 image, got shape {arr.shape}.")
        return arr.astype(np.float32)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Scores (N, C) of a float32 pixel batch, as probabilities or logits."""
        if self._callable is not None:
            return np.asarray(self._callable(batch), np.float32).reshape(len(batch), -1)
        pipeline = self.pipeline
        assert pipeline is not None
        if self.score == "probability":
            return pipeline.predict_pixels(batch)
        if pipeline.predict_fn is not None:
            return np.asarray(pipeline.predict_fn(batch), np.float32).reshape(len(batch), -1)
        runner = _raw_runners.get(pipeline)
        if runner is None:
            runner = _raw_runners[pipeline] = pipeline.compile()
        out = pipeline.run(runner, batch)[0]
        return np.asarray(out, np.float32).reshape(len(batch), -1)

    def predict_chunked(self, make: Callable[[int, int], np.ndarray], count: int, chunk: int = 64) -> np.ndarray:
        """Scores of ``count`` images built ``chunk`` at a time by ``make(start, stop)`` (bounded memory)."""
        parts = [self.predict(make(start, min(count, start + chunk))) for start in range(0, count, chunk)]
        return np.concatenate(parts)


def explain_fn(explainer: Any) -> ExplainFn:
    """An :data:`ExplainFn` from an Explainer (its map of ``target``) or a callable already of that shape."""
    if hasattr(explainer, "pipeline") and callable(explainer):

        def explain(image: np.ndarray, target: int) -> np.ndarray:
            return explainer(image, targets=[int(target)], keep_image=False).map(int(target))

        return explain
    if callable(explainer):
        return explainer
    raise MethodError(f"explain: expected an Explainer or a callable (image, target) -> map, got {explainer!r}.")


def check_map(saliency: np.ndarray, name: str = "saliency map") -> np.ndarray:
    """A finite 2-D float32 map (a leading axis of one is dropped), else a clear error."""
    m = np.asarray(saliency, dtype=np.float32)
    while m.ndim > 2 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 2 or min(m.shape) < 1:
        raise MethodError(f"{name}: expected a 2-D map (h, w), got shape {np.shape(saliency)}.")
    if not np.all(np.isfinite(m)):
        raise MethodError(f"{name}: contains NaN or infinite values.")
    return m


def map_at(saliency: np.ndarray, size: tuple[int, int], name: str = "saliency map") -> np.ndarray:
    """The map bilinearly resized to ``size=(height, width)`` (the protocol's resolution)."""
    return resize(check_map(saliency, name), size)


def unit_map(saliency: np.ndarray) -> np.ndarray:
    """The map itself when it already lies in [0, 1], else min-max normalised to [0, 1]."""
    lo, hi = float(saliency.min()), float(saliency.max())
    if lo >= 0.0 and hi <= 1.0:
        return saliency.astype(np.float32)
    return normalize(saliency)


def resolve_target(target: int | None, scores: np.ndarray) -> int:
    """``target`` checked against the number of classes; ``None`` means the top-1 class."""
    if target is None:
        return int(np.argmax(scores))
    target = int(target)
    if not 0 <= target < scores.shape[-1]:
        raise TargetError(f"target {target} is out of range: the model has {scores.shape[-1]} classes.")
    return target


SubstrateSpec = str | float | Sequence[float] | np.ndarray


def make_substrate(
    pixels: np.ndarray, spec: SubstrateSpec, fill: np.ndarray, blur_sigma: float = 5.0, blur_kernel: int = 11
) -> tuple[np.ndarray, str]:
    """The image that stands for 'pixel removed', and its name for the protocol record.

    ``spec``: ``"blur"`` (Gaussian blur of the image, ``blur_kernel`` x ``blur_kernel`` taps, sigma
    ``blur_sigma`` pixels — Petsiuk et al.'s insertion substrate), ``"mean"`` (the preprocessing mean: zero after
    normalisation — Petsiuk et al.'s deletion substrate and Poppi et al.'s masking), ``"black"`` (pixel value 0,
    openvino-xai's choice), one number or an RGB triple (a constant pixel value 0..255), or an H x W x 3 array.
    """
    h, w = pixels.shape[:2]
    if isinstance(spec, str):
        key = spec.lower()
        if key == "blur":
            k = int(blur_kernel) | 1
            blurred = cv2.GaussianBlur(pixels, (k, k), sigmaX=float(blur_sigma), borderType=cv2.BORDER_REFLECT_101)
            return blurred.astype(np.float32), f"blur(kernel={k}, sigma={blur_sigma:g})"
        if key == "mean":
            value = np.asarray(fill, np.float32)
            return np.broadcast_to(value, (h, w, 3)).astype(np.float32), "mean(" + _rgb(value) + ")"
        if key == "black":
            return np.zeros((h, w, 3), np.float32), "constant(0)"
        raise MethodError(f"substrate='{spec}': use 'blur', 'mean', 'black', a pixel value, an RGB triple or an array.")
    arr = np.asarray(spec, np.float32)
    if arr.ndim == 0 or arr.shape == (1,) or arr.shape == (3,):
        value = np.broadcast_to(arr.reshape(-1), (3,))
        return np.broadcast_to(value, (h, w, 3)).astype(np.float32), "constant(" + _rgb(value) + ")"
    if arr.shape == (h, w, 3):
        return arr.astype(np.float32), "array"
    raise MethodError(f"substrate of shape {arr.shape}: give a pixel value, an RGB triple or an array of {(h, w, 3)}.")


def _rgb(value: np.ndarray) -> str:
    values = [float(v) for v in np.asarray(value).reshape(-1)]
    if len(set(values)) == 1:
        return f"{values[0]:g}"
    return ",".join(f"{v:g}" for v in values)


def as_uint8(pixels: np.ndarray) -> np.ndarray:
    """Float pixels rounded and clipped to an RGB uint8 image (what explainers take)."""
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def to_builtin(value: Any) -> Any:
    """Numpy scalars and arrays turned into plain Python values, recursively, for JSON."""
    if isinstance(value, dict):
        return {str(k): to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_builtin(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_builtin(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


class JSONResult:
    """A metric's result dataclass whose :meth:`to_dict` lists ``JSON_KEYS`` (default: its fields) as JSON values."""

    #: the keys of :meth:`to_dict` in order, fields or properties; empty means the dataclass fields
    JSON_KEYS: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        keys = self.JSON_KEYS or tuple(f.name for f in fields(self))  # type: ignore[arg-type]
        return to_builtin({key: getattr(self, key) for key in keys})
