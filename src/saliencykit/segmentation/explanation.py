"""The result of explaining one image of a segmentation model: one map per target region, with the regions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import visualize
from ..errors import TargetError
from ..explanation import Explanation
from ..files import check_name_part, sanitize
from ..labels import label_of


@dataclass
class SegmentationExplanation(Explanation):
    """Saliency maps of one image, one per target region.

    Targets are *region keys*: a class target keeps its class index, the whole predicted mask is ``num_classes``,
    a user's region ``j`` is ``num_classes + 1 + j``. ``maps``, ``scores``, ``regions``, ``classes`` and ``names``
    are keyed by them. Files are named ``{prefix}{name}_{label}_{score:.2f}{postfix}.jpg``.

    Extra attributes:
        regions: key -> bool mask (H, W) of the explained image: where the target's score was averaged.
        classes: key -> class index (-1 for the whole predicted mask: every pixel's own class).
        names: key -> ``"class{k}"``, ``"mask"`` or ``"region{j}"``.
        score_kind: ``"probability"`` or ``"logit"``: what ``scores`` hold.
    """

    regions: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    classes: dict[int, int] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    score_kind: str = "probability"

    def label(self, target: int) -> str:
        """The class name of ``target`` (``"mask"`` for the whole predicted mask)."""
        cls = self.classes.get(int(target), int(target))
        return "mask" if cls < 0 else label_of(cls, self.label_names)

    def _check(self, target: int | str) -> int:  # regions are addressed by key or by name
        if isinstance(target, str):
            for k, name in self.names.items():
                if name == target or (self.classes.get(k, -1) >= 0 and self.label(k) == target):
                    return k
            raise TargetError(f"region '{target}' was not explained; explained: {list(self.names.values())}.")
        if int(target) not in self.maps:
            raise TargetError(f"region {target} was not explained; explained regions: {self.targets}.")
        return int(target)

    def region(self, target: int | str) -> np.ndarray:
        """The bool mask (H, W) of ``target``'s region in the explained image."""
        return self.regions[self._check(target)].copy()

    def caption(self, target: int) -> str:
        """``"person 0.93"``: the label and score drawn by the region."""
        score = self.scores.get(int(target))
        return f"{self.label(target)} {score:.2f}" if score is not None else self.label(target)

    def overlay(
        self, target: int | str, image: np.ndarray | None = None, colormap: str = "jet", alpha: float = 0.5
    ) -> np.ndarray:
        """The map of ``target`` blended over the image, with its region outlined and labelled."""
        target = self._check(target)
        picture = super().overlay(target, image, colormap, alpha)
        return visualize.draw_outline(picture, self.regions[target], self.caption(target))

    def picture(self, target: int | str, colormap: str = "jet", alpha: float = 0.5) -> np.ndarray:
        """The overlay (image kept) or the coloured map at the image's size, with the region outlined."""
        target = self._check(target)
        if self.image is not None:
            return self.overlay(target, colormap=colormap, alpha=alpha)
        size = self.image_size or self.maps[target].shape
        coloured = visualize.colorize(visualize.normalize(self.map(target, size)), colormap)
        return visualize.draw_outline(coloured, self.regions[target], self.caption(target))

    def _picture_at(self, target: int, colormap: str, max_side: int) -> np.ndarray:
        picture = super()._picture_at(target, colormap, max_side)
        if self.image is not None:  # drawn by overlay(), outline included
            return picture
        return visualize.draw_outline(picture, self.regions[target], self.caption(target))

    def file_name(self, target: int, prefix: str = "", postfix: str = "", scores: bool = True) -> str:
        """``{prefix}{name}_{label}_{score:.2f}{postfix}.jpg`` (labels sanitised for file names)."""
        prefix, postfix = check_name_part(prefix, "prefix"), check_name_part(postfix, "postfix")
        name = self.names.get(int(target), f"region{target}")
        score = f"_{self.scores[target]:.2f}" if scores and target in self.scores else ""
        return f"{prefix}{name}_{sanitize(self.label(target))}{score}{postfix}.jpg"

    def to_dict(self) -> dict[str, Any]:
        """Metadata as plain JSON-able values (no maps): each region's name, class, label, score and area."""
        out = super().to_dict()
        out["score_kind"] = self.score_kind
        out["regions"] = [
            {
                "key": int(t),
                "name": self.names.get(t, f"region{t}"),
                "class": int(self.classes.get(t, -1)),
                "label": self.label(t),
                "score": float(self.scores.get(t, float("nan"))),
                "area_fraction": float(self.regions[t].mean()) if t in self.regions else None,
            }
            for t in self.targets
        ]
        return out
