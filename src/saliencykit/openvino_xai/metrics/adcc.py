"""openvino-xai 1.1's ``ADCC`` (Poppi et al. 2021) with its protocol: the image masked by the map, the map of
the masked image from the same explainer, Pearson coherency. saliencykit's own :func:`saliencykit.metrics.adcc`
differs on purpose (see its docstring); this one reproduces openvino-xai's numbers."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import pearsonr

from ...metrics.adcc import adcc_formula
from ..common.utils import scaling
from ..explainer.explanation import ONE_MAP_LAYOUTS
from .base import BaseMetric


class ADCC(BaseMetric):
    """Average drop, coherency and complexity, and their harmonic mean."""

    def __init__(self, model, preprocess_fn, postprocess_fn, explainer, device_name="CPU", **kwargs: Any) -> None:
        super().__init__(
            model=model, preprocess_fn=preprocess_fn, postprocess_fn=postprocess_fn, device_name=device_name
        )
        self.explainer = explainer
        self.black_box_kwargs = kwargs

    def average_drop(self, masked_image: np.ndarray, class_idx: int, model_output: np.ndarray) -> float:
        """Relative drop of the class score when only the map's part of the image is shown (less is better)."""
        on_input = model_output[class_idx]
        on_masked = self.model_predict(masked_image)[class_idx]
        return max(0.0, on_input - on_masked) / on_input

    def coherency(self, saliency_map: np.ndarray, masked_image: np.ndarray, class_idx: int, image: np.ndarray):
        """(Pearson r + 1) / 2 between the map and the map of the masked image (more is better)."""
        again = self.explainer(masked_image, targets=class_idx, colormap=False, scaling=False, **self.black_box_kwargs)
        again = scaling(list(again.saliency_map.values())[0], cast_to_uint8=False, max_value=1)
        r, _ = pearsonr(saliency_map.flatten(), again.flatten())
        return (r + 1) / 2

    @staticmethod
    def complexity(saliency_map: np.ndarray) -> float:
        """Mean of the map (L1 norm per pixel; less is better)."""
        return saliency_map.sum() / (saliency_map.shape[-1] * saliency_map.shape[-2])

    def __call__(self, saliency_map: np.ndarray, class_idx: int | None, input_image: np.ndarray) -> dict[str, float]:
        """ADCC of one map (H, W) of ``class_idx`` (None: the top class) for ``input_image`` (H, W, C)."""
        if not (np.min(saliency_map) >= 0 and np.max(saliency_map) <= 1):
            saliency_map = scaling(saliency_map, cast_to_uint8=False, max_value=1)
        model_output = self.model_predict(input_image)
        masked_image = input_image * saliency_map[:, :, None]
        target = int(np.argmax(model_output)) if class_idx is None else class_idx
        avgdrop = self.average_drop(masked_image, target, model_output)
        coh = self.coherency(saliency_map, masked_image, target, input_image)
        com = self.complexity(saliency_map)
        adcc = 3 / (1 / coh + 1 / (1 - com) + 1 / (1 - avgdrop))
        return {"adcc": adcc, "coherency": coh, "complexity": com, "average_drop": avgdrop}

    def evaluate(self, explanations: list, input_images: list[np.ndarray], **kwargs: Any) -> dict[str, float]:
        """ADCC of the mean average drop, coherency and complexity over every map of every image."""
        results = []
        for input_image, explanation in zip(input_images, explanations):
            for class_idx, saliency_map in explanation.saliency_map.items():
                target = None if explanation.layout in ONE_MAP_LAYOUTS else int(class_idx)
                m = self(saliency_map, target, input_image)
                results.append([m["coherency"], m["complexity"], m["average_drop"]])
        coherency, complexity, average_drop = np.mean(np.array(results), axis=0)
        return {
            "adcc": adcc_formula(average_drop, coherency, complexity),
            "coherency": coherency,
            "complexity": complexity,
            "average_drop": average_drop,
        }
