"""Object annotations for an audit: where the object of each image is, so the audit can ask whether the map is on it.

:func:`read_annotations` reads, by what ``path`` is:

- a COCO ``.json`` with ``images`` (``id``, ``file_name``), ``annotations`` (``id``, ``image_id``, ``bbox`` as
  ``[x, y, width, height]``, ``category_id``) and ``categories`` (``id``, ``name``);
- a ``.csv`` with the header ``path,x0,y0,x1,y1`` or ``path,x0,y0,x1,y1,label``, one object per row;
- a folder of Pascal VOC ``.xml`` files (``<filename>``, ``<object><name>``, ``<bndbox>`` with ``xmin`` ...);
- a folder of PNG masks named like the images (``cat/1.png`` for ``cat/1.jpg``): non-zero pixels are the
  object. A mask becomes its bounding box plus the mask's path (the focus statistics use its pixels).

Boxes are ``[x0, y0, x1, y1]`` in pixels of the original (EXIF-oriented) image, x to the right, y down. Image
names are paths relative to the dataset root; :func:`attach` matches them to the dataset's items by that path,
by the path without its suffix, or by the file name alone when only one item has it. Images without an entry
have no objects and are audited as before. A malformed file raises :class:`AnnotationError` naming the file,
the entry (line, annotation id or XML file) and what to fix.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ..errors import SaliencyKitError
from .dataset import Dataset

Objects = dict[str, list[dict[str, Any]]]
CSV_HEADER = ("path", "x0", "y0", "x1", "y1")
FORMATS = "a COCO .json, a .csv with the header path,x0,y0,x1,y1[,label], a folder of VOC .xml files or of PNG masks"


class AnnotationError(SaliencyKitError):
    """An annotation file or folder cannot be read; the message names the file and the entry."""


def read_annotations(path: str | Path, dataset_root: str | Path | None = None) -> Objects:
    """Objects per image name (relative to ``dataset_root``) from ``path``; see the module docstring.

    >>> read_annotations("boxes.csv", "dataset/")["cat/1.jpg"]  # doctest: +SKIP
    [{'box': [10.0, 20.0, 200.0, 180.0], 'label': 'cat'}]
    """
    path = Path(path)
    root = Path(dataset_root) if dataset_root is not None else None
    if not path.exists():
        raise AnnotationError(f"{path}: no such annotation file or folder; give {FORMATS}.")
    if path.is_dir():
        if next(path.rglob("*.xml"), None) is not None:
            return _read_voc(path, root)
        if next(path.rglob("*.png"), None) is not None:
            return _read_masks(path)
        raise AnnotationError(f"{path}: the folder holds no .xml (Pascal VOC) or .png (mask) files; give {FORMATS}.")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _read_coco(path, root)
    if suffix == ".csv":
        return _read_csv(path, root)
    raise AnnotationError(f"{path}: not an annotation format saliencykit reads; give {FORMATS}.")


def digest(objects: Objects) -> str:
    """A stable digest of the annotations' content (for the run's settings: other boxes, other results)."""
    text = json.dumps(objects, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _name(text: str, root: Path | None) -> str:
    """An image name as a POSIX path relative to the dataset root (absolute paths inside the root made relative)."""
    if root is not None and os.path.isabs(text):
        with contextlib.suppress(ValueError):  # another drive on Windows: kept as it is
            text = os.path.relpath(text, root)
    parts = [p for p in PurePosixPath(text.replace("\\", "/")).parts if p not in ("", ".")]
    return "/".join(parts)


def _box(values: Sequence[Any], where: str, fix: str) -> list[float]:
    try:
        box = [float(v) for v in values]
    except (TypeError, ValueError):
        raise AnnotationError(f"{where}: coordinates {list(values)!r} are not numbers; {fix}.") from None
    if len(box) != 4 or not all(math.isfinite(v) for v in box):
        raise AnnotationError(f"{where}: expected 4 finite coordinates, got {list(values)!r}; {fix}.")
    x0, y0, x1, y1 = box
    if x0 < 0 or y0 < 0 or x1 <= x0 or y1 <= y0:
        raise AnnotationError(
            f"{where}: box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] is empty or negative (need 0 <= x0 < x1 and 0 <= y0 < y1); "
            f"{fix}."
        )
    return box


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationError(f"{path}: cannot be read ({exc}).") from None


def _read_coco(path: Path, root: Path | None) -> Objects:
    data = _read_json(path)
    missing = [k for k in ("images", "annotations") if not isinstance(data, dict) or not isinstance(data.get(k), list)]
    if missing:
        raise AnnotationError(
            f"{path}: not a COCO annotation file (no list '{missing[0]}'); a COCO file has 'images', 'annotations' "
            "and 'categories' lists."
        )
    categories: dict[Any, str] = {}
    for i, cat in enumerate(data.get("categories") or []):
        if not isinstance(cat, dict) or "id" not in cat:
            raise AnnotationError(f"{path}: categories[{i}] has no 'id'; give each category an id and a name.")
        categories[cat["id"]] = str(cat.get("name", cat["id"]))
    names: dict[Any, str] = {}
    for i, image in enumerate(data["images"]):
        if not isinstance(image, dict) or "id" not in image or not isinstance(image.get("file_name"), str):
            raise AnnotationError(
                f"{path}: images[{i}] needs an 'id' and a 'file_name' (the path relative to the dataset root)."
            )
        names[image["id"]] = _name(image["file_name"], root)
    objects: Objects = {name: [] for name in names.values()}
    for i, ann in enumerate(data["annotations"]):
        ident = ann.get("id", f"#{i}") if isinstance(ann, dict) else f"#{i}"
        where = f"{path}: annotation {ident} (annotations[{i}])"
        if not isinstance(ann, dict):
            raise AnnotationError(f"{where}: expected an object with 'image_id' and 'bbox'.")
        if ann.get("image_id") not in names:
            raise AnnotationError(f"{where}: image_id {ann.get('image_id')!r} is not in 'images'; add the image.")
        bbox = ann.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise AnnotationError(f"{where}: 'bbox' must be [x, y, width, height], got {bbox!r}.")
        try:
            x, y, w, h = (float(v) for v in bbox)
        except (TypeError, ValueError):
            raise AnnotationError(f"{where}: 'bbox' {bbox!r} holds something other than numbers.") from None
        box = _box([x, y, x + w, y + h], where, "give bbox as [x, y, width, height] with width and height > 0")
        category = ann.get("category_id")
        if category is not None and categories and category not in categories:
            raise AnnotationError(f"{where}: category_id {category!r} is not in 'categories'; add the category.")
        label = categories.get(category, None if category is None else str(category))
        objects[names[ann["image_id"]]].append({"box": box, "label": label})
    return objects


def _read_csv(path: Path, root: Path | None) -> Objects:
    objects: Objects = defaultdict(list)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = tuple(c.strip().lower() for c in next(reader, []))
            if header[:5] != CSV_HEADER or len(header) > 6 or (len(header) == 6 and header[5] != "label"):
                raise AnnotationError(
                    f"{path}: line 1: the header is {','.join(header) or '(empty)'}; "
                    "it must be path,x0,y0,x1,y1 or path,x0,y0,x1,y1,label."
                )
            for row in reader:
                line = reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) not in (5, 6) or not row[0].strip():
                    raise AnnotationError(
                        f"{path}: line {line}: expected path,x0,y0,x1,y1[,label], got {len(row)} cell(s)."
                    )
                where = f"{path}: line {line} ({row[0].strip()})"
                box = _box(row[1:5], where, "give pixel coordinates x0,y0,x1,y1 of the original image")
                label = row[5].strip() or None if len(row) == 6 else None
                objects[_name(row[0].strip(), root)].append({"box": box, "label": label})
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise AnnotationError(f"{path}: cannot be read as CSV ({exc}).") from None
    return dict(objects)


def _read_voc(folder: Path, root: Path | None) -> Objects:
    from xml.etree import ElementTree

    objects: Objects = {}
    for xml in sorted(folder.rglob("*.xml")):
        relative = xml.relative_to(folder)
        try:
            tree = ElementTree.parse(xml).getroot()
        except (ElementTree.ParseError, OSError) as exc:
            raise AnnotationError(f"{xml}: not a readable Pascal VOC XML file ({exc}).") from None
        filename = (tree.findtext("filename") or "").strip()
        suffix = PurePosixPath(filename).suffix
        name = relative.with_suffix(suffix).as_posix() if suffix else relative.with_suffix("").as_posix()
        found = []
        for i, obj in enumerate(tree.findall("object")):
            where = f"{xml}: object {i + 1}"
            bndbox = obj.find("bndbox")
            if bndbox is None:
                raise AnnotationError(f"{where} has no <bndbox>; give <xmin>, <ymin>, <xmax>, <ymax>.")
            values = [bndbox.findtext(tag) for tag in ("xmin", "ymin", "xmax", "ymax")]
            if any(v is None for v in values):
                raise AnnotationError(f"{where}: <bndbox> lacks one of <xmin>, <ymin>, <xmax>, <ymax>.")
            box = _box(values, where, "give pixel coordinates of the original image")  # type: ignore[arg-type]
            found.append({"box": box, "label": (obj.findtext("name") or "").strip() or None})
        objects[_name(name, root)] = found
    return objects


def _read_masks(folder: Path) -> Objects:
    objects: Objects = {}
    for png in sorted(folder.rglob("*.png")):
        mask = _mask(png)
        rows, cols = np.nonzero(mask)
        name = png.relative_to(folder).with_suffix("").as_posix()  # matched to the image without its suffix
        if rows.size == 0:
            objects[name] = []  # annotated, and no object in it
            continue
        box = [float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1)]
        objects[name] = [{"box": box, "label": None, "mask": str(png.resolve())}]
    return objects


def _mask(path: str | Path) -> np.ndarray:
    """A mask PNG as a boolean array (non-zero pixels are the object)."""
    import cv2

    raw = np.fromfile(str(path), np.uint8) if os.path.isfile(path) else None
    mask = cv2.imdecode(raw, cv2.IMREAD_GRAYSCALE) if raw is not None and raw.size else None
    if mask is None:
        raise AnnotationError(f"{path}: not a readable PNG mask; save the object's pixels as non-zero in a PNG.")
    return mask > 0


def read_masks(objects: Sequence[Mapping[str, Any]] | None, size_hw: tuple[int, int]) -> dict[str, np.ndarray]:
    """The masks an image's objects refer to, by path (empty without masks); a mask of another size than the
    image is refused (it would not line up)."""
    masks: dict[str, np.ndarray] = {}
    for obj in objects or []:
        path = obj.get("mask")
        if path and path not in masks:
            mask = _mask(path)
            if mask.shape != tuple(size_hw):
                raise AnnotationError(
                    f"{path}: the mask is {mask.shape[1]} x {mask.shape[0]} pixels, the image "
                    f"{size_hw[1]} x {size_hw[0]}; a mask must have its image's size."
                )
            masks[path] = mask
    return masks


def _stem(key: str) -> str:
    return str(PurePosixPath(key).with_suffix(""))


def attach(dataset: Dataset, objects: Objects) -> tuple[Dataset, int, list[str]]:
    """The dataset with each item's objects, how many items got an entry, and the annotation names that match
    no item (by key, key without suffix, or a file name only one item has)."""
    exact = {item.key: item.key for item in dataset.items}
    stems = _unique((_stem(k), k) for k in exact)
    basenames = _unique((PurePosixPath(k).name, k) for k in exact)
    basestems = _unique((PurePosixPath(_stem(k)).name, k) for k in exact)
    chosen: dict[str, list[dict[str, Any]]] = {}
    unmatched = []
    for name, found in objects.items():
        key = exact.get(name) or stems.get(_stem(name)) or stems.get(name)
        if key is None and "/" not in name:
            key = basenames.get(name) or basestems.get(_stem(name))
        if key is None:
            unmatched.append(name)
        else:
            chosen.setdefault(key, []).extend(found)
    items = [replace(item, objects=chosen[item.key]) if item.key in chosen else item for item in dataset.items]
    return replace(dataset, items=items), len(chosen), unmatched


def _unique(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """name -> key for names that only one key has."""
    seen: dict[str, str | None] = {}
    for name, key in pairs:
        seen[name] = key if name not in seen else None
    return {name: key for name, key in seen.items() if key is not None}


def relative_boxes(objects: Sequence[Mapping[str, Any]] | None, width: int, height: int) -> list[list[Any]]:
    """``[x0, y0, x1, y1, label]`` per object as fractions 0..1 of the image (what the report draws)."""
    boxes = []
    for obj in objects or []:
        x0, y0, x1, y1 = obj["box"]
        boxes.append(
            [
                round(min(1.0, x0 / width), 4),
                round(min(1.0, y0 / height), 4),
                round(min(1.0, x1 / width), 4),
                round(min(1.0, y1 / height), 4),
                obj.get("label"),
            ]
        )
    return boxes
