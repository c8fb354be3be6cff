"""Running an audit on a Ray cluster: ``saliencykit audit ... --executor ray`` / ``audit(..., executor="ray")``.

A white-box audit of ImageNet-val fits one machine; a black-box audit (hundreds of model calls per image) or a
nightly audit of a data lake does not. This executor spreads the work over a Ray cluster with Ray Data and keeps
everything else of the local audit: the same records, map files, run store, report and resume.

How it works
------------

- The driver (the machine that runs the command) reads the dataset, opens the run store ``OUT/audit.sqlite``
  and checks its settings exactly as the local executor does; the executor is not one of those settings, so a
  run started locally can be finished on Ray and the other way round.
- The pending items become a Ray Dataset (``ray.data.from_items``: key, path, label, class, file-name stem),
  mapped by ``map_batches`` over a fixed pool of actors (a callable class). Each actor builds the explainer once
  from the driver's model graph (shipped once through Ray's object store as OpenVINO IR bytes, so workers need
  neither the model file nor torch) and runs the local executor's own pipeline on its chunks of images: images
  read and resized ahead, batched inference, overlays and ``.npz`` maps written behind. It sends back only the
  records (a few hundred bytes per image).
- The records stream back to the driver (``iter_batches``) as tasks finish; the driver, the only writer of the
  store, commits one transaction per chunk. At the end it writes ``summary.json``, ``results.csv`` and
  ``report.html`` like the local executor.
- Fault tolerance: the actors are created with ``max_restarts=-1`` and ``max_task_retries=3``. A worker process
  that dies (killed, out of memory, node lost) is restarted and its chunk is run again; every map file is
  written atomically under a deterministic name, so the retry overwrites the files of the lost attempt, and the
  store keys records by image, so no image is lost or counted twice. A chunk that kills its worker four times
  stops the run (Ray < 2.64; later versions take no actor options in ``map_batches`` and Ray Data's default
  retries without limit); the finished images are kept and the same command resumes.
- Sizing: ``workers=None`` starts one worker per node that has CPUs, each reserving that many CPUs (the
  smallest node's count) and giving OpenVINO that many threads, with one reading / writing thread per four
  CPUs (at least two, as the local executor). ``workers=N`` starts N workers sharing the cluster's CPUs evenly
  (at least one CPU each when there are enough). On one machine, one worker with all its CPUs is the faster
  choice (``bench/audit_ray.py``).

Shared storage
--------------

Workers write the maps straight into the output folder, so **the output folder (and the dataset) must be on
storage that every node sees at the same path** (NFS, a cluster file system, ...). Before any image is
processed, the driver writes a random token into ``OUT/.saliencykit-ray/token``; a probe task pinned to every
node with CPUs must read it back at the same path and write a reply file that the driver then reads. Otherwise
the audit stops, before any image is processed, with an error naming each node and what it could not do. Every
worker repeats the check when it starts (a node may join later). The folder is removed at the end of the run.

Running on a cluster
--------------------

Install saliencykit with the Ray extra, the same version, on every node::

    pip install "saliencykit[ray]"

On the head node::

    ray start --head --port=6379                 # add --num-cpus=0 to keep the head free of audit work

On every worker node::

    ray start --address=HEAD_IP:6379

Mount the dataset and the output folder at the same path on every node, then run, on the head node::

    saliencykit audit model.xml /shared/dataset --out /shared/audit --executor ray --address auto

Run the command on a node of the cluster: Ray Data does not run through Ray Client, so ``ray://`` addresses
are refused; from another machine, ssh to the head node or submit the same command as a Ray job
(``ray job submit --address http://HEAD_IP:8265 -- saliencykit audit ...``, which needs Ray's job server on the
head). Without ``--address``, Ray uses ``RAY_ADDRESS`` if set, otherwise it starts a single-machine Ray
instance. ``--workers N`` sets the number of workers (default: one per node). Stop the cluster with ``ray stop``
on every node.

Recent Ray versions turn on token authentication in ``ray start --head``: copy the head's ``~/.ray/auth_token``
to every node (or set ``RAY_AUTH_TOKEN``) and start the workers with ``RAY_AUTH_MODE=token ray start ...``
(see Ray's token-authentication guide).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import os
import secrets
import shutil
import socket
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SaliencyKitError
from .dataset import Item
from .local import ExecutionFactory, Progress, RunOptions, _clean_partial_files, _LocalLoop, item_record
from .store import STORE_NAME, AuditStore

log = logging.getLogger("saliencykit")

INSTALL_HINT = 'pip install "saliencykit[ray]"'
PROBE_DIR = ".saliencykit-ray"
#: how many times a chunk is run again when its worker dies (one more death stops the run)
MAX_TASK_RETRIES = 3
_PROBE_TIMEOUT = 120.0


class ExecutorError(SaliencyKitError):
    """The Ray executor cannot run: Ray missing, no cluster, storage not shared, or the cluster failed."""


def require_ray() -> None:
    """Raise :class:`ExecutorError` with the install command when Ray Data cannot be imported."""
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise ExecutorError(
            f"--executor ray needs Ray Data, which is not installed ({exc}). Install it with: {INSTALL_HINT} "
            "(on every node of the cluster), or run the audit with the local executor."
        ) from None


# -- the explainer, rebuilt on every worker ------------------------------------------------------------------
@dataclass
class ExplainerSpec:
    """What a worker needs to rebuild the driver's explainer: the model graph as IR bytes, or a callable.

    The graph is the one the driver's explainer loaded (before its saliency branch was inserted), so a worker
    inserts the same method into the same graph and gets the same scores and maps, without the model file,
    torch, or the demo's conversion step.
    """

    xml: bytes | None
    weights: bytes | None
    predict_fn: Any
    #: ``Explainer.options()``: everything but the model that rebuilds the explainer
    options: dict[str, Any]

    @classmethod
    def of(cls, explainer: Any) -> ExplainerSpec:
        """The spec of a ready :class:`~saliencykit.Explainer` (classification)."""
        import openvino as ov

        if getattr(explainer, "task", "classification") != "classification":
            raise ExecutorError("the audit explains classifiers; a detection explainer cannot be audited.")
        pipeline = explainer.pipeline
        xml = weights = None
        if pipeline.ov_model is not None:
            with tempfile.TemporaryDirectory(prefix="saliencykit-ray-") as tmp:
                ov.save_model(pipeline.ov_model, str(Path(tmp) / "model.xml"), compress_to_fp16=False)
                xml = (Path(tmp) / "model.xml").read_bytes()
                weights_file = Path(tmp) / "model.bin"
                weights = weights_file.read_bytes() if weights_file.exists() else b""
        return cls(xml=xml, weights=weights, predict_fn=pipeline.predict_fn, options=explainer.options())

    def build(self) -> Any:
        """The explainer, compiled in this process."""
        import openvino as ov

        from ..explainer import Explainer
        from ..model import core

        if self.xml is not None:
            tensor = ov.Tensor(np.frombuffer(self.weights or b"\0", dtype=np.uint8).copy())
            model: Any = core().read_model(self.xml, tensor)
        else:
            model = self.predict_fn
        return Explainer(model, **self.options)


# -- the shared-storage check ----------------------------------------------------------------------------------
def storage_probe(folder: str, token: str, reply: str, sample: str | None = None) -> str | None:
    """Run on a node (or in a worker): read the driver's token in ``folder``, write a reply file next to it, and
    read the first bytes of ``sample`` (a dataset file).

    Returns ``None`` when all work, else what went wrong. Standard library only and never raises, so that it
    can run on a node before anything else is imported there.
    """
    import os
    import socket
    from pathlib import Path

    if sample is not None:
        try:
            with open(sample, "rb") as f:
                f.read(16)
        except OSError as exc:
            return f"cannot read the dataset file {sample} ({exc.strerror or exc}): the dataset is not shared"
    probe = Path(folder) / ".saliencykit-ray"  # PROBE_DIR (this function sees no module globals)
    try:
        seen = (probe / "token").read_text(encoding="utf-8").strip()
    except OSError as exc:
        return (
            f"cannot read {probe / 'token'} ({exc.strerror or exc}): the output folder is not on storage this "
            "node shares with the driver"
        )
    if seen != token:
        return f"{folder} on this node is another folder than the driver's (the token in it differs)"
    try:
        (probe / reply).write_text(f"{token} {socket.gethostname()} {os.getpid()}\n", encoding="utf-8")
    except OSError as exc:
        return f"cannot write into {probe} ({exc.strerror or exc})"
    return None


def _by_value(function: Any) -> Any:
    """A copy of ``function`` that Ray ships by value (its name is not importable), so that running it on a
    node does not import saliencykit there first."""
    import types

    copy = types.FunctionType(function.__code__, {"__builtins__": __builtins__}, f"{function.__name__}_by_value")
    copy.__qualname__ = copy.__name__
    return copy


def _nodes(ray: Any) -> list[dict[str, Any]]:
    """Alive nodes that have CPUs (where workers can run)."""
    return [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]


def check_shared_storage(out: Path, token: str, sample: Path | None = None) -> None:
    """Check that every node with CPUs sees ``out``: it reads the driver's token and writes a reply the driver
    reads back (and reads the dataset file ``sample``). Raises :class:`ExecutorError` naming the nodes that
    cannot, before any image is processed."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = out / PROBE_DIR
    probe.mkdir(parents=True, exist_ok=True)
    (probe / "token").write_text(token + "\n", encoding="utf-8")
    remote = ray.remote(num_cpus=0, max_retries=0)(_by_value(storage_probe))
    nodes = _nodes(ray)
    if not nodes:
        raise ExecutorError("the Ray cluster has no node with CPUs: start workers with `ray start --address=...`.")
    refs = {}
    for node in nodes:  # one probe pinned to each node
        pinned = remote.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False))
        sample_path = None if sample is None else str(sample)
        refs[node["NodeID"]] = pinned.remote(str(out), token, f"node-{node['NodeID']}.txt", sample_path)
    problems = []
    for node in nodes:
        where = f"node {node.get('NodeManagerHostname', '?')} ({node.get('NodeManagerAddress', '?')})"
        try:
            problem = ray.get(refs[node["NodeID"]], timeout=_PROBE_TIMEOUT)
        except ray.exceptions.GetTimeoutError:
            problem = f"did not answer within {_PROBE_TIMEOUT:.0f} s"
        except ray.exceptions.RayError as exc:
            problem = _cause(exc)
        if problem:
            problems.append(f"{where}: {problem}")
            continue
        reply = probe / f"node-{node['NodeID']}.txt"
        try:
            ok = reply.read_text(encoding="utf-8").split()[0] == token
        except (OSError, IndexError):
            ok = False
        if not ok:
            problems.append(f"{where}: wrote its reply, but the driver cannot read it back in {probe}")
    if problems:
        raise ExecutorError(
            f"the output folder {out} must be on storage every Ray node sees at the same path (e.g. NFS), and "
            "the dataset too:\n  " + "\n  ".join(problems)
        )


def _cause(exc: BaseException) -> str:
    """The message of the error a Ray task or actor raised, without Ray's traceback around it."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, SaliencyKitError):
        return str(cause)
    if isinstance(cause, ModuleNotFoundError):
        return f"{cause}: install saliencykit (with {INSTALL_HINT}) on every node"
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    for line in reversed(lines):  # the original error is the last line of the remote traceback
        if "Error:" in line or "Exception:" in line:
            return line.split("Error: ", 1)[-1] if "ExecutorError" in line else line
    return lines[-1] if lines else type(exc).__name__


# -- the worker ----------------------------------------------------------------------------------------------
class _Collect:
    """A stand-in for the store inside a worker: keeps the records the local pipeline commits."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def add(self, records: Sequence[Mapping[str, Any]]) -> int:
        self.records.extend(dict(r) for r in records)
        return len(records)


class AuditWorker:
    """A Ray Data actor: builds the explainer once, then audits chunks of items and returns their records.

    Each chunk runs through the local executor's pipeline (reads ahead, batched inference, writes behind), so a
    worker produces exactly the records and files the local executor would.
    """

    def __init__(self, spec_ref: list, out: str, token: str, options: RunOptions, threads: int | None = None) -> None:
        import ray

        self.out = Path(out)
        problem = storage_probe(out, token, f"worker-{os.getpid()}.txt")  # the storage as this worker sees it
        if problem:
            raise ExecutorError(f"a Ray worker on {socket.gethostname()}: {problem}")
        if threads:
            from ..model import core

            core().set_property("CPU", {"INFERENCE_NUM_THREADS": int(threads)})  # the CPUs Ray reserved for it
        self.explainer = ray.get(spec_ref[0]).build()
        self.options = options

    def __call__(self, batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = [json.loads(str(text)) for text in batch["item"]]
        items = [Item(r["key"], Path(r["path"]), r["label"], r["gt"], objects=r.get("objects")) for r in rows]
        bases = {r["key"]: r["base"] for r in rows}
        store = _Collect()
        _LocalLoop(self.explainer, store, self.out, bases, self.options, None, len(items)).run(items)
        return {"record": np.asarray([record_text(r) for r in store.records], dtype=object)}


def record_text(record: Mapping[str, Any]) -> str:
    """A record as JSON text for the trip to the driver (the ``map32`` bytes as base64)."""
    blob = record.get("map32")
    if isinstance(blob, bytes):
        record = {**record, "map32": base64.b64encode(blob).decode("ascii")}
    return json.dumps(record, default=str)


def record_of(text: str) -> dict[str, Any]:
    """The record of :func:`record_text`'s JSON text."""
    record = json.loads(text)
    if isinstance(record.get("map32"), str):
        record["map32"] = base64.b64decode(record["map32"])
    return record


# -- sizing --------------------------------------------------------------------------------------------------
def plan_workers(node_cpus: Sequence[float], workers: int | None) -> tuple[int, float]:
    """(number of workers, CPUs each) for nodes with ``node_cpus`` CPUs.

    ``None``: one worker per node, each with the smallest node's CPUs. ``N``: the largest whole number of CPUs
    per worker with which N workers fit on the nodes, or a fraction of a CPU when there are more workers than
    CPUs.

    >>> plan_workers([2], None), plan_workers([8, 8], 3), plan_workers([2], 4)
    ((1, 2.0), (3, 4.0), (4, 0.5))
    """
    cpus = [int(c) for c in node_cpus if c >= 1]
    if not cpus:
        raise ExecutorError("the Ray cluster has no node with a whole CPU: start workers with `ray start`.")
    if workers is None:
        return len(cpus), float(min(cpus))
    if workers < 1:
        raise ExecutorError(f"workers={workers}: give at least 1 Ray worker.")
    for each in range(max(cpus), 0, -1):
        if sum(c // each for c in cpus) >= workers:
            return workers, float(each)
    share = math.ceil(workers / sum(cpus))  # more workers than CPUs: each gets 1/share of a CPU
    return workers, 1.0 / share


def _chunk_size(todo: int, workers: int, batch_size: int) -> int:
    """Images per Ray task: a few inference batches (overlap, little per-task cost), but at least four tasks
    per worker (balance, and a dead worker loses little)."""
    return max(1, min(4 * max(1, batch_size), math.ceil(todo / (4 * workers))))


# -- the run -------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet_ray_data() -> Iterator[None]:
    import ray.data

    logger = logging.getLogger("ray.data")
    level = logger.level
    # Ray Data's INFO lines would break the progress bar, and its ERROR lines print Ray's traceback of a failure
    # that the run reports itself, with its cause (Ray keeps them in its session logs, /tmp/ray/session_*/logs)
    logger.setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        # Ray's deprecations of its own settings (raised by its internal copies of them), and of the actor options
        # map_batches still takes (see _map_kwargs): nothing a saliencykit user can act on
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ray(\.|$)")
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*", category=DeprecationWarning)
        context = ray.data.DataContext.get_current()
        bars = context.enable_progress_bars
        context.enable_progress_bars = False  # saliencykit shows its own
        try:
            yield
        finally:
            logger.setLevel(level)
            context.enable_progress_bars = bars


@contextlib.contextmanager
def connect(address: str | None) -> Iterator[Any]:
    """Ray, initialised: reuse this process's Ray if it has one, else connect to ``address`` (``"auto"`` or the
    head's ``"host:port"``; ``None``: ``RAY_ADDRESS`` or a new single-machine instance) and shut it down
    afterwards. Ray Client addresses (``ray://``) are refused: Ray Data needs a driver inside the cluster."""
    check_address(address)
    import ray

    if ray.is_initialized():
        if address is not None:
            log.info("saliencykit: Ray is already initialised in this process; address=%s is not used", address)
        yield ray
        return
    where = f"at {address}" if address else "(RAY_ADDRESS or a new local instance)"
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0][:300].rstrip(".")
        raise ExecutorError(f"cannot connect to the Ray cluster {where}: {reason}. {_START_ADVICE}.") from None
    try:
        yield ray
    finally:
        ray.shutdown()


_START_ADVICE = (
    "Start it with `ray start --head` (and `ray start --address=HEAD_IP:6379` on the workers), then run the audit "
    "on a node of the cluster with --address auto"
)


def check_address(address: str | None) -> None:
    """Fail fast, before the model is loaded, on a missing Ray, a Ray Client address or a host:port where
    nothing answers (Ray itself would retry that for minutes)."""
    require_ray()
    if address is not None and address.startswith("ray://"):
        raise ExecutorError(
            f"--address {address}: Ray Data cannot run its driver through Ray Client (ray://), and the audit's "
            "driver writes the run store. Run the command on a node of the cluster (e.g. the head node) with "
            "--address auto, or submit it there as a Ray job (`ray job submit -- saliencykit audit ... "
            "--executor ray --address auto`)."
        )
    problem = _unreachable(address)
    if problem:
        raise ExecutorError(f"cannot connect to the Ray cluster at {address}: {problem}. {_START_ADVICE}.")


def _unreachable(address: str | None) -> str | None:
    """Why ``host:port`` cannot be reached over TCP, or ``None`` (also for ``auto``)."""
    if not address or address == "auto" or ":" not in address:
        return None
    host, _, port = address.rpartition(":")
    host = host.strip("[]")  # [::1]:6379
    if not host or not port.isdigit():
        return None
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as exc:
        return f"nothing answers at {host}:{port} ({exc.strerror or exc})"
    return None


def _map_kwargs(ray: Any, workers: int, cpus: float) -> dict[str, Any]:
    import inspect

    kwargs: dict[str, Any] = {"compute": ray.data.ActorPoolStrategy(size=workers), "num_cpus": cpus}
    # recent Ray Data makes its actors fault tolerant by default; say so explicitly while map_batches still takes
    # actor options (deprecated as its keywords in Ray 2.60, due to go in 2.64)
    parameters = inspect.signature(ray.data.Dataset.map_batches).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        kwargs.update(max_restarts=-1, max_task_retries=MAX_TASK_RETRIES)
    return kwargs


def ray_execution(address: str | None = None, workers: int | None = None) -> tuple[ExecutionFactory, tuple]:
    """How :func:`saliencykit.audit.local.run` runs an audit on a Ray cluster: the driver that streams the pending
    items to Ray workers, and the errors after which the run still writes a report of what is done. ``out`` must
    then be an absolute path (workers elsewhere get it as it is)."""
    require_ray()
    return partial(_Driver, address=address, workers=workers), (KeyboardInterrupt, SaliencyKitError)


class _Driver:
    """The driver's side of the stream: hands out the pending items, commits records, counts them, reports progress."""

    def __init__(
        self,
        explainer: Any,
        store: AuditStore,
        out: Path,
        bases: dict[str, str],
        options: RunOptions,
        progress: Progress | None,
        total: int,
        *,
        address: str | None,
        workers: int | None,
    ) -> None:
        self.explainer, self.out, self.bases, self.options = explainer, out, bases, options
        self.address, self.workers = address, workers
        self.store = store
        self.progress = progress
        self.total = total
        self.done = 0
        self.seen: set[str] = set()
        self.duplicates = 0

    def run(self, pending: Sequence[Item]) -> None:
        """Record the items that need no model (failed / skipped on reading the dataset), distribute the rest."""
        try:
            self.add([item_record(i, i.status, i.error) for i in pending if i.status != "todo"])
            todo = [item for item in pending if item.status == "todo"]
            if todo:
                _distribute(self.explainer, todo, self.out, self.bases, self.options, self, self.address, self.workers)
        finally:
            _clean_partial_files(self.out)  # temporary files of attempts whose worker was killed

    def add(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        keys = [r["key"] for r in records]
        self.duplicates += sum(1 for k in keys if k in self.seen)
        self.seen.update(keys)
        self.store.add(records)
        self.done = len(self.seen)
        if self.progress is not None:
            self.progress(self.done, self.total)


def _distribute(explainer, todo: list[Item], out: Path, bases, options: RunOptions, state: _Driver, address, workers):
    spec = ExplainerSpec.of(explainer)  # before connecting: a model that cannot be shipped fails fast
    token = secrets.token_hex(16)
    with connect(address) as ray, _quiet_ray_data():
        try:
            check_shared_storage(out, token, todo[0].path.resolve())
            count, cpus = plan_workers([n["Resources"]["CPU"] for n in _nodes(ray)], workers)
            count = min(count, len(todo))
            chunk = _chunk_size(len(todo), count, options.batch_size)
            log.info("saliencykit: %d Ray worker(s) with %s CPU(s) each, %d image(s) per task", count, cpus, chunk)
            rows = [
                {
                    "key": i.key,
                    "item": json.dumps(
                        {
                            "key": i.key,
                            "path": str(i.path),
                            "label": i.label,
                            "gt": i.gt,
                            "base": bases[i.key],
                            "objects": i.objects,
                        }
                    ),
                }
                for i in todo
            ]
            spec_ref = ray.put(spec)  # held here for the whole run: restarted workers read it again
            dataset = ray.data.from_items(rows).map_batches(
                AuditWorker,
                batch_size=chunk,
                batch_format="numpy",
                fn_constructor_kwargs={
                    "spec_ref": [spec_ref],
                    "out": str(out),
                    "token": token,
                    # a worker with many CPUs needs more threads reading and writing around its inference
                    "options": replace(options, workers=max(options.workers, int(cpus) // 4)),
                    "threads": max(1, int(cpus)),
                },
                **_map_kwargs(ray, count, cpus),
            )
            stream = iter(dataset.iter_batches(batch_size=None, batch_format="numpy"))
            try:
                for batch in stream:
                    state.add([record_of(str(text)) for text in batch["record"]])
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()  # stops the dataset's execution (and its workers) when the loop ends early
        except ray.exceptions.RayError as exc:
            raise ExecutorError(
                f"the Ray run failed: {_cause(exc)}. The {state.done} image(s) finished so far are kept in "
                f"{out / STORE_NAME}; run the same command again to resume."
            ) from None
        finally:
            shutil.rmtree(out / PROBE_DIR, ignore_errors=True)
    lost = [item for item in todo if item.key not in state.seen]
    if lost:  # never expected: recorded as failed, so that the next run retries them
        log.warning("saliencykit: %d image(s) did not come back from the Ray workers; re-run to retry", len(lost))
        state.add([item_record(i, "failed", "lost by the Ray executor: re-run to retry") for i in lost])
    if state.duplicates:
        log.info("saliencykit: %d record(s) came back twice from retried tasks (stored once)", state.duplicates)
