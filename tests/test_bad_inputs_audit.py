"""A catalogue of bad inputs to the audit, through the CLI (``saliencykit audit``) and the Python API.

Every case asserts the exit code (2 for usage and setup errors) or the exception type, and that the one-line
message names the problem. Option mistakes are given with a model file that does not exist: the message
being about the option proves the option was checked before any model was loaded.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from saliencykit.audit import DatasetError, OutputError, OutputLocked, StoreError, Thresholds, audit, demo_dataset
from saliencykit.audit.outdir import output_lock
from saliencykit.cli import app
from saliencykit.errors import SaliencyKitError


@pytest.fixture(scope="module")
def moped(tmp_path_factory) -> Path:
    """A labelled folder of five demo photos."""
    demo = demo_dataset(tmp_path_factory.mktemp("demo") / "data")
    data = tmp_path_factory.mktemp("moped") / "data"
    shutil.copytree(demo / "moped", data / "moped")
    return data


class Case:
    """One CLI case: extra options, a setup that returns (data, out) and may prepare files, the expectation."""

    def __init__(
        self,
        options: list[str],
        message: str,
        setup: Callable[[Path, Path], tuple[Path, Path]] | None = None,
        model: str = "missing",
        code: int = 2,
    ) -> None:
        self.options, self.message, self.setup, self.model, self.code = options, message, setup, model, code


def _json(text: str) -> Callable[[Path, Path], tuple[Path, Path]]:
    def setup(data: Path, tmp: Path) -> tuple[Path, Path]:
        (tmp / "map.json").write_text(text)
        return data, tmp / "out"

    return setup


def _binary_map(data: Path, tmp: Path) -> tuple[Path, Path]:
    (tmp / "map.csv").write_bytes(b"\xff\xfe\x00cats\x00,\x00285" * 10)
    return data, tmp / "out"


def _file_out(data: Path, tmp: Path) -> tuple[Path, Path]:
    (tmp / "report.txt").write_text("not a folder")
    return data, tmp / "report.txt"


def _out_under_file(data: Path, tmp: Path) -> tuple[Path, Path]:
    (tmp / "report.txt").write_text("not a folder")
    return data, tmp / "report.txt" / "audit"


def _data_in_case_folder(data: Path, tmp: Path) -> tuple[Path, Path]:
    inside = shutil.copytree(data, tmp / "out" / "false_positive_high_confidence" / "data")
    return inside, tmp / "out"


def _csv_listing_outputs(data: Path, tmp: Path) -> tuple[Path, Path]:
    overlay = tmp / "out" / "true_positive" / "x.jpg"
    overlay.parent.mkdir(parents=True)
    shutil.copy(data / "moped" / "motorcycle.jpg", overlay)
    (tmp / "list.csv").write_text(f"path,label\n{data}/moped/motorcycle.jpg,moped\n{overlay},moped\n")
    return tmp / "list.csv", tmp / "out"


def _corrupt_store(data: Path, tmp: Path) -> tuple[Path, Path]:
    (tmp / "out").mkdir()
    (tmp / "out" / "audit.sqlite").write_bytes(b"SQLite format 2\x00 but not really" * 200)
    return data, tmp / "out"


def _damaged_store(data: Path, tmp: Path) -> tuple[Path, Path]:
    """A real store of 300 rows whose table pages (not its header) were overwritten on disk."""
    from saliencykit.audit import AuditStore

    with AuditStore(tmp / "out" / "audit.sqlite") as store:
        store.add([{"key": f"{i:04d}.jpg", "path": f"/photos/{i:04d}.jpg" * 8, "status": "done"} for i in range(300)])
    raw = bytearray((tmp / "out" / "audit.sqlite").read_bytes())
    for i in range(3 * 4096 + 200, len(raw), 11):
        raw[i] = 0x5A
    (tmp / "out" / "audit.sqlite").write_bytes(raw)
    return data, tmp / "out"


def _previous_output(data: Path, tmp: Path) -> tuple[Path, Path]:
    (tmp / "audit-1").mkdir()
    (tmp / "audit-1" / "audit.sqlite").write_bytes(b"")
    shutil.copytree(data / "moped", tmp / "audit-1" / "true_positive")
    return tmp / "audit-1", tmp / "out"


def _future_store(data: Path, tmp: Path) -> tuple[Path, Path]:
    (tmp / "out").mkdir()
    db = sqlite3.connect(tmp / "out" / "audit.sqlite")
    db.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO meta VALUES ('schema', '99');"
    )
    db.close()
    return data, tmp / "out"


def _text_file_data(data: Path, tmp: Path) -> tuple[Path, Path]:
    (tmp / "images.txt").write_text("moped/motorcycle.jpg\n")
    return tmp / "images.txt", tmp / "out"


def _empty_folder(data: Path, tmp: Path) -> tuple[Path, Path]:
    (tmp / "empty").mkdir()
    return tmp / "empty", tmp / "out"


def _empty_csv(data: Path, tmp: Path) -> tuple[Path, Path]:
    (tmp / "list.csv").write_text("path,label\n")
    return tmp / "list.csv", tmp / "out"


def _binary_csv(data: Path, tmp: Path) -> tuple[Path, Path]:
    (tmp / "list.csv").write_bytes(bytes(range(256)) * 4)
    return tmp / "list.csv", tmp / "out"


CLI_CASES: dict[str, Case] = {
    "top-k-zero": Case(["--top-k", "0"], "--top-k 0"),
    "top-k-negative": Case(["--top-k", "-3"], "--top-k -3"),
    "max-maps-zero": Case(["--max-maps", "0"], "--max-maps 0"),
    "max-maps-negative": Case(["--max-maps", "-2"], "--max-maps -2"),
    "batch-size-zero": Case(["--batch-size", "0"], "--batch-size 0"),
    "batch-size-huge": Case(["--batch-size", "100000"], "at most 1024 images per inference"),
    "workers-zero": Case(["--workers", "0"], "--workers 0"),
    "max-side-negative": Case(["--max-side", "-5"], "--max-side -5"),
    "high-above-one": Case(["--high", "1.5"], "threshold high=1.5: use a score between 0 and 1"),
    "low-negative": Case(["--low", "-0.1"], "threshold low=-0.1: use a score between 0 and 1"),
    "low-above-high": Case(["--low", "0.7", "--high", "0.6"], "low must not exceed high"),
    "explain-threshold-nan": Case(["--explain-threshold", "nan"], "threshold explain=nan"),
    "two-threshold-inf": Case(["--two", "inf"], "threshold two=inf"),
    "class-map-unknown-mode": Case(["--class-map", "folders"], "--class-map 'folders': neither one of auto"),
    "class-map-broken-json": Case(["--class-map", "{tmp}/map.json"], "not valid JSON", _json("{")),
    "class-map-json-list": Case(["--class-map", "{tmp}/map.json"], "expected a JSON object", _json("[1, 2]")),
    "class-map-not-text": Case(["--class-map", "{tmp}/map.csv"], "not UTF-8 text", _binary_map),
    "method-unknown": Case(["--method", "gradcam"], "--method 'gradcam' is not a method; available: reciprocam"),
    "mode-unknown": Case(["--mode", "fast"], "--mode 'fast'"),
    "executor-unknown": Case(["--executor", "dask"], "executor='dask': use one of local, ray"),
    "address-without-ray": Case(["--address", "auto"], "give it with executor='ray'"),
    "data-missing": Case([], "no such folder or CSV file", lambda d, t: (t / "nowhere", t / "out")),
    "model-missing": Case([], "no such model file"),
    "out-is-a-file": Case([], "is a file: give a folder", _file_out),
    "out-under-a-file": Case([], "cannot write there", _out_under_file),
    "out-is-the-dataset": Case([], "is the dataset folder itself", lambda d, t: (d, d)),
    "out-inside-the-dataset": Case([], "is inside the dataset folder", lambda d, t: (d, d / "moped" / "audit")),
    "dataset-inside-a-case-folder": Case(
        ["--fresh"], "a folder the audit writes and --fresh deletes", _data_in_case_folder
    ),
    "csv-lists-an-overlay": Case([], "which is inside", _csv_listing_outputs, model="demo"),
    "corrupt-store": Case([], "cannot open the audit store", _corrupt_store, model="demo"),
    "damaged-store": Case([], "Use --fresh to start over", _damaged_store, model="demo"),
    "data-is-an-audit-output": Case([], "is an audit's output folder", _previous_output, model="demo"),
    "store-of-another-version": Case([], "made by another version of saliencykit", _future_store, model="demo"),
    "data-is-a-text-file": Case([], "give a folder (of class folders, or of images) or a CSV", _text_file_data, "demo"),
    "data-empty-folder": Case([], "no images found", _empty_folder, model="demo"),
    "csv-without-rows": Case([], "the CSV lists no images", _empty_csv, model="demo"),
    "csv-not-text": Case([], "cannot read the CSV", _binary_csv, model="demo"),
}


def invoke(model: str, data: Path, out: Path, *options: str):
    return CliRunner().invoke(app, ["audit", model, str(data), "--out", str(out), *options])


@pytest.mark.parametrize("name", list(CLI_CASES))
def test_cli_bad_input_exits_with_one_line_naming_the_problem(name, moped, tmp_path):
    case = CLI_CASES[name]
    data, out = case.setup(moped, tmp_path) if case.setup else (moped, tmp_path / "out")
    model = str(tmp_path / "missing.xml") if case.model == "missing" else case.model
    options = [o.replace("{tmp}", str(tmp_path)) for o in case.options]
    result = invoke(model, data, out, *options)
    assert result.exit_code == case.code, (result.exit_code, result.stderr, result.exception)
    message = " ".join(result.stderr.split())  # the console wraps long lines
    assert case.message in message, message
    assert result.stderr.startswith("error:") and "Traceback" not in result.output + result.stderr
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_cli_lock_held_by_another_audit_exits_2_naming_it(moped, tmp_path):
    with output_lock(tmp_path / "out"):
        result = invoke("demo", moped, tmp_path / "out")
    assert result.exit_code == 2 and "is in use by another audit (pid" in " ".join(result.stderr.split())
    assert not (tmp_path / "out" / "audit.sqlite").exists()


def test_cli_corrupt_store_message_says_fresh_and_fresh_repairs_it(moped, tmp_path):
    data, out = _corrupt_store(moped, tmp_path)
    result = invoke("demo", data, out)
    assert result.exit_code == 2 and "--fresh" in result.stderr
    assert invoke("demo", data, out, "--fresh").exit_code == 0


def test_cli_read_only_output_folder_exits_2(moped, tmp_path):
    disk = tmp_path / "ro"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        result = invoke(str(tmp_path / "missing.xml"), moped, disk / "out")
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
    assert result.exit_code == 2 and "cannot write there (Read-only file system)" in " ".join(result.stderr.split())


# -- the Python API ------------------------------------------------------------------------------------------------
API_CASES: dict[str, tuple[dict, type[Exception], str]] = {
    "top_k-float": ({"top_k": 2.5}, SaliencyKitError, "--top-k 2.5 (top_k=2.5)"),
    "top_k-bool": ({"top_k": True}, SaliencyKitError, "top_k=True"),
    "top_k-zero": ({"top_k": 0}, SaliencyKitError, "give a whole number >= 1"),
    "max_maps-zero": ({"max_maps": 0}, SaliencyKitError, "max_maps=0"),
    "batch_size-negative": ({"batch_size": -1}, SaliencyKitError, "batch_size=-1"),
    "workers-zero": ({"workers": 0}, SaliencyKitError, "workers=0"),
    "max_side-negative": ({"max_side": -1}, SaliencyKitError, "max_side=-1"),
    "max_side-text": ({"max_side": "512"}, SaliencyKitError, "max_side='512'"),
    "alpha-above-one": ({"alpha": 1.5}, SaliencyKitError, "alpha=1.5"),
    "alpha-text": ({"alpha": "half"}, SaliencyKitError, "alpha='half'"),
    "threshold-as-text": ({"thresholds": "high"}, SaliencyKitError, "give a saliencykit.audit.Thresholds"),
    "data-not-a-path": ({"data": 42}, SaliencyKitError, "data=42: give a path"),
    "progress-not-callable": ({"progress": "yes"}, SaliencyKitError, "progress='yes': give a function"),
    "metrics-not-callable": ({"metrics": 42}, SaliencyKitError, "metrics=42: give a function"),
    "thresholds-not-thresholds": ({"thresholds": {"high": 0.9}}, SaliencyKitError, "Thresholds(high="),
    "mode-unknown": ({"mode": "fast"}, SaliencyKitError, "use one of auto, whitebox, blackbox"),
    "method-unknown": ({"method": "grad-cam"}, SaliencyKitError, "available: reciprocam"),
    "class_map-unknown": ({"class_map": "bogus"}, DatasetError, "--class-map 'bogus'"),
    "class_map-missing-file": ({"class_map": Path("/nonexistent/map.json")}, DatasetError, "cannot read it"),
    "executor-unknown": ({"executor": "dask"}, SaliencyKitError, "executor='dask'"),
    "colormap-unknown": ({"colormap": "rainbowz"}, SaliencyKitError, "colormap 'rainbowz'"),
}


@pytest.mark.parametrize("name", list(API_CASES))
def test_api_bad_option_is_refused_before_the_model_loads(name, moped, tmp_path):
    kwargs, kind, message = API_CASES[name]
    kwargs = {"data": moped} | kwargs
    with pytest.raises(kind) as caught:
        audit(tmp_path / "missing.xml", out=tmp_path / "out", **kwargs)
    assert message in str(caught.value) and "no such model file" not in str(caught.value)
    assert not (tmp_path / "out").exists()  # nothing was written


def test_api_refuses_bad_places_locks_and_stores(moped, tmp_path):
    with pytest.raises(OutputError, match="is a file"):
        audit("demo", moped, _file_out(moped, tmp_path)[1])
    with pytest.raises(OutputError, match="the dataset folder itself"):
        audit("demo", moped, moped)
    with output_lock(tmp_path / "busy"), pytest.raises(OutputLocked, match="in use by another audit"):
        audit("demo", moped, tmp_path / "busy")
    data, out = _corrupt_store(moped, tmp_path / "store" if (tmp_path / "store").mkdir() is None else tmp_path)
    with pytest.raises(StoreError, match="Use --fresh"):
        audit("demo", data, out)
    with pytest.raises(SaliencyKitError, match="low must not exceed high"):
        audit("demo", moped, tmp_path / "t", thresholds=Thresholds(high=0.5, low=0.55))
    with pytest.raises(SaliencyKitError, match="threshold high='0.9': use a number between 0 and 1"):
        Thresholds(high="0.9")
