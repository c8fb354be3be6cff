"""Reading an audit dataset: class folders, a CSV of ``path,label``, or a flat folder of unlabelled images.

Folder names (and CSV labels) become class indices through a :class:`ClassMap`: by index (``"285"``), by
label name (``"Egyptian cat"``, ``"Egyptian_cat"``), by ImageNet WordNet id (``"n02124075"``, for 1000-class
models), or through a JSON/CSV file that maps names to any of those. Problems with single files (unknown
class, not an image) become items with an error, so they are recorded and reported rather than stopping the
run; problems with the dataset as a whole (an empty class folder, a folder that cannot be listed, a path
listed twice) become notes.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SaliencyKitError
from ..images import IMAGE_SUFFIXES, decode_image, read_image_bytes
from ..labels import imagenet_wnids

_WNID = re.compile(r"^n\d{8}$")
_INT = re.compile(r"^\d+$")
CLASS_MAP_MODES = ("auto", "index", "name", "wnid")


class DatasetError(SaliencyKitError):
    """The audit dataset cannot be read as a whole (missing, empty, unreadable CSV, bad class map)."""


@dataclass(frozen=True)
class Item:
    """One file of the dataset.

    Attributes:
        key: unique name of the item in the run store: the path relative to the dataset root, POSIX style.
        path: the file to read.
        label: the ground truth as written in the dataset (folder name or CSV value), ``None`` if unlabelled.
        gt: the ground-truth class index, ``None`` when unlabelled or unknown.
        status: ``"todo"``, or ``"failed"`` / ``"skipped"`` when the dataset itself already tells why.
        error: why the item failed or was skipped.
        objects: the annotated objects (:mod:`saliencykit.audit.annotations`), ``None`` when not annotated.
    """

    key: str
    path: Path
    label: str | None = None
    gt: int | None = None
    status: str = "todo"
    error: str | None = None
    objects: list[dict[str, Any]] | None = field(default=None, compare=False, hash=False)


@dataclass
class Dataset:
    """The items of an audit dataset and the notes about it."""

    root: Path
    kind: str  # "folders", "csv" or "flat"
    items: list[Item]
    notes: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, subject, message)

    @property
    def labelled(self) -> bool:
        return any(item.label is not None for item in self.items)


def _normal(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).casefold()


class ClassMap:
    """Turns dataset class names (folder names, CSV labels) into class indices of the model.

    Args:
        mode: ``"auto"`` (each name by index, WordNet id or label name, whichever fits), ``"index"``,
            ``"name"`` or ``"wnid"``; or a path to a JSON object / two-column CSV mapping names to classes
            (the classes given by index, label name or WordNet id); or such a mapping.
        label_names: the model's class names (needed to map by name).
        num_classes: the model's number of classes (to check indices; WordNet ids need 1000).
    """

    def __init__(
        self,
        mode: str | Path | Mapping[str, int | str] = "auto",
        label_names: Sequence[str] | None = None,
        num_classes: int | None = None,
    ) -> None:
        self.label_names = list(label_names) if label_names else None
        self.num_classes = num_classes or (len(self.label_names) if self.label_names else None)
        self.table: dict[str, int | str] | None = None
        if isinstance(mode, Mapping):
            self.table = {str(k): v for k, v in mode.items()}
            self.mode = "table"
        elif isinstance(mode, str) and mode in CLASS_MAP_MODES:
            self.mode = mode
        else:
            self.table = _read_table(Path(mode))
            self.mode = "table"
        if self.mode == "wnid" and self.num_classes not in (None, 1000):
            raise DatasetError(
                f"--class-map wnid maps ImageNet-1k WordNet ids, but this model has {self.num_classes} classes."
            )
        self._by_name: dict[str, list[int]] = {}
        for index, label in enumerate(self.label_names or []):
            self._by_name.setdefault(_normal(label), []).append(index)
        self._cache: dict[str, int | str] = {}

    def describe(self) -> str:
        """A stable description for the run store's settings."""
        if self.table is not None:
            return "table:" + json.dumps(self.table, sort_keys=True)
        return self.mode

    def resolve(self, name: str) -> int:
        """The class index of ``name``; raises a :class:`DatasetError` that says why it has none."""
        if name not in self._cache:
            try:
                self._cache[name] = self._resolve(name)
            except DatasetError as exc:
                self._cache[name] = str(exc)
        value = self._cache[name]
        if isinstance(value, str):
            raise DatasetError(value)
        return value

    def _resolve(self, name: str) -> int:
        if self.table is not None:
            if name not in self.table:
                raise DatasetError(f"class '{name}' is not in the class map; add it to the map file.")
            return self._by_any(str(self.table[name]), f"class '{name}' (mapped to '{self.table[name]}')")
        if self.mode == "index":
            return self._by_index(name, f"class '{name}'")
        if self.mode == "wnid":
            return self._by_wnid(name, f"class '{name}'")
        if self.mode == "name":
            return self._by_label(name, f"class '{name}'")
        return self._by_any(name, f"class '{name}'")

    def _by_any(self, name: str, what: str) -> int:
        if _INT.match(name):
            return self._by_index(name, what)
        if _WNID.match(name) and self.num_classes in (None, 1000) and not self._by_name.get(_normal(name)):
            return self._by_wnid(name, what)
        return self._by_label(name, what)

    def _by_index(self, name: str, what: str) -> int:
        if not _INT.match(name.strip()):
            raise DatasetError(f"{what} is not a class index (expected a number, as --class-map index says).")
        index = int(name)
        if self.num_classes is not None and not 0 <= index < self.num_classes:
            raise DatasetError(f"{what}: class index {index} is out of range (the model has {self.num_classes}).")
        return index

    def _by_wnid(self, name: str, what: str) -> int:
        wnids = imagenet_wnids()
        try:
            return wnids.index(name.strip().lower())
        except ValueError:
            raise DatasetError(f"{what} is not an ImageNet-1k WordNet id (like n02124075).") from None

    def _by_label(self, name: str, what: str) -> int:
        if not self.label_names:
            raise DatasetError(
                f"{what} is a name, but the model has no class names: pass --labels FILE, "
                "or name folders by class index, or give --class-map."
            )
        found = self._by_name.get(_normal(name))
        if found is None:
            from ..files import sanitize

            wanted = sanitize(name).casefold()
            found = [i for i, label in enumerate(self.label_names) if sanitize(label).casefold() == wanted] or None
        if found is None:
            close = difflib.get_close_matches(name, self.label_names, n=3, cutoff=0.6)
            hint = f" Close matches: {', '.join(repr(c) for c in close)}." if close else ""
            raise DatasetError(f"{what} is not a class of this model.{hint} Map names to classes with --class-map.")
        if len(found) > 1:
            raise DatasetError(
                f"{what} names several classes ({', '.join(map(str, found))}); use the index or WordNet id instead."
            )
        return found[0]


def _read_table(path: Path) -> dict[str, int | str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DatasetError(
            f"--class-map {path}: cannot read it ({exc.strerror}). Give auto, index, name, wnid or a JSON/CSV file."
        ) from None
    except UnicodeDecodeError:
        raise DatasetError(
            f"--class-map {path}: not UTF-8 text; give a JSON object or a CSV of name,class rows."
        ) from None
    if path.suffix.lower() == ".json":
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"--class-map {path}: not valid JSON ({exc}).") from None
        if not isinstance(loaded, dict):
            raise DatasetError(f'--class-map {path}: expected a JSON object {{"folder name": class, ...}}.')
        return {str(k): v for k, v in loaded.items()}
    table: dict[str, int | str] = {}
    for row in csv.reader(text.splitlines()):
        if len(row) >= 2 and row[0].strip() and not row[0].startswith("#"):
            table[row[0].strip()] = row[1].strip()
    if not table:
        raise DatasetError(f"--class-map {path}: no 'name,class' rows found.")
    return table


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def _walk(folder: Path, notes: list[tuple[str, str, str]], root: Path, exclude: Path | None = None) -> list[Path]:
    """Every non-hidden file under ``folder`` (but not under ``exclude``), sorted; folders that cannot be
    listed become notes."""

    def failed(exc: OSError) -> None:
        where = Path(exc.filename or folder)
        notes.append(("unreadable folder", _rel(where, root), f"cannot list it: {exc.strerror}"))

    files: list[Path] = []
    for top, dirs, names in os.walk(folder, onerror=failed):
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and Path(top, d) != exclude and not _audit_output(Path(top, d), notes, root)
        )
        files.extend(Path(top) / n for n in names if not n.startswith("."))
    return sorted(files)


def _audit_output(folder: Path, notes: list[tuple[str, str, str]], root: Path) -> bool:
    """Whether ``folder`` is an audit's output (it holds ``audit.sqlite``): its overlays are not data. Noted."""
    if not (folder / "audit.sqlite").is_file():
        return False
    notes.append(("audit output folder", _rel(folder, root), "holds audit.sqlite: an audit's output, not read as data"))
    return True


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def read_dataset(
    data: str | Path,
    label_names: Sequence[str] | None = None,
    num_classes: int | None = None,
    class_map: str | Path | Mapping[str, int | str] = "auto",
    exclude: str | Path | None = None,
) -> Dataset:
    """Read the items of an audit dataset; see the module docstring for the layouts it understands.

    ``exclude``: a folder to leave out, e.g. the audit's output folder when it lies inside the dataset.
    """
    data = Path(data)
    if not data.exists():
        raise DatasetError(f"{data}: no such folder or CSV file.")
    classes = ClassMap(class_map, label_names, num_classes)
    if data.is_file():
        if data.suffix.lower() != ".csv":
            raise DatasetError(f"{data}: give a folder (of class folders, or of images) or a CSV of path,label.")
        return _read_csv(data, classes)
    root = data.resolve()
    notes: list[tuple[str, str, str]] = []
    try:
        entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        raise DatasetError(f"{data}: cannot list the folder ({exc.strerror}).") from None
    exclude = Path(exclude).resolve() if exclude is not None else None
    if (root / "audit.sqlite").is_file():
        raise DatasetError(
            f"{data} is an audit's output folder (it holds audit.sqlite), not a dataset: give the folder of images "
            "that was audited, or open its report.html."
        )
    folders = [p for p in entries if p.is_dir() and p != exclude and not _audit_output(p, notes, root)]
    items: list[Item] = []
    for path in entries:
        if not path.is_dir() and _is_image(path):
            items.append(Item(key=path.name, path=path))
    for folder in folders:
        label = folder.name
        try:
            gt, error = classes.resolve(label), None
        except DatasetError as exc:
            gt, error = None, str(exc)
            notes.append(("unknown class", label, str(exc)))
        files = _walk(folder, notes, root, exclude)
        if not any(_is_image(f) for f in files):
            notes.append(("empty class folder", label, "no image files in this class folder"))
        for path in files:
            key = _rel(path, root)
            if not _is_image(path):
                reason = f"not an image file (suffix '{path.suffix}'); image suffixes are {', '.join(IMAGE_SUFFIXES)}"
                items.append(Item(key, path, label, gt, "skipped", reason))
            elif error is not None:
                items.append(Item(key, path, label, None, "failed", error))
            else:
                items.append(Item(key, path, label, gt))
    if not items:
        raise DatasetError(f"{data}: no images found (neither in class sub-folders nor in the folder itself).")
    return Dataset(root, "folders" if folders else "flat", items, notes)


def _read_csv(path: Path, classes: ClassMap) -> Dataset:
    root = path.resolve().parent
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: cannot read the CSV ({exc}).") from None
    if rows and rows[0] and rows[0][0].strip().lower() in ("path", "file", "filename", "image"):
        rows = rows[1:]
    items: list[Item] = []
    seen: dict[str, str | None] = {}
    notes: list[tuple[str, str, str]] = []

    def same_class(a: str | None, b: str | None) -> bool:
        if a == b:
            return True
        if a is None or b is None:
            return False
        try:
            return classes.resolve(a) == classes.resolve(b)  # '285' and 'Egyptian cat' are one class
        except DatasetError:
            return False

    for row in rows:
        if not row or not row[0].strip() or row[0].startswith("#"):
            continue
        file = Path(row[0].strip())
        label = row[1].strip() if len(row) > 1 and row[1].strip() else None
        full = Path(os.path.normpath(file if file.is_absolute() else root / file))  # "a/../b.jpg" is "b.jpg"
        key = _rel(full, root)
        if key in seen:
            if seen[key] == label:
                same = "with the same label"
            elif same_class(seen[key], label):
                same = f"as '{seen[key]}' and '{label}', the same class"
            else:
                same = f"with conflicting labels '{seen[key]}' and '{label}' (different classes)"
            notes.append(("listed twice", key, f"listed more than once {same}; the first row is used"))
            continue
        seen[key] = label
        if not _is_image(full):
            items.append(Item(key, full, label, None, "skipped", f"not an image file (suffix '{full.suffix}')"))
            continue
        if label is None:
            items.append(Item(key, full))
            continue
        try:
            items.append(Item(key, full, label, classes.resolve(label)))
        except DatasetError as exc:
            items.append(Item(key, full, label, None, "failed", str(exc)))
    if not items:
        raise DatasetError(f"{path}: the CSV lists no images (expected rows of path,label).")
    return Dataset(root, "csv", items, notes)


def load_image(path: Path, *, max_pixels: int | None = None, allow_partial: bool = False) -> tuple[np.ndarray, str]:
    """Read an image file as RGB uint8 with its SHA-1 (to find duplicates and changed files).

    The pixels come from :func:`saliencykit.images.decode_image`, the one reader every command uses (EXIF
    orientation, grey/alpha/palette/16-bit conversion, size limit, damaged and truncated JPEGs refused), so an
    image scores the same in the audit as in ``predict`` and ``explain``; the digest is of the same bytes.
    """
    data = read_image_bytes(path, max_pixels=max_pixels)
    image = decode_image(data, str(path), max_pixels=max_pixels, allow_partial=allow_partial)
    return image, hashlib.sha1(data).hexdigest()
