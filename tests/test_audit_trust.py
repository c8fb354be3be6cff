"""Audit results users can trust: resume notices changed and removed files, one audit per output folder,
non-finite scores fail their image, duplicates are compared by class, CSV cells cannot run formulas."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from unittest.mock import ANY

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import saliencykit as sk
import saliencykit.files
from saliencykit.audit import OutputLocked, audit, demo_dataset, read_dataset
from saliencykit.audit.outdir import output_lock
from saliencykit.files import csv_cell, csv_text
from saliencykit.labels import imagenet_wnids

WNID = imagenet_wnids()
LABELS = sk.imagenet_labels()
EXE = shutil.which("saliencykit") or str(Path(sys.executable).parent / "saliencykit")
FORMULA = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory) -> Path:
    return demo_dataset(tmp_path_factory.mktemp("demo") / "data")


def small_dataset(demo_data: Path, folder: Path) -> Path:
    """The demo's cat and moped folders: 10 labelled photos (one of them a coffee filed as a cat)."""
    for name in (WNID[285], "moped"):
        shutil.copytree(demo_data / name, folder / name)
    return folder


def by_key(result) -> dict[str, dict]:
    return {row["key"]: row for row in result.rows()}


def files_of(row: dict) -> list[str]:
    return [m["file"] for m in row["maps"]] + [row["raw"]]


# -- resume: changed, removed, touched --------------------------------------------------------------------------
def test_resume_re_audits_a_file_overwritten_with_another_photo(demo_data, tmp_path):
    data = small_dataset(demo_data, tmp_path / "data")
    out = tmp_path / "out"
    first = by_key(audit("demo", data, out, batch_size=4))
    key = f"{WNID[285]}/chelsea.jpg"
    assert first[key]["pred"] == 285 and first[key]["case_name"] == "true_positive_high_confidence"
    old_files = files_of(first[key])
    shutil.copy(demo_data / WNID[967] / "coffee.jpg", data / key)  # same name, an espresso now

    again = audit("demo", data, out, batch_size=4)
    rows = by_key(again)
    assert again.processed == 1 and again.summary["resume"] == {"kept": 9, "changed": 1, "removed": 0, "repaired": 0}
    assert rows[key]["pred"] == 967 and rows[key]["case_name"] == "false_positive_high_confidence"
    assert rows[key]["sha1"] != first[key]["sha1"]
    assert all(rows[k]["updated"] == first[k]["updated"] for k in rows if k != key)  # the rest reused
    assert not [f for f in old_files if (out / f).exists()]  # no stale overlay or raw map stays
    assert all((out / f).is_file() for f in files_of(rows[key]))
    csv_rows = {r["key"]: r for r in csv.DictReader(io.StringIO((out / "results.csv").read_text()))}
    assert csv_rows[key]["pred"] == "967"


def test_resume_drops_a_deleted_file_from_results_report_and_accuracy(demo_data, tmp_path):
    data = small_dataset(demo_data, tmp_path / "data")
    out = tmp_path / "out"
    first = by_key(audit("demo", data, out, batch_size=4))
    gone = "moped/motorcycle.jpg"  # a correct prediction: removing it lowers the accuracy
    assert first[gone]["pred"] == first[gone]["gt"]
    (data / gone).unlink()

    again = audit("demo", data, out, batch_size=4)
    assert again.processed == 0 and again.summary["resume"] == {"kept": 9, "changed": 0, "removed": 1, "repaired": 0}
    remaining = [r for k, r in first.items() if k != gone]
    totals = again.summary["totals"]
    assert totals["items"] == totals["labelled"] == 9
    assert totals["top1_accuracy"] == pytest.approx(sum(r["pred"] == r["gt"] for r in remaining) / 9)
    assert totals["top1_accuracy"] < sum(r["pred"] == r["gt"] for r in first.values()) / 10
    assert gone not in by_key(again)
    assert gone not in (out / "results.csv").read_text() and gone not in (out / "report.html").read_text()
    assert "0 file(s) changed since were audited again, 1 removed from the dataset" in (out / "report.html").read_text()
    assert not [f for f in files_of(first[gone]) if (out / f).exists()]  # its overlays are deleted


def test_resume_does_not_re_audit_a_touched_but_identical_file(demo_data, tmp_path):
    data = small_dataset(demo_data, tmp_path / "data")
    out = tmp_path / "out"
    first = by_key(audit("demo", data, out, batch_size=4))
    key = "moped/motorcycle_half.jpg"
    later = first[key]["mtime_ns"] + 5_000_000_000
    os.utime(data / key, ns=(later, later))

    again = audit("demo", data, out, batch_size=4)
    assert again.processed == 0 and again.summary["resume"] == {"kept": 10, "changed": 0, "removed": 0, "repaired": 0}
    rows = by_key(again)
    assert rows[key]["updated"] == first[key]["updated"] and rows[key]["mtime_ns"] == later  # cheap next time


def test_resume_re_audits_an_image_whose_overlays_were_deleted(demo_data, tmp_path):
    data = small_dataset(demo_data, tmp_path / "data")
    out = tmp_path / "out"
    first = by_key(audit("demo", data, out, batch_size=4))
    key = "moped/motorcycle_blur.jpg"
    (out / first[key]["maps"][0]["file"]).unlink()
    again = audit("demo", data, out, batch_size=4)
    assert again.processed == 1 and again.summary["resume"] == {"kept": 9, "changed": 0, "removed": 0, "repaired": 1}
    assert all((out / f).is_file() for f in files_of(by_key(again)[key]))


def test_an_edited_csv_label_is_audited_again_with_the_new_ground_truth(demo_data, tmp_path):
    listing = tmp_path / "list.csv"
    listing.write_text(
        f"path,label\n{demo_data}/{WNID[285]}/chelsea.jpg,espresso\n{demo_data}/moped/motorcycle.jpg,moped\n"
    )
    first = by_key(audit("demo", listing, tmp_path / "out"))
    key = next(k for k in first if k.endswith("chelsea.jpg"))
    assert first[key]["case_name"] == "false_positive_high_confidence"
    listing.write_text(listing.read_text().replace("espresso", "Egyptian cat"))
    again = audit("demo", listing, tmp_path / "out")
    assert again.summary["resume"]["changed"] == 1 and again.processed == 1
    assert by_key(again)[key]["gt"] == 285 and by_key(again)[key]["case_name"] == "true_positive_high_confidence"


def test_a_store_of_the_previous_schema_is_migrated_and_resumed(demo_data, tmp_path):
    data = small_dataset(demo_data, tmp_path / "data")
    out = tmp_path / "out"
    first = by_key(audit("demo", data, out, batch_size=4))
    db = sqlite3.connect(out / "audit.sqlite")  # what saliencykit wrote before files had a size and mtime
    db.executescript(
        "ALTER TABLE images DROP COLUMN size; ALTER TABLE images DROP COLUMN mtime_ns;"
        "UPDATE meta SET value = '1' WHERE key = 'schema';"
    )
    db.close()
    shutil.copy(demo_data / WNID[967] / "coffee.jpg", data / "moped" / "motorcycle_gray.jpg")
    again = audit("demo", data, out, batch_size=4)
    assert again.summary["resume"] == {
        "kept": 9,
        "changed": 1,
        "removed": 0,
        "repaired": 0,
    }  # by the hash: only the one changed
    rows = by_key(again)
    assert all(rows[k]["updated"] == first[k]["updated"] for k in rows if k != "moped/motorcycle_gray.jpg")
    assert all(r["size"] and r["mtime_ns"] for r in rows.values())


@pytest.mark.slow
def test_the_cli_says_how_many_files_changed_and_were_removed(demo_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(demo_data / "moped", data / "moped")
    out = tmp_path / "out"
    assert run_cli("audit", "demo", str(data), "--out", str(out)).returncode == 0
    (data / "moped" / "motorcycle_blur.jpg").unlink()
    shutil.copy(demo_data / "moped" / "motorcycle.jpg", data / "moped" / "motorcycle_half.jpg")
    done = run_cli("audit", "demo", str(data), "--out", str(out))
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stdout.split())  # the console wraps long lines
    assert "1 file(s) changed since the earlier run were audited again" in said
    assert "1 file(s) no longer in the dataset were dropped from the results" in said
    assert json.loads((out / "summary.json").read_text())["resume"] == {
        "kept": 3,
        "changed": 1,
        "removed": 1,
        "repaired": 0,
    }


def test_an_old_audit_output_inside_the_dataset_is_not_read_as_data(demo_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(demo_data / "moped", data / "moped")
    old = data / "moped" / "audit"  # where an earlier version let the output go
    shutil.copytree(data / "moped", old / "true_positive")
    (old / "audit.sqlite").write_bytes(b"")
    result = audit("demo", data, tmp_path / "out")
    assert result.summary["totals"]["items"] == 5 and result.exit_code == 0
    assert {"kind": "audit output folder", "subject": "moped/audit"} | {"message": ANY} in result.summary["notes"]


# -- one audit per output folder --------------------------------------------------------------------------------
def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=300)


HOLDER = textwrap.dedent(
    """
    import sys, time
    from saliencykit.audit.outdir import output_lock
    with output_lock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(600)
    """
)


@pytest.mark.slow
def test_a_second_audit_of_the_same_folder_stops_at_once_and_a_killed_holder_does_not_block(demo_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(demo_data / "moped", data / "moped")
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        start = time.monotonic()
        second = run_cli("audit", "demo", str(data), "--out", str(out))
        assert second.returncode == 2, second.stderr
        assert f"is in use by another audit (pid {holder.pid} on " in second.stderr and "started" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1 and "Traceback" not in second.stderr
        assert time.monotonic() - start < 60 and not (out / "audit.sqlite").exists()  # no work was done
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        holder.kill()
    third = run_cli("audit", "demo", str(data), "--out", str(out))  # the kernel released the dead one's lock
    assert third.returncode == 0, third.stderr
    assert json.loads((out / "summary.json").read_text())["totals"]["done"] == 5


def test_the_api_refuses_a_locked_folder_before_loading_the_model(tmp_path):
    (tmp_path / "data" / "x").mkdir(parents=True)
    locked = pytest.raises(OutputLocked, match=rf"in use by another audit \(pid {os.getpid()} on ")
    with output_lock(tmp_path / "out"), locked:
        audit(tmp_path / "missing-model.xml", tmp_path / "data", tmp_path / "out")
    with output_lock(tmp_path / "out"):  # released: it can be taken again
        pass


# -- non-finite scores --------------------------------------------------------------------------------------------
def nan_when_red(pixel_batch: np.ndarray) -> np.ndarray:
    """A small real model: ten class scores from the mean colour; NaN for a mostly red picture."""
    batch = np.asarray(pixel_batch, np.float64)
    if batch.shape[1] == 3 and batch.shape[-1] != 3:
        batch = batch.transpose(0, 2, 3, 1)
    mean = batch.mean(axis=(1, 2))  # N x 3
    logits = np.zeros((len(batch), 10))
    logits[:, :3] = mean / 32.0
    red = mean[:, 0] > 2 * np.maximum(mean[:, 1], mean[:, 2]) + 10
    logits[red] = np.nan
    return logits.astype(np.float32)


def test_nan_scores_fail_exactly_that_image_with_the_reason(tmp_path):
    """The pipeline raises ModelOutputError for non-finite scores; compute_batch isolates that image."""
    from saliencykit.methods import RISE

    colours = {"0": (200, 20, 20), "1": (20, 200, 20), "2": (20, 20, 200)}
    for label, rgb in colours.items():
        for name in ("a.png", "b.png"):
            sk.files.write_image(tmp_path / "data" / label / name, np.full((40, 48, 3), rgb, np.uint8))
    explainer = sk.Explainer(
        nan_when_red,
        sk.Preprocess(size=32),
        method=RISE(num_masks=16, seed=0),
        label_names=[f"class {i}" for i in range(10)],
    )
    result = audit(explainer, tmp_path / "data", tmp_path / "out", batch_size=8)
    failed = {f["key"]: f["error"] for f in result.failed}
    assert set(failed) == {"0/a.png", "0/b.png"} and result.exit_code == 1
    assert all("NaN" in error for error in failed.values()), failed
    rows = by_key(result)
    assert {k for k, r in rows.items() if r["status"] == "done"} == {"1/a.png", "1/b.png", "2/a.png", "2/b.png"}
    assert rows["1/a.png"]["pred"] == 1 and rows["2/b.png"]["pred"] == 2
    assert not list((tmp_path / "out").rglob("*nan*"))  # no overlay named after a NaN score


def test_nan_scores_of_a_whitebox_model_fail_that_image_and_the_batch_goes_on(tmp_path):
    """A tiny torch CNN explained with ReciproCAM whose scores are NaN for a mostly red picture."""
    torch = pytest.importorskip("torch")

    class RedIsNaN(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.fc = torch.nn.Linear(8, 10)

        def forward(self, x):
            mean = x.mean(dim=(2, 3))
            guard = torch.sqrt(2 * torch.maximum(mean[:, 1], mean[:, 2]) + 10 - mean[:, 0])  # NaN when red
            return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3))) + 0 * guard[:, None]

    torch.manual_seed(0)
    for label, rgb in {"0": (200, 20, 20), "1": (20, 200, 20), "2": (20, 20, 200)}.items():
        sk.files.write_image(tmp_path / "data" / label / "a.png", np.full((40, 48, 3), rgb, np.uint8))
    explainer = sk.Explainer(RedIsNaN().eval(), sk.Preprocess(size=32), label_names=[f"c{i}" for i in range(10)])
    assert explainer.whitebox
    result = audit(explainer, tmp_path / "data", tmp_path / "out", batch_size=8)
    (failure,) = result.failed
    assert failure["key"] == "0/a.png" and "NaN" in failure["error"]
    assert result.summary["totals"]["done"] == 2 and result.exit_code == 1


# -- duplicates are compared by class ---------------------------------------------------------------------------
def test_csv_rows_naming_one_class_two_ways_are_not_a_conflict(demo_data, tmp_path):
    photo = demo_data / WNID[285] / "chelsea.jpg"
    listing = tmp_path / "list.csv"
    listing.write_text(f"path,label\n{photo},285\n{photo},Egyptian cat\n")
    (note,) = read_dataset(listing, LABELS).notes
    assert "'285' and 'Egyptian cat', the same class" in note[2] and "conflict" not in note[2]
    listing.write_text(f"path,label\n{photo},285\n{photo},281\n")
    (note,) = read_dataset(listing, LABELS).notes
    assert "conflicting labels '285' and '281' (different classes)" in note[2]


def test_one_file_listed_under_two_spellings_is_audited_once(demo_data, tmp_path):
    listing = tmp_path / "list.csv"
    photo = demo_data / "moped" / "motorcycle.jpg"
    listing.write_text(f"path,label\n{photo},moped\n{demo_data}/{WNID[285]}/../moped/motorcycle.jpg,moped\n")
    dataset = read_dataset(listing, LABELS)
    assert [item.key for item in dataset.items] == [photo.as_posix()]
    assert dataset.notes[0][:2] == ("listed twice", photo.as_posix())


def test_identical_photos_filed_under_one_class_two_ways_are_not_a_conflict(demo_data, tmp_path):
    photo = demo_data / WNID[285] / "chelsea.jpg"
    for folder in ("285", "Egyptian cat"):
        (tmp_path / "data" / folder).mkdir(parents=True)
        shutil.copy(photo, tmp_path / "data" / folder / "chelsea.jpg")
    result = audit("demo", tmp_path / "data", tmp_path / "out")
    (duplicate,) = result.summary["duplicates"]
    assert duplicate["labels"] == ["285", "Egyptian cat"] and duplicate["conflict"] is False
    (tmp_path / "data" / "281").mkdir()
    shutil.copy(photo, tmp_path / "data" / "281" / "chelsea.jpg")  # tabby: another class
    (duplicate,) = audit("demo", tmp_path / "data", tmp_path / "out").summary["duplicates"]
    assert len(duplicate["keys"]) == 3 and duplicate["conflict"] is True


# -- spreadsheet formula injection ------------------------------------------------------------------------------
def test_file_and_folder_names_like_formulas_are_quoted_cells_in_results_csv(demo_data, tmp_path):
    data = tmp_path / "data"
    (data / "@SUM(1+1)").mkdir(parents=True)  # not a class: a failed row whose label cell is a formula
    shutil.copy(demo_data / "moped" / "motorcycle.jpg", data / "=cmd|calc!A0.jpg")
    shutil.copy(demo_data / "moped" / "motorcycle.jpg", data / "@SUM(1+1)" / "-2+3.jpg")
    result = audit("demo", data, tmp_path / "out")
    assert result.summary["totals"]["done"] == 1 and result.summary["totals"]["failed"] == 1
    header, *rows = list(csv.reader(io.StringIO((tmp_path / "out" / "results.csv").read_text(), newline="")))
    rows = {row[header.index("key")]: row for row in rows}
    assert set(rows) == {"'=cmd|calc!A0.jpg", "'@SUM(1+1)/-2+3.jpg"}
    assert rows["'@SUM(1+1)/-2+3.jpg"][header.index("label")] == "'@SUM(1+1)"
    for row in rows.values():
        assert not any(cell.startswith(FORMULA) for cell in row), row


cells = st.one_of(st.text(), st.integers(), st.floats(allow_nan=False), st.none())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(cells, min_size=1, max_size=6), min_size=1, max_size=5))
def test_csv_text_round_trips_any_cells_and_no_cell_starts_a_formula(rows):
    text = csv_text(rows)
    back = list(csv.reader(io.StringIO(text, newline="")))
    assert len(back) == len(rows)
    for original, read in zip(rows, back):
        expected = ["" if v is None else str(csv_cell(v)) for v in original]
        assert read == expected
        for value, cell in zip(original, read):
            if isinstance(value, str):
                assert not cell.startswith(FORMULA)
                assert cell == ("'" + value if value.startswith(FORMULA) else value)  # nothing else changes


@given(st.text())
def test_csv_cell_quotes_exactly_the_formula_starts(text):
    cell = csv_cell(text)
    assert cell == ("'" + text if text[:1] in FORMULA and text else text)
    assert not cell.startswith(FORMULA)
