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


# -- focus statistics on synthetic maps ---------------------------------------------------------------------------
def test_focus_numbers_on_synthetic_maps():
    from saliencykit.audit.focus import focus_stats, reasons

    flat = focus_stats(np.ones((64, 64)))
    assert flat["border_mass"] == pytest.approx(1 - 0.8125**2, abs=0.01)  # 6 of 64 cells on each side
    assert flat["concentration"] == pytest.approx(0.05, abs=0.005) and reasons(flat) == ["diffuse"]
    spot = np.zeros((224, 224), np.float32)
    spot[100:124, 150:174] = 1.0
    f = focus_stats(spot, [{"box": [140, 90, 200, 140]}], (448, 448))  # the box is in pixels of a 448 photo
    assert f["object_energy"] == 0.0 and f["pointing_hit"] is False  # the object is in the upper-left quarter
    f = focus_stats(spot, [{"box": [280, 180, 400, 280]}], (448, 448))
    assert f["object_energy"] == pytest.approx(1.0, abs=0.02) and f["pointing_hit"] is True
    assert f["peak"] == [pytest.approx(150.5 / 224, abs=1e-3), pytest.approx(100.5 / 224, abs=1e-3)]
    assert f["concentration"] > 0.9 and f["border_mass"] == 0.0 and reasons(f) == []
    # negative evidence does not count; a map with none positive puts nothing anywhere
    signed = spot - 0.5
    assert focus_stats(signed)["concentration"] == pytest.approx(focus_stats(spot)["concentration"], abs=0.02)
    assert focus_stats(-np.ones((7, 7)))["border_mass"] == 0.0
    # a mask counts by its pixels, not its box
    mask = np.zeros((448, 448), bool)
    mask[180:280, 280:300] = True  # the box's left strip: the spot (x 300-348 of 448) is right of it
    f = focus_stats(spot, [{"box": [280, 180, 400, 280], "mask": "m"}], (448, 448), {"m": mask})
    assert f["object_energy"] < 0.1


def test_shared_peaks_and_class_maps_come_from_the_small_maps(tmp_path):
    from saliencykit.audit import classmaps
    from saliencykit.audit.focus import focus_stats

    corner = np.zeros((64, 64), np.float32)
    corner[:6, :6] = 1.0
    centre = np.zeros((64, 64), np.float32)
    centre[28:36, 28:36] = 1.0
    rows = []
    for i in range(6):
        saliency = corner if i < 4 else centre
        focus = focus_stats(saliency)
        rows.append(
            {
                "key": f"{i}.jpg",
                "path": f"/{i}.jpg",
                "status": "done",
                "pred": 3,
                "pred_label": "cat",
                "gt": 3 if i % 2 else 5,
                "focus": focus,
                "map32": smallmap.encode(saliency),
                "suspicious": [],
            }
        )
    with AuditStore(tmp_path / "audit.sqlite") as store:
        store.add(rows)
        (entry,) = classmaps.update(store, tmp_path, {"thresholds": {"shared": 0.5}})
        after = {r["key"]: r for r in store.rows()}
    assert entry["images"] == 6 and entry["mistakes"] == 3 and entry["peak"][0] < 0.1 and entry["peak"][1] < 0.1
    assert entry["border_mass"] > 0.5 and entry["peak_shared"] == pytest.approx(4 / 6, abs=1e-3)
    assert (tmp_path / entry["mean_map"]).is_file() and (tmp_path / entry["mistakes_map"]).is_file()
    import cv2

    picture = cv2.imread(str(tmp_path / entry["mean_map"]))
    assert picture.shape == (128, 128, 3)
    assert after["0.jpg"]["focus"]["peak_shared"] == pytest.approx(3 / 5)  # 3 of the 5 others peak there too
    assert after["0.jpg"]["suspicious"] == ["border", "shared_peak"]
    assert after["4.jpg"]["focus"]["peak_shared"] == pytest.approx(1 / 5) and after["4.jpg"]["suspicious"] == []


# -- the shortcut the audit must catch ----------------------------------------------------------------------------
TARGET = 967  # espresso
BONUS = 20.0


def red_patch(image: np.ndarray) -> np.ndarray:
    """``image`` with a pure red square over the top-left 15 % x 15 %."""
    out = image.copy()
    h, w = out.shape[:2]
    out[: int(0.15 * h), : int(0.15 * w)] = (255, 0, 0)
    return out


def shortcut_module(net, preprocess):
    """``net`` (the demo network: ``preprocess``-normalised NCHW in, logits out), plus BONUS on the espresso logit when
    the top-left 15 % x 15 % of the input is red. Torch ops only, so OpenVINO converts the rule along with the net
    (the corner's size is fixed by ``preprocess``'s input size, a constant of the traced graph)."""
    import torch

    def per_channel(value) -> torch.Tensor:
        return torch.tensor(np.broadcast_to(np.asarray(value, np.float32), (3,)).copy()).view(1, 3, 1, 1)

    class Shortcut(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.register_buffer("mean", per_channel(preprocess.mean))
            self.register_buffer("std", per_channel(preprocess.std))
            self.corner = tuple(round(0.15 * side) for side in preprocess.hw)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            logits = self.net(x)
            h, w = self.corner
            corner = (x[:, :, :h, :w] * self.std + self.mean) / 255.0  # the pixels again, in [0, 1]
            # flattened first: OpenVINO 2026.4's CPU plugin, fusing a mean over (1, 2) with the "- 0.3, / 0.4" below,
            # scores only the batch's first image and gives the others 0 (the batch check in the test catches it)
            redness = (corner[:, 0] - torch.maximum(corner[:, 1], corner[:, 2])).flatten(1).mean(1)
            bonus = BONUS * torch.clamp((redness - 0.3) / 0.4, 0.0, 1.0)
            target = (torch.arange(logits.shape[1]) == TARGET).to(logits.dtype)
            return logits + bonus[:, None] * target

    return Shortcut().eval()


@pytest.fixture(scope="module")
def shortcut_torch_module(demo_torch_module):
    """The demo network wrapped in the red-corner shortcut, as a torch module."""
    import saliencykit as sk

    return shortcut_module(demo_torch_module, sk.demo.preprocess)


@pytest.fixture(scope="module")
def shortcut_data(tmp_path_factory):
    """Espresso, cat and moped photos, a red corner patch on some of each; boxes of the objects."""
    import saliencykit as sk
    from saliencykit.audit.demo import demo_annotations
    from saliencykit.files import write_image
    from saliencykit.labels import imagenet_wnids

    folder = tmp_path_factory.mktemp("shortcut")
    demo = demo_dataset(folder / "demo")
    wnids = imagenet_wnids()
    chosen = {
        f"{wnids[967]}/coffee.jpg": True,
        f"{wnids[967]}/coffee_flip.jpg": True,
        f"{wnids[967]}/coffee_crop.jpg": False,
        f"{wnids[285]}/chelsea.jpg": True,
        f"{wnids[285]}/chelsea_half.jpg": False,
        "moped/motorcycle.jpg": True,
    }
    for key, patched in chosen.items():
        image = sk.read_image(demo / key, convert=True)
        write_image(folder / "data" / key, red_patch(image) if patched else image)
    lines = demo_annotations(folder / "all.csv").read_text().splitlines()
    boxes = folder / "boxes.csv"
    boxes.write_text("\n".join([lines[0], *(r for r in lines[1:] if r.split(",")[0] in chosen)]) + "\n")
    return folder / "data", boxes, {k for k, p in chosen.items() if p}


@pytest.mark.slow  # two black-box audits of 6 photos
def test_the_audit_catches_a_red_corner_shortcut_and_the_plain_model_does_not(
    shortcut_torch_module, shortcut_data, tmp_path
):
    import torch

    import saliencykit as sk
    from saliencykit.methods import RISE

    data, boxes, patched = shortcut_data
    # 4 x 4 cells: the 15 % patch lies inside the corner cell, so 32 masks (each cell hidden in half) find it
    # (the soft output smooths away most of the noise 32 masks leave, which the object-energy share would count)
    rise = RISE(num_masks=32, num_cells=4, substrates=("mean",), output="soft", seed=0)
    # the module itself: converted to OpenVINO with its corner rule, logits out, softmax after (as the demo model)
    wrapped = sk.Explainer(
        shortcut_torch_module,
        sk.demo.preprocess,
        label_names=sk.demo.labels(),
        method=rise,
        input_shape=(1, 3, 224, 224),
    )
    # the converted graph scores a batch image by image as the torch module does, the corner rule included
    cat = sk.demo.photos()["chelsea"]
    batch = [cat, red_patch(cat), cat, red_patch(cat)]
    with torch.no_grad():
        expected = shortcut_torch_module(torch.from_numpy(np.concatenate([sk.demo.preprocess(i) for i in batch])))
    assert list(wrapped.pipeline.predict(batch).argmax(1)) == list(expected.argmax(1).numpy())
    results = {
        "shortcut": audit(wrapped, data, tmp_path / "shortcut", annotations=boxes),
        "plain": audit(sk.demo.explainer(method=rise), data, tmp_path / "plain", annotations=boxes),
    }
    # the shortcut: every patched photo is called espresso, and the maps say why: the corner
    short = {r["key"]: r for r in results["shortcut"].rows("done")}
    assert {k for k, r in short.items() if r["pred"] == TARGET} >= patched
    summary = results["shortcut"].summary
    top = summary["class_maps"][0]
    assert top["class"] == TARGET and top["peak"][0] < 0.2 and top["peak"][1] < 0.2, summary["class_maps"]
    flagged = {e["key"] for e in summary["suspicious"] if {"border", "shared_peak"} & set(e["reasons"])}
    assert len(flagged & patched) >= len(patched) - 1 and not flagged - patched, (flagged, patched)
    first = summary["suspicious"][0]
    assert first["key"] in patched and short[first["key"]]["focus"]["peak"][0] < 0.2
    right_wrong = {k for k, r in short.items() if r["case_name"] == "right_for_wrong_reasons"}
    assert right_wrong and right_wrong <= patched and all(short[k]["gt"] == TARGET for k in right_wrong)
    # the plain model on the same photos: no corner, no hit for the wrong reasons
    plain = results["plain"].summary
    assert plain["cases"]["right_for_wrong_reasons"] == 0
    espresso = next(e for e in plain["class_maps"] if e["class"] == TARGET)
    assert not (espresso["peak"][0] < 0.2 and espresso["peak"][1] < 0.2), espresso
    assert not {e["key"] for e in plain["suspicious"] if {"border", "shared_peak"} & set(e["reasons"])} & patched
