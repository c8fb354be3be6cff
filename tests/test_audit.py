"""Dataset audits: cases, dataset reading, the run store, and an end-to-end audit of a labelled folder made
from the demo photos, checked against the demo model's own probabilities."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

import saliencykit as sk
from saliencykit.audit import (
    CASES,
    AuditStore,
    ClassMap,
    DatasetError,
    OutputError,
    SettingsMismatch,
    StoreError,
    Thresholds,
    audit,
    classify,
    demo_dataset,
    explain_targets,
    load_image,
    read_dataset,
)
from saliencykit.audit.cases import ANNOTATED_CASES
from saliencykit.audit.outputs import base_names, map_file_name
from saliencykit.files import sanitize
from saliencykit.labels import imagenet_wnids

LABELS = sk.imagenet_labels()
WNID = imagenet_wnids()
XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


# -- cases ---------------------------------------------------------------------------------------------------
def scores(**values: float) -> np.ndarray:
    s = np.zeros(10, np.float32)
    for k, v in values.items():
        s[int(k[1:])] = v
    return s


@pytest.mark.parametrize(
    ("s", "gt", "case"),
    [
        (scores(c1=0.9), 1, "true_positive_high_confidence"),
        (scores(c1=0.6, c2=0.3), 1, "true_positive_high_confidence"),  # confident beats two predictions
        (scores(c1=0.9), 2, "false_positive_high_confidence"),
        (scores(c1=0.62, c2=0.3), 2, "false_positive_high_confidence"),
        (scores(c1=0.5, c2=0.4), 1, "two_predictions"),
        (scores(c1=0.5, c2=0.4), 2, "two_predictions"),  # the ground truth is the runner-up
        (scores(c1=0.27, c2=0.25), 1, "two_predictions"),  # two beats low confidence
        (scores(c1=0.5, c2=0.4), 3, "false_positive_low_confidence"),  # ground truth not among the two
        (scores(c1=0.2, c2=0.1), 1, "true_positive_low_confidence"),
        (scores(c1=0.3, c2=0.1), 1, "true_positive"),
        (scores(c1=0.59, c2=0.2), 1, "true_positive"),
        (scores(c1=0.59, c2=0.2), 0, "false_positive_low_confidence"),
        (scores(c1=0.9), None, "unlabelled"),
    ],
)
def test_every_image_is_in_exactly_one_case_by_precedence(s, gt, case):
    assert classify(s, gt) == case


def test_cases_follow_configured_thresholds():
    s = scores(c1=0.7, c2=0.2)
    assert classify(s, 1, Thresholds(high=0.8)) == "true_positive"
    assert classify(s, 1, Thresholds(high=0.8, two=0.2)) == "two_predictions"
    with pytest.raises(sk.errors.SaliencyKitError, match="low"):
        Thresholds(low=0.7, high=0.6)
    with pytest.raises(sk.errors.SaliencyKitError, match="between 0 and 1"):
        Thresholds(high=1.5)


def test_explain_targets_are_classes_above_threshold_plus_the_missed_ground_truth():
    s = scores(c1=0.5, c2=0.3, c3=0.12, c4=0.05)
    assert explain_targets(s, 1, Thresholds()) == [1, 2, 3]
    assert explain_targets(s, 4, Thresholds()) == [1, 2, 3, 4]
    assert explain_targets(s, None, Thresholds(explain=0.2)) == [1, 2]
    assert explain_targets(scores(c5=0.05), None, Thresholds()) == [5]  # top-1 always
    assert explain_targets(s, 1, Thresholds(), max_maps=2) == [1, 2]


# -- dataset reading ---------------------------------------------------------------------------------------------
def test_class_map_resolves_indices_names_wordnet_ids_and_tables(tmp_path):
    classes = ClassMap("auto", LABELS)
    assert classes.resolve("285") == 285
    assert classes.resolve("Egyptian cat") == 285
    assert classes.resolve("egyptian_cat") == 285
    assert classes.resolve(WNID[285]) == 285
    with pytest.raises(DatasetError, match="several classes"):
        classes.resolve("crane")  # ImageNet has two
    with pytest.raises(DatasetError, match="Close matches: 'Egyptian cat'"):
        classes.resolve("Egyptian kat")
    with pytest.raises(DatasetError, match="out of range"):
        classes.resolve("1000")
    with pytest.raises(DatasetError, match="not a class index"):
        ClassMap("index", LABELS).resolve("cat")
    table = tmp_path / "map.json"
    table.write_text(json.dumps({"cats": "Egyptian cat", "cups": 967, "bikes": WNID[665]}))
    mapped = ClassMap(table, LABELS)
    assert [mapped.resolve(n) for n in ("cats", "cups", "bikes")] == [285, 967, 665]
    with pytest.raises(DatasetError, match="not in the class map"):
        mapped.resolve("dogs")
    table_csv = tmp_path / "map.csv"
    table_csv.write_text("cats,285\ncups,espresso\n")
    assert ClassMap(table_csv, LABELS).resolve("cups") == 967
    with pytest.raises(DatasetError, match="no class names"):
        ClassMap("name", None, 10).resolve("cat")


def write_jpeg(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return path


def test_read_dataset_layouts(tmp_path, photos):
    small = cv2.resize(photos["chelsea"], (64, 48))
    root = tmp_path / "folders"
    write_jpeg(root / "Egyptian cat" / "a.jpg", small)
    write_jpeg(root / WNID[967] / "sub" / "b.jpg", small)
    write_jpeg(root / "unlabelled.jpg", small)
    (root / "Egyptian cat" / "readme.txt").write_text("not an image")
    (root / "Egyptian cat" / ".hidden.jpg").write_bytes(b"")
    (root / "README.md").write_text("ignored")
    (root / "n01440764").mkdir()
    write_jpeg(root / "no such class" / "c.jpg", small)
    dataset = read_dataset(root, LABELS)
    assert dataset.kind == "folders"
    items = {item.key: item for item in dataset.items}
    assert set(items) == {
        "unlabelled.jpg",
        "Egyptian cat/a.jpg",
        "Egyptian cat/readme.txt",
        f"{WNID[967]}/sub/b.jpg",
        "no such class/c.jpg",
    }
    assert items["Egyptian cat/a.jpg"].gt == 285 and items[f"{WNID[967]}/sub/b.jpg"].gt == 967
    assert items["unlabelled.jpg"].gt is None and items["unlabelled.jpg"].label is None
    assert items["Egyptian cat/readme.txt"].status == "skipped"
    assert items["no such class/c.jpg"].status == "failed" and "not a class" in items["no such class/c.jpg"].error
    kinds = {(k, s) for k, s, _ in dataset.notes}
    assert ("empty class folder", "n01440764") in kinds and ("unknown class", "no such class") in kinds

    flat = tmp_path / "flat"
    write_jpeg(flat / "x.jpg", small)
    assert read_dataset(flat, LABELS).kind == "flat"

    listing = tmp_path / "list.csv"
    listing.write_text(
        "path,label\nfolders/Egyptian cat/a.jpg,285\nfolders/unlabelled.jpg,\n"
        "folders/Egyptian cat/a.jpg,espresso\nfolders/x.jpg,no such class\n"
    )
    csv_items = read_dataset(listing, LABELS)
    assert [(i.key, i.gt, i.status) for i in csv_items.items] == [
        ("folders/Egyptian cat/a.jpg", 285, "todo"),
        ("folders/unlabelled.jpg", None, "todo"),
        ("folders/x.jpg", None, "failed"),
    ]
    assert csv_items.notes[0][0] == "listed twice" and "'285' and 'espresso'" in csv_items.notes[0][2]
    with pytest.raises(DatasetError, match="no such folder"):
        read_dataset(tmp_path / "missing", LABELS)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images found"):
        read_dataset(tmp_path / "empty", LABELS)


def test_load_image_converts_and_rejects_broken_files(tmp_path, photos):
    gray = tmp_path / "gray.png"
    cv2.imwrite(str(gray), (cv2.cvtColor(photos["chelsea"], cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257))
    image, digest = load_image(gray)
    assert image.shape == photos["chelsea"].shape and image.dtype == np.uint8 and len(digest) == 40
    good = write_jpeg(tmp_path / "good.jpg", photos["coffee"])
    data = good.read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(sk.errors.ImageError, match="truncated JPEG"):
        load_image(tmp_path / "truncated.jpg")
    (tmp_path / "junk.jpg").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(sk.errors.ImageError, match="not a readable image"):
        load_image(tmp_path / "junk.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(sk.errors.ImageError, match="empty file"):
        load_image(tmp_path / "empty.jpg")
    with pytest.raises(sk.errors.ImageError, match="no such file"):
        load_image(tmp_path / "missing.jpg")


def test_file_names_follow_the_notebook_and_stay_unique():
    assert map_file_name("n02111889_374", "crib", 0.391, "Samoyed", 0.4349) == (
        "n02111889_374_gt_Samoyed_0.43_pr_crib_0.39.jpg"
    )
    assert map_file_name("x", "tabby, tabby cat", 0.5) == "x_pr_tabby_tabby_cat_0.50.jpg"
    names = base_names(["a/1.jpg", "b/1.jpg", "a/2.jpg", "a/1.png"])
    assert names["a/2.jpg"] == "2" and len(set(names.values())) == 4
    assert all(re.fullmatch(r"1_[0-9a-f]{8}", names[k]) for k in ("a/1.jpg", "b/1.jpg", "a/1.png"))


# -- the run store -------------------------------------------------------------------------------------------------
def test_store_resumes_and_refuses_other_settings(tmp_path):
    path = tmp_path / "audit.sqlite"
    with AuditStore(path) as store:
        assert store.check_settings({"model": "a", "thresholds": {"high": 0.6}}) is False
        store.add([{"key": "x.jpg", "path": "/x.jpg", "status": "done", "topk": [[1, 0.5]]}])
        store.add([{"key": "y.jpg", "path": "/y.jpg", "status": "failed", "error": "broken"}])
        store.add([{"key": "x.jpg", "path": "/x.jpg", "status": "done", "topk": [[2, 0.7]]}])  # replaced
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with AuditStore(path) as store:
        assert store.check_settings({"model": "a", "thresholds": {"high": 0.6}}) is True
        assert store.finished() == {"x.jpg"}  # failed items are retried
        assert [r["topk"] for r in store.rows()] == [[[2, 0.7]], None]
        with pytest.raises(SettingsMismatch, match=r"thresholds\.high: 0\.6 -> 0\.7.*--fresh"):
            store.check_settings({"model": "a", "thresholds": {"high": 0.7}})
    path.write_bytes(b"this is not a database" * 100)
    (tmp_path / "audit.sqlite-wal").unlink(missing_ok=True)
    with pytest.raises(StoreError, match="cannot open the audit store"):
        AuditStore(path)


# -- end to end ---------------------------------------------------------------------------------------------------
def build_dataset(folder: Path) -> dict[str, str]:
    """The demo's labelled folder plus every kind of bad input; returns key -> expected failure text."""
    demo_dataset(folder)
    coffee = (folder / WNID[967] / "coffee.jpg").read_bytes()
    (folder / WNID[285] / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 20)
    (folder / WNID[967] / "truncated.jpg").write_bytes(coffee[: len(coffee) // 2])
    (folder / WNID[967] / "notes.txt").write_text("shot on a Tuesday")
    (folder / WNID[0]).mkdir()  # an empty class folder
    shutil.copy(folder / WNID[285] / "chelsea.jpg", (folder / "not_a_class").mkdir() or folder / "not_a_class")
    os.symlink(folder / "nowhere.jpg", folder / "moped" / "dangling.jpg")
    cv2.imwrite(str(folder / WNID[657] / "tiny.png"), np.zeros((1, 1, 3), np.uint8))
    return {
        f"{WNID[285]}/broken.jpg": "not a readable image",
        f"{WNID[967]}/truncated.jpg": "truncated JPEG",
        "not_a_class/chelsea.jpg": "is not a class of this model",
        "moped/dangling.jpg": "no such file",
        f"{WNID[657]}/tiny.png": "too small",
    }


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audit")
    failures = build_dataset(folder / "data")
    labels = list(LABELS)
    labels[540] = XSS  # what the rocket is taken for: a hostile label must stay text
    calls = []
    result = audit(
        "demo",
        folder / "data",
        folder / "out",
        label_names=labels,
        batch_size=4,
        progress=lambda done, total: calls.append((done, total)),
        metrics=lambda image, explanation: {"map_mean": float(np.mean(explanation.maps[explanation.targets[0]]))},
    )
    return result, folder / "data", failures, labels, calls


def test_audit_puts_images_in_every_case_as_the_model_scores_them(audited, demo_pipeline):
    result, data, failures, labels, _ = audited
    assert all(result.counts[case] >= 1 for case in CASES if case not in ANNOTATED_CASES), result.counts
    assert not any(result.counts[case] for case in ANNOTATED_CASES)  # no annotations given
    rows = {row["key"]: row for row in result.rows()}
    done = {k: r for k, r in rows.items() if r["status"] == "done"}
    assert len(done) == 20
    keys = sorted(done)
    images = [sk.read_image(data / k, convert=True) for k in keys]
    expected = demo_pipeline.predict(images)
    classes = ClassMap("auto", labels)
    for key, s in zip(keys, expected):
        row = done[key]
        gt = classes.resolve(Path(key).parent.name) if "/" in key else None
        assert row["gt"] == gt
        assert row["case_name"] == classify(s, gt), key
        assert row["pred"] == int(np.argmax(s)) and row["pred_score"] == pytest.approx(float(s.max()), abs=1e-4)
        assert row["pred_label"] == labels[row["pred"]]
        if gt is not None:
            assert row["gt_score"] == pytest.approx(float(s[gt]), abs=1e-4)
        assert [c for c, _ in row["topk"]] == [int(c) for c in np.argsort(-s)[:5]]
        wanted = [int(c) for c in np.argsort(-s) if s[c] >= 0.1] or [int(np.argmax(s))]
        if gt is not None and gt not in wanted:
            wanted.append(gt)
        assert [m["class"] for m in row["maps"]] == wanted, key
    # the photos the issue names
    assert done[f"{WNID[285]}/chelsea.jpg"]["case_name"] == "true_positive_high_confidence"
    assert done[f"{WNID[285]}/coffee_filed_as_cat.jpg"]["case_name"] == "false_positive_high_confidence"
    assert done["moped/motorcycle.jpg"]["case_name"] == "two_predictions"
    assert done[f"{WNID[657]}/rocket_crop.jpg"]["case_name"] == "true_positive_low_confidence"
    assert done[f"{WNID[657]}/rocket.jpg"]["case_name"] == "false_positive_low_confidence"
    assert done["astronaut.jpg"]["case_name"] == "unlabelled" and done["astronaut.jpg"]["gt"] is None


def test_audit_writes_named_overlays_and_raw_maps(audited):
    result, _, _, labels, _ = audited
    out = result.out
    for row in result.rows("done"):
        stem = Path(row["key"]).stem
        for m in row["maps"]:
            path = out / m["file"]
            assert path.parent == out / row["case_name"] and path.is_file()
            gt = f"_gt_{sanitize(row['gt_label'], 40)}_{row['gt_score']:.2f}" if row["gt"] is not None else ""
            assert path.name == f"{stem}{gt}_pr_{sanitize(m['label'], 40)}_{m['score']:.2f}.jpg"
            picture = cv2.imread(str(path))
            scale = min(1.0, 512 / max(row["height"], row["width"]))  # --max-side 512
            assert picture.shape[:2] == (round(row["height"] * scale), round(row["width"] * scale))
        raw = np.load(out / row["raw"])
        assert raw["maps"].dtype == np.float32 and raw["maps"].shape[0] == len(row["maps"])
        assert raw["targets"].tolist() == [m["class"] for m in row["maps"]]
        assert raw["predictions"].shape == (1000,)
    chelsea = out / "true_positive_high_confidence" / "chelsea_gt_Egyptian_cat_0.83_pr_Egyptian_cat_0.83.jpg"
    assert chelsea.is_file()
    assert [p.name for p in out.rglob(".*") if p.is_file()] == [".audit.lock"]  # no temporary files left


def test_bad_inputs_are_recorded_and_reported(audited):
    result, _, failures, _, _ = audited
    assert result.exit_code == 1
    failed = {f["key"]: f["error"] for f in result.failed}
    assert set(failed) == set(failures)
    for key, text in failures.items():
        assert text in failed[key], failed[key]
    summary = json.loads((result.out / "summary.json").read_text())
    assert summary["skipped"] == [{"key": f"{WNID[967]}/notes.txt", "reason": summary["skipped"][0]["reason"]}]
    notes = {(n["kind"], n["subject"]) for n in summary["notes"]}
    assert ("empty class folder", WNID[0]) in notes and ("unknown class", "not_a_class") in notes
    duplicate = [d for d in summary["duplicates"] if f"{WNID[967]}/coffee.jpg" in d["keys"]]
    assert duplicate and duplicate[0]["conflict"] and len(duplicate[0]["keys"]) == 2
    assert summary["totals"] | {"items": 26, "done": 20, "failed": 5, "skipped": 1} == summary["totals"]
    lines = (result.out / "results.csv").read_text().splitlines()
    assert len(lines) == 1 + 26 and lines[0].startswith("key,path,label,gt,")


def test_report_escapes_labels_and_lists_everything(audited):
    result, _, failures, _, _ = audited
    html = (result.out / "report.html").read_text()
    assert "<script>window.__pwned" not in html and 'onerror="window' not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html  # the confusion and class tables
    for key in failures:
        assert key in html
    assert "http://" not in html and "https://" not in html  # nothing from the network
    data = json.loads(re.search(r'<script id="audit-data" type="application/json">(.*?)</script>', html, re.S)[1])
    assert len(data) == 20
    for entry in data:
        assert (result.out / entry["src"].replace("%20", " ")).resolve().is_file()
        assert all((result.out / m[2]).is_file() for m in entry["m"])
    assert "map_mean" in html  # the metrics hook fills its column


def test_progress_and_metrics_hooks(audited):
    result, _, _, _, calls = audited
    assert calls[0] == (0, 26) and calls[-1] == (26, 26)
    assert all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))
    assert set(result.summary["metrics"]) == {c for c, n in result.counts.items() if n}


def test_rerun_resumes_without_recomputing_and_other_settings_are_refused(audited):
    result, data, _, labels, _ = audited
    before = {r["key"]: r["updated"] for r in result.rows()}
    again = audit("demo", data, result.out, label_names=labels, batch_size=4)
    after = {r["key"]: (r["updated"], r["status"]) for r in again.rows()}
    assert set(after) == set(before)
    recomputed = {k for k in after if after[k][0] != before[k]}
    assert recomputed == {f["key"] for f in result.failed}  # only failed items are retried
    assert again.processed == len(recomputed) and again.counts == result.counts
    with pytest.raises(SettingsMismatch, match="thresholds.high"):
        audit("demo", data, result.out, label_names=labels, thresholds=Thresholds(high=0.9))
    with pytest.raises(SettingsMismatch, match="labels"):
        audit("demo", data, result.out)


def test_ctrl_c_stops_cleanly_keeps_results_and_resumes(tmp_path):
    data = demo_dataset(tmp_path / "data")

    def interrupt(done, total):
        if done >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        audit("demo", data, tmp_path / "out", batch_size=2, progress=interrupt)
    with AuditStore(tmp_path / "out" / "audit.sqlite") as store:
        kept = store.count("done")
    assert 4 <= kept < 20
    assert 'id="interrupted"' in (tmp_path / "out" / "report.html").read_text()
    result = audit("demo", data, tmp_path / "out", batch_size=2)
    assert result.processed == 20 - kept and result.summary["totals"]["done"] == 20 and result.exit_code == 0
    assert 'id="interrupted"' not in (tmp_path / "out" / "report.html").read_text()
    result = audit("demo", data, tmp_path / "out", batch_size=2, fresh=True)
    assert result.processed == 20


def test_a_failing_write_fails_that_image_only_and_a_rerun_repairs_it(tmp_path, monkeypatch):
    from saliencykit.audit import outputs

    data = demo_dataset(tmp_path / "data")
    real = outputs.atomic_write_bytes

    def full_disk(path, payload):
        if path.name.startswith("coffee"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, payload)

    monkeypatch.setattr(outputs, "atomic_write_bytes", full_disk)
    result = audit("demo", data, tmp_path / "out")
    failed = {f["key"]: f["error"] for f in result.failed}
    assert failed and all(Path(k).name.startswith("coffee") for k in failed)
    assert all("No space left on device" in e and "could not write" in e for e in failed.values())
    assert result.summary["totals"]["done"] == 20 - len(failed) and result.exit_code == 1
    monkeypatch.setattr(outputs, "atomic_write_bytes", real)
    result = audit("demo", data, tmp_path / "out")
    assert result.exit_code == 0 and result.processed == len(failed)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 600 kB tmpfs (needs root and mount rights, as on CI); grown later to let the run finish."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_really_full_disk_stops_cleanly_and_resumes_after_space_is_freed(tmp_path, tiny_disk):
    data = demo_dataset(tmp_path / "data")
    out = tiny_disk / "out"
    try:
        result = audit("demo", data, out, batch_size=2)
    except StoreError as exc:  # the store itself could not be written: the run stopped
        assert "resumes where it stopped" in str(exc)
    else:  # the store was written, the maps of some images were not
        assert result.exit_code == 1 and any("No space left" in f["error"] for f in result.failed)
    with AuditStore(out / "audit.sqlite") as store:  # what was committed is intact and readable
        kept = {r["key"]: r for r in store.rows("done")}
    assert all((out / m["file"]).is_file() for r in kept.values() for m in r["maps"])
    subprocess.run(["mount", "-o", "remount,size=64m", str(tiny_disk)], check=True)
    result = audit("demo", data, out, batch_size=2)
    assert result.exit_code == 0 and result.summary["totals"]["done"] == 20
    assert result.processed == 20 - len(kept)


def test_csv_and_unlabelled_folders(tmp_path):
    data = demo_dataset(tmp_path / "data")
    listing = tmp_path / "list.csv"
    listing.write_text(f"path,label\ndata/{WNID[285]}/chelsea.jpg,Egyptian cat\ndata/astronaut.jpg,\n")
    result = audit("demo", listing, tmp_path / "out-csv", raw=False)
    rows = {r["key"]: r for r in result.rows()}
    assert rows[f"data/{WNID[285]}/chelsea.jpg"]["case_name"] == "true_positive_high_confidence"
    assert rows["data/astronaut.jpg"]["case_name"] == "unlabelled" and rows["data/astronaut.jpg"]["raw"] is None
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copy(data / "astronaut.jpg", flat / "astronaut.jpg")
    shutil.copy(data / "moped" / "motorcycle.jpg", flat / "motor bike #1.jpg")
    result = audit("demo", flat, tmp_path / "out-flat")
    assert result.counts["unlabelled"] == 2 and result.exit_code == 0
    html = (tmp_path / "out-flat" / "report.html").read_text()
    assert "motor%20bike%20%231.jpg" in html  # relative links to the photos are URL-quoted


def test_tiff_originals_get_a_browser_copy_and_big_photos_smaller_overlays(tmp_path, photos):
    folder = tmp_path / "data" / "Egyptian cat"
    folder.mkdir(parents=True)
    big = cv2.resize(photos["chelsea"], (1800, 1200))
    cv2.imwrite(str(folder / "big.tif"), cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
    result = audit("demo", tmp_path / "data", tmp_path / "out", max_side=400)
    (row,) = result.rows()
    assert row["original"] == "originals/big.jpg" and (tmp_path / "out" / row["original"]).is_file()
    overlay = cv2.imread(str(tmp_path / "out" / row["maps"][0]["file"]))
    assert overlay.shape[:2] == (267, 400)


def test_blackbox_audit_explains_only_the_chosen_classes(tmp_path, photos):
    folder = tmp_path / "data" / "espresso"
    write_jpeg(folder / "coffee.jpg", cv2.resize(photos["coffee"], (240, 160)))
    from saliencykit.methods import RISE

    explainer = sk.demo.explainer(method=RISE(num_masks=64, seed=0))
    result = audit(explainer, tmp_path / "data", tmp_path / "out")
    (row,) = result.rows()
    assert row["case_name"].startswith("true_positive") and [m["class"] for m in row["maps"]][0] == 967


def test_an_output_folder_inside_the_dataset_is_refused_before_anything_is_written(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(demo_dataset(tmp_path / "demo") / "moped", data / "moped")
    for out in (data / "moped" / "audit", data, data / "moped"):
        with pytest.raises(OutputError, match="the next audit would read the report's overlays as data"):
            audit("demo", data, out)
    assert not (data / "moped" / "audit").exists() and not (data / "audit.sqlite").exists()
    # a dataset inside a folder the audit owns would be deleted by --fresh
    inside = shutil.copytree(data, tmp_path / "out" / "true_positive" / "data")
    with pytest.raises(OutputError, match="--fresh deletes"):
        audit("demo", inside, tmp_path / "out", fresh=True)
    assert (inside / "moped" / "motorcycle.jpg").is_file()
    # the demo's layout (the dataset in OUT/dataset) is fine
    own = shutil.copytree(data, tmp_path / "demo-out" / "dataset")
    result = audit("demo", own, tmp_path / "demo-out")
    assert result.exit_code == 0 and result.summary["totals"]["items"] == 5


def test_workers_elsewhere_can_compute_batches_for_the_one_store(tmp_path):
    """The split a distributed executor uses: process_items on workers, AuditStore.add where the store is."""
    from saliencykit.audit import process_items
    from saliencykit.audit.local import RunOptions

    data = demo_dataset(tmp_path / "data")
    explainer = sk.demo.explainer()
    dataset = read_dataset(data, explainer.label_names)
    bases = base_names(item.key for item in dataset.items)
    batches = [dataset.items[i : i + 7] for i in range(0, len(dataset.items), 7)]
    records = [r for batch in batches for r in process_items(explainer, batch, tmp_path / "out", bases, RunOptions())]
    with AuditStore(tmp_path / "out" / "audit.sqlite") as store:
        store.add(records)
        rows = list(store.rows())
    assert len(rows) == 20 and {r["status"] for r in rows} == {"done"}
    assert all((tmp_path / "out" / m["file"]).is_file() for r in rows for m in r["maps"])
