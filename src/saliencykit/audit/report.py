"""The audit's outputs for people and tools: ``summary.json``, ``results.csv`` and the static ``report.html``.

Everything is computed from the run store, so a resumed or interrupted run reports exactly what it holds. The
report is an HTML page rendered from the ``report.html.j2`` template with its CSS and JavaScript inline; it
refers to the overlays and photos by relative paths, so it works offline, opened from disk. Up to
:data:`CHUNK_ROWS` images it is that one file; a larger audit's page carries only the rows of its first view and
loads the others from ``report_files/rows-*.js`` (plain ``<script src>``, which file:// pages may load where
``fetch`` is blocked), so 100 000 images open as fast as 1 000. Every label and
file name is escaped (Jinja autoescaping in HTML, ``tojson`` for the data the page's script reads, and the
script only ever sets text, never HTML).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .. import files
from ..files import atomic_write_bytes
from . import classmaps
from .annotations import relative_boxes
from .cases import CASES
from .outputs import report_source
from .store import ITEM_COLUMNS, AuditStore

#: rows per chunk file of a large report (and the most a report carries inline, in one self-contained file)
CHUNK_ROWS = 4000
#: cards per case before "show more" (the page's grid page; ``report.js`` reads it from the page)
PAGE_ROWS = 48
#: the folder beside ``report.html`` that holds the chunk files
CHUNK_FOLDER = "report_files"
#: entries of the "suspicious focus" list drawn in the page (all of them are in ``summary.json``)
SUSPICIOUS_SHOWN = 200

CSV_COLUMNS = (
    *ITEM_COLUMNS,
    "case",
    "status",
    "error",
    "overlays",
    "raw",
    "sha1",
)


#: the characters ``quote(path, safe="/:")`` leaves as they are: most paths need no quoting at all
_PLAIN = re.compile(r"[A-Za-z0-9_.~/:-]*").fullmatch


def _url(path: str) -> str:
    return path if _PLAIN(path) else quote(path, safe="/:")


def summarize(
    store: AuditStore,
    out: Path,
    explainer_description: str = "",
    settings: Mapping[str, Any] | None = None,
    interrupted: bool = False,
    resume: Mapping[str, int] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The summary (``summary.json``) and the per-image data of the report, in one pass over the store (after
    the class maps' pass, which writes ``classes/*.png`` and completes the shared peaks)."""
    class_maps = classmaps.update(store, out, settings)
    suspicious: list[dict[str, Any]] = []
    with_objects = 0
    cases: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    confusions: Counter[tuple[str, str]] = Counter()
    per_class: dict[int, dict[str, Any]] = {}
    metric_sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    by_hash: dict[str, list[tuple[str, str | None, int | None]]] = defaultdict(list)
    failed, skipped, images = [], [], []
    labelled = correct = in_top_k = 0
    for row in store.rows():
        statuses[row["status"]] += 1
        if row["sha1"]:
            by_hash[row["sha1"]].append((row["key"], row["label"], row["gt"]))
        if row["status"] == "failed":
            failed.append({"key": row["key"], "label": row["label"], "error": row["error"] or ""})
            continue
        if row["status"] == "skipped":
            skipped.append({"key": row["key"], "reason": row["error"] or ""})
            continue
        cases[row["case_name"]] += 1
        for name, value in (row["metrics"] or {}).items():
            if isinstance(value, (int, float)):
                metric_sums[row["case_name"]][name].append(float(value))
        gt = row["gt"]
        if gt is not None:
            labelled += 1
            hit = row["pred"] == gt
            correct += hit
            in_top_k += any(c == gt for c, _ in row["topk"] or [])
            entry = per_class.setdefault(
                gt, {"class": gt, "label": row["gt_label"], "images": 0, "correct": 0, "score": 0.0, "wrong": Counter()}
            )
            entry["images"] += 1
            entry["correct"] += hit
            entry["score"] += row["gt_score"] or 0.0
            if not hit:
                confusions[(row["gt_label"], row["pred_label"])] += 1
                entry["wrong"][row["pred_label"]] += 1
        images.append(_image_entry(row, out))
        with_objects += row["objects"] is not None
        if row["suspicious"]:
            focus = row["focus"] or {}
            suspicious.append(
                {
                    "key": row["key"],
                    "case": row["case_name"],
                    "label": row["pred_label"],
                    "reasons": row["suspicious"],
                    "border_mass": focus.get("border_mass"),
                    "object_energy": focus.get("object_energy"),
                }
            )
    classes = []
    for entry in sorted(per_class.values(), key=lambda e: (e["correct"] / e["images"], e["label"] or "")):
        wrong = entry.pop("wrong")
        n = entry["images"]
        entry["accuracy"] = entry["correct"] / n
        entry["mean_gt_score"] = entry.pop("score") / n
        entry["top_confusion"] = wrong.most_common(1)[0][0] if wrong else None
        classes.append(entry)
    duplicates = []
    for digest, members in by_hash.items():
        if len(members) > 1:
            labels = sorted({str(label) for _, label, _ in members if label is not None})
            # a conflict is two classes, not two spellings: '285' and 'Egyptian cat' name one class
            distinct = {gt if gt is not None else f"label:{label}" for _, label, gt in members if label is not None}
            duplicates.append(
                {"sha1": digest, "keys": [k for k, _, _ in members], "labels": labels, "conflict": len(distinct) > 1}
            )
    settings = dict(settings or {})
    summary = {
        "saliencykit": _version(),
        "written": time.strftime("%Y-%m-%d %H:%M:%S"),
        "interrupted": interrupted,
        "resume": dict(resume or {"kept": 0, "changed": 0, "removed": 0, "repaired": 0}),
        "model": settings.get("model"),
        "method": explainer_description,
        "data": settings.get("data"),
        "thresholds": settings.get("thresholds"),
        "settings": settings,
        "totals": {
            "items": sum(statuses.values()),
            "done": statuses["done"],
            "failed": statuses["failed"],
            "skipped": statuses["skipped"],
            "labelled": labelled,
            "correct": correct,
            "top1_accuracy": correct / labelled if labelled else None,
            "topk_accuracy": in_top_k / labelled if labelled else None,
            "top_k": settings.get("top_k"),
        },
        "cases": {case: cases[case] for case in CASES},
        "case_descriptions": dict(CASES),
        "metrics": {
            case: {name: sum(v) / len(v) for name, v in sorted(values.items())} for case, values in metric_sums.items()
        },
        "confusions": [{"gt": g, "pred": p, "count": n} for (g, p), n in confusions.most_common(20)],
        "per_class": classes,
        "failed": failed,
        "skipped": skipped,
        "duplicates": duplicates,
        "notes": [{"kind": k, "subject": s, "message": m} for k, s, m in store.notes()],
        "class_maps": class_maps,
        "suspicious": sorted(suspicious, key=_suspicion)[:MAX_SUSPICIOUS],
        "suspicious_total": len(suspicious),
        "annotations": {
            "source": (settings.get("annotations") or {}).get("source"),
            "images_with_objects": with_objects,
        },
    }
    return summary, images


#: summary.json lists at most this many suspicious images (the most suspicious; the report's rows hold all)
MAX_SUSPICIOUS = 1000


def _suspicion(entry: Mapping[str, Any]) -> tuple[float, float, float]:
    """Most reasons first, then the most mass on the border, then the least on the object."""
    energy = entry["object_energy"]
    return (-len(entry["reasons"]), -(entry["border_mass"] or 0.0), energy if energy is not None else 1.0)


def _image_entry(row: dict[str, Any], out: Path) -> dict[str, Any]:
    source = row["original"] or _source(row["path"], out)
    focus = row["focus"] or {}
    width, height = row["width"], row["height"]
    return {
        "k": row["key"],
        "c": row["case_name"],
        "g": row["gt_label"],
        "gs": row["gt_score"],
        "p": row["pred_label"],
        "ps": row["pred_score"],
        "src": _url(source),
        "m": [[m["label"], m["score"], _url(m["file"])] for m in row["maps"] or []],
        "oe": focus.get("object_energy"),
        "oh": focus.get("pointing_hit"),
        "bm": focus.get("border_mass"),
        "cc": focus.get("concentration"),
        "sp": focus.get("peak_shared"),
        "sus": row["suspicious"],
        "b": relative_boxes(row["objects"], width, height) if row["objects"] and width and height else None,
        "mt": row["metrics"],
    }


def _source(path: str, out: Path) -> str:
    """``report_source`` of a photo, resolving each folder once: a 100 000-image report does not stat every path
    component of every file twice (a symlinked file is still resolved on its own, to where it points)."""
    if os.path.islink(path):
        return report_source(Path(path), out)
    folder, name = os.path.split(path)
    base = _folder_source(folder, str(out))
    return name if base == "." else f"{base}/{name}"


@lru_cache(maxsize=4096)
def _folder_source(folder: str, out: str) -> str:
    return report_source(Path(folder), Path(out))


def _version() -> str:
    from .. import __version__

    return __version__


def write_csv(store: AuditStore, path: Path) -> None:
    """``results.csv``: one row per item, overlays separated by ';' (cells safe against formula injection)."""

    def rows():
        yield CSV_COLUMNS
        for row in store.rows():
            overlays = ";".join(m["file"] for m in row["maps"] or [])
            values = {**row, "case": row["case_name"], "overlays": overlays}
            yield ["" if values.get(c) is None else values[c] for c in CSV_COLUMNS]

    files.write_csv(path, rows())


@lru_cache(maxsize=1)
def _template() -> tuple[Any, str, str, str]:
    """The compiled page template, its script and style, and the script's CSP hash (read and compiled once)."""
    from jinja2 import Environment

    folder = resources.files("saliencykit").joinpath("templates")
    script = folder.joinpath("report.js").read_text(encoding="utf-8")
    style = folder.joinpath("report.css").read_text(encoding="utf-8")
    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["url"] = lambda path: _url(str(path)) if path else ""
    template = env.from_string(folder.joinpath("report.html.j2").read_text(encoding="utf-8"))
    script_hash = "sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return template, script, style, script_hash


def _default_order(entry: Mapping[str, Any]) -> tuple[float, str]:
    """The page's default sort (top-1 score, high first, then file name), as ``report.js`` sorts."""
    score = entry.get("ps")
    return (-(score if isinstance(score, (int, float)) else 0.0), str(entry.get("k")))


def split_rows(images: list[dict[str, Any]], chunk_rows: int = CHUNK_ROWS) -> tuple[list[dict[str, Any]], list[list]]:
    """The rows inlined in the page and the chunks loaded after it.

    Up to ``chunk_rows`` rows everything is inline (one self-contained file). Above, the page carries only each
    case's first grid page in the default order, so the first view is complete and final before any chunk
    arrives; the chunks hold the other rows in store order.
    """
    if len(images) <= chunk_rows:
        return images, []
    by_case: dict[str, list[int]] = defaultdict(list)
    for i, entry in enumerate(images):
        by_case[entry.get("c") or ""].append(i)
    first: set[int] = set()
    for members in by_case.values():
        first.update(sorted(members, key=lambda i: _default_order(images[i]))[:PAGE_ROWS])
    head = [images[i] for i in sorted(first)]
    rest = [entry for i, entry in enumerate(images) if i not in first]
    return head, [rest[i : i + chunk_rows] for i in range(0, len(rest), chunk_rows)]


def render_report(
    summary: Mapping[str, Any],
    images: list[dict[str, Any]],
    inline: list[dict[str, Any]] | None = None,
    chunk_files: Sequence[str] = (),
) -> str:
    """The HTML of the report page over all ``images``: ``inline`` (default: all) in the page, the rest in
    ``chunk_files`` (names inside ``report_files/``) that the page loads after its first view.

    The page's Content-Security-Policy allows only its own script (by hash) and the scripts that script adds
    (``'strict-dynamic'``: the chunk files, which are data in a function call): a label that escaped the
    escaping, or a ``<script src>`` smuggled into the markup, could not run code.
    """
    template, script, style, script_hash = _template()
    metric_names = sorted({name for values in summary["metrics"].values() for name in values})
    classes = sorted({e["g"] for e in images if e["g"]} | {e["p"] for e in images if e["p"]})
    cases = dict(summary["cases"])
    # a case this version does not know (a store written by another version) still gets its section and box
    cases.update(Counter(str(e["c"]) for e in images if e["c"] not in cases))
    config = {"files": [f"{CHUNK_FOLDER}/{name}" for name in chunk_files], "rows": len(images), "page": PAGE_ROWS}
    suspicious = list(summary.get("suspicious") or [])
    return template.render(
        s=summary,
        cases=cases,
        images=images if inline is None else inline,
        config=config,
        classes=classes,
        metric_names=metric_names,
        suspicious=suspicious[:SUSPICIOUS_SHOWN],
        suspicious_more=max(
            0, int(summary.get("suspicious_total") or len(suspicious)) - len(suspicious[:SUSPICIOUS_SHOWN])
        ),
        script=script,
        style=style,
        script_hash=script_hash,
    )


def _chunk_script(index: int, rows: list[dict[str, Any]]) -> bytes:
    """One chunk file: its rows as a JSON text in a string literal, handed to the page's loader (data, no code).

    A string for ``JSON.parse`` rather than an object literal: the browser parses JSON much faster than it
    compiles the same data as code.
    """
    body = json.dumps(rows, separators=(",", ":"), default=str)
    return f"saliencykitRows({index},{json.dumps(body)});\n".encode("ascii")


def write_page(
    out: Path, summary: Mapping[str, Any], images: list[dict[str, Any]], chunk_rows: int = CHUNK_ROWS
) -> Path:
    """Write ``report.html`` and, for a large audit, its row chunks in ``report_files/``; return the page's path.

    The chunks are written first and the page last (each atomically), so the page never names a chunk that is
    not there yet; chunk files of an earlier, larger report are deleted.
    """
    head, chunks = split_rows(images, chunk_rows)
    folder = out / CHUNK_FOLDER
    names = [f"rows-{i:05d}.js" for i in range(len(chunks))]
    if chunks:
        folder.mkdir(parents=True, exist_ok=True)
    for index, (name, rows) in enumerate(zip(names, chunks)):
        atomic_write_bytes(folder / name, _chunk_script(index, rows))
    page = out / "report.html"
    atomic_write_bytes(page, render_report(summary, images, head, names).encode("utf-8"))
    if folder.is_dir():
        for stale in [*folder.glob("rows-*.js"), *folder.glob(".rows-*")]:  # and what a killed export left
            if stale.name not in names:
                stale.unlink(missing_ok=True)
        if not any(folder.iterdir()):
            folder.rmdir()
    return page


def export(
    store: AuditStore,
    out: Path,
    explainer_description: str = "",
    settings: Mapping[str, Any] | None = None,
    interrupted: bool = False,
    write_report: bool = True,
    resume: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Write ``summary.json``, ``results.csv`` and (unless told not to) the report; return the summary.

    ``resume``: what this run found in the store (``{"kept", "changed", "removed"}`` counts).
    """
    _folder_source.cache_clear()  # folders may have moved since the last export in this process
    summary, images = summarize(store, out, explainer_description, settings, interrupted, resume)
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=2, default=str).encode("utf-8"))
    write_csv(store, out / "results.csv")
    if write_report:
        write_page(out, summary, images)
    return summary
