"""`saliencykit audit` run as a user runs it: exit codes, kill -9 and Ctrl-C in the middle, then resuming."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from saliencykit.audit import demo_dataset

pytestmark = pytest.mark.slow  # end-to-end runs: left out by `make test-fast`

EXE = shutil.which("saliencykit") or str(Path(sys.executable).parent / "saliencykit")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=300)


def rows(store: Path) -> list[tuple]:
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute("SELECT key, status, updated, maps FROM images ORDER BY key").fetchall()
    finally:
        db.close()


def count_done(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1)
        try:
            return db.execute("SELECT COUNT(*) FROM images WHERE status = 'done'").fetchone()[0]
        finally:
            db.close()
    except sqlite3.OperationalError:  # the store is being created
        return 0


@pytest.fixture(scope="module")
def big_dataset(tmp_path_factory) -> tuple[Path, int]:
    """The demo set three times over (60 images), so that a run lasts long enough to be stopped."""
    folder = demo_dataset(tmp_path_factory.mktemp("kill") / "data")
    for image in [p for p in folder.rglob("*.jpg")]:
        for copy in ("a", "b"):
            shutil.copy(image, image.with_name(f"{image.stem}_{copy}.jpg"))
    return folder, len(list(folder.rglob("*.jpg")))


def start_and_stop(data: Path, out: Path, sig: int, after: int) -> tuple[subprocess.Popen, int]:
    args = [EXE, "audit", "demo", str(data), "--out", str(out), "--batch-size", "1", "--workers", "1"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while count_done(out / "audit.sqlite") < after:
        assert proc.poll() is None, f"the audit ended before it could be stopped: {proc.communicate()}"
        assert time.monotonic() < deadline, "the audit made no progress"
        time.sleep(0.02)
    proc.send_signal(sig)
    proc.wait(timeout=120)
    return proc, count_done(out / "audit.sqlite")


def test_a_run_killed_with_sigkill_resumes_with_no_duplicate_or_missing_rows(big_dataset, tmp_path):
    data, total = big_dataset
    out = tmp_path / "out"
    proc, done = start_and_stop(data, out, signal.SIGKILL, after=4)
    assert proc.returncode == -signal.SIGKILL
    assert 4 <= done < total, f"killed after {done} of {total}: not mid-way"
    before = {key: updated for key, status, updated, _ in rows(out / "audit.sqlite") if status == "done"}
    assert not (out / "report.html").exists()  # it really died before the end

    result = run("audit", "demo", str(data), "--out", str(out), "--batch-size", "4")
    assert result.returncode == 0, result.stderr
    assert f"{len(before)} item(s) were finished by an earlier run (resumed)" in result.stdout
    after = rows(out / "audit.sqlite")
    keys = [key for key, *_ in after]
    assert len(keys) == len(set(keys)) == total  # no duplicate, none missing
    assert sorted(keys) == sorted(p.relative_to(data).as_posix() for p in data.rglob("*.jpg"))
    assert all(status == "done" for _, status, _, _ in after)
    assert {key: updated for key, _, updated, _ in after if key in before} == before  # finished ones kept as is
    for _, _, _, maps in after:
        assert all((out / m["file"]).is_file() for m in json.loads(maps))
    assert [p.name for p in out.rglob(".*") if p.is_file()] == [".audit.lock"]  # temporary files were cleaned up
    assert (out / "report.html").is_file()


def test_ctrl_c_exits_130_keeps_finished_images_and_the_rerun_reports_failures(big_dataset, tmp_path):
    data, total = big_dataset
    data = shutil.copytree(data, tmp_path / "data")
    (data / "moped" / "broken.jpg").write_bytes(b"not an image at all")
    out = tmp_path / "out"
    proc, done = start_and_stop(data, out, signal.SIGINT, after=3)
    stderr = proc.stderr.read()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "run the same command again to resume" in stderr
    assert "Traceback" not in stderr
    assert 3 <= count_done(out / "audit.sqlite") < total
    assert 'id="interrupted"' in (out / "report.html").read_text()  # a partial report was written

    result = run("audit", "demo", str(data), "--out", str(out))
    assert result.returncode == 1, result.stderr  # one image failed
    assert "moped/broken.jpg" in result.stderr and "not a readable image" in result.stderr
    assert len(rows(out / "audit.sqlite")) == total + 1


def test_usage_and_setup_errors_exit_2(tmp_path):
    result = run("audit", "demo", str(tmp_path / "missing"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "no such folder" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "data").mkdir()
    result = run("audit", str(tmp_path / "nope.xml"), str(tmp_path / "data"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "no such model file" in result.stderr
    assert result.stderr.startswith("error:") and len(result.stderr.splitlines()) == 1  # one line, no blank one
    result = run("audit", "demo", str(tmp_path), "--out", str(tmp_path / "out"), "--high", "0.2", "--low", "0.5")
    assert result.returncode == 2 and "low must not exceed high" in result.stderr


def test_changed_settings_are_refused_unless_fresh(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(demo_dataset(tmp_path / "demo") / "moped", data / "moped")
    out = tmp_path / "out"
    assert run("audit", "demo", str(data), "--out", str(out)).returncode == 0
    before = json.loads((out / "summary.json").read_text())["cases"]
    refused = run("audit", "demo", str(data), "--out", str(out), "--two", "0.3")
    assert refused.returncode == 2
    assert "other settings (thresholds.two: 0.25 -> 0.3)" in refused.stderr and "--fresh" in refused.stderr
    fresh = run("audit", "demo", str(data), "--out", str(out), "--two", "0.3", "--fresh")
    assert fresh.returncode == 0, fresh.stderr
    after = json.loads((out / "summary.json").read_text())["cases"]
    # motorcycle.jpg's runner-up (motor scooter 0.29) no longer counts: a plain true positive now
    assert after["two_predictions"] == before["two_predictions"] - 1
    assert after["true_positive"] == before["true_positive"] + 1
    assert not (out / "two_predictions" / "motorcycle_gt_moped_0.53_pr_moped_0.53.jpg").exists()
