"""What each predicted class looks at: the mean top-1 map of its images and of its mistakes, and shared peaks.

Run when the audit's outputs are exported, from the 32 x 32 maps in the run store (:mod:`saliencykit.audit.smallmap`):

- per *predicted* class (the top-1 map is the map of the predicted class, so the maps of one class describe one
  decision), the mean map over every image predicted as it and over its mistakes (images labelled otherwise),
  aligned to the image frame. A watermark, a border or a caption the class leans on adds up to a bright spot in
  one picture: ``OUT/classes/<class>_mean.png`` and ``<class>_mistakes.png``, 128 x 128 heat maps;
- per image, ``peak_shared``: the share of the other images of its predicted class whose map peaks within 0.1
  of the frame of its own peak; with it the ``shared_peak`` reason (:func:`saliencykit.audit.focus.reasons`).
  The store's ``focus`` and ``suspicious`` columns are updated.

Memory and time grow with the number of classes, not of images: one running sum per class, and the peaks counted
on a 101 x 101 grid (so an image's share costs the same in a class of ten images or of ten thousand).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from .. import visualize
from ..files import label_stems, write_image
from . import smallmap
from .cases import Thresholds
from .focus import CENTRE, NEAR, border_mask, energy, peak_of, reasons
from .store import AuditStore

FOLDER = "classes"
SIZE = 128
_Q = 100  # peaks counted on a (Q + 1) x (Q + 1) grid over the frame


@dataclass
class _Class:
    label: str
    total: np.ndarray = field(default_factory=lambda: np.zeros((smallmap.SIDE, smallmap.SIDE), np.float64))
    wrong: np.ndarray = field(default_factory=lambda: np.zeros((smallmap.SIDE, smallmap.SIDE), np.float64))
    images: int = 0
    mistakes: int = 0
    keys: list[str] = field(default_factory=list)
    peaks: list[list[float]] = field(default_factory=list)


def thresholds_of(settings: Mapping[str, Any] | None) -> Thresholds:
    """The run's thresholds from its settings (defaults for what an older store did not record)."""
    given = dict((settings or {}).get("thresholds") or {})
    known = {f.name for f in fields(Thresholds)}
    return Thresholds(**{k: v for k, v in given.items() if k in known})


def shared_counts(peaks: np.ndarray, radius: float = NEAR) -> np.ndarray:
    """For each peak ``[x, y]`` (fractions), how many peaks (itself included) lie within ``radius`` of it.

    >>> shared_counts(np.array([[0.1, 0.1], [0.15, 0.1], [0.9, 0.9]])).tolist()
    [2, 2, 1]
    """
    import cv2

    cells = np.clip(np.rint(np.asarray(peaks, np.float64) * _Q), 0, _Q).astype(np.int64)
    hist = np.zeros((_Q + 1, _Q + 1), np.float32)
    np.add.at(hist, (cells[:, 1], cells[:, 0]), 1.0)
    r = int(round(radius * _Q))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    disc = ((xx**2 + yy**2) <= r * r).astype(np.float32)
    near = cv2.filter2D(hist, -1, disc, borderType=cv2.BORDER_CONSTANT)
    return np.rint(near[cells[:, 1], cells[:, 0]]).astype(np.int64)


def _picture(mean: np.ndarray, colormap: str) -> np.ndarray:
    return visualize.colorize(visualize.normalize(visualize.resize(mean, (SIZE, SIZE))), colormap)


def update(store: AuditStore, out: Path, settings: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Compute shared peaks (updating the store) and write the class maps; returns ``summary["class_maps"]``.

    Entries: ``{"class", "label", "images", "mistakes", "mean_map", "mistakes_map", "peak", "border_mass",
    "peak_shared"}`` (maps relative to ``out``; ``peak_shared``: the share of the class's images that peak within
    0.1 of the mean map's peak), most suspicious first: the most mass on the border plus the most images sharing
    an off-centre peak.
    """
    thresholds = thresholds_of(settings)
    colormap = str(((settings or {}).get("output") or {}).get("colormap") or "jet")
    classes: dict[int, _Class] = {}
    focus_of: dict[str, dict[str, Any]] = {}
    for row in store.focus_rows():
        if row["map32"] is None or row["focus"] is None or row["pred"] is None:
            continue  # audited by a version without focus statistics: audited again on --fresh
        entry = classes.setdefault(row["pred"], _Class(row["pred_label"] or str(row["pred"])))
        small = np.clip(smallmap.decode(row["map32"]), 0.0, None)
        entry.total += small
        entry.images += 1
        if row["gt"] is not None and row["gt"] != row["pred"]:
            entry.wrong += small
            entry.mistakes += 1
        entry.keys.append(row["key"])
        entry.peaks.append(row["focus"]["peak"])
        focus_of[row["key"]] = row["focus"]
    updates = []
    for entry in classes.values():
        counts = shared_counts(np.asarray(entry.peaks)) if entry.images > 1 else np.ones(1, np.int64)
        for key, count in zip(entry.keys, counts):
            focus = dict(focus_of[key])
            focus["peak_shared"] = round(float(count - 1) / (entry.images - 1), 4) if entry.images > 1 else None
            updates.append((key, focus, reasons(focus, thresholds, entry.images)))
    store.set_focus(updates)
    return _write_maps(classes, out, colormap)


def _write_maps(classes: dict[int, _Class], out: Path, colormap: str) -> list[dict[str, Any]]:
    folder = out / FOLDER
    if not classes:
        return []
    top = max(classes)
    stems = label_stems([classes[c].label if c in classes else str(c) for c in range(top + 1)])
    written = set()
    entries: list[dict[str, Any]] = []
    scores: dict[int, float] = {}
    for cls, entry in classes.items():
        mean = entry.total / entry.images
        mean_file = f"{FOLDER}/{stems[cls]}_mean.png"
        write_image(out / mean_file, _picture(mean, colormap))
        written.add(mean_file)
        mistakes_file = None
        if entry.mistakes:
            mistakes_file = f"{FOLDER}/{stems[cls]}_mistakes.png"
            write_image(out / mistakes_file, _picture(entry.wrong / entry.mistakes, colormap))
            written.add(mistakes_file)
        cells = energy(mean, smallmap.SIDE)
        peak = peak_of(mean)
        border = float(cells[border_mask(smallmap.SIDE)].sum()) if cells is not None else 0.0
        near = np.hypot(*(np.asarray(entry.peaks) - np.asarray(peak)).T) <= NEAR
        shared = float(near.mean())
        off_centre = abs(peak[0] - 0.5) > CENTRE or abs(peak[1] - 0.5) > CENTRE
        entries.append(
            {
                "class": int(cls),
                "label": entry.label,
                "images": entry.images,
                "mistakes": entry.mistakes,
                "mean_map": mean_file,
                "mistakes_map": mistakes_file,
                "peak": peak,
                "border_mass": round(border, 6),
                "peak_shared": round(shared, 4),
            }
        )
        scores[int(cls)] = border + (shared if off_centre and entry.images > 1 else 0.0)
    for stale in folder.glob("*.png"):  # classes no longer predicted (the dataset or the model changed)
        if f"{FOLDER}/{stale.name}" not in written:
            stale.unlink(missing_ok=True)
    entries.sort(key=lambda e: (-scores[e["class"]], e["label"]))
    return entries
