"""Running an audit: predict and explain every image, sort it into a case, write its maps, record it.

The work is split so that other executors can reuse it:

- :func:`load` reads one item (file -> RGB image + SHA-1, or an error);
- :func:`compute_batch` runs the explainer on a batch of loaded images and classifies them (no files);
- :func:`saliencykit.audit.outputs.write_outputs` writes one image's overlays and returns its record;
- :class:`~saliencykit.audit.store.AuditStore.add` commits records.

:func:`process_items` chains the first three synchronously for a batch of items — what a remote worker
(e.g. a Ray task) would run before sending the records back to the one process that owns the store. The local
runner overlaps them instead: a small thread pool reads and decodes images ahead of inference, another encodes
and writes JPEGs behind it, and the main thread runs batched inference and commits one transaction per batch.
Only a bounded number of images is ever in flight, so memory stays flat however large the dataset.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import SaliencyKitError
from ..labels import label_of
from .annotations import read_masks
from .cases import CASES, Thresholds, classify, explain_targets
from .classmaps import FOLDER as CLASS_MAPS
from .dataset import Dataset, Item, load_image, read_dataset
from .focus import focus_stats, reasons
from .outputs import ORIGINALS, OutputOptions, base_names, write_outputs
from .report import CHUNK_FOLDER
from .store import STORE_NAME, AuditStore

log = logging.getLogger("saliencykit")

Progress = Callable[[int, int], None]
Metrics = Callable[[np.ndarray, Any], Mapping[str, float]]


class RecordSink(Protocol):
    """Where the loop commits finished records: the :class:`AuditStore`, or a Ray worker's collector."""

    def add(self, records: Sequence[Mapping[str, Any]]) -> int: ...


@dataclass
class Loaded:
    """One item after reading: the RGB image, or the error that prevented it."""

    item: Item
    image: np.ndarray | None = None
    sha1: str | None = None
    error: str | None = None
    seconds: float = 0.0
    model_image: np.ndarray | None = None  # the image already resized to the model input, when known
    stat: tuple[int, int] | None = None  # the file's (size, mtime_ns) just before it was read

    @property
    def explained(self) -> np.ndarray | None:
        """What the explainer gets: the model-sized image when the reader made it, else the image."""
        return self.model_image if self.model_image is not None else self.image


@dataclass
class ImageResult:
    """One explained image: scores, maps of the chosen classes, and its case. Holds the image until written."""

    item: Item
    image: np.ndarray
    sha1: str | None
    scores: np.ndarray
    targets: list[int]
    maps: dict[int, np.ndarray]
    case: str
    top_k: int = 5
    seconds: float = 0.0
    stat: tuple[int, int] | None = None
    focus: dict[str, Any] | None = None
    suspicious: list[str] | None = None

    def record(self, label_names: list[str] | None) -> dict[str, Any]:
        """The run-store record of this image (without file names, which the writer adds)."""
        order = np.argsort(-self.scores, kind="stable")[: self.top_k]
        pred = int(order[0])
        gt = self.item.gt
        return {
            "key": self.item.key,
            "path": str(self.item.path),
            "label": self.item.label,
            "gt": gt,
            "gt_label": label_of(gt, label_names) if gt is not None else None,
            "gt_score": float(self.scores[gt]) if gt is not None else None,
            "pred": pred,
            "pred_label": label_of(pred, label_names),
            "pred_score": float(self.scores[pred]),
            "topk": [[int(c), round(float(self.scores[c]), 6)] for c in order],
            "case_name": self.case,
            "width": int(self.image.shape[1]),
            "height": int(self.image.shape[0]),
            "sha1": self.sha1,
            "size": self.stat[0] if self.stat else None,
            "mtime_ns": self.stat[1] if self.stat else None,
            "objects": self.item.objects,
            "focus": self.focus,
            "suspicious": self.suspicious,
            "status": "done",
            "seconds": round(self.seconds, 6),
        }


def item_record(item: Item, status: str, error: str | None, sha1: str | None = None) -> dict[str, Any]:
    """The record of an item that was not explained (failed or skipped)."""
    return {
        "key": item.key,
        "path": str(item.path),
        "label": item.label,
        "gt": item.gt,
        "sha1": sha1,
        "status": status,
        "error": error,
    }


def load(item: Item, resize: Callable[[np.ndarray], np.ndarray] | None = None) -> Loaded:
    """Read one item's image (and resize it for the model with ``resize``, see :func:`model_resizer`); a bad
    file gives a :class:`Loaded` with the error instead of raising."""
    start = time.perf_counter()
    try:
        info = os.stat(item.path)  # before reading: a file changed meanwhile shows a newer mtime next run
        stat = (info.st_size, info.st_mtime_ns)
    except OSError:
        stat = None  # the reader names the problem
    try:
        image, digest = load_image(item.path)
        small = resize(image) if resize is not None else None
    except SaliencyKitError as exc:
        return Loaded(item, error=str(exc), seconds=time.perf_counter() - start)
    except Exception as exc:  # a decoder's own failure on a hostile file: that file fails, the run goes on
        return Loaded(item, error=f"{item.path}: cannot be read ({type(exc).__name__}: {exc})")
    return Loaded(item, image, digest, seconds=time.perf_counter() - start, model_image=small, stat=stat)


def model_resizer(explainer: Any) -> Callable[[np.ndarray], np.ndarray] | None:
    """The explainer's own first step (resizing to the model input) as a function readers can run ahead.

    With a declarative :class:`~saliencykit.Preprocess` the pipeline's first step is a deterministic resize of
    the uint8 image; doing it in the reader threads gives the explainer an image it does not need to resize,
    with bit-identical scores and maps, and takes that work off the inference thread. ``None`` otherwise.
    """
    from ..preprocess import Preprocess

    preprocess = getattr(explainer.pipeline, "preprocess", None)
    if not isinstance(preprocess, Preprocess) or preprocess.size is None:
        return None
    return lambda image: preprocess.resize_image(image).astype(np.uint8)  # integral values: exact


def num_classes_of(explainer: Any) -> int | None:
    """The explainer's number of classes when its graph (:attr:`Pipeline.num_classes`) or labels tell, else ``None``."""
    num_classes = getattr(explainer.pipeline, "num_classes", None)
    if num_classes is not None:
        return int(num_classes)
    return len(explainer.label_names) if explainer.label_names else None


def compute_batch(
    explainer: Any,
    loaded: Sequence[Loaded],
    thresholds: Thresholds = Thresholds(),
    max_maps: int = 10,
    top_k: int = 5,
) -> list[ImageResult | dict[str, Any]]:
    """Explain a batch of loaded images; each result is an :class:`ImageResult` or a failed record.

    White-box: one batched call explains the top ``max_maps`` classes (the maps of every class come out of the
    same inference); the ground truth of a mistake outside them gets a second, batched call. Black-box: the
    classes are chosen from a prediction first, so the expensive method runs only for them.
    """
    if not loaded:
        return []
    start = time.perf_counter()
    try:
        explain = _whitebox if explainer.whitebox else _blackbox
        results: list[ImageResult | dict[str, Any]] = [*explain(explainer, loaded, thresholds, max_maps, top_k)]
    except (SaliencyKitError, RuntimeError, ValueError) as exc:
        if len(loaded) == 1:
            return [item_record(loaded[0].item, "failed", f"explaining failed: {exc}", loaded[0].sha1)]
        # isolate the image that breaks the batch: the others still get their results
        return [r for one in loaded for r in compute_batch(explainer, [one], thresholds, max_maps, top_k)]
    share = (time.perf_counter() - start) / len(loaded)
    for result, one in zip(results, loaded):
        if isinstance(result, ImageResult):
            result.seconds = one.seconds + share
    return results


def _result(one: Loaded, scores, targets, maps, thresholds, top_k) -> ImageResult:
    """The image's result: the focus of its top-1 map first (the annotated cases depend on it), then its case."""
    assert one.image is not None  # only loaded images are explained
    objects = one.item.objects
    size_hw = (int(one.image.shape[0]), int(one.image.shape[1]))
    stats = focus_stats(maps[int(np.argmax(scores))], objects, size_hw, read_masks(objects, size_hw))
    case = classify(scores, one.item.gt, thresholds, stats["object_energy"])
    result = ImageResult(one.item, one.image, one.sha1, scores, targets, maps, case, top_k, stat=one.stat)
    result.focus, result.suspicious = stats, reasons(stats, thresholds)
    return result


def _whitebox(explainer, loaded, thresholds, max_maps, top_k) -> list[ImageResult]:
    """One inference per batch: the Explainer picks each image's targets from its own scores."""

    def choose(scores: np.ndarray, index: int) -> list[int]:
        return explain_targets(scores, loaded[index].item.gt, thresholds, max_maps)

    explanations = explainer([one.explained for one in loaded], targets=choose, keep_image=False)
    return [
        _result(one, np.asarray(e.predictions, np.float32), e.targets, e.maps, thresholds, top_k)
        for one, e in zip(loaded, explanations)
    ]


def _blackbox(explainer, loaded, thresholds, max_maps, top_k) -> list[ImageResult]:
    scores = explainer.predict([one.explained for one in loaded])
    results = []
    for one, s in zip(loaded, scores):
        targets = explain_targets(s, one.item.gt, thresholds, max_maps)
        explanation = explainer(one.explained, targets=targets, keep_image=False)
        results.append(_result(one, np.asarray(s, np.float32), targets, explanation.maps, thresholds, top_k))
    return results


@dataclass
class RunOptions:
    """Everything the runner needs besides the explainer and the items."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    output: OutputOptions = field(default_factory=OutputOptions)
    max_maps: int = 10
    top_k: int = 5
    batch_size: int = 16
    workers: int = 2
    metrics: Metrics | None = None


def process_items(
    explainer: Any, items: Sequence[Item], out: Path, bases: Mapping[str, str], options: RunOptions
) -> list[dict[str, Any]]:
    """Read, explain and write a batch of items synchronously; return their records (for remote workers)."""
    records: list[dict[str, Any]] = []
    loaded = []
    resize = model_resizer(explainer)
    for item in items:
        if item.status != "todo":
            records.append(item_record(item, item.status, item.error))
            continue
        one = load(item, resize)
        if one.error:
            records.append(item_record(item, "failed", one.error))
        else:
            loaded.append(one)
    for result in compute_batch(explainer, loaded, options.thresholds, options.max_maps, options.top_k):
        records.append(_write(result, out, bases, explainer.label_names, options))
    return records


def _write(result, out, bases, label_names, options: RunOptions) -> dict[str, Any]:
    if isinstance(result, dict):
        return result
    try:
        return write_outputs(result, out, bases[result.item.key], label_names, options.output, options.metrics)
    except Exception as exc:  # anything unexpected fails this image only (write_outputs handles OSError itself)
        return item_record(result.item, "failed", f"writing its maps failed ({type(exc).__name__}: {exc})")
    finally:
        result.image = None  # the photo is not needed any more: keep memory flat


class _LocalLoop:
    """The local overlapped loop: readers ahead, batched inference in the caller's thread, writers behind."""

    def __init__(self, explainer, store: RecordSink, out: Path, bases, options: RunOptions, progress, total):
        self.explainer = explainer
        self.store = store
        self.out = out
        self.bases = bases
        self.options = options
        self.progress = progress
        self.total = total
        self.done = 0
        workers = max(1, options.workers)
        self.readers = ThreadPoolExecutor(workers, thread_name_prefix="saliencykit-audit-read")
        self.writers = ThreadPoolExecutor(workers, thread_name_prefix="saliencykit-audit-write")
        self.reads: deque[Future] = deque()
        self.writes: deque[Future] = deque()
        self.ready: list[dict[str, Any]] = []
        self.lookahead = 2 * max(1, options.batch_size)
        self.resize = model_resizer(explainer)

    def run(self, items: Sequence[Item]) -> None:
        pending = iter(items)
        batch: list[Loaded] = []
        try:
            self._fill(pending)
            while self.reads:
                one = self.reads.popleft().result()
                self._fill(pending)
                if isinstance(one, dict):
                    self.ready.append(one)
                elif one.error:
                    self.ready.append(item_record(one.item, "failed", one.error))
                else:
                    batch.append(one)
                if batch and (len(batch) >= self.options.batch_size or not self.reads):
                    self._explain(batch)
                    batch = []
                self._collect(block=False)
            self._collect(block=True)
        except KeyboardInterrupt:
            self.readers.shutdown(wait=False, cancel_futures=True)
            self._collect(block=True)  # what is already being written is kept
            raise
        finally:
            self.readers.shutdown(wait=False, cancel_futures=True)
            self.writers.shutdown(wait=True)

    def _fill(self, pending) -> None:
        while len(self.reads) < self.lookahead:
            item = next(pending, None)
            if item is None:
                return
            if item.status != "todo":
                future: Future = Future()
                future.set_result(item_record(item, item.status, item.error))
                self.reads.append(future)
            else:
                self.reads.append(self.readers.submit(load, item, self.resize))

    def _explain(self, batch: list[Loaded]) -> None:
        options = self.options
        results = compute_batch(self.explainer, batch, options.thresholds, options.max_maps, options.top_k)
        label_names = self.explainer.label_names
        for result in results:
            self.writes.append(self.writers.submit(_write, result, self.out, self.bases, label_names, options))
        # bound the work queued behind inference: wait for the oldest writes when too many are pending
        while len(self.writes) > self.lookahead:
            self.ready.append(self.writes.popleft().result())

    def _collect(self, block: bool) -> None:
        while self.writes and (block or self.writes[0].done()):
            self.ready.append(self.writes.popleft().result())
        if self.ready:
            self.store.add(self.ready)
            self.done += len(self.ready)
            self.ready = []
            if self.progress is not None:
                self.progress(self.done, self.total)


@dataclass
class AuditResult:
    """What an audit produced: where, how many images per case, what failed.

    Attributes:
        out: the output folder. report: ``out/report.html`` (``None`` if not written). store: the SQLite store.
        summary: the content of ``summary.json`` (counts per case, accuracy, confusions, failures, ...).
        processed: items computed by this call (the rest were finished by an earlier run).
        seconds: wall time of this call's processing.
    """

    out: Path
    report: Path | None
    store: Path
    summary: dict[str, Any]
    processed: int = 0
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        """Images per case."""
        return dict(self.summary["cases"])

    @property
    def failed(self) -> list[dict[str, str]]:
        """``{"key", "error"}`` of every failed item."""
        return list(self.summary["failed"])

    @property
    def exit_code(self) -> int:
        """0 when every image was audited, 1 when some failed."""
        return 1 if self.summary["totals"]["failed"] else 0

    def rows(self, status: str | None = None) -> list[dict[str, Any]]:
        """The store's rows (JSON columns decoded), ordered by key."""
        with AuditStore(self.store) as store:
            return list(store.rows(status))


_OWNED = (STORE_NAME, f"{STORE_NAME}-wal", f"{STORE_NAME}-shm", "report.html", "summary.json", "results.csv")


def clear_output(out: Path) -> None:
    """Delete what an earlier audit wrote into ``out`` (its store, case folders, report and exports) only."""
    for name in _OWNED:
        (out / name).unlink(missing_ok=True)
    for name in (*CASES, ORIGINALS, CLASS_MAPS, CHUNK_FOLDER):
        if (out / name).is_dir():
            shutil.rmtree(out / name)


def _clean_partial_files(out: Path) -> None:
    """Remove temporary files that a killed run left half-written (atomic writes name them '.<name>.*')."""
    for name in (*CASES, ORIGINALS, CLASS_MAPS, CHUNK_FOLDER):
        folder = out / name
        if folder.is_dir():
            for tmp in [*folder.glob(".*"), *folder.glob("raw/.*")]:
                tmp.unlink(missing_ok=True)


class Execution(Protocol):
    """Gets an audit's pending items done (the local loop, or the Ray driver) and counts the finished ones."""

    done: int

    def run(self, items: Sequence[Item]) -> None: ...


#: (explainer, store, out, file-name bases, options, progress, number of pending items) -> an :class:`Execution`
ExecutionFactory = Callable[[Any, AuditStore, Path, dict[str, str], RunOptions, "Progress | None", int], Execution]


def run(
    explainer: Any,
    dataset: Dataset,
    out: Path,
    settings: Mapping[str, Any],
    options: RunOptions,
    progress: Progress | None = None,
    report: bool = True,
    *,
    execution: ExecutionFactory | None = None,
    partial_on: tuple[type[BaseException], ...] = (KeyboardInterrupt,),
) -> AuditResult:
    """Audit ``dataset`` into ``out`` with a ready explainer; resumes an existing store with the same settings.

    ``execution`` does the pending items (default: the local loop; the Ray executor passes its driver). When one of
    ``partial_on`` stops the run after Ctrl-C or some finished images, the report of what is done is written first.
    """
    from .report import export
    from .resume import reconcile

    out.mkdir(parents=True, exist_ok=True)
    with AuditStore(out / STORE_NAME) as store:
        store.check_settings(settings)
        store.set_notes(dataset.notes)
        pending, resume = reconcile(store, dataset, out)  # changed and removed files are not reused
        _clean_partial_files(out)
        bases = base_names(item.key for item in dataset.items if item.status == "todo")
        start = time.perf_counter()
        if progress is not None:
            progress(0, len(pending))
        worker = (execution or _LocalLoop)(explainer, store, out, bases, options, progress, len(pending))
        try:
            worker.run(pending)
        except partial_on as exc:
            if report and (worker.done or isinstance(exc, KeyboardInterrupt)):
                export(store, out, _describe(explainer), settings, interrupted=True, resume=resume.to_dict())
            raise
        seconds = time.perf_counter() - start
        summary = export(store, out, _describe(explainer), settings, write_report=report, resume=resume.to_dict())
    return AuditResult(out, out / "report.html" if report else None, out / STORE_NAME, summary, worker.done, seconds)


def _describe(explainer: Any) -> str:
    return getattr(explainer, "method_description", type(explainer).__name__)


def read(data: str | Path, explainer: Any, class_map: Any = "auto", out: Path | None = None) -> Dataset:
    """The dataset at ``data`` with class names resolved against ``explainer``'s classes (without ``out``)."""
    return read_dataset(data, explainer.label_names, num_classes_of(explainer), class_map, exclude=out)
