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
from typing import Any

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


LAYOUTS = ("NCHW", "NHWC", "AUTO")
#: the input sizes saliencykit accepts: below 8 pixels no model sees anything, above 8192 one image's tensors
#: alone take gigabytes
MIN_SIZE, MAX_SIZE = 8, 8192


def _check_size(size: object) -> tuple[int, int]:
    """``size`` as (height, width) within [MIN_SIZE, MAX_SIZE], or a :class:`PreprocessError` before any allocation."""
    values = [size] if np.isscalar(size) else size
    try:
        items = list(values)  # type: ignore[call-overload]
        ok = all(not isinstance(v, (bool, np.bool_, str)) and float(v) == int(v) for v in items)
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok or len(items) not in (1, 2):
        raise PreprocessError(
            f"Preprocess size={size!r}: give an int or (height, width) in pixels (CLI: --size N), e.g. size=224."
        )
    hw = (int(items[0]), int(items[-1]))
    if not all(MIN_SIZE <= v <= MAX_SIZE for v in hw):
        raise PreprocessError(
            f"Preprocess size={size!r}: each side must be between {MIN_SIZE} and {MAX_SIZE} pixels (CLI: --size); "
            "models take inputs of a few hundred pixels, e.g. size=224."
        )
    return hw


def _triple(value: float | Sequence[float], name: str) -> tuple[float, float, float]:
    try:
        items: list[Any] = [value] if np.isscalar(value) else list(value)  # type: ignore[arg-type]
        values = [float(v) for v in items]
    except (TypeError, ValueError):
        raise PreprocessError(
            f"Preprocess {name}={value!r}: give one number or three (one per channel, RGB order), e.g. 127.5 or "
            f"(123.7, 116.3, 103.5) (CLI: --{'std' if name == 'scale' else name})."
        ) from None
    if not all(np.isfinite(values)):
        raise PreprocessError(f"Preprocess {name}={value!r}: the values must be finite numbers.")
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
        layout: ``"NCHW"``, ``"NHWC"`` or ``"auto"`` (default): read from the model input's shape when that is
            unambiguous (3 channels on axis 1 -> NCHW, on the last axis -> NHWC). A ``Preprocess`` used on its own
            in numpy (``preprocess(image)``), with no model to read, treats ``"auto"`` as NCHW.

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
    layout: str = "auto"
    _mean: tuple[float, float, float] = field(init=False, repr=False, compare=False)
    _std: tuple[float, float, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.resize not in _RESIZE:
            raise PreprocessError(f"Preprocess resize='{self.resize}': use one of {', '.join(_RESIZE)}.")
        if self.channel_order.upper() not in ("RGB", "BGR"):
            raise PreprocessError(f"Preprocess channel_order='{self.channel_order}': use 'RGB' or 'BGR'.")
        if not isinstance(self.layout, str) or self.layout.upper() not in LAYOUTS:
            raise PreprocessError(
                f"Preprocess layout={self.layout!r}: use 'NCHW', 'NHWC' or 'auto' (CLI: --layout NCHW|NHWC)."
            )
        object.__setattr__(self, "channel_order", self.channel_order.upper())
        object.__setattr__(self, "layout", self.layout.upper() if self.layout.upper() != "AUTO" else "auto")
        if self.size is not None:
            object.__setattr__(self, "size", _check_size(self.size))
        std = _triple(self.scale, "scale") if self.scale is not None else _triple(self.std, "std")
        if min(abs(s) for s in std) == 0:
            raise PreprocessError("Preprocess std/scale must not be zero.")
        object.__setattr__(self, "_mean", _triple(self.mean, "mean"))
        object.__setattr__(self, "_std", std)

    @property
    def hw(self) -> tuple[int, int]:
        """Target (height, width); raises if no size is known yet."""
        if self.size is None:
            raise PreprocessError(
                "Preprocess has no size: give Preprocess(size=...) (CLI: --size), or use a model with a fixed input "
                "size."
            )
        return self.size  # type: ignore[return-value]

    @property
    def data_layout(self) -> str:
        """The layout the numpy path uses: ``layout``, with ``"auto"`` meaning NCHW when there is no model."""
        return "NHWC" if self.layout == "NHWC" else "NCHW"

    def resolve_layout(self, model: ov.Model, input_name: str | None = None) -> str:
        """The model input's layout: ``layout`` checked against a static shape, or detected when ``"auto"``.

        Raises :class:`PreprocessError` when ``"auto"`` cannot tell (e.g. [1, 3, 224, 3], or dynamic channels),
        or when an explicit layout contradicts the shape (NCHW given, the input is [1, 224, 224, 3]).
        """
        shape = select_input(model, input_name).get_partial_shape()
        if shape.rank.is_dynamic or shape.rank.get_length() != 4:
            if self.layout != "auto":
                return self.layout
            raise PreprocessError(
                f"the model input has shape {shape}, not 4-D (N, C, H, W) or (N, H, W, C): cannot detect its layout; "
                "pass layout='NCHW' or layout='NHWC' (CLI: --layout)."
            )
        second, last = (shape[a].get_length() if shape[a].is_static else None for a in (1, 3))
        detected = _detect_layout(second, last)
        if self.layout == "auto":
            if detected is None:
                raise PreprocessError(
                    f"the model input has shape {shape}: its layout is ambiguous. Pass layout='NCHW' (channels on "
                    "axis 1) or layout='NHWC' (channels last) to Preprocess (CLI: --layout NCHW|NHWC)."
                )
            return detected
        channels = second if self.layout == "NCHW" else last
        other = last if self.layout == "NCHW" else second
        if channels is not None and channels != 3 and other == 3:
            right = "NHWC" if self.layout == "NCHW" else "NCHW"
            raise PreprocessError(
                f"layout='{self.layout}' does not fit the model input of shape {shape}: its channels (3) are on "
                f"the {'last axis' if right == 'NHWC' else 'axis 1'}. Use layout='{right}' (CLI: --layout {right}), "
                "or leave layout='auto'."
            )
        return self.layout

    def for_model(self, model: ov.Model, input_name: str | None = None) -> Preprocess:
        """This preprocessing with the layout resolved (:meth:`resolve_layout`) and ``size`` filled in from the
        model's fixed spatial input size when it was not given."""
        layout = self.resolve_layout(model, input_name)
        resolved = self if layout == self.layout else Preprocess(**{**self._fields(), "layout": layout})
        if resolved.size is not None:
            return resolved
        shape = select_input(model, input_name).get_partial_shape()
        axes = (2, 3) if layout == "NCHW" else (1, 2)
        if shape.rank.is_static and shape.rank.get_length() == 4 and all(shape[a].is_static for a in axes):
            size = (shape[axes[0]].get_length(), shape[axes[1]].get_length())
            return Preprocess(**{**resolved._fields(), "size": size})
        raise PreprocessError(
            f"the model input has no fixed spatial size ({shape}); give Preprocess(size=(height, width)) (CLI: --size)."
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

    def resize_image(self, image: np.ndarray, name: str = "image", dtype: Any = np.float32) -> np.ndarray:
        """Resize an RGB uint8 image to ``size``; returns float32 H x W x 3 RGB pixel values (0..255).

        ``dtype=None`` keeps the resized uint8 image, for a caller that writes it into a float32 batch itself.
        """
        image = check_image(image, name)
        h, w = self.hw
        if image.shape[:2] != (h, w):
            image = cv2.resize(image, (w, h), interpolation=_RESIZE[self.resize])
        return image if dtype is None else image.astype(dtype)

    def normalize(self, pixels: np.ndarray) -> np.ndarray:
        """Turn a float32 N x H x W x 3 RGB pixel batch into model input (numpy path of :meth:`embed`)."""
        x = (pixels - np.asarray(self._mean, dtype=np.float32)) / np.asarray(self._std, dtype=np.float32)
        if self.channel_order == "BGR":
            x = x[..., ::-1]
        if self.data_layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x, dtype=np.float32)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Preprocess one image in numpy: the model input with a batch of one (openvino-xai's preprocess_fn)."""
        return self.normalize(self.resize_image(image)[None])

    def embed(self, model: ov.Model, input_name: str | None = None) -> ov.Model:
        """Return a copy of ``model`` whose image input takes float32 N x H x W x 3 RGB pixel values (0..255).

        Normalisation, channel order and layout run inside the compiled graph.
        """
        layout = self.resolve_layout(model, input_name)
        model = model.clone()
        port = select_input(model, input_name)
        name = port.get_any_name() if port.get_names() else None
        ppp = PrePostProcessor(model)
        inp = ppp.input(name) if name else ppp.input()
        inp.tensor().set_element_type(ov.Type.f32).set_layout(ov.Layout("NHWC")).set_color_format(ColorFormat.RGB)
        inp.model().set_layout(ov.Layout(layout))
        steps = inp.preprocess()
        if self.channel_order == "BGR":
            steps.convert_color(ColorFormat.BGR)
        # PrePostProcessor applies mean/scale per channel in the model's channel order
        mean, std = list(self._mean), list(self._std)
        if self.channel_order == "BGR":
            mean.reverse()
            std.reverse()
        if any(m != 0 for m in mean):
            steps.mean(mean)
        if any(s != 1 for s in std):
            steps.scale(std)
        return ppp.build()


def _detect_layout(second: int | None, last: int | None) -> str | None:
    """NCHW or NHWC from a 4-D input's axis 1 and last axis (None: dynamic); None when it is ambiguous.

    Three channels on exactly one of the two axes decide; else one channel (a grey model) on exactly one of them.
    """
    for channels in (3, 1):
        if second == channels and last != channels and (channels == 3 or last not in (1, 3)):
            return "NCHW"
        if last == channels and second != channels and (channels == 3 or second not in (1, 3)):
            return "NHWC"
    return None


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
