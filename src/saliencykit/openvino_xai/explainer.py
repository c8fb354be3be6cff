"""openvino-xai 1.1's ``Explainer`` and ``Explanation`` calls, translated onto saliencykit's API."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from pathlib import Path

import numpy as np
import openvino as ov

from .. import visualize
from ..explainer import Explainer as _Explainer
from ..explanation import Explanation as _Explanation
from ..files import write_image
from ..methods import ActivationMap, ReciproCAM, ViTReciproCAM, get_method
from .parameters import Method, Task


class ExplainMode(Enum):
    """openvino-xai's explain modes."""

    WHITEBOX = "whitebox"
    BLACKBOX = "blackbox"
    AUTO = "auto"


def _method(method: Method | None, target_layer: str | None):
    if method is None:
        return None
    if method is Method.RECIPROCAM:
        return ReciproCAM(target_layer=target_layer)
    if method is Method.VITRECIPROCAM:
        return ViTReciproCAM(target_layer=target_layer)
    if method is Method.ACTIVATIONMAP:
        return ActivationMap(target_layer=target_layer)
    return get_method(method.value)


class _Outputs(dict):
    """What openvino-xai hands a ``postprocess_fn``: the outputs by index (and name)."""


class Explanation:
    """openvino-xai's result: ``saliency_map`` is a dict target -> uint8 picture processed as asked."""

    def __init__(self, saliency_map: dict[int, np.ndarray], label_names: Sequence[str] | None, result: _Explanation):
        self.saliency_map = saliency_map
        self.label_names = list(label_names) if label_names is not None else None
        self.result = result

    @property
    def targets(self) -> list[int]:
        return list(self.saliency_map)

    def save(
        self,
        dir_path: str | Path,
        prefix: str = "",
        postfix: str = "",
        confidence_scores: Mapping[int, float] | None = None,
    ) -> None:
        """Write ``{prefix}{label}{postfix}{score:.2f}.jpg`` per target, as openvino-xai 1.1 names them."""
        os.makedirs(dir_path, exist_ok=True)
        for target, picture in self.saliency_map.items():
            name = self.label_names[target] if self.label_names else str(target)
            score = f"{confidence_scores[target]:.2f}" if confidence_scores and target in confidence_scores else ""
            if picture.ndim == 2:
                picture = np.repeat(picture[..., None], 3, axis=2)
            write_image(Path(dir_path) / f"{prefix}{name}{postfix}{score}.jpg", picture)


class Explainer:
    """openvino-xai 1.1's ``Explainer(model, task, preprocess_fn, postprocess_fn, explain_mode, ...)``."""

    def __init__(
        self,
        model: ov.Model,
        task: Task = Task.CLASSIFICATION,
        preprocess_fn: Callable[[np.ndarray], np.ndarray] | None = None,
        postprocess_fn: Callable[[Mapping], np.ndarray] | None = None,
        explain_mode: ExplainMode = ExplainMode.AUTO,
        explain_method: Method | None = None,
        target_layer: str | None = None,
        embed_scaling: bool | None = True,
        device_name: str = "CPU",
        **kwargs,
    ) -> None:
        if task is not Task.CLASSIFICATION:
            raise NotImplementedError("saliencykit.openvino_xai translates classification explanations only.")
        postprocess: str | Callable = "softmax"
        if postprocess_fn is not None:
            postprocess = lambda logits: np.asarray(postprocess_fn(_Outputs({0: logits, "logits": logits})))  # noqa: E731
        self._explainer = _Explainer(
            model,
            preprocess=preprocess_fn,
            postprocess=postprocess,
            mode=explain_mode.value,
            method=_method(explain_method, target_layer),
            target_layer=target_layer,
            device=device_name,
        )

    def __call__(
        self,
        data: np.ndarray,
        targets: np.ndarray | Sequence[int | str] | int | str = -1,
        original_input_image: np.ndarray | None = None,
        label_names: Sequence[str] | None = None,
        output_size: tuple[int, int] | None = None,
        scaling: bool = False,
        resize: bool = True,
        colormap: bool = True,
        overlay: bool = False,
        overlay_weight: float = 0.5,
        overlay_prediction: bool = True,
        **kwargs,
    ) -> Explanation:
        """Explain ``data`` for ``targets``; pictures are resized, coloured and overlaid as asked."""
        self._explainer.pipeline.label_names = list(label_names) if label_names is not None else None
        if isinstance(targets, np.ndarray):
            targets = targets.tolist()
        result = self._explainer(data, targets=targets, keep_image=False)
        reference = data if original_input_image is None else original_input_image
        size = tuple(output_size) if output_size is not None else reference.shape[:2]
        pictures = {}
        for target in result.targets:
            saliency = result.map(target, size if (resize or overlay) else None)
            if overlay:
                pictures[target] = visualize.overlay(reference, saliency, alpha=overlay_weight)
            elif colormap:
                pictures[target] = visualize.colorize(visualize.normalize(saliency))
            else:
                pictures[target] = np.clip(visualize.normalize(saliency) * 255 + 0.5, 0, 255).astype(np.uint8)
        return Explanation(pictures, label_names, result)

    explain = __call__

    def model_forward(self, x: np.ndarray) -> np.ndarray:
        """Class scores of the explained model for one image."""
        return self._explainer.predict([x])
