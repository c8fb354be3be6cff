"""The result of explaining one image: float maps per target plus the model's scores."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import visualize
from .errors import OutputError, TargetError
from .files import atomic_write_bytes, check_name_part, label_stems, sanitize, write_image
from .labels import label_of

#: default cap on the longest side of a saved picture (``Explanation.save(max_side=...)``)
MAX_SIDE = 4096


@dataclass
class Explanation:
    """Saliency maps for one image.

    Attributes:
        targets: explained class indices, in the order asked for.
        maps: target -> float32 2-D map at the method's native resolution (e.g. 7 x 7), in [0, 1].
        scores: target -> the model's score for that class (after postprocessing).
        label_names: all class names of the model, or ``None``.
        method: name of the method that produced the maps and why it was chosen.
        image_size: (height, width) of the explained image.
        predictions: every class score, shape (num_classes,).
        image: the explained RGB image when kept, for overlays.
        stats: model calls, wall time and other facts about the run.
    """

    targets: list[int]
    maps: dict[int, np.ndarray]
    scores: dict[int, float]
    label_names: list[str] | None = None
    method: str = ""
    image_size: tuple[int, int] | None = None
    predictions: np.ndarray | None = None
    image: np.ndarray | None = field(default=None, repr=False)
    stats: dict[str, Any] = field(default_factory=dict)

    def _check(self, target: int | str) -> int:
        if isinstance(target, str):
            from .labels import label_index

            target = label_index(target, self.label_names)
        if target not in self.maps:
            raise TargetError(f"target {target} was not explained; explained targets: {self.targets}.")
        return int(target)

    def label(self, target: int) -> str:
        """The class name of ``target`` (or its index as text)."""
        return label_of(target, self.label_names)

    def map(self, target: int | str, size: tuple[int, int] | None = None) -> np.ndarray:
        """The float32 map of ``target``, bilinearly resized to ``size=(height, width)`` when given."""
        m = self.maps[self._check(target)]
        if size is None:
            return m.copy()
        try:
            size = visualize.check_size(size)
        except ValueError as exc:
            raise TargetError(f"map({target!r}): {exc}") from None
        return visualize.resize(m, size)

    def overlay(
        self, target: int | str, image: np.ndarray | None = None, colormap: str = "jet", alpha: float = 0.5
    ) -> np.ndarray:
        """The map of ``target`` coloured and blended over ``image`` (default: the explained image)."""
        image = self.image if image is None else image
        if image is None:
            raise TargetError("overlay needs the image: pass it, or explain with keep_image=True.")
        return visualize.overlay(image, self.maps[self._check(target)], colormap=colormap, alpha=alpha)

    def picture(self, target: int | str, colormap: str = "jet", alpha: float = 0.5) -> np.ndarray:
        """An overlay when the image is kept, else the coloured map at the image's size."""
        if self.image is not None:
            return self.overlay(target, colormap=colormap, alpha=alpha)
        size = self.image_size or self.maps[self._check(target)].shape
        return visualize.colorize(visualize.normalize(self.map(target, size)), colormap)

    def _label_stem(self, target: int) -> str:
        """The file-name part of ``target``: its sanitised label, plus ``_<index>`` when another class has the
        same name (ImageNet's two "crane" classes), from :func:`saliencykit.files.label_stems`."""
        num_classes = len(self.predictions) if self.predictions is not None else None
        if self.label_names and 0 <= target < len(self.label_names):
            key = (id(self.label_names), len(self.label_names), num_classes)
            if getattr(self, "_stems_key", None) != key:
                self._stems = label_stems(self.label_names, num_classes)
                self._stems_key = key
            return self._stems[target]
        return sanitize(self.label(target))

    def file_name(self, target: int, prefix: str = "", postfix: str = "", scores: bool = True) -> str:
        """``{prefix}{label}{postfix}{score:.2f}.jpg`` with the label sanitised for file names.

        Names stay unique per class when labels repeat: the repeated ones get ``_<index>``.
        """
        score = f"{self.scores[target]:.2f}" if scores and target in self.scores else ""
        prefix, postfix = check_name_part(prefix, "prefix"), check_name_part(postfix, "postfix")
        return f"{prefix}{self._label_stem(target)}{postfix}{score}.jpg"

    def save(
        self,
        directory: str | Path,
        prefix: str = "",
        postfix: str = "",
        scores: bool = True,
        colormap: str = "jet",
        max_side: int = MAX_SIDE,
    ) -> list[Path]:
        """Write one picture per target into ``directory``; returns the written paths.

        ``max_side`` caps the longest side of each picture (0: full size): a 12000 x 12000 photo's overlay is
        drawn at the cap, not at 144 megapixels.
        """
        directory = Path(directory)
        if isinstance(max_side, bool) or not isinstance(max_side, (int, np.integer)) or max_side < 0:
            raise ValueError(f"save(max_side={max_side!r}): give the longest side in pixels, or 0 for full size.")
        if directory.exists() and not directory.is_dir():
            raise OutputError(f"{directory}: is a file, not a folder; give a folder to save the pictures in.")
        written = []
        for target in self.targets:
            path = directory / self.file_name(target, prefix, postfix, scores)
            try:
                write_image(path, self._picture_at(target, colormap, int(max_side)))
            except OSError as exc:
                raise OutputError(
                    f"{path}: cannot be written ({exc.strerror or exc}). Check that the folder is writable and "
                    "the disk has room."
                ) from None
            written.append(path)
        return written

    def _picture_at(self, target: int, colormap: str, max_side: int) -> np.ndarray:
        """:meth:`picture` with its longest side at most ``max_side``, drawn small rather than shrunk after."""
        if self.image is not None:
            return self.overlay(target, image=visualize.fit(self.image, max_side), colormap=colormap)
        h, w = self.image_size or self.maps[self._check(target)].shape
        scale = min(1.0, max_side / max(h, w)) if max_side else 1.0
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        return visualize.colorize(visualize.normalize(self.map(target, size)), colormap)

    def to_dict(self) -> dict[str, Any]:
        """Metadata as plain JSON-able values (no maps)."""
        return {
            "targets": list(self.targets),
            "labels": [self.label(t) for t in self.targets],
            "scores": {str(t): float(s) for t, s in self.scores.items()},
            "method": self.method,
            "image_size": list(self.image_size) if self.image_size else None,
            "stats": self.stats,
        }

    def save_raw(self, path: str | Path) -> Path:
        """Save the float maps and metadata as a compressed ``.npz`` (``maps`` is (T, h, w), in target order)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        buf = io.BytesIO()
        arrays: dict[str, Any] = {
            "maps": np.stack([self.maps[t] for t in self.targets]).astype(np.float32),
            "targets": np.asarray(self.targets, dtype=np.int64),
            "meta": np.asarray(json.dumps(self.to_dict())),
        }
        if self.predictions is not None:
            arrays["predictions"] = np.asarray(self.predictions, dtype=np.float32)
        np.savez_compressed(buf, **arrays)
        atomic_write_bytes(path, buf.getvalue())
        return path

    def plot(self, columns: int = 4, colormap: str = "jet"):
        """A matplotlib figure with one panel per target, titled with label and score."""
        import matplotlib.pyplot as plt

        n = len(self.targets)
        columns = max(1, min(columns, n))
        rows = -(-n // columns)
        fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.2 * rows), squeeze=False)
        for ax in axes.ravel():
            ax.axis("off")
        for ax, target in zip(axes.ravel(), self.targets):
            ax.imshow(self.picture(target, colormap=colormap))
            ax.set_title(f"{self.label(target)} {self.scores.get(target, float('nan')):.2f}", fontsize=9)
        fig.tight_layout()
        return fig

    def _repr_png_(self) -> bytes:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        fig = self.plot()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        plt.close(fig)
        return buf.getvalue()
