"""A synthetic audit run store of any size, for testing and measuring the report without running the model.

``fake_store(out, n)`` writes ``n`` rows to a real :class:`~saliencykit.audit.store.AuditStore` (SQLite, one
``executemany``) shaped as the audit writes them: labels from the demo's ImageNet names, cases from ``CASES``,
one or two maps per image, a few failed and skipped items, and the focus fields (objects, focus numbers,
suspicious reasons, 32 x 32 top-1 maps). The photos and overlays it names are a handful of small real pictures
shared by all rows, or (``missing=True``) files that do not exist.
Run as a script to make one: ``python tests/fake_store.py OUT [N]``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from saliencykit.audit.cases import CASES
from saliencykit.audit.store import COLUMNS, STORE_NAME, AuditStore
from saliencykit.files import write_image

REASONS = ("outside_object", "border", "shared_peak", "diffuse")
PICTURES = 8  # distinct photos (and overlays) the rows share
CLASSES = 200  # classes the synthetic dataset uses


def _pictures(out: Path) -> tuple[list[Path], list[str]]:
    """A few small real photos (outside ``out``'s case folders) and overlays (in them), shared by all rows."""
    photos, overlays = [], []
    rng = np.random.default_rng(1)
    (out / "fake_photos").mkdir(parents=True, exist_ok=True)
    for i in range(PICTURES):
        size = (96, 128) if i % 2 else (128, 96)
        picture = (rng.random((*size, 3)) * 255).astype(np.uint8)
        photo = out / "fake_photos" / f"photo_{i}.jpg"
        write_image(photo, picture)
        photos.append(photo)
        overlay = f"{list(CASES)[i % len(CASES)]}/overlay_{i}.jpg"
        (out / overlay).parent.mkdir(parents=True, exist_ok=True)
        write_image(out / overlay, picture[::-1].copy())
        overlays.append(overlay)
    return photos, overlays


def _small_maps() -> list[bytes]:
    """A few 32 x 32 top-1 maps (a blob each, some at the border) as the store keeps them."""
    from saliencykit.audit import smallmap

    yy, xx = np.mgrid[0:32, 0:32]
    return [
        smallmap.encode(np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 40.0).astype(np.float32))
        for cx, cy in [(16, 16), (8, 20), (24, 10), (2, 2), (30, 16), (16, 30)]
    ]


def fake_records(out: Path, n: int, seed: int = 0, missing: bool = False) -> list[dict[str, Any]]:
    """``n`` run-store records shaped like the audit's (about 1 % failed and 0.5 % skipped)."""
    import saliencykit as sk

    names = sk.imagenet_labels()
    rng = np.random.default_rng(seed)
    cases = list(CASES)
    if missing:
        photos = [out / "nowhere" / f"photo_{i}.jpg" for i in range(PICTURES)]
        overlays = [f"{cases[i % len(cases)]}/missing_{i}.jpg" for i in range(PICTURES)]
    else:
        photos, overlays = _pictures(out)
    gts = rng.integers(0, CLASSES, n)
    wrong = rng.random(n) < 0.25
    preds = np.where(wrong, (gts + rng.integers(1, CLASSES, n)) % CLASSES, gts)
    # numbers as Python lists up front: indexing numpy scalars row by row is what would make this slow
    scores = np.round(rng.random((n, 2)), 6).tolist()
    kinds = rng.random(n).tolist()
    case_of = rng.integers(0, len(cases), n).tolist()
    focus = np.round(rng.random((n, 4)), 4).tolist()
    gts, preds = gts.tolist(), preds.tolist()
    sources = [str(photo) for photo in photos]
    blobs = _small_maps()
    records = []
    for i in range(n):
        gt, pred, kind = gts[i], preds[i], kinds[i]
        key = f"n{gt:05d}/img_{i:06d}.jpg"
        base = {"key": key, "path": sources[i % PICTURES], "label": names[gt], "gt": gt, "sha1": f"{i:040x}"}
        if kind < 0.01:
            records.append({**base, "status": "failed", "error": f"{key}: not a readable image (truncated JPEG)"})
            continue
        if kind < 0.015:
            records.append({**base, "gt": None, "status": "skipped", "error": "not an image (text/plain)"})
            continue
        ps = scores[i][0]
        gs = scores[i][1] if pred != gt else ps
        maps = [{"class": pred, "label": names[pred], "score": ps, "file": overlays[i % PICTURES]}]
        if pred != gt:
            maps.append({"class": gt, "label": names[gt], "score": gs, "file": overlays[(i + 1) % PICTURES]})
        annotated = i % 3 == 0
        f0, f1, f2, f3 = focus[i]
        oe, bm = (f0 if annotated else None), round(f1 * 0.6, 4)
        reasons = [r for r, hit in zip(REASONS, (oe is not None and oe < 0.2, bm > 0.45, False, ps < 0.05)) if hit]
        records.append(
            {
                **base,
                "gt_label": names[gt],
                "gt_score": gs,
                "pred": pred,
                "pred_label": names[pred],
                "pred_score": ps,
                "topk": [[pred, ps], [gt if pred != gt else (gt + 1) % CLASSES, gs / 2]],
                "case_name": cases[case_of[i]],
                "maps": maps,
                "width": 128 if i % 2 else 96,
                "height": 96 if i % 2 else 128,
                "status": "done",
                "seconds": 0.01,
                "objects": [{"box": [f2 * 50, f3 * 40, f2 * 50 + 40, f3 * 40 + 50], "label": names[gt]}]
                if annotated
                else None,
                "focus": {
                    "object_energy": oe,
                    "pointing_hit": (oe > 0.5) if oe is not None else None,
                    "border_mass": bm,
                    "concentration": f2,
                    "peak": [f2, f3],
                    "peak_shared": None,
                },
                "suspicious": reasons,
                "map32": blobs[i % len(blobs)],
            }
        )
    return records


def fake_store(out: Path, n: int, seed: int = 0, missing: bool = False) -> Path:
    """Write a run store of ``n`` synthetic rows into ``out`` (as ``audit.sqlite``); return its path.

    The rows go in with one ``executemany`` over the columns the store has (JSON columns encoded here), so the
    issue-17 columns are filled where the schema has them and left out where it does not.
    """
    import json

    out.mkdir(parents=True, exist_ok=True)
    records = fake_records(out, n, seed, missing)
    with AuditStore(out / STORE_NAME) as store:
        store.check_settings({"model": "fake", "data": "synthetic", "top_k": 2, "thresholds": {"high": 0.6}})
        have = [row[1] for row in store.db.execute("PRAGMA table_info(images)")]
        columns = [c for c in have if c in COLUMNS]
        encoded = {"topk", "maps", "metrics", "objects", "focus", "suspicious"}
        dumps = json.dumps

        def values(record: dict[str, Any]) -> list[Any]:
            return [dumps(record[c]) if c in encoded and record.get(c) is not None else record.get(c) for c in columns]

        sql = f"INSERT OR REPLACE INTO images ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        store.db.execute("BEGIN")
        store.db.executemany(sql, map(values, records))
        store.db.execute("COMMIT")
    return out / STORE_NAME


if __name__ == "__main__":
    target = Path(sys.argv[1])
    print(fake_store(target, int(sys.argv[2]) if len(sys.argv) > 2 else 100_000))
