"""What a resumed audit may reuse: finished rows whose file is unchanged; changed and removed files are not.

The store keeps each image's size, modification time (ns) and SHA-1. On resume the cheap check comes first: a
file whose size and mtime match is unchanged. When they differ the file is hashed: the same SHA-1 means it was
only touched (its new size and mtime are recorded, it is not audited again); another SHA-1 means new content,
so the image is audited again. A row whose label or ground truth changed (an edited CSV) is audited again too,
and so is one whose overlays or raw maps are missing from the output folder (deleted by hand).
Rows of files that left the dataset are dropped. The overlays, raw maps and browser copies of dropped and
changed rows are deleted first (then their rows), so no stale file remains and a run killed in between finds
the same work again.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cache import file_digest
from .dataset import Dataset, Item
from .store import AuditStore

log = logging.getLogger("saliencykit")


@dataclass
class Resume:
    """What a run found in the store: rows reused, files changed since (audited again), files removed."""

    kept: int = 0
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The ``resume`` field of ``summary.json``."""
        return {
            "kept": self.kept,
            "changed": len(self.changed),
            "removed": len(self.removed),
            "repaired": len(self.repaired),
        }

    def describe(self) -> str:
        """One line for the log and the console."""
        return (
            f"{self.kept} item(s) finished earlier kept, {len(self.changed)} changed since and audited again, "
            f"{len(self.removed)} removed from the dataset and dropped from the results, "
            f"{len(self.repaired)} with missing overlays audited again"
        )


def sha1_of(path: Path) -> str:
    """The SHA-1 of a file's bytes (what :func:`~saliencykit.audit.dataset.load_image` records)."""
    return file_digest(path, "sha1")


def _unchanged(item: Item, row: dict[str, Any], touched: list[tuple[str, int, int]]) -> bool:
    """Whether a finished row still describes ``item``'s file (cheap stat check first, then the hash)."""
    if item.status != row["status"] and not (item.status == "todo" and row["status"] == "done"):
        return False
    if (item.label, item.gt) != (row["label"], row["gt"]):
        return False
    if row["status"] != "done":
        return True  # skipped: not an image, by its name
    try:
        stat = os.stat(item.path)
    except OSError:
        return False  # gone or unreadable now: audit it again, it fails with the reason
    if (row["size"], row["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns):
        return True
    if (row["size"] is not None and row["size"] != stat.st_size) or not row["sha1"]:
        return False
    try:
        same = sha1_of(item.path) == row["sha1"]
    except OSError:
        return False
    if same:
        touched.append((row["key"], stat.st_size, stat.st_mtime_ns))
    return same


def _files(row: dict[str, Any]) -> list[str]:
    names = [m["file"] for m in row["maps"] or [] if m.get("file")]
    return names + [name for name in (row["raw"], row["original"]) if name]


def _delete(out: Path, names: Iterable[str]) -> None:
    root = out.resolve()
    for name in names:
        path = (out / name).resolve()
        if root in path.parents:  # only files inside the output folder
            path.unlink(missing_ok=True)


def reconcile(store: AuditStore, dataset: Dataset, out: Path) -> tuple[list[Item], Resume]:
    """The items still to audit, after dropping the rows (and files) of changed and removed files."""
    items = {item.key: item for item in dataset.items}
    resume = Resume()
    finished: set[str] = set()
    touched: list[tuple[str, int, int]] = []
    drop: set[str] = set()
    kept_files: set[str] = set()
    for row in store.rows():
        key = row["key"]
        item = items.get(key)
        if item is None:
            resume.removed.append(key)
            drop.update(_files(row))
        elif row["status"] in ("done", "skipped") and _unchanged(item, row, touched):
            if all((out / name).is_file() for name in _files(row)):
                finished.add(key)
                kept_files.update(_files(row))
            else:  # its overlays were deleted by hand: the report would show broken pictures
                resume.repaired.append(key)
                drop.update(_files(row))
        elif row["status"] in ("done", "skipped"):
            resume.changed.append(key)
            drop.update(_files(row))
        else:  # failed: retried anyway; its row is replaced
            kept_files.update(_files(row))
    resume.kept = len(finished)
    _delete(out, drop - kept_files)  # files first: a run killed here finds the same rows to drop again
    store.remove([*resume.removed, *resume.changed, *resume.repaired])
    if touched:
        store.set_stat(touched)
    if resume.changed or resume.removed or resume.repaired or finished:
        log.info("saliencykit: resuming %s: %s", out, resume.describe())
    return [item for item in dataset.items if item.key not in finished], resume
