"""openvino-xai 1.1's ``InsertionDeletionAUC`` (Petsiuk et al. 2018) with its protocol: pixels inserted into a
black image / deleted to black in map order, ``steps + 1`` model calls each."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...metrics.insertion_deletion import auc
from ..explainer.explanation import ONE_MAP_LAYOUTS
from .base import BaseMetric


def AUC(arr: np.ndarray) -> float:  # noqa: N802 - openvino-xai's name
    """Normalised trapezoidal area under a curve sampled at evenly spaced points."""
    return abs(auc(arr))


class InsertionDeletionAUC(BaseMetric):
    """Area under the insertion and deletion curves of the class score."""

    @staticmethod
    def step_image_insertion_deletion(num_pixels: int, sorted_indices, input_image: np.ndarray):
        """The image with its first ``num_pixels`` pixels inserted into black, and deleted to black."""
        insertion = np.full_like(input_image, 0)
        deletion = input_image.copy()
        rows, cols = sorted_indices[0][:num_pixels], sorted_indices[1][:num_pixels]
        insertion[rows, cols] = input_image[rows, cols]
        deletion[rows, cols] = 0
        return insertion, deletion

    def __call__(
        self, saliency_map: np.ndarray, class_idx: int | None, input_image: np.ndarray, steps: int = 30, **kwargs: Any
    ) -> dict[str, float]:
        """Insertion and deletion AUC of one map (H, W) for ``class_idx`` (None: the top class)."""
        if int(steps) < 1:
            raise ValueError(f"steps={steps}: use at least 1.")
        target = int(np.argmax(self.model_predict(input_image))) if class_idx is None else class_idx
        order = np.unravel_index(np.argsort(-saliency_map.flatten()), saliency_map.shape)
        inserted, deleted = [], []
        for i in range(steps + 1):
            count = int(i * len(order[0]) / steps)
            image_in, image_out = self.step_image_insertion_deletion(count, order, input_image)
            inserted.append(self.model_predict(image_in)[target])
            deleted.append(self.model_predict(image_out)[target])
        return {"insertion": AUC(np.array(inserted)), "deletion": AUC(np.array(deleted))}

    def evaluate(self, explanations: list, input_images: list[np.ndarray], steps: int, **kwargs: Any):
        """Mean insertion and deletion AUC over every map, and their difference ``delta``."""
        results = []
        for input_image, explanation in zip(input_images, explanations):
            for class_idx, saliency_map in explanation.saliency_map.items():
                target = None if explanation.layout in ONE_MAP_LAYOUTS else int(class_idx)
                m = self(saliency_map, target, input_image, steps)
                results.append([m["insertion"], m["deletion"]])
        insertion, deletion = np.mean(np.array(results), axis=0)
        return {"insertion": insertion, "deletion": deletion, "delta": insertion - deletion}
