"""openvino-xai 1.1's ``Explanation``: saliency maps as a dict ``{target: map}`` with a layout, saved and plotted
the way openvino-xai does (same file names, same pictures)."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ...files import sanitize
from .._errors import XAIRuntimeError, XAITargetError, XAIValueError
from ..common.parameters import Task
from ..common.utils import logger
from .utils import convert_targets_to_numpy, explains_all, get_target_indices


class Layout(Enum):
    """How the maps of one image are laid out: one map or one per target, grey or colour."""

    ONE_MAP_PER_IMAGE_GRAY = "one_map_per_image_gray"
    ONE_MAP_PER_IMAGE_COLOR = "one_map_per_image_color"
    MULTIPLE_MAPS_PER_IMAGE_GRAY = "multiple_maps_per_image_gray"
    MULTIPLE_MAPS_PER_IMAGE_COLOR = "multiple_maps_per_image_color"


GRAY_LAYOUTS = {Layout.ONE_MAP_PER_IMAGE_GRAY, Layout.MULTIPLE_MAPS_PER_IMAGE_GRAY}
COLOR_MAPPED_LAYOUTS = {Layout.ONE_MAP_PER_IMAGE_COLOR, Layout.MULTIPLE_MAPS_PER_IMAGE_COLOR}
MULTIPLE_MAP_LAYOUTS = {Layout.MULTIPLE_MAPS_PER_IMAGE_GRAY, Layout.MULTIPLE_MAPS_PER_IMAGE_COLOR}
ONE_MAP_LAYOUTS = {Layout.ONE_MAP_PER_IMAGE_GRAY, Layout.ONE_MAP_PER_IMAGE_COLOR}


class Explanation:
    """Saliency maps of one image, selected for ``targets``.

    Args:
        saliency_map: the raw output (1, C, h, w) or (1, h, w), or a dict ``{target: map}``.
        targets: indices or names to keep; -1 keeps every map.
        task: :class:`Task` of the model.
        label_names: every class name, for names in ``targets`` and in file names.
        predictions: ``{target: Prediction}`` (black-box methods fill it; overlays print the score).
    """

    def __init__(
        self,
        saliency_map: np.ndarray | dict[int | str, np.ndarray],
        targets: Any,
        task: Task,
        label_names: list[str] | None = None,
        predictions: dict[int, Any] | None = None,
    ) -> None:
        targets = convert_targets_to_numpy(targets)
        if isinstance(saliency_map, np.ndarray):
            self._check_saliency_map(saliency_map)
            self._saliency_map = self._format_sal_map_as_dict(saliency_map)
            self.total_num_targets: int | None = len(self._saliency_map)
        elif isinstance(saliency_map, dict):
            self._saliency_map = saliency_map
            self.total_num_targets = None
        else:
            raise XAIValueError(
                f"Explanation: saliency_map must be a numpy array or a dict, got {type(saliency_map).__name__}."
            )
        if "per_image_map" in self._saliency_map:
            self.layout = Layout.ONE_MAP_PER_IMAGE_GRAY
        else:
            self.layout = Layout.MULTIPLE_MAPS_PER_IMAGE_GRAY
        if not explains_all(targets) and self.layout != Layout.ONE_MAP_PER_IMAGE_GRAY:
            names = None if task == Task.DETECTION else label_names
            self._saliency_map = self._select_target_saliency_maps(targets, names)
        self.task = task
        self.label_names = label_names
        self.predictions = predictions

    @property
    def saliency_map(self) -> dict[int | str, np.ndarray]:
        """The maps as ``{target: map}`` (``{"per_image_map": map}`` for a class-agnostic method)."""
        return self._saliency_map

    @saliency_map.setter
    def saliency_map(self, saliency_map: dict[int | str, np.ndarray]) -> None:
        self._saliency_map = saliency_map

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one map."""
        return self._saliency_map[next(iter(self._saliency_map))].shape

    @property
    def targets(self) -> list[int | str]:
        """The explained targets, in order."""
        return list(self._saliency_map.keys())

    @staticmethod
    def _check_saliency_map(saliency_map: np.ndarray) -> None:
        if saliency_map.size == 0:
            raise XAIRuntimeError("Explanation: the saliency map is empty (zero-size array).")
        if saliency_map.shape[0] > 1:
            raise XAIRuntimeError(
                f"Explanation: saliency maps of one image are expected (batch 1), got shape {saliency_map.shape}."
            )

    @staticmethod
    def _format_sal_map_as_dict(raw: np.ndarray) -> dict[int | str, np.ndarray]:
        if raw.ndim == 3:
            return {"per_image_map": raw[0]}
        if raw.ndim == 4:
            return {index: sal_map for index, sal_map in enumerate(raw[0])}
        raise XAIValueError(f"Explanation: a raw saliency map has 3 or 4 dimensions, got shape {raw.shape}.")

    def _select_target_saliency_maps(self, targets: Any, label_names: list[str] | None) -> dict[int | str, np.ndarray]:
        indices = get_target_indices(targets, label_names)
        if self.total_num_targets is not None:
            bad = [int(i) for i in indices if not 0 <= i < self.total_num_targets]
            if bad:
                raise XAITargetError(f"targets {bad}: class indices go from 0 to {self.total_num_targets - 1}.")
        else:
            bad = [int(i) for i in indices if i not in self._saliency_map]
            if bad:
                raise XAITargetError(f"targets {bad} are not among the explained maps {self.targets}.")
        return {i: self._saliency_map[i] for i in indices}

    def _target_name(self, target: int | str) -> str:
        if isinstance(target, str):
            return "activation_map"
        if self.label_names and isinstance(target, (int, np.integer)) and self.task != Task.DETECTION:
            return self.label_names[target]
        return str(target)

    def save(
        self,
        dir_path: Path | str,
        prefix: str = "",
        postfix: str = "",
        confidence_scores: dict[int, float] | None = None,
    ) -> None:
        """Write ``{prefix}{label}{postfix}{score}.jpg`` per map into ``dir_path`` (openvino-xai's names).

        A label that is not a valid file name (``/``, control characters) is sanitised rather than written
        somewhere else; maps are written as openvino-xai writes them (RGB pictures saved with OpenCV).
        """
        os.makedirs(dir_path, exist_ok=True)
        for target, picture in self._saliency_map.items():
            score = ""
            if confidence_scores and target in confidence_scores:
                score = f"{confidence_scores[int(target)]:.2f}"
            name = f"{prefix}{self._target_name(target)}{postfix}{score}.jpg"
            if os.sep in name or "\0" in name or (os.altsep and os.altsep in name):
                name = sanitize(name)
            picture = np.asarray(picture)
            if picture.dtype != np.uint8:
                raise XAIValueError(
                    f"Explanation.save: map {target!r} is {picture.dtype}; explain with scaling or colormap "
                    "(uint8 pictures) before saving."
                )
            picture = cv2.cvtColor(picture, code=cv2.COLOR_RGB2BGR) if picture.ndim == 3 else picture
            path = os.path.join(dir_path, name)
            if not cv2.imwrite(path, img=picture):
                raise XAIRuntimeError(f"Explanation.save: could not write {path}; check the folder is writable.")

    def plot(
        self,
        targets: Any = None,
        backend: str = "matplotlib",
        max_num_plots: int = 24,
        num_columns: int = 4,
    ) -> None:
        """Show the maps of ``targets`` (default all, at most ``max_num_plots``) with matplotlib or OpenCV."""
        if backend not in ("matplotlib", "cv"):
            raise XAIValueError(f"Explanation.plot backend='{backend}': use 'matplotlib' or 'cv'.")
        if targets is None or explains_all(targets):
            checked = self.targets
        else:
            checked = []
            for index in get_target_indices(targets, self.label_names):
                if index in self._saliency_map:
                    checked.append(index)
                else:
                    logger.info(f"Provided class index {index} is not available among saliency maps.")
        if len(checked) > max_num_plots:
            logger.warning(
                f"Decrease the number of plotted saliency maps from {len(checked)} to {max_num_plots}"
                " to avoid the memory issue. To avoid this, increase the 'max_num_plots' argument."
            )
            checked = checked[:max_num_plots]
        if backend == "matplotlib":
            self._plot_matplotlib(checked, num_columns)
        else:
            self._plot_cv(checked)

    def _title(self, target: int | str) -> str:
        """A plot's title, as openvino-xai 1.1 writes it: the label name only for a numpy int64 target (targets
        given as indices); targets given by name are Python ints there and are titled by their index."""
        if self.label_names and isinstance(target, np.int64):
            return f"{self.label_names[target]} ({target})"
        return str(target)

    def _plot_matplotlib(self, checked: list[int | str], num_cols: int) -> None:
        import matplotlib.pyplot as plt

        num_rows = max(1, int(np.ceil(len(checked) / num_cols)))
        _, axes = plt.subplots(num_rows, num_cols, figsize=(5 * num_cols, 6 * num_rows), squeeze=False)
        axes = axes.flatten()
        for ax, target in zip(axes, checked):
            picture = self._saliency_map[target]
            if picture.ndim not in (2, 3):
                raise XAIValueError(f"Explanation.plot: a map has 2 or 3 dimensions, got shape {picture.shape}.")
            ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None)
            ax.axis("off")
            ax.set_title(f"Class {self._title(target)}")
        for ax in axes[len(checked) :]:
            ax.set_visible(False)
        plt.tight_layout()
        plt.show()

    def _plot_cv(self, checked: list[int | str]) -> None:
        for target in checked:
            picture = self._saliency_map[target]
            cv2.imshow(f"Class {self._title(target)}", cv2.cvtColor(picture, cv2.COLOR_BGR2RGB))
            cv2.waitKey(0)
        cv2.destroyAllWindows()
