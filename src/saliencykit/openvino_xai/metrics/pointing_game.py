"""openvino-xai 1.1's ``PointingGame`` (Zhang et al. 2018) on (x, y, w, h) boxes: a hit when a most salient
pixel lies in a box of the class."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import XAIValueError
from ..common.utils import logger
from ..explainer.explanation import ONE_MAP_LAYOUTS


class PointingGame:
    """Pointing game; needs no model."""

    def __init__(self) -> None:
        pass

    @staticmethod
    def __call__(saliency_map: np.ndarray, image_gt_bboxes: list[tuple[int, int, int, int]]) -> dict[str, float]:
        """1.0 when a maximum of the map lies in one of the (x, y, w, h) boxes, else 0.0."""
        max_indices = np.argwhere(saliency_map == np.max(saliency_map))
        for x, y, w, h in image_gt_bboxes:
            for max_y, max_x in max_indices:
                if x <= max_x <= x + w and y <= max_y <= y + h:
                    return {"pointing_game": 1.0}
        return {"pointing_game": 0.0}

    def evaluate(self, explanations: list, gt_bboxes: list[dict[str, list]], **kwargs: Any) -> dict[str, float]:
        """Hit rate over every map that has boxes of its class (``{label_name: [boxes]}`` per image)."""
        if len(explanations) != len(gt_bboxes):
            raise XAIValueError(
                f"PointingGame.evaluate: {len(explanations)} explanations but {len(gt_bboxes)} box lists; "
                "give one dict of boxes per image."
            )
        hits, count = 0.0, 0
        for explanation, image_boxes in zip(explanations, gt_bboxes):
            for class_idx, class_map in explanation.saliency_map.items():
                if explanation.layout in ONE_MAP_LAYOUTS:
                    boxes = [box for class_boxes in image_boxes.values() for box in class_boxes]
                else:
                    if explanation.label_names is None:
                        raise XAIValueError("PointingGame.evaluate: explain with label_names= to match boxes.")
                    label = explanation.label_names[int(class_idx)]
                    if label not in image_boxes:
                        logger.info(
                            f"No ground-truth bbox for {label} saliency map. "
                            f"Skip pointing game evaluation for this saliency map."
                        )
                        continue
                    boxes = image_boxes[label]
                hits += self(class_map, boxes)["pointing_game"]
                count += 1
        return {"pointing_game": hits / count if count > 0 else 0.0}
