"""Class names: the built-in ImageNet-1k list, label files, and turning names into indices."""

from __future__ import annotations

import difflib
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .errors import TargetError


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


def read_labels(path: str | Path) -> list[str]:
    """Read one class name per line (blank lines and lines starting with '#' are skipped)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise TargetError(f"{path}: cannot read the labels file ({exc.strerror}).") from None
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


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
