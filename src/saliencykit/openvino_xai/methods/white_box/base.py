"""openvino-xai 1.1's white-box base: saliencykit inserts the map into the graph, this layer shapes its output.

saliencykit's insertions give ``saliency_map`` (N, K, h, w) float32, min-max scaled to [0, 1] per map. openvino-xai
gives (N, K, h, w) per class or (N, h, w) per image, and with ``embed_scaling`` (its default) uint8 0..255 scaled
inside the graph. :func:`shape_saliency_output` turns the one into the other, in the graph.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import openvino as ov
import openvino.opset13 as ops
from openvino.preprocess import PrePostProcessor

from ..._errors import XAIRuntimeError, XAIValueError
from ...common.utils import SALIENCY_MAP_OUTPUT_NAME, IdentityPreprocessFN, has_xai, logger
from ..base import MethodBase


def _axes(values: list[int]) -> ov.Output:
    return ops.constant(np.array(values, np.int64)).output(0)


def shape_saliency_output(
    model: ov.Model, per_class: bool, embed_scaling: bool, size: tuple[int, int] | None = None
) -> ov.Model:
    """``model``'s ``saliency_map`` output as openvino-xai lays it out: per-image maps squeezed to (N, h, w),
    optionally resized to ``size``, and with ``embed_scaling`` min-max scaled to 0..255 and cast to uint8."""
    index = next(i for i, out in enumerate(model.outputs) if SALIENCY_MAP_OUTPUT_NAME in out.get_names())
    source = model.outputs[index].get_node().input_value(0)
    value = source
    if size is not None:
        value = ops.interpolate(
            value, _axes(list(size)), "linear", "sizes", axes=_axes([2, 3]), coordinate_transformation_mode="half_pixel"
        ).output(0)
    if not per_class:
        value = ops.squeeze(value, _axes([1])).output(0)
    if embed_scaling:
        low = ops.reduce_min(value, _axes([-2, -1]), keep_dims=True).output(0)
        high = ops.reduce_max(value, _axes([-2, -1]), keep_dims=True).output(0)
        span = ops.add(ops.subtract(high, low), ops.constant(np.float32(1e-12))).output(0)
        value = ops.divide(ops.subtract(value, low), span).output(0)
        value = ops.multiply(value, ops.constant(np.float32(255))).output(0)
    if value is source:
        return model
    source.get_tensor().set_names(set())
    value.get_tensor().set_names({SALIENCY_MAP_OUTPUT_NAME})
    outputs = [o for i, o in enumerate(model.outputs) if i != index]
    shaped = ov.Model([*outputs, value], model.get_parameters(), model.get_friendly_name())
    if embed_scaling:
        ppp = PrePostProcessor(shaped)
        ppp.output(SALIENCY_MAP_OUTPUT_NAME).tensor().set_element_type(ov.Type.u8)
        shaped = ppp.build()
    return shaped


class WhiteBoxMethod(MethodBase):
    """A method that adds a ``saliency_map`` output to the graph; one inference gives maps and predictions.

    Subclasses implement :meth:`_insert` with a saliencykit insertion.
    """

    per_class = True

    def __init__(
        self,
        model: ov.Model,
        preprocess_fn: Callable[[np.ndarray], np.ndarray] = IdentityPreprocessFN(),
        embed_scaling: bool | None = True,
        device_name: str = "CPU",
    ) -> None:
        if not isinstance(model, ov.Model):
            raise XAIValueError(
                f"{type(self).__name__}: model must be an openvino.Model (read it with ov.Core().read_model), "
                f"got {type(model).__name__}."
            )
        super().__init__(preprocess_fn=preprocess_fn, device_name=device_name)
        self._model_ori = copy.deepcopy(model)
        self.embed_scaling = bool(embed_scaling)

    @property
    def model_ori(self) -> ov.Model:
        return self._model_ori

    def _insert(self, model: ov.Model) -> ov.Model:  # pragma: no cover - abstract
        raise NotImplementedError

    def _size(self) -> tuple[int, int] | None:
        return None

    def generate_xai_branch(self) -> ov.Model:
        """The model with its ``saliency_map`` output, shaped as openvino-xai's."""
        inserted = self._insert(self._model_ori.clone())
        return shape_saliency_output(inserted, self.per_class, self.embed_scaling, self._size())

    def generate_saliency_map(self, data: np.ndarray, *args, **kwargs) -> np.ndarray:
        """The ``saliency_map`` output for ``data`` (``preprocess_fn`` applied)."""
        return self.model_forward(data)[SALIENCY_MAP_OUTPUT_NAME]

    def prepare_model(self, load_model: bool = True) -> ov.Model:
        if self._model is None:
            if has_xai(self._model_ori):
                logger.info("Provided IR model already contains XAI branch.")
                self._model = self._model_ori
            else:
                self._model = self.generate_xai_branch()
                if not has_xai(self._model):
                    raise XAIRuntimeError("Insertion of the XAI branch into the model was not successful.")
        if load_model and self._model_compiled is None:
            self._model_compiled = ov.Core().compile_model(model=self._model, device_name=self._device_name)
        return self._model


class LayerWhiteBoxMethod(WhiteBoxMethod):
    """A white-box method inserted after one ``target_layer`` (found automatically when None).

    The branch is inserted on construction (``prepare_model``), so a model it does not fit fails there; subclasses
    set their own options before calling this ``__init__``.
    """

    def __init__(
        self,
        model: ov.Model,
        preprocess_fn: Callable[[np.ndarray], np.ndarray] = IdentityPreprocessFN(),
        target_layer: str | None = None,
        embed_scaling: bool | None = True,
        device_name: str = "CPU",
        prepare_model: bool = True,
    ) -> None:
        super().__init__(model, preprocess_fn, embed_scaling, device_name)
        self._target_layer = target_layer
        self.prepare_model(load_model=prepare_model)
