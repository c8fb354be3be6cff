"""The audit on Ray (`executor="ray"`): the same records, scores and map files as the local executor, resuming
across executors, a worker killed mid-run, storage the workers cannot see, and a clear message without Ray.

The Ray tests share one local Ray instance started by the session (2 CPUs, no external cluster); they skip, with
the reason, only when Ray is not installed.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from saliencykit.audit import AuditStore, audit, demo_dataset, smallmap
from saliencykit.audit.ray_executor import PROBE_DIR, ExecutorError, plan_workers
from saliencykit.errors import SaliencyKitError

EXE = shutil.which("saliencykit") or str(Path(sys.executable).parent / "saliencykit")
_EXPORTS = {"audit.sqlite", "audit.sqlite-wal", "audit.sqlite-shm", "report.html", "summary.json", "results.csv"}


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray instance for the whole session (started once: it takes several seconds), shut down at the end."""
    ray = pytest.importorskip("ray", reason='Ray is not installed (pip install "saliencykit[ray]")')
    pytest.importorskip("ray.data", reason='Ray Data is not installed (pip install "saliencykit[ray]")')
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory) -> Path:
    return demo_dataset(tmp_path_factory.mktemp("ray-data") / "data")


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory, demo_data, demo_explainer):
    """The local executor's audit of the demo set: what every Ray run must reproduce."""
    out = tmp_path_factory.mktemp("ray-reference") / "out"
    result = audit(demo_explainer, demo_data, out, batch_size=4)
    assert result.exit_code == 0
    return result


def files(out: Path) -> set[str]:
    """The map files (overlays, raw maps) of an audit, relative to its folder."""
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name not in _EXPORTS}


def assert_same_audit(reference, result) -> None:
    """Same images, cases, predictions (scores to 1e-5), map files and float maps as ``reference``."""
    expected, rows = reference.rows(), result.rows()
    assert [r["key"] for r in rows] == [r["key"] for r in expected]
    for a, b in zip(expected, rows):
        assert (b["status"], b["case_name"], b["gt"], b["pred"]) == (a["status"], a["case_name"], a["gt"], a["pred"])
        if a["pred_score"] is not None:
            assert b["pred_score"] == pytest.approx(a["pred_score"], abs=1e-5)
            assert [c for c, _ in b["topk"]] == [c for c, _ in a["topk"]]
            np.testing.assert_allclose([s for _, s in b["topk"]], [s for _, s in a["topk"]], atol=1e-5)
        assert [m["file"] for m in b["maps"] or []] == [m["file"] for m in a["maps"] or []]
        if a["map32"] is not None:  # the small map comes back from the worker as the local run stores it
            np.testing.assert_allclose(smallmap.decode(b["map32"]), smallmap.decode(a["map32"]), atol=1e-3)
            assert b["focus"]["peak"] == a["focus"]["peak"] and b["suspicious"] == a["suspicious"]
        if a["raw"]:
            with np.load(reference.out / a["raw"]) as x, np.load(result.out / b["raw"]) as y:
                np.testing.assert_array_equal(x["targets"], y["targets"])
                np.testing.assert_allclose(x["maps"], y["maps"], atol=1e-5)
                np.testing.assert_allclose(x["predictions"], y["predictions"], atol=1e-5)
    assert files(result.out) == files(reference.out)
    assert result.counts == reference.counts
    assert not (result.out / PROBE_DIR).exists()  # the storage probe cleans up after itself


# -- without Ray -----------------------------------------------------------------------------------------------
def test_without_ray_the_api_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    start = time.perf_counter()
    with pytest.raises(ExecutorError, match=r'pip install "saliencykit\[ray\]"'):
        audit("demo", tmp_path, tmp_path / "out", executor="ray")
    assert time.perf_counter() - start < 5  # before the model is loaded
    assert not (tmp_path / "out").exists()


def test_without_ray_the_cli_exits_2_with_the_install_command(tmp_path):
    data = demo_dataset(tmp_path / "data")
    blocked = (
        "import sys; sys.modules['ray'] = None; sys.argv = ['saliencykit'] + sys.argv[1:]; "
        "from saliencykit.cli import main; main()"
    )
    args = ["audit", "demo", str(data), "--out", str(tmp_path / "out"), "--executor", "ray"]
    proc = subprocess.run([sys.executable, "-c", blocked, *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert 'pip install "saliencykit[ray]"' in " ".join(proc.stderr.split())
    assert "Traceback" not in proc.stderr


def test_executor_options_are_checked(tmp_path):
    with pytest.raises(SaliencyKitError, match="executor='spark'"):
        audit("demo", tmp_path, tmp_path / "out", executor="spark")
    with pytest.raises(SaliencyKitError, match="executor='ray'"):
        audit("demo", tmp_path, tmp_path / "out", address="auto")


def test_workers_are_planned_to_fit_the_nodes():
    assert plan_workers([2], None) == (1, 2.0)  # one worker per node, all its CPUs
    assert plan_workers([8, 4, 0], None) == (2, 4.0)  # nodes without CPUs (a --num-cpus=0 head) get none
    assert plan_workers([2], 2) == (2, 1.0)
    assert plan_workers([8, 8], 3) == (3, 4.0)  # 5 CPUs each would leave the third worker without a node
    assert plan_workers([2], 3) == (3, 0.5)
    with pytest.raises(ExecutorError):
        plan_workers([2], 0)


@pytest.mark.parametrize(
    ("address", "message"),
    [("ray://127.0.0.1:10001", "Ray Client"), ("127.0.0.1:1", "nothing answers at 127.0.0.1:1")],
)
def test_addresses_ray_cannot_use_fail_before_the_model_is_loaded(address, message, tmp_path):
    pytest.importorskip("ray.data", reason='Ray is not installed (pip install "saliencykit[ray]")')
    start = time.perf_counter()
    with pytest.raises(ExecutorError, match=message):
        audit("demo", tmp_path, tmp_path / "out", executor="ray", address=address)
    assert time.perf_counter() - start < 15
    assert not (tmp_path / "out").exists()


# -- on a local Ray instance -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_ray_audit_matches_the_local_executor(ray_cluster, demo_data, demo_explainer, local_reference, tmp_path):
    result = audit(demo_explainer, demo_data, tmp_path / "out", batch_size=4, executor="ray")
    assert result.exit_code == 0
    assert result.processed == 20
    assert (tmp_path / "out" / "report.html").is_file()
    assert_same_audit(local_reference, result)


@pytest.mark.slow
def test_two_workers_give_the_same_audit(ray_cluster, demo_data, demo_explainer, local_reference, tmp_path):
    result = audit(demo_explainer, demo_data, tmp_path / "out", batch_size=4, executor="ray", workers=2)
    assert result.processed == 20
    assert_same_audit(local_reference, result)


def _stop_after_first_results(done: int, total: int) -> None:
    if done:
        raise KeyboardInterrupt


@pytest.mark.slow
def test_resume_works_across_executors(ray_cluster, demo_data, demo_explainer, local_reference, tmp_path):
    # started locally, finished on Ray
    out = tmp_path / "local-then-ray"
    with pytest.raises(KeyboardInterrupt):
        audit(demo_explainer, demo_data, out, batch_size=4, progress=_stop_after_first_results)
    with AuditStore(out / "audit.sqlite") as store:
        before = len(store.finished())
    assert 0 < before < 20
    result = audit(demo_explainer, demo_data, out, batch_size=4, executor="ray")
    assert result.processed == 20 - before
    assert_same_audit(local_reference, result)

    # started on Ray, finished locally
    out = tmp_path / "ray-then-local"
    with pytest.raises(KeyboardInterrupt):
        audit(demo_explainer, demo_data, out, batch_size=4, executor="ray", progress=_stop_after_first_results)
    with AuditStore(out / "audit.sqlite") as store:
        before = len(store.finished())
    assert 0 < before < 20
    assert 'id="interrupted"' in (out / "report.html").read_text()
    result = audit(demo_explainer, demo_data, out, batch_size=4)
    assert result.processed == 20 - before
    assert_same_audit(local_reference, result)


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(ray_cluster, demo_explainer, tmp_path):
    data = demo_dataset(tmp_path / "data")
    for image in list(data.rglob("*.jpg")):  # 60 images: a run long enough to kill a worker in the middle
        for copy in ("a", "b"):
            shutil.copy(image, image.with_name(f"{image.stem}_{copy}.jpg"))
    reference = audit(demo_explainer, data, tmp_path / "local", batch_size=4)
    out = tmp_path / "ray"
    done = [0]
    pids: set[int] = set()
    killed: list[tuple[int, int]] = []  # (pid, images stored when it was killed)
    stop = threading.Event()

    def killer() -> None:  # a driver thread: watches the workers' storage-check files, kills one worker
        while not stop.is_set():
            for reply in (out / PROBE_DIR).glob("worker-*.txt"):
                pids.add(int(reply.stem.split("-")[1]))
            if not killed and done[0] > 0 and len(pids) >= 2:
                pid = min(pids)
                os.kill(pid, signal.SIGKILL)
                killed.append((pid, done[0]))
            time.sleep(0.02)

    def progress(n: int, total: int) -> None:
        done[0] = n

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        result = audit(demo_explainer, data, out, batch_size=4, executor="ray", workers=2, progress=progress)
    finally:
        stop.set()
        thread.join()
    assert killed, "no worker was killed"
    assert killed[0][1] < 60  # killed in the middle of the run
    # (Ray usually restarts the killed worker, but on a loaded machine the other one may finish the run first)
    assert result.exit_code == 0
    assert result.processed == 60
    with AuditStore(out / "audit.sqlite") as store:
        keys = [row["key"] for row in store.rows()]
    assert len(keys) == len(set(keys)) == 60
    assert_same_audit(reference, result)
    assert [p.name for p in out.rglob(".*") if p.is_file()] == [".audit.lock"]  # no half-written file left


@pytest.mark.slow
def test_cli_runs_on_an_existing_cluster(ray_cluster, demo_data, local_reference, tmp_path):
    address = ray_cluster.get_runtime_context().gcs_address
    out = tmp_path / "out"
    args = [EXE, "audit", "demo", str(demo_data), "--out", str(out), "--batch-size", "4"]
    proc = subprocess.run(
        [*args, "--executor", "ray", "--address", address], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert "report:" in proc.stdout
    with AuditStore(out / "audit.sqlite") as store:
        assert store.count("done") == local_reference.summary["totals"]["done"]
    assert files(out) == files(local_reference.out)


def _can_unshare() -> bool:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _can_unshare(), reason="needs root and `unshare -m` to give the driver a private mount")
def test_an_output_folder_the_workers_cannot_see_stops_the_audit_clearly(ray_cluster, demo_data, tmp_path):
    """The driver writes into a tmpfs mounted in its own mount namespace: the Ray workers (started by the
    cluster, outside that namespace) see an empty folder at the same path, as a node without the shared mount."""
    address = ray_cluster.get_runtime_context().gcs_address
    private = tmp_path / "private"
    private.mkdir()
    out = private / "out"
    command = (
        f"mount -t tmpfs tmpfs '{private}' && exec '{EXE}' audit demo '{demo_data}' --out '{out}' "
        f"--executor ray --address '{address}'"
    )
    proc = subprocess.run(["unshare", "-m", "sh", "-c", command], capture_output=True, text=True, timeout=300)
    message = " ".join(proc.stderr.split())
    assert proc.returncode == 2, proc.stderr
    assert "must be on storage every Ray node sees" in message
    assert "cannot read" in message and "token" in message
    assert "Traceback" not in proc.stderr
    assert not list(private.iterdir())  # nothing reached the workers' side of the path


@pytest.mark.slow
def test_a_worker_that_cannot_see_the_output_folder_stops_the_run_clearly(
    ray_cluster, demo_data, demo_explainer, monkeypatch, tmp_path
):
    """The check every worker makes when it starts (for nodes that join after the first check): here the
    driver's token is never written, so the workers cannot find it."""
    from saliencykit.audit import ray_executor

    monkeypatch.setattr(ray_executor, "check_shared_storage", lambda out, token, sample=None: None)
    out = tmp_path / "out"
    with pytest.raises(ExecutorError, match="not on storage this node shares with the driver") as error:
        audit(demo_explainer, demo_data, out, executor="ray")
    assert "a Ray worker on" in str(error.value) and "run the same command again" in str(error.value)
    assert "Traceback" not in str(error.value)
    with AuditStore(out / "audit.sqlite") as store:
        assert store.count() == 0
    assert not (out / PROBE_DIR).exists()
