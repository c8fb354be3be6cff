"""Class names: the built-in ImageNet-1k list, label files, and turning names into indices."""

from __future__ import annotations

import difflib
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .errors import TargetError
from .images import regular_file_size


@lru_cache(maxsize=1)
def _imagenet_rows() -> tuple[tuple[str, str, str], ...]:
    text = resources.files("saliencykit").joinpath("data/imagenet_classes.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    return tuple((wnid, name, synonyms) for _, wnid, name, synonyms in rows)


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet-1k class names in index order (first WordNet lemma, e.g. 'Samoyed')."""
    return [name for _, name, _ in _imagenet_rows()]


def imagenet_wnids() -> list[str]:
    """The 1000 ImageNet-1k WordNet ids in index order (e.g. 'n02111889')."""
    return [wnid for wnid, _, _ in _imagenet_rows()]


MAX_LABELS_BYTES = 64 << 20
"""A labels file larger than this (64 MB) is not a list of class names."""
_INDEXED = re.compile(r"^(\d+)(?::\s*|\s+)(\S.*)$")


def read_labels(path: str | Path) -> list[str]:
    """Read a labels file: line N names class N - 1, and no line is ever dropped or skipped.

    Each line is one class name (surrounding spaces removed); blank lines at the end of the file are ignored. A blank
    line or a line starting with ``#`` elsewhere is an error naming the line (older versions skipped them, which
    shifted every later name onto the wrong class). When every line has the form ``index name`` or ``index: name``,
    the indices must be 0, 1, 2, ... in order and the names are the rest of each line (this form also allows
    names that start with ``#``). Any problem raises a :class:`TargetError` naming the file and the line.
    """
    path = Path(path)
    try:
        what = "a labels file (expected a text file with one class name a line)"
        size = regular_file_size(path, TargetError, what, "a text file of class names")
        if size > MAX_LABELS_BYTES:
            raise TargetError(f"{path}: {size / 1e6:.0f} MB is not a labels file (one name a line); check the path.")
        data = path.read_bytes()
    except FileNotFoundError:
        raise TargetError(f"{path}: no such labels file. Check the path.") from None
    except OSError as exc:
        reason = exc.strerror or exc
        raise TargetError(f"{path}: cannot read the labels file ({reason}). Check its permissions.") from None
    return parse_labels(data, str(path))


def parse_labels(data: bytes | str, source: str = "labels") -> list[str]:
    """The class names in the text of a labels file (see :func:`read_labels`); ``source`` names it in messages."""
    if isinstance(data, bytes):
        if b"\x00" in data:
            at = data[: data.index(b"\x00")].count(b"\n") + 1
            raise TargetError(f"{source}: line {at} holds a NUL byte: a binary file, not a labels text file.")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            at = data[: exc.start].count(b"\n") + 1
            raise TargetError(
                f"{source}: line {at} is not UTF-8 text (byte 0x{data[exc.start]:02x}); a labels file is UTF-8 "
                "text with one class name a line. Save it as UTF-8."
            ) from None
    else:
        text = data[1:] if data.startswith("\ufeff") else data
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise TargetError(f"{source}: empty labels file; write one class name a line (line 1 is class 0).")
    for number, line in enumerate(lines, 1):
        bad = next((c for c in line if ord(c) < 32 and c != "\t"), None)
        if bad is not None:
            raise TargetError(
                f"{source}: line {number} holds the control character {bad!r}: a binary file, not a labels text file."
            )
    matches = [_INDEXED.match(line.strip()) for line in lines]
    if all(matches):
        for number, match in enumerate(matches, 1):
            if int(match.group(1)) != number - 1:  # type: ignore[union-attr]
                raise TargetError(
                    f"{source}: line {number} starts with index {match.group(1)}, expected {number - 1}: in the "  # type: ignore[union-attr]
                    "'index name' form the indices must be 0, 1, 2, ... in order, one line per class."
                )
        return [match.group(2).strip() for match in matches]  # type: ignore[union-attr]
    names = [line.strip() for line in lines]
    for number, name in enumerate(names, 1):
        if not name:
            raise TargetError(
                f"{source}: line {number} is blank, but line N names class N - 1, so every later name would move "
                f"to the wrong class. Write the name of class {number - 1} on it (e.g. 'class_{number - 1}'), or "
                "delete the line if it is not a class."
            )
        if name.startswith("#"):
            raise TargetError(
                f"{source}: line {number} starts with '#': a comment? A labels file has no comments (line N names "
                f"class N - 1); delete the line, or if '{name}' really is the name of class {number - 1}, write "
                f"the file in the 'index name' form ('{number - 1} {name}')."
            )
    return names


def check_label_count(names: list[str], num_classes: int, source: str = "the labels file") -> None:
    """Raise a :class:`TargetError` unless there is exactly one name per class of the model."""
    count = len(names)
    if count == num_classes:
        return
    if count < num_classes:
        raise TargetError(
            f"{source}: {count} class names for a model with {num_classes} classes; classes {count} to "
            f"{num_classes - 1} would have no name. Give one name a line for every class, in class order."
        )
    extra = " (a header line?)" if count == num_classes + 1 else ""
    raise TargetError(
        f"{source}: {count} class names for a model with {num_classes} classes{extra}; lines {num_classes + 1} to "
        f"{count} name no class. Give exactly one name a line per class, in class order (line 1 is class 0)."
    )


def label_index(name: str, label_names: list[str] | None) -> int:
    """Index of a class name; an unknown name raises an error listing close matches."""
    if not label_names:
        raise TargetError(f"target '{name}' is a name but no label_names were given; pass label_names= or use indices.")
    try:
        return label_names.index(name)
    except ValueError:
        lowered = [n.lower() for n in label_names]
        if name.lower() in lowered:
            return lowered.index(name.lower())
        close = difflib.get_close_matches(name, label_names, n=5, cutoff=0.6)
        hint = f" Close matches: {', '.join(repr(c) for c in close)}." if close else ""
        raise TargetError(f"target '{name}' is not a class name of this model.{hint}") from None


def label_of(index: int, label_names: list[str] | None) -> str:
    """The class name of ``index``, or the index as text when there are no names."""
    if label_names and 0 <= index < len(label_names):
        return label_names[index]
    return str(index)
