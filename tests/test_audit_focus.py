"""Focus statistics of the audit: the small top-1 map every image keeps, focus numbers, class maps, shortcuts."""

from __future__ import annotations

import shutil
import sqlite3

import numpy as np
import pytest

from saliencykit.audit import audit, smallmap
from saliencykit.audit.demo import demo_dataset
from saliencykit.audit.store import AuditStore
from saliencykit.errors import SaliencyKitError


def test_smallmap_keeps_the_frame_and_scales_to_one():
    saliency = np.zeros((224, 300), np.float32)
    saliency[:28, :38] = 5.0  # top-left corner
    small = smallmap.decode(smallmap.encode(saliency))
    assert small.shape == (32, 32) and small.dtype == np.float32
    assert small.max() == pytest.approx(1.0) and small[0, 0] == pytest.approx(1.0)
    assert small[16:, 16:].max() == 0.0
    negative = smallmap.decode(smallmap.encode(-np.ones((7, 7))))
    assert negative.min() == pytest.approx(-1.0)  # a max <= 0 is not divided by
    with pytest.raises(SaliencyKitError, match="2048"):
        smallmap.decode(b"\x00" * 10)
    with pytest.raises(SaliencyKitError, match="2-D"):
        smallmap.encode(np.zeros((3, 4, 5)))


def test_an_older_store_gets_the_new_columns_on_open(tmp_path):
    path = tmp_path / "audit.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "CREATE TABLE images (key TEXT PRIMARY KEY, path TEXT NOT NULL, label TEXT, gt INTEGER, gt_label TEXT,"
        " gt_score REAL, pred INTEGER, pred_label TEXT, pred_score REAL, topk TEXT, case_name TEXT, maps TEXT,"
        " raw TEXT, original TEXT, width INTEGER, height INTEGER, sha1 TEXT, size INTEGER, mtime_ns INTEGER,"
        " metrics TEXT, status TEXT NOT NULL, error TEXT, seconds REAL, updated REAL);"
        "INSERT INTO meta VALUES ('schema', '2');"
        "INSERT INTO images (key, path, status) VALUES ('old.jpg', '/old.jpg', 'done');"
    )
    db.commit()
    db.close()
    with AuditStore(path) as store:
        (row,) = store.rows()
        assert row["key"] == "old.jpg" and row["map32"] is None and row["focus"] is None
        store.add(
            [
                {
                    "key": "new.jpg",
                    "path": "/new.jpg",
                    "status": "done",
                    "map32": b"\x00" * 2048,
                    "focus": {"border_mass": 0.5},
                    "suspicious": ["border"],
                    "objects": None,
                }
            ]
        )
        new = [r for r in store.rows() if r["key"] == "new.jpg"][0]
        assert new["focus"] == {"border_mass": 0.5} and new["suspicious"] == ["border"] and len(new["map32"]) == 2048


def test_every_audited_image_keeps_its_top1_map_at_32(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(demo_dataset(tmp_path / "demo") / "moped", data / "moped")
    result = audit("demo", data, tmp_path / "out")
    rows = result.rows("done")
    assert len(rows) == 5
    for row in rows:
        with np.load(result.out / row["raw"]) as raw:
            top1 = raw["maps"][list(raw["targets"]).index(row["pred"])]
        assert row["map32"] == smallmap.encode(top1)
        assert smallmap.decode(row["map32"]).max() == pytest.approx(1.0, abs=1e-3)


def test_map32_survives_the_trip_from_a_ray_worker():
    from saliencykit.audit.ray_executor import record_of, record_text

    blob = smallmap.encode(np.random.default_rng(0).random((7, 7)))
    back = record_of(record_text({"key": "a.jpg", "map32": blob, "focus": {"peak": [0.5, 0.5]}}))
    assert back["map32"] == blob and back["focus"] == {"peak": [0.5, 0.5]}
