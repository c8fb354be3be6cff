"""openvino-xai 1.1's method factories, with its defaults: ReciproCAM then ViT-ReciproCAM for white-box,
AISE for black-box classification."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import openvino as ov

from .._errors import XAIValueError
from ..common.parameters import Method, Task
from ..common.utils import IdentityPreprocessFN, logger
from .base import MethodBase
from .black_box.aise.classification import AISEClassification
from .black_box.rise import RISE
from .white_box.activation_map import ActivationMap
from .white_box.det_class_probability_map import DetClassProbabilityMap
from .white_box.recipro_cam import ReciproCAM, ViTReciproCAM


def _method(value: Any) -> Method | None:
    if value is None or isinstance(value, Method):
        return value
    try:
        return Method(value)
    except ValueError:
        names = ", ".join(f"Method.{m.name}" for m in Method)
        raise XAIValueError(f"explain_method={value!r}: use one of {names}.") from None


class _TaskMethodFactory:
    """Creates a method for a task: :meth:`create_method` hands its other arguments to the task's creator."""

    @classmethod
    def create_method(cls, task: Task, *args: Any, **kwargs: Any) -> MethodBase:
        """The method for ``task``, made by ``create_classification_method`` or ``create_detection_method``."""
        if task == Task.CLASSIFICATION:
            return cls.create_classification_method(*args, **kwargs)
        if task == Task.DETECTION:
            return cls.create_detection_method(*args, **kwargs)
        raise XAIValueError(f"task={task!r}: use Task.CLASSIFICATION or Task.DETECTION.")

    @staticmethod
    def create_classification_method(*args: Any, **kwargs: Any) -> MethodBase:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def create_detection_method(*args: Any, **kwargs: Any) -> MethodBase:  # pragma: no cover - abstract
        raise NotImplementedError


class WhiteBoxMethodFactory(_TaskMethodFactory):
    """Creates white-box methods: ``create_method(task, model, preprocess_fn, explain_method, target_layer,
    embed_scaling, device_name, **method_options)``."""

    @staticmethod
    def create_classification_method(
        model: ov.Model,
        preprocess_fn: Callable[[np.ndarray], np.ndarray] = IdentityPreprocessFN(),
        explain_method: Method | None = None,
        target_layer: str | None = None,
        embed_scaling: bool | None = True,
        device_name: str = "CPU",
        **kwargs: Any,
    ) -> MethodBase:
        explain_method = _method(explain_method)
        if target_layer is None:
            logger.info("Target insertion layer is not provided - trying to find it in auto mode.")
        else:
            logger.info(f"Target insertion layer {target_layer} is provided.")
        if explain_method is None or explain_method == Method.RECIPROCAM:
            logger.info("Using ReciproCAM method (for CNNs).")
            try:
                return ReciproCAM(model, preprocess_fn, target_layer, embed_scaling, device_name, **kwargs)
            except Exception as exc:
                if explain_method is not None:
                    raise
                logger.info(f"Not successfull due to '{exc}'. Trying another methods.")
                explain_method = Method.VITRECIPROCAM
        if explain_method == Method.VITRECIPROCAM:
            logger.info("Using ViTReciproCAM method (for vision transformers).")
            return ViTReciproCAM(model, preprocess_fn, target_layer, embed_scaling, device_name, **kwargs)
        if explain_method == Method.ACTIVATIONMAP:
            logger.info("Using ActivationMap method (for CNNs).")
            return ActivationMap(model, preprocess_fn, target_layer, embed_scaling, device_name, **kwargs)
        raise XAIValueError(
            f"explain_method={explain_method}: white-box classification takes RECIPROCAM, VITRECIPROCAM or "
            "ACTIVATIONMAP (RISE and AISE are black-box: use ExplainMode.BLACKBOX)."
        )

    @staticmethod
    def create_detection_method(
        model: ov.Model,
        preprocess_fn: Callable[[np.ndarray], np.ndarray],
        explain_method: Method | None = None,
        target_layer: Any = None,
        embed_scaling: bool | None = True,
        device_name: str = "CPU",
        **kwargs: Any,
    ) -> MethodBase:
        explain_method = _method(explain_method)
        if target_layer is None:
            raise XAIValueError("target_layer is required for the detection: name the class-head layers.")
        if explain_method is None or explain_method == Method.DETCLASSPROBABILITYMAP:
            return DetClassProbabilityMap(
                model=model,
                preprocess_fn=preprocess_fn,
                target_layer=target_layer,
                embed_scaling=embed_scaling,
                device_name=device_name,
                **kwargs,
            )
        raise XAIValueError(f"explain_method={explain_method}: white-box detection takes DETCLASSPROBABILITYMAP.")


class BlackBoxMethodFactory(_TaskMethodFactory):
    """Creates black-box methods (AISE is openvino-xai's classification default): ``create_method(task, model,
    postprocess_fn, preprocess_fn, explain_method, device_name, **method_options)``."""

    @staticmethod
    def create_classification_method(
        model: ov.Model,
        postprocess_fn: Callable[[Mapping], np.ndarray],
        preprocess_fn: Callable[[np.ndarray], np.ndarray] = IdentityPreprocessFN(),
        explain_method: Method | None = None,
        device_name: str = "CPU",
        **kwargs: Any,
    ) -> MethodBase:
        explain_method = _method(explain_method)
        if explain_method is None or explain_method == Method.AISE:
            return AISEClassification(model, postprocess_fn, preprocess_fn, device_name, **kwargs)
        if explain_method == Method.RISE:
            return RISE(model, postprocess_fn, preprocess_fn, device_name, **kwargs)
        raise XAIValueError(f"explain_method={explain_method}: black-box classification takes AISE or RISE.")

    @staticmethod
    def create_detection_method(*args: Any, **kwargs: Any) -> MethodBase:
        raise XAIValueError(
            "black-box detection (AISEDetection) is not translated by saliencykit.openvino_xai: explain the "
            "detector white-box (ExplainMode.WHITEBOX with target_layer=[class-head layers]), or use "
            "saliencykit.Explainer(model, task='detection', mode='blackbox')."
        )
