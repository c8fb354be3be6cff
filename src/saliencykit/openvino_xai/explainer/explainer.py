"""openvino-xai 1.1's ``Explainer``: same constructor, same call, same defaults and log lines.

Without ``preprocess_fn`` the data is taken as the model's input (already preprocessed), as in openvino-xai.
``ExplainMode.AUTO`` tries white-box (ReciproCAM, then ViT-ReciproCAM) and falls back to black-box, which needs
a ``postprocess_fn``; black-box classification defaults to AISE here (saliencykit's own ``Explainer`` keeps RISE).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from enum import Enum
from os import PathLike
from typing import Any

import numpy as np
import openvino as ov

from ...model import load_model
from .._errors import XAIRuntimeError, XAIValueError
from ..common.parameters import Task
from ..common.utils import IdentityPreprocessFN, infer_size_from_image, logger
from ..methods.base import MethodBase
from ..methods.black_box.base import BlackBoxXAIMethod
from ..methods.factory import BlackBoxMethodFactory, WhiteBoxMethodFactory, _method, _TaskMethodFactory
from .explanation import Explanation
from .utils import convert_targets_to_numpy, explains_all, get_target_indices
from .visualizer import Visualizer


class ExplainMode(Enum):
    """White-box (inside the graph), black-box (model calls only), or white-box with a black-box fallback."""

    WHITEBOX = "whitebox"
    BLACKBOX = "blackbox"
    AUTO = "auto"


class Explainer:
    """Creates the method for ``model`` and ``task`` and explains data with it.

    Args:
        model: an ``ov.Model``, an IR (.xml) / ONNX path, or a torch module (converted to OpenVINO for an input
            of ``input_size=(height, width)``, 224 x 224 by default; openvino-xai 1.1 cannot explain one).
        task: :class:`Task`.
        preprocess_fn: image -> model input; by default the data already is the model input.
        postprocess_fn: model outputs -> scores (1, C); needed by black-box methods.
        explain_mode: :class:`ExplainMode`.
        explain_method: a :class:`Method`, or the mode's default.
        target_layer: the layer (detection: layers) to insert after.
        embed_scaling: white-box maps scaled to uint8 0..255 inside the graph (else raw float maps).
        device_name: OpenVINO device.
        **kwargs: white-box method options (e.g. ViT-ReciproCAM's ``use_gaussian``, detection's ``num_anchors``).
    """

    def __init__(
        self,
        model: ov.Model | str | PathLike,
        task: Task = Task.CLASSIFICATION,
        preprocess_fn: Callable[[np.ndarray], np.ndarray] = IdentityPreprocessFN(),
        postprocess_fn: Callable[[Mapping], np.ndarray] | None = None,
        explain_mode: ExplainMode = ExplainMode.AUTO,
        explain_method: Any = None,
        target_layer: Any = None,
        embed_scaling: bool | None = True,
        device_name: str = "CPU",
        **kwargs: Any,
    ) -> None:
        if not isinstance(model, ov.Model):
            if hasattr(model, "parameters") and hasattr(model, "forward"):  # a torch module: converted to OpenVINO
                height, width = kwargs.pop("input_size", (224, 224))
                model = load_model(model, input_shape=(1, 3, height, width))
            else:
                model = load_model(model)
        if not isinstance(task, Task):
            raise XAIValueError(f"task={task!r}: use Task.CLASSIFICATION or Task.DETECTION.")
        if not isinstance(explain_mode, ExplainMode):
            raise XAIValueError(f"explain_mode={explain_mode!r}: use ExplainMode.WHITEBOX, BLACKBOX or AUTO.")
        if preprocess_fn is None:
            preprocess_fn = IdentityPreprocessFN()
        self.model = model
        self.compiled_model: ov.CompiledModel | None = None
        self.task = task
        if isinstance(preprocess_fn, IdentityPreprocessFN):
            logger.info(
                "Assigning preprocess_fn to identity function assumes that input images were already preprocessed "
                "by user before passing it to the model. "
                "Please define preprocessing function OR preprocess images beforehand."
            )
        self.preprocess_fn = preprocess_fn
        self.postprocess_fn = postprocess_fn
        self.target_layer = target_layer
        self.embed_scaling = True if embed_scaling is None else bool(embed_scaling)
        self.device_name = device_name
        self.explain_method = _method(explain_method)
        self.white_box_method_kwargs = kwargs
        self.explain_mode = explain_mode
        self.visualizer = Visualizer()
        self.method = self.create_method(self.explain_mode, self.task)

    def create_method(self, explain_mode: ExplainMode, task: Task) -> MethodBase:
        """The method for ``explain_mode`` and ``task`` (AUTO: white-box, else black-box)."""
        if explain_mode == ExplainMode.WHITEBOX:
            try:
                return self._create_white_box_method(task)
            except XAIValueError:
                raise
            except Exception as exc:
                raise XAIRuntimeError(f"Failed to insert XAI into the model -> {exc} Try to use black-box.") from None
        if explain_mode == ExplainMode.BLACKBOX:
            return self._create_black_box_method(task)
        if explain_mode == ExplainMode.AUTO:
            try:
                return self._create_white_box_method(task)
            except Exception as exc:
                logger.info(f"Failed to insert XAI into the model -> {exc} Using black-box mode.")
                return self._create_black_box_method(task)
        raise XAIValueError(f"explain_mode={explain_mode!r}: use ExplainMode.WHITEBOX, BLACKBOX or AUTO.")

    def __call__(self, data: np.ndarray, *args: Any, **kwargs: Any) -> Explanation:
        """Same as :meth:`explain`."""
        return self.explain(data, *args, **kwargs)

    def explain(
        self,
        data: np.ndarray,
        targets: np.ndarray | list[int | str] | int | str = -1,
        original_input_image: np.ndarray | None = None,
        label_names: list[str] | None = None,
        output_size: tuple[int, int] | None = None,
        scaling: bool = False,
        resize: bool = True,
        colormap: bool = True,
        overlay: bool = False,
        overlay_weight: float = 0.5,
        overlay_prediction: bool = True,
        **kwargs: Any,
    ) -> Explanation:
        """Explain ``data`` for ``targets`` (-1: every class) and process the maps as asked.

        Black-box budget arguments (``preset``, ``num_masks``, ``num_cells``, ``prob``, ``seed``,
        ``num_iterations_per_kernel``, ``kernel_widths``, ...) are passed to the method; one it does not take is
        refused. A white-box method has no budget: such arguments are reported as ignored in the log.
        """
        targets = convert_targets_to_numpy(targets)
        target_indices = None
        blackbox = isinstance(self.method, BlackBoxXAIMethod)
        if blackbox and not explains_all(targets):
            target_indices = [int(t) for t in get_target_indices(targets, label_names)]
        if blackbox:
            self._check_kwargs(kwargs)
            saliency_map = self.method.generate_saliency_map(data, target_indices=target_indices, **kwargs)
        else:
            if kwargs:
                logger.warning(
                    f"Ignored {', '.join(sorted(kwargs))}: a white-box method ({type(self.method).__name__}) "
                    "takes no budget arguments."
                )
            saliency_map = self.method.generate_saliency_map(data)
        explanation = Explanation(
            saliency_map=saliency_map,
            targets=targets,
            task=self.task,
            label_names=label_names,
            predictions=self.method.predictions,
        )
        reference = data if original_input_image is None else original_input_image
        return self.visualizer(
            explanation=explanation,
            original_input_image=reference,
            output_size=infer_size_from_image(np.asarray(reference)) if output_size is None else output_size,
            scaling=scaling,
            resize=resize,
            colormap=colormap,
            overlay=overlay,
            overlay_weight=overlay_weight,
            overlay_prediction=overlay_prediction,
        )

    def _check_kwargs(self, kwargs: dict[str, Any]) -> None:
        accepted = inspect.signature(self.method.generate_saliency_map).parameters
        unknown = sorted(k for k in kwargs if k not in accepted or k in ("data", "target_indices"))
        if unknown:
            options = ", ".join(k for k in accepted if k not in ("data", "target_indices"))
            raise XAIValueError(
                f"{', '.join(unknown)}: not an argument of {type(self.method).__name__}; it takes {options}."
            )

    def model_forward(self, x: np.ndarray, preprocess: bool = True) -> Mapping:
        """The compiled model's raw outputs (``OVDict``) for ``x``."""
        return self.method.model_forward(x, preprocess)

    def _create_white_box_method(self, task: Task) -> MethodBase:
        options = dict(target_layer=self.target_layer, embed_scaling=self.embed_scaling)
        return self._create_with(WhiteBoxMethodFactory, "white-box", task, **options, **self.white_box_method_kwargs)

    def _create_black_box_method(self, task: Task) -> MethodBase:
        if self.postprocess_fn is None:
            raise XAIValueError("Postprocess function has to be provided for the black-box mode.")
        return self._create_with(BlackBoxMethodFactory, "black-box", task, postprocess_fn=self.postprocess_fn)

    def _create_with(self, factory: type[_TaskMethodFactory], mode: str, task: Task, **options: Any) -> MethodBase:
        """``factory``'s method for ``task`` on this explainer's model, preprocessing, method choice and device."""
        method = factory.create_method(
            task,
            model=self.model,
            preprocess_fn=self.preprocess_fn,
            explain_method=self.explain_method,
            device_name=self.device_name,
            **options,
        )
        logger.info(f"Explaining the model in {mode} mode.")
        return method
