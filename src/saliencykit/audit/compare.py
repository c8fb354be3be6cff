"""Comparing two audits of the same data: which images changed case, changed top-1, or whose map moved.

Two audit folders (another model version, other preprocessing, a fine-tuned checkpoint, or the same model on a
re-exported copy of the data) are paired image by image on the item key (the path relative to the dataset root).
Per pair:

- **data changed**: the two files' SHA-1 differ, so the runs did not see the same picture (flagged, still compared);
- **status changed**: audited in one run, failed or skipped in the other;
- **case changed** / **top-1 changed**: the audit case, the predicted class (compared by class index);
- **map moved**: the two top-1 maps (the stores' 32 x 32 ``map32``, :mod:`saliencykit.audit.smallmap`) compared by
  their Pearson correlation (the *similarity*, 1 = the same shape) and by the distance between their peaks as a
  fraction of the image side (the map is in the image frame, so 0.5 is half the picture away). The map moved when
  the similarity is below :data:`MIN_SIMILARITY` (0.7) or the peak shifted by more than :data:`MAX_PEAK_SHIFT`
  (0.25). A peak is the centre of the cells within 2 % of the map's maximum, so the plateau of a coarse map
  (7 x 7 feature maps upsampled) has one stable peak instead of its first cell. A horizontally flipped photo with
  its subject off-centre scores about 0 or below; the same photo audited twice by the same model scores 1.
  Stores written before ``map32`` existed have no small maps: those pairs get an empty similarity and a note.

Both runs are read through read-only SQLite connections: comparing never changes (or upgrades) a run's store, and
a run still being written can be compared. Outputs (:func:`write_comparison`): ``compare.json`` (the summary and
one entry per image), ``compare.csv`` and ``compare.html``, an offline page showing the two runs' overlays side
by side, with filters, sorted by similarity ascending (pairs without a similarity last).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from .. import files
from ..errors import OptionError, SaliencyKitError
from . import smallmap
from .outputs import report_source
from .store import STORE_NAME, _flat

#: a similarity (Pearson correlation of the two 32 x 32 top-1 maps) below this means the map moved
MIN_SIMILARITY = 0.7
#: a peak shift (fraction of the image side) above this means the map moved
MAX_PEAK_SHIFT = 0.25
#: cells within this fraction of the map's range below its maximum make up its peak
PEAK_PLATEAU = 0.02

#: the page embeds every changed pair but at most this many unchanged ones (the least similar): a 100 000-image
#: comparison stays a page a browser opens; ``compare.json`` and ``compare.csv`` list every pair
PAGE_UNCHANGED = 2000

#: the columns read from each store; a column an older store lacks reads as NULL
_READ = ("key", "path", "gt_label", "pred", "pred_label", "pred_score", "case_name", "maps", "original", "sha1")
_READ_TAIL = ("map32", "status", "error")
#: what makes a pair "changed", in the order the report lists them
FLAGS = ("data_changed", "status_changed", "case_changed", "top1_changed", "map_moved")
CSV_COLUMNS = (
    "key",
    "changed",
    *FLAGS,
    "similarity",
    "peak_shift",
    "status_a",
    "status_b",
    "case_a",
    "case_b",
    "top1_a",
    "score_a",
    "top1_b",
    "score_b",
    "gt",
    "note",
    "overlay_a",
    "overlay_b",
)


class CompareError(SaliencyKitError):
    """Two audit folders cannot be compared (not audit folders, the same folder, no image in common, ...)."""


@dataclass
class Comparison:
    """The result of :func:`compare_runs`: the summary and one entry per image of either run.

    ``images`` holds the paired images, sorted by similarity ascending (pairs without one last), then the
    images only in run A and only in run B.
    """

    summary: dict[str, Any]
    images: list[dict[str, Any]]

    @property
    def changed(self) -> list[str]:
        """Keys of the paired images with any change (data, status, case, top-1, map)."""
        return [row["key"] for row in self.images if row.get("changed")]


# -- checking the places --------------------------------------------------------------------------------------------
def check_runs(run_a: str | Path, run_b: str | Path, out: str | Path | None = None) -> tuple[Path, Path]:
    """Refuse what cannot be compared: a run that is not an audit folder, the same folder twice, an output folder
    equal to or inside either run (the comparison would be mixed into a run's own files).

    Returns the two folders; raises :class:`CompareError` naming the folder and what to do.
    """
    folders = []
    for name, run in (("RUN_A", run_a), ("RUN_B", run_b)):
        folder = Path(run)
        if not folder.exists():
            raise CompareError(f"{name} {folder}: no such folder. Give the --out folder of a `saliencykit audit` run.")
        if not folder.is_dir():
            raise CompareError(f"{name} {folder} is a file: give the --out folder of a `saliencykit audit` run.")
        if not (folder / STORE_NAME).is_file():
            raise CompareError(
                f"{name} {folder} is not an audit folder (it holds no {STORE_NAME}): give the --out folder of a "
                "`saliencykit audit` run."
            )
        folders.append(folder)
    a, b = folders
    if a.resolve() == b.resolve():
        raise CompareError(f"RUN_A and RUN_B are the same folder ({a}): give two audits of the same data to compare.")
    if out is not None:
        target = Path(out)
        if target.exists() and not target.is_dir():
            raise CompareError(f"--out {target} is a file: give a folder for compare.html (it is created if missing).")
        o = target.resolve()
        for name, folder in (("RUN_A", a), ("RUN_B", b)):
            r = folder.resolve()
            if o == r or r in o.parents:
                where = "is" if o == r else "is inside"
                raise CompareError(
                    f"--out {target} {where} {name} {folder}: the comparison would be mixed into that audit's own "
                    "files. Choose an output folder outside both runs."
                )
    return a, b


def check_thresholds(min_similarity: float, max_peak_shift: float) -> None:
    """Refuse thresholds outside the range of the values they are compared with."""
    if not (isinstance(min_similarity, (int, float)) and -1.0 <= min_similarity <= 1.0):
        raise OptionError(
            f"--min-similarity {min_similarity!r}: a correlation threshold must lie in [-1, 1] "
            f"(default {MIN_SIMILARITY})."
        )
    if not (isinstance(max_peak_shift, (int, float)) and 0.0 <= max_peak_shift <= math.sqrt(2)):
        raise OptionError(
            f"--max-peak-shift {max_peak_shift!r}: a fraction of the image side must lie in [0, 1.41] "
            f"(default {MAX_PEAK_SHIFT})."
        )


# -- reading a run --------------------------------------------------------------------------------------------------
class _Run:
    """One audit folder's store opened read-only: its settings and its rows in key order."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name, self.folder = name, folder
        self.path = folder / STORE_NAME
        try:
            self.db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        except sqlite3.DatabaseError as exc:
            raise CompareError(f"{name} {folder}: cannot open {STORE_NAME} ({exc}).") from None
        try:
            have = {row[1] for row in self.db.execute("PRAGMA table_info(images)")}
            meta = dict(self.db.execute("SELECT key, value FROM meta").fetchall()) if have else {}
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise CompareError(
                f"{name} {folder}: cannot read {STORE_NAME} ({exc}). Is it a saliencykit audit store?"
            ) from None
        if "key" not in have:
            self.db.close()
            raise CompareError(f"{name} {folder}: {STORE_NAME} is not a saliencykit audit store (no images table).")
        self.columns = have
        self.settings: dict[str, Any] = _json(meta.get("settings")) or {}
        self.summary: dict[str, Any] = _json(_read_text(folder / "summary.json")) or {}

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every row (the columns of :data:`_READ`; missing ones as None), ordered by key, streamed."""
        wanted = (*_READ, *_READ_TAIL)
        select = ", ".join(c if c in self.columns else f"NULL AS {c}" for c in wanted)
        try:
            for values in self.db.execute(f"SELECT {select} FROM images ORDER BY key"):
                row = dict(zip(wanted, values))
                row["maps"] = json.loads(row["maps"]) if row["maps"] else []
                yield row
        except (sqlite3.DatabaseError, json.JSONDecodeError) as exc:
            raise CompareError(f"{self.name} {self.folder}: {STORE_NAME} is damaged ({exc}).") from None

    def describe(self) -> dict[str, Any]:
        """What the report shows of a run: its folder, model, method, data and when it was written."""
        return {
            "folder": str(self.folder),
            "model": self.summary.get("model") or self.settings.get("model"),
            "method": self.summary.get("method"),
            "data": self.summary.get("data") or self.settings.get("data"),
            "written": self.summary.get("written"),
            "has_small_maps": "map32" in self.columns,
        }

    def close(self) -> None:
        self.db.close()


def _json(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError:
        return None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _pairs(a: _Run, b: _Run) -> Iterator[tuple[dict[str, Any] | None, dict[str, Any] | None]]:
    """Rows of both runs merged on the key (both are in key order: SQLite's byte order of UTF-8 text is the
    code-point order Python compares by), so two 100 000-image stores are paired without loading either."""
    rows_a, rows_b = a.rows(), b.rows()
    ra, rb = next(rows_a, None), next(rows_b, None)
    while ra is not None or rb is not None:
        if rb is None or (ra is not None and ra["key"] < rb["key"]):
            yield ra, None
            ra = next(rows_a, None)
        elif ra is None or rb["key"] < ra["key"]:
            yield None, rb
            rb = next(rows_b, None)
        else:
            yield ra, rb
            ra, rb = next(rows_a, None), next(rows_b, None)


# -- comparing two maps ---------------------------------------------------------------------------------------------
def _peak(m: np.ndarray) -> np.ndarray | None:
    """The centre (row, column, as fractions of the side) of the cells within :data:`PEAK_PLATEAU` of the
    maximum; None for a flat map (no peak)."""
    top, bottom = float(m.max()), float(m.min())
    if top - bottom <= 0:
        return None
    ys, xs = np.nonzero(m >= top - PEAK_PLATEAU * (top - bottom))
    return np.array([ys.mean() + 0.5, xs.mean() + 0.5]) / np.array(m.shape, dtype=np.float64)


def map_similarity(a: np.ndarray, b: np.ndarray) -> tuple[float, float | None]:
    """The Pearson correlation of two maps of one shape and the distance between their peaks (fraction of the side).

    Two flat maps are alike (1.0, shift 0.0); a flat map and a shaped one are not (0.0, no shift).

    >>> m = np.zeros((32, 32), np.float32); m[4:8, 2:6] = 1
    >>> map_similarity(m, m)
    (1.0, 0.0)
    >>> sim, shift = map_similarity(m, m[:, ::-1]); round(sim, 2), round(shift, 2)
    (-0.02, 0.75)
    """
    x = np.nan_to_num(np.asarray(a, np.float64)).ravel()
    y = np.nan_to_num(np.asarray(b, np.float64)).ravel()
    if x.shape != y.shape:
        raise SaliencyKitError(f"maps of shapes {np.shape(a)} and {np.shape(b)}: compare maps of one shape.")
    x, y = x - x.mean(), y - y.mean()
    nx, ny = float(np.sqrt(x @ x)), float(np.sqrt(y @ y))
    if nx == 0 or ny == 0:
        return (1.0, 0.0) if nx == ny else (0.0, None)
    similarity = round(float(np.clip(x @ y / (nx * ny), -1.0, 1.0)), 6)  # 1.0, not 0.9999999999999999
    pa, pb = _peak(np.asarray(a, np.float64)), _peak(np.asarray(b, np.float64))
    shift = None if pa is None or pb is None else round(float(np.hypot(*(pa - pb))), 6)
    return similarity, shift


# -- comparing two runs ---------------------------------------------------------------------------------------------
def _url(path: str) -> str:
    return quote(path, safe="/:")


def _overlay(row: Mapping[str, Any], folder: Path, out: Path) -> str | None:
    """The relative URL from ``out`` to the overlay of the row's top-1 map (the first map when none is top-1)."""
    maps = row.get("maps") or []
    chosen = next((m for m in maps if m.get("class") == row.get("pred")), maps[0] if maps else None)
    return _url(report_source(folder / chosen["file"], out)) if chosen and chosen.get("file") else None


def _photo(row: Mapping[str, Any], folder: Path, out: Path) -> str | None:
    if row.get("original"):
        return _url(report_source(folder / row["original"], out))
    return _url(report_source(Path(row["path"]), out)) if row.get("path") else None


def _pair(
    ra: Mapping[str, Any],
    rb: Mapping[str, Any],
    folders: tuple[Path, Path],
    out: Path,
    min_similarity: float,
    max_peak_shift: float,
) -> dict[str, Any]:
    done = ra["status"] == "done" and rb["status"] == "done"
    notes = []
    sha1_same = None if not (ra["sha1"] and rb["sha1"]) else ra["sha1"] == rb["sha1"]
    if sha1_same is False:
        notes.append("the two runs read different files (SHA-1 differs)")
    for name, row in (("A", ra), ("B", rb)):
        if row["status"] != "done":
            notes.append(f"{row['status']} in run {name}" + (f": {row['error']}" if row["error"] else ""))
    similarity = shift = None
    if done:
        if ra["map32"] is None or rb["map32"] is None:
            missing = " and ".join(n for n, r in (("A", ra), ("B", rb)) if r["map32"] is None)
            notes.append(f"no small map in run {missing} (audited before saliencykit kept map32): no similarity")
        else:
            try:
                similarity, shift = map_similarity(smallmap.decode(ra["map32"]), smallmap.decode(rb["map32"]))
            except SaliencyKitError as exc:  # a damaged value: this pair has no similarity, the others do
                notes.append(f"unreadable small map ({exc}): no similarity")
    top1_a = ra["pred"] if ra["pred"] is not None else ra["pred_label"]
    top1_b = rb["pred"] if rb["pred"] is not None else rb["pred_label"]
    flags = {
        "data_changed": sha1_same is False,
        "status_changed": ra["status"] != rb["status"],
        "case_changed": done and ra["case_name"] != rb["case_name"],
        "top1_changed": done and top1_a != top1_b,
        "map_moved": None
        if similarity is None
        else bool(similarity < min_similarity or (shift is not None and shift > max_peak_shift)),
    }
    return {
        "key": ra["key"],
        "changed": any(bool(v) for v in flags.values()),
        **flags,
        "similarity": similarity,
        "peak_shift": shift,
        "status_a": ra["status"],
        "status_b": rb["status"],
        "case_a": ra["case_name"],
        "case_b": rb["case_name"],
        "top1_a": ra["pred_label"],
        "score_a": ra["pred_score"],
        "top1_b": rb["pred_label"],
        "score_b": rb["pred_score"],
        "gt": ra["gt_label"] if ra["gt_label"] is not None else rb["gt_label"],
        "sha1_same": sha1_same,
        "note": "; ".join(notes),
        "photo_a": _photo(ra, folders[0], out),
        "photo_b": _photo(rb, folders[1], out) if sha1_same is False else None,
        "overlay_a": _overlay(ra, folders[0], out),
        "overlay_b": _overlay(rb, folders[1], out),
    }


def _alone(row: Mapping[str, Any], side: str) -> dict[str, Any]:
    return {"key": row["key"], "only_in": side, "status": row["status"], "case": row["case_name"]}


def compare_runs(
    run_a: str | Path,
    run_b: str | Path,
    out: str | Path = ".",
    *,
    min_similarity: float = MIN_SIMILARITY,
    max_peak_shift: float = MAX_PEAK_SHIFT,
) -> Comparison:
    """Pair the images of two audit folders by key and compare each pair (see the module docstring).

    ``out`` is where the comparison will be written: the overlays' paths are made relative to it. Raises
    :class:`CompareError` when the runs cannot be compared (including when they share no image).

    >>> comparison = compare_runs("audit-v1/", "audit-v2/", "v1-vs-v2/")  # doctest: +SKIP
    >>> comparison.summary["changed"], comparison.changed[:3]  # doctest: +SKIP
    """
    check_thresholds(min_similarity, max_peak_shift)
    folder_a, folder_b = check_runs(run_a, run_b, out)
    target = Path(out)
    a = _Run("RUN_A", folder_a)
    try:
        b = _Run("RUN_B", folder_b)
        try:
            paired, only_a, only_b = [], [], []
            for ra, rb in _pairs(a, b):
                if ra is None:
                    only_b.append(_alone(rb, "B"))  # type: ignore[arg-type]
                elif rb is None:
                    only_a.append(_alone(ra, "A"))
                else:
                    paired.append(_pair(ra, rb, (folder_a, folder_b), target, min_similarity, max_peak_shift))
            runs = {"a": a.describe(), "b": b.describe()}
            settings = (a.settings, b.settings)
        finally:
            b.close()
    finally:
        a.close()
    if not paired:
        raise CompareError(
            f"RUN_A {folder_a} ({len(only_a)} image(s)) and RUN_B {folder_b} ({len(only_b)} image(s)) have no image "
            "in common: were they audits of different data? Images are paired by their path inside the dataset."
        )
    paired.sort(
        key=lambda r: (r["similarity"] is None, r["similarity"] if r["similarity"] is not None else 0, r["key"])
    )
    summary = _summary(runs, settings, paired, only_a, only_b, min_similarity, max_peak_shift)
    return Comparison(summary, [*paired, *only_a, *only_b])


def _summary(
    runs: dict[str, Any],
    settings: tuple[dict[str, Any], dict[str, Any]],
    paired: list[dict[str, Any]],
    only_a: list[dict[str, Any]],
    only_b: list[dict[str, Any]],
    min_similarity: float,
    max_peak_shift: float,
) -> dict[str, Any]:
    before, after = _flat(settings[0]), _flat(settings[1])
    differences = [
        {"setting": key, "a": _text(before.get(key)), "b": _text(after.get(key))}
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key) and key not in ("data", "fresh", "workers", "batch_size", "executor")
    ]
    similarities = [r["similarity"] for r in paired if r["similarity"] is not None]
    transitions = Counter(
        (r["case_a"], r["case_b"]) for r in paired if r["case_changed"] and r["case_a"] and r["case_b"]
    )
    notes = []
    for side, name in (("a", "A"), ("b", "B")):
        if not runs[side]["has_small_maps"]:
            notes.append(
                f"Run {name} was written by a saliencykit that did not keep small maps (map32): map similarity is "
                f"not computed. Audit {runs[side]['folder']} again with --fresh to compare maps."
            )
    missing = sum(1 for r in paired if r["similarity"] is None and r["status_a"] == r["status_b"] == "done")
    if missing and all(runs[s]["has_small_maps"] for s in ("a", "b")):
        notes.append(f"{missing} paired image(s) have no small map in one of the runs: their similarity is empty.")
    if only_a or only_b:
        notes.append(
            f"{len(only_a)} image(s) are only in run A and {len(only_b)} only in run B: they are listed, not compared."
        )
    return {
        "saliencykit": _version(),
        "written": time.strftime("%Y-%m-%d %H:%M:%S"),
        "runs": runs,
        "setting_differences": differences,
        "thresholds": {"min_similarity": min_similarity, "max_peak_shift": max_peak_shift},
        "paired": len(paired),
        "only_a": len(only_a),
        "only_b": len(only_b),
        "changed": sum(r["changed"] for r in paired),
        **{flag: sum(bool(r[flag]) for r in paired) for flag in FLAGS},
        "without_similarity": len(paired) - len(similarities),
        "similarity": {
            "mean": float(np.mean(similarities)) if similarities else None,
            "median": float(np.median(similarities)) if similarities else None,
            "min": min(similarities) if similarities else None,
        },
        "case_transitions": [{"a": x, "b": y, "count": n} for (x, y), n in transitions.most_common()],
        "only_in_a": [r["key"] for r in only_a],
        "only_in_b": [r["key"] for r in only_b],
        "notes": notes,
    }


def _text(value: Any, limit: int = 400) -> str:
    """A setting's value as text, long enough to show where two descriptions differ."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _version() -> str:
    from .. import __version__

    return __version__


# -- writing --------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _template() -> tuple[Any, str, str, str]:
    """The compiled page template, its script and style, and the script's CSP hash (read and compiled once)."""
    from jinja2 import Environment

    folder = resources.files("saliencykit").joinpath("templates")
    script = folder.joinpath("compare.js").read_text(encoding="utf-8")
    style = folder.joinpath("compare.css").read_text(encoding="utf-8")
    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(folder.joinpath("compare.html.j2").read_text(encoding="utf-8"))
    script_hash = "sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return template, script, style, script_hash


def render_page(comparison: Comparison) -> str:
    """The HTML of ``compare.html``: every text escaped, only its own script allowed to run (CSP hash)."""
    template, script, style, script_hash = _template()
    paired = [r for r in comparison.images if "only_in" not in r]
    shown, unchanged = [], 0
    for row in paired:  # least similar first: the unchanged pairs kept are the ones nearest to a change
        unchanged += not row["changed"]
        if row["changed"] or unchanged <= PAGE_UNCHANGED:
            shown.append(row)
    return template.render(
        s=comparison.summary,
        images=shown,
        left_out=len(paired) - len(shown),
        script=script,
        style=style,
        script_hash=script_hash,
    )


def write_comparison(comparison: Comparison, out: str | Path) -> dict[str, Path]:
    """Write ``compare.json``, ``compare.csv`` and ``compare.html`` into ``out`` (atomically); return their paths."""
    folder = Path(out)
    paths = {name: folder / f"compare.{name}" for name in ("json", "csv", "html")}
    payload = {"summary": comparison.summary, "images": comparison.images}
    files.atomic_write_bytes(paths["json"], json.dumps(payload, indent=1, default=str).encode("utf-8"))
    rows = [r for r in comparison.images if "only_in" not in r]
    files.write_csv(paths["csv"], [CSV_COLUMNS, *([_cell(r.get(c)) for c in CSV_COLUMNS] for r in rows)])
    files.atomic_write_bytes(paths["html"], render_page(comparison).encode("utf-8"))
    return paths


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value, 4)
    return value


def compare(
    run_a: str | Path,
    run_b: str | Path,
    out: str | Path,
    *,
    min_similarity: float = MIN_SIMILARITY,
    max_peak_shift: float = MAX_PEAK_SHIFT,
) -> Comparison:
    """Compare two audit folders of the same data and write the comparison into ``out`` (see the module docstring).

    Nothing is written when the runs cannot be compared (:class:`CompareError`).

    >>> comparison = compare("audit-v1/", "audit-v2/", "v1-vs-v2/")  # doctest: +SKIP
    >>> comparison.summary["top1_changed"], "v1-vs-v2/compare.html"  # doctest: +SKIP
    """
    comparison = compare_runs(run_a, run_b, out, min_similarity=min_similarity, max_peak_shift=max_peak_shift)
    try:
        write_comparison(comparison, out)
    except OSError as exc:
        raise CompareError(f"--out {out}: cannot write the comparison ({exc.strerror or exc}).") from None
    return comparison


__all__ = [
    "FLAGS",
    "MAX_PEAK_SHIFT",
    "MIN_SIMILARITY",
    "CompareError",
    "Comparison",
    "check_runs",
    "compare",
    "compare_runs",
    "map_similarity",
    "write_comparison",
]


#: the comparison under the name :mod:`saliencykit.audit` exports (``compare`` is this module's name there)
compare_audits = compare
