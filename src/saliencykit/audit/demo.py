"""The built-in audit demo: a small labelled image set made from the demo photos, audited by the demo model.

:func:`demo_dataset` writes ImageNet-style class folders (WordNet ids, and one folder named by its label) with
realistic variants of scikit-image's photos — crops, flips, occlusions, resizes, blur, grayscale — so that
the demo model's answers fall in every case: confident hits (the cat, the espresso), an undecided model (the
motorcycle: moped or motor scooter), a confident mistake (a copy of the coffee photo filed under the cat's
class, which is also a duplicate with a conflicting label), a mistake without conviction (the rocket taken for
a drilling platform), an unsure hit (a crop of the rocket), and an unlabelled photo (the astronaut, which has
no ImageNet class, at the top level). :func:`demo_annotations` gives the photos' object boxes, so the demo's
report also shows where each map lies against the object.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from ..files import atomic_write_bytes
from ..labels import imagenet_wnids


def _crop(y0: float, y1: float, x0: float, x1: float) -> Callable[[np.ndarray], np.ndarray]:
    def crop(image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        return image[int(h * y0) : int(h * y1), int(w * x0) : int(w * x1)]

    return crop


def _occlude(fraction: float, y: float = 0.5, x: float = 0.5) -> Callable[[np.ndarray], np.ndarray]:
    def occlude(image: np.ndarray) -> np.ndarray:
        out = image.copy()
        h, w = out.shape[:2]
        side, cy, cx = int(min(h, w) * fraction), int(h * y), int(w * x)
        out[max(0, cy - side // 2) : cy + side // 2, max(0, cx - side // 2) : cx + side // 2] = 128
        return out

    return occlude


def _half(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)


def _flip(image: np.ndarray) -> np.ndarray:
    return image[:, ::-1]


def _blur(size: int) -> Callable[[np.ndarray], np.ndarray]:
    def blur(image: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(image, (size, size), 0)

    return blur


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)  # written as a real one-channel JPEG


def _same(image: np.ndarray) -> np.ndarray:
    return image


_WNID = imagenet_wnids()
#: folder, file name, photo, transform. Folders are WordNet ids except "moped" (a label name).
VARIANTS: tuple[tuple[str, str, str, Callable[[np.ndarray], np.ndarray]], ...] = (
    (_WNID[285], "chelsea.jpg", "chelsea", _same),
    (_WNID[285], "chelsea_half.jpg", "chelsea", _half),
    (_WNID[285], "chelsea_gray.jpg", "chelsea", _gray),
    (_WNID[285], "chelsea_crop.jpg", "chelsea", _crop(0.4, 1.0, 0.4, 1.0)),
    (_WNID[285], "coffee_filed_as_cat.jpg", "coffee", _same),  # the wrong label
    (_WNID[967], "coffee.jpg", "coffee", _same),
    (_WNID[967], "coffee_flip.jpg", "coffee", _flip),
    (_WNID[967], "coffee_crop.jpg", "coffee", _crop(0.0, 0.6, 0.0, 0.6)),
    (_WNID[967], "coffee_occluded.jpg", "coffee", _occlude(0.4)),
    (_WNID[967], "coffee_blur.jpg", "coffee", _blur(15)),
    ("moped", "motorcycle.jpg", "stereo_motorcycle_left", _same),
    ("moped", "motorcycle_half.jpg", "stereo_motorcycle_left", _half),
    ("moped", "motorcycle_gray.jpg", "stereo_motorcycle_left", _gray),
    ("moped", "motorcycle_blur.jpg", "stereo_motorcycle_left", _blur(31)),
    ("moped", "motorcycle_occluded.jpg", "stereo_motorcycle_left", _occlude(0.5, 0.7, 0.7)),
    (_WNID[657], "rocket.jpg", "rocket", _same),
    (_WNID[657], "rocket_gray.jpg", "rocket", _gray),
    (_WNID[657], "rocket_flip.jpg", "rocket", _flip),
    (_WNID[657], "rocket_crop.jpg", "rocket", _crop(0.2, 0.8, 0.2, 0.8)),  # the unsure image
    ("", "astronaut.jpg", "astronaut", _same),  # no ImageNet class: unlabelled
)


def _jpeg(image: np.ndarray) -> bytes:
    image = np.ascontiguousarray(image)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:  # pragma: no cover
        raise OSError("could not encode a demo photo")
    return buf.tobytes()


def demo_dataset(folder: str | Path) -> Path:
    """Write the demo's labelled image set into ``folder`` (see the module docstring); returns the folder."""
    from .. import demo

    folder = Path(folder)
    photos = demo.photos()
    for class_folder, name, photo, transform in VARIANTS:
        atomic_write_bytes(folder / class_folder / name, _jpeg(transform(photos[photo])))
    return folder


def _moved_box(
    box: list[float], size_hw: list[int], transform: Callable[[np.ndarray], np.ndarray]
) -> list[float] | None:
    """Where ``box`` lies after ``transform`` (found by transforming a picture of the box); ``None`` if it left."""
    h, w = size_hw
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    picture = np.zeros((h, w, 3), np.uint8)
    picture[y0:y1, x0:x1] = 255
    moved = np.asarray(transform(picture))
    inside = (moved if moved.ndim == 2 else moved[..., 0]) > 160
    rows, cols = np.nonzero(inside)
    if rows.size == 0:
        return None
    return [float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1)]


def demo_annotations(path: str | Path) -> Path:
    """Write the object boxes of the demo dataset's images as a ``path,x0,y0,x1,y1,label`` CSV (names relative to
    the dataset folder): the hand-drawn boxes of ``saliencykit/data/demo_boxes.json``, moved with each variant's
    crop, flip or resize. Photos without boxes (the astronaut) have no row: they audit without annotations."""
    from .. import demo
    from ..files import write_csv

    boxes = demo.boxes()
    rows: list[list[object]] = [["path", "x0", "y0", "x1", "y1", "label"]]
    for class_folder, name, photo, transform in VARIANTS:
        entry = boxes.get(photo) or {}
        for obj in entry.get("objects", []):
            moved = _moved_box(obj["box"], entry["size_hw"], transform)
            if moved is not None:
                key = f"{class_folder}/{name}" if class_folder else name
                rows.append([key, *moved, obj["name"]])
    path = Path(path)
    write_csv(path, rows)
    return path


def run_demo(out: str | Path, progress=None, fresh: bool = False):
    """Write the demo dataset to ``out/dataset`` with its object boxes (``out/dataset-boxes.csv``) and audit it
    with the demo model into ``out``.

    Returns the :class:`~saliencykit.audit.local.AuditResult`; ``out/report.html`` is the page to open.
    """
    from .api import audit

    out = Path(out)
    data = demo_dataset(out / "dataset")
    boxes = demo_annotations(out / "dataset-boxes.csv")
    return audit("demo", data, out, progress=progress, fresh=fresh, annotations=boxes)
