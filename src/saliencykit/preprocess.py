"""Declarative preprocessing and postprocessing.

A :class:`Preprocess` describes how an RGB uint8 image becomes a model input: resize to ``size``, subtract
``mean``, divide by ``std``, reorder channels and lay out as NCHW or NHWC. It can run in numpy
(``preprocess(image)``) or be embedded into the OpenVINO graph (``preprocess.embed(model)``), which is faster
and cannot drift. Resizing always happens on the host with OpenCV so that a batch of photos of different
sizes becomes one tensor; everything after it lives in the graph.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
from openvino.preprocess import ColorFormat, PrePostProcessor

from .errors import PreprocessError
from .images import check_image
from .model import select_input

log = logging.getLogger(__name__)

_RESIZE = {
    "linear": cv2.INTER_LINEAR,
    "area": cv2.INTER_AREA,
    "nearest": cv2.INTER_NEAREST,
    "cubic": cv2.INTER_CUBIC,
}


def _triple(value: float | Sequence[float], name: str) -> tuple[float, float, float]:
    values = [float(value)] * 3 if np.isscalar(value) else [float(v) for v in value]  # type: ignore[union-attr]
    if len(values) == 1:
        values = values * 3
    if len(values) != 3:
        raise PreprocessError(f"Preprocess {name}={value!r}: give one number or three (one per channel).")
    return values[0], values[1], values[2]


@dataclass(frozen=True)
class Preprocess:
    """How an RGB uint8 image becomes a model input.

    Args:
        size: target ``(height, width)`` or one int for a square; ``None`` takes the model's fixed input size.
        resize: OpenCV interpolation, ``"linear"`` (default), ``"area"``, ``"nearest"`` or ``"cubic"``.
        mean: subtracted from the 0..255 pixel values, per channel (in RGB order) or one number.
        std: divides after the mean; ``scale`` is an alias for a single divisor.
        channel_order: ``"RGB"`` or ``"BGR"``, the order the model was trained on.
        layout: ``"NCHW"`` or ``"NHWC"``, the model input's layout.

    >>> p = Preprocess(size=224, mean=127.5, std=127.5)
    >>> p(np.zeros((300, 400, 3), np.uint8)).shape
    (1, 3, 224, 224)
    """

    size: int | tuple[int, int] | None = None
    resize: str = "linear"
    mean: float | Sequence[float] = 0.0
    std: float | Sequence[float] = 1.0
    scale: float | None = None
    channel_order: str = "RGB"
    layout: str = "NCHW"
    _mean: tuple[float, float, float] = field(init=False, repr=False, compare=False)
    _std: tuple[float, float, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.resize not in _RESIZE:
            raise PreprocessError(f"Preprocess resize='{self.resize}': use one of {', '.join(_RESIZE)}.")
        if self.channel_order.upper() not in ("RGB", "BGR"):
            raise PreprocessError(f"Preprocess channel_order='{self.channel_order}': use 'RGB' or 'BGR'.")
        if self.layout.upper() not in ("NCHW", "NHWC"):
            raise PreprocessError(f"Preprocess layout='{self.layout}': use 'NCHW' or 'NHWC'.")
        object.__setattr__(self, "channel_order", self.channel_order.upper())
        object.__setattr__(self, "layout", self.layout.upper())
        if self.size is not None:
            size = (int(self.size), int(self.size)) if np.isscalar(self.size) else tuple(int(s) for s in self.size)
            if len(size) != 2 or min(size) < 1:
                raise PreprocessError(f"Preprocess size={self.size!r}: give an int or (height, width).")
            object.__setattr__(self, "size", size)
        std = _triple(self.scale, "scale") if self.scale is not None else _triple(self.std, "std")
        if min(abs(s) for s in std) == 0:
            raise PreprocessError("Preprocess std/scale must not be zero.")
        object.__setattr__(self, "_mean", _triple(self.mean, "mean"))
        object.__setattr__(self, "_std", std)

    @property
    def hw(self) -> tuple[int, int]:
        """Target (height, width); raises if no size is known yet."""
        if self.size is None:
            raise PreprocessError("Preprocess has no size: give size= or use a model with a fixed input size.")
        return self.size  # type: ignore[return-value]

    def for_model(self, model: ov.Model, input_name: str | None = None) -> Preprocess:
        """Fill in ``size`` from the model's fixed spatial input size when it was not given."""
        if self.size is not None:
            return self
        shape = select_input(model, input_name).get_partial_shape()
        axes = (2, 3) if self.layout == "NCHW" else (1, 2)
        if shape.rank.is_static and shape.rank.get_length() == 4 and all(shape[a].is_static for a in axes):
            return Preprocess(**{**self._fields(), "size": (shape[axes[0]].get_length(), shape[axes[1]].get_length())})
        raise PreprocessError(
            f"the model input has no fixed spatial size ({shape}); give Preprocess(size=(height, width))."
        )

    def _fields(self) -> dict:
        return {
            "size": self.size,
            "resize": self.resize,
            "mean": self.mean,
            "std": self.std,
            "scale": self.scale,
            "channel_order": self.channel_order,
            "layout": self.layout,
        }

    def resize_image(self, image: np.ndarray, name: str = "image") -> np.ndarray:
        """Resize an RGB uint8 image to ``size``; returns float32 H x W x 3 RGB pixel values (0..255)."""
        image = check_image(image, name)
        h, w = self.hw
        if image.shape[:2] != (h, w):
            image = cv2.resize(image, (w, h), interpolation=_RESIZE[self.resize])
        return image.astype(np.float32)

    def normalize(self, pixels: np.ndarray) -> np.ndarray:
        """Turn a float32 N x H x W x 3 RGB pixel batch into model input (numpy path of :meth:`embed`)."""
        x = (pixels - np.float32(self._mean)) / np.float32(self._std)
        if self.channel_order == "BGR":
            x = x[..., ::-1]
        if self.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x, dtype=np.float32)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Preprocess one image in numpy: the model input with a batch of one (openvino-xai's preprocess_fn)."""
        return self.normalize(self.resize_image(image)[None])

    def embed(self, model: ov.Model, input_name: str | None = None) -> ov.Model:
        """Return a copy of ``model`` whose image input takes float32 N x H x W x 3 RGB pixel values (0..255).

        Normalisation, channel order and layout run inside the compiled graph.
        """
        model = model.clone()
        port = select_input(model, input_name)
        name = port.get_any_name() if port.get_names() else None
        ppp = PrePostProcessor(model)
        inp = ppp.input(name) if name else ppp.input()
        inp.tensor().set_element_type(ov.Type.f32).set_layout(ov.Layout("NHWC")).set_color_format(ColorFormat.RGB)
        inp.model().set_layout(ov.Layout(self.layout))
        steps = inp.preprocess()
        if self.channel_order == "BGR":
            steps.convert_color(ColorFormat.BGR)
        # PrePostProcessor applies mean/scale per channel in the model's channel order
        order = slice(None, None, -1) if self.channel_order == "BGR" else slice(None)
        if any(m != 0 for m in self._mean):
            steps.mean(list(self._mean[order]))
        if any(s != 1 for s in self._std):
            steps.scale(list(self._std[order]))
        return ppp.build()


Postprocess = str | Callable[[np.ndarray], np.ndarray]
POSTPROCESS_NAMES = ("softmax", "sigmoid", "identity")
_PASS_THROUGH = {"Reshape", "Squeeze", "Unsqueeze", "Convert", "Result", "Identity"}


def ends_in_softmax(model: ov.Model, output: int = 0) -> bool:
    """Whether the model's ``output`` comes out of a Softmax (through shape-only operations)."""
    node = model.outputs[output].get_node()
    while node.get_type_name() in _PASS_THROUGH and node.get_input_size() > 0:
        node = node.input_value(0).get_node()
    return node.get_type_name() in ("Softmax", "SoftMax", "LogSoftmax")


def resolve_postprocess(model: ov.Model, postprocess: Postprocess, output: int = 0) -> Postprocess:
    """Validate ``postprocess``; ``"softmax"`` becomes ``"identity"`` when the model already ends in one."""
    if callable(postprocess):
        return postprocess
    if postprocess not in POSTPROCESS_NAMES:
        raise PreprocessError(f"postprocess='{postprocess}': use one of {', '.join(POSTPROCESS_NAMES)} or a callable.")
    if postprocess == "softmax" and ends_in_softmax(model, output):
        log.info("the model already ends in a softmax: its outputs are used as they are")
        return "identity"
    return postprocess


def apply_postprocess(logits: np.ndarray, postprocess: Postprocess) -> np.ndarray:
    """Turn model outputs (N, C) into scores in numpy."""
    if callable(postprocess):
        return np.asarray(postprocess(logits), dtype=np.float32)
    x = np.asarray(logits, dtype=np.float32)
    if postprocess == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if postprocess == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    return x


def postprocess_node(logits: ov.Output, postprocess: str) -> ov.Output:
    """The graph equivalent of :func:`apply_postprocess` for a named postprocess (last axis)."""
    if postprocess == "softmax":
        return ops.softmax(logits, -1).output(0)
    if postprocess == "sigmoid":
        return ops.sigmoid(logits).output(0)
    return logits
