"""The result of explaining one image of a detector: one map per target box, with the boxes to draw."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import visualize
from ..explanation import Explanation
from ..files import sanitize
from ..labels import label_of
from .boxes import Detections


@dataclass
class DetectionExplanation(Explanation):
    """Saliency maps of one image, one per explained box.

    Targets are *box keys*: a predicted box keeps its index among the detections (by decreasing score), a box the
    user gave gets ``len(detections) + j``. ``maps``, ``scores``, ``boxes``, ``classes`` and ``names`` are keyed by
    them. Files are named ``{prefix}box{index}_{label}_{score:.2f}.jpg`` (``userbox{j}`` for user boxes).

    Extra attributes:
        boxes: key -> ``(x0, y0, x1, y1)`` in pixels of the explained image.
        classes: key -> class index of the box.
        names: key -> ``"box{index}"`` or ``"userbox{j}"``.
        detections: every box the detector found, in pixels of the explained image.
    """

    boxes: dict[int, tuple[float, float, float, float]] = field(default_factory=dict)
    classes: dict[int, int] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    detections: Detections | None = None

    def label(self, target: int) -> str:
        """The class name of box ``target``."""
        return label_of(self.classes.get(int(target), int(target)), self.label_names)

    def _check(self, target: int | str) -> int:  # boxes are addressed by key, not by class name
        from ..errors import TargetError

        if isinstance(target, str):
            for k, name in self.names.items():
                if name == target:
                    return k
            raise TargetError(f"box '{target}' was not explained; explained boxes: {list(self.names.values())}.")
        if int(target) not in self.maps:
            raise TargetError(f"box {target} was not explained; explained boxes: {self.targets}.")
        return int(target)

    def caption(self, target: int) -> str:
        """``"face 0.93"``: the label and score drawn on the box."""
        score = self.scores.get(int(target))
        return f"{self.label(target)} {score:.2f}" if score is not None else self.label(target)

    def overlay(
        self, target: int | str, image: np.ndarray | None = None, colormap: str = "jet", alpha: float = 0.5
    ) -> np.ndarray:
        """The map of box ``target`` blended over the image, with the box and its label drawn."""
        target = self._check(target)
        picture = super().overlay(target, image, colormap, alpha)
        return visualize.draw_box(picture, self._box_at(target, picture.shape[:2]), self.caption(target))

    def picture(self, target: int | str, colormap: str = "jet", alpha: float = 0.5) -> np.ndarray:
        """The overlay (image kept) or the coloured map at the image's size, with the box drawn."""
        target = self._check(target)
        if self.image is not None:
            return self.overlay(target, colormap=colormap, alpha=alpha)
        size = self.image_size or self.maps[target].shape
        coloured = visualize.colorize(visualize.normalize(self.map(target, size)), colormap)
        return visualize.draw_box(coloured, self._box_at(target, size), self.caption(target))

    def _picture_at(self, target: int, colormap: str, max_side: int) -> np.ndarray:
        """:meth:`picture` drawn with its longest side at most ``max_side`` (what :meth:`save` writes)."""
        picture = super()._picture_at(target, colormap, max_side)
        if self.image is not None:  # drawn by overlay(), box included
            return picture
        return visualize.draw_box(picture, self._box_at(target, picture.shape[:2]), self.caption(target))

    def _box_at(self, target: int, size: tuple[int, int]) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = self.boxes[target]
        if self.image_size and tuple(size) != tuple(self.image_size):
            sy, sx = size[0] / self.image_size[0], size[1] / self.image_size[1]
            return (x0 * sx, y0 * sy, x1 * sx, y1 * sy)
        return (x0, y0, x1, y1)

    def file_name(self, target: int, prefix: str = "", postfix: str = "", scores: bool = True) -> str:
        """``{prefix}box{index}_{label}_{score:.2f}{postfix}.jpg`` (labels sanitised for file names)."""
        name = self.names.get(int(target), f"box{target}")
        score = f"_{self.scores[target]:.2f}" if scores and target in self.scores else ""
        return f"{prefix}{name}_{sanitize(self.label(target))}{score}{postfix}.jpg"

    def to_dict(self) -> dict[str, Any]:
        """Metadata as plain JSON-able values (no maps): boxes in pixels, labels, scores."""
        out = super().to_dict()
        out["boxes"] = [
            {
                "key": int(t),
                "name": self.names.get(t, f"box{t}"),
                "box": [float(v) for v in self.boxes[t]],
                "class": int(self.classes[t]),
                "label": self.label(t),
                "score": float(self.scores.get(t, float("nan"))),
            }
            for t in self.targets
        ]
        out["num_detections"] = len(self.detections) if self.detections is not None else None
        return out
