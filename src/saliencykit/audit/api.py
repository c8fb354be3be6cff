"""``saliencykit.audit(model, data, out)``: the dataset debugging workflow as one call."""

from __future__ import annotations

import hashlib
import logging
import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from ..errors import SaliencyKitError
from .annotations import attach, digest, read_annotations
from .cases import Thresholds
from .dataset import CLASS_MAP_MODES, ClassMap, DatasetError
from .local import AuditResult, Metrics, Progress, RunOptions, clear_output, read, run
from .metrics import metric_hook, parse_audit_metrics
from .outdir import check_items, check_places, output_lock
from .outputs import OutputOptions

log = logging.getLogger("saliencykit")


def audit(
    model: Any,
    data: str | Path,
    out: str | Path,
    *,
    preprocess: Any = None,
    postprocess: Any = "softmax",
    label_names: Sequence[str] | None = None,
    mode: str = "auto",
    method: Any = None,
    target_layer: str | None = None,
    device: str = "CPU",
    class_map: str | Path | Mapping[str, int | str] = "auto",
    thresholds: Thresholds | None = None,
    max_maps: int = 10,
    top_k: int = 5,
    batch_size: int = 16,
    workers: int | None = None,
    colormap: str = "jet",
    alpha: float = 0.5,
    max_side: int = 512,
    raw: bool = True,
    fresh: bool = False,
    metrics: Metrics | str | Sequence[str] | None = None,
    annotations: str | Path | None = None,
    progress: Progress | None = None,
    report: bool = True,
    executor: str = "local",
    address: str | None = None,
) -> AuditResult:
    """Audit a classifier on a labelled image set: predict, sort into cases, map, and write a browsable report.

    >>> result = audit("demo", "dataset/", "audit-out/")  # doctest: +SKIP
    >>> result.counts["false_positive_high_confidence"], result.report  # doctest: +SKIP

    Args:
        model: ``"demo"``, a model file or object (as for :class:`~saliencykit.Explainer`), or a ready
            ``Explainer`` (then ``preprocess``, ``method`` and the other model options are ignored).
        data: a folder of class sub-folders, a CSV of ``path,label`` rows, or a flat folder (no ground truth).
        out: the output folder: ``report.html``, ``audit.sqlite``, ``summary.json``, ``results.csv`` and one
            folder of overlays per case.
        class_map: how folder names / CSV labels become classes: ``"auto"``, ``"index"``, ``"name"``,
            ``"wnid"``, a JSON/CSV file, or a mapping (see :class:`~saliencykit.audit.dataset.ClassMap`).
        thresholds: case thresholds (:class:`~saliencykit.audit.cases.Thresholds`; defaults explained there).
        max_maps: at most this many classes above the explain threshold get a map per image.
        top_k: how many top classes the store keeps per image.
        batch_size: images per inference.
        workers: local executor: threads reading ahead and writing behind (default 2); Ray executor: number
            of Ray workers (default: one per node with CPUs).
        colormap, alpha, max_side, raw: how overlays are drawn (see :class:`OutputOptions`).
        fresh: delete an earlier audit in ``out`` first. Otherwise it is resumed (other settings are refused):
            images finished earlier are reused unless their file changed (audited again) or left the dataset
            (dropped, with their overlays); ``summary["resume"]`` counts each.
        metrics: faithfulness per image, averaged per case in the report: metric names
            (``"insertion-deletion,pointing-game"``, see :mod:`saliencykit.audit.metrics` for what each
            costs) or a hook ``metrics(image, explanation) -> {name: value}``.
        annotations: object boxes or masks per image (:mod:`saliencykit.audit.annotations`: COCO .json, a .csv
            of ``path,x0,y0,x1,y1[,label]``, a folder of VOC .xml or of PNG masks), names relative to ``data``.
            With them each image gets the share of its map on the object and a pointing-game hit, and the cases
            ``right_for_wrong_reasons`` / ``wrong_but_looked_at_object``; images without an entry audit as before.
        progress: optional ``progress(done, total)`` callback.
        report: write ``report.html`` (the exports are always written).
        executor: ``"local"`` (this process) or ``"ray"`` (a Ray cluster, ``pip install "saliencykit[ray]"``;
            ``out`` and ``data`` must then be on storage every node sees: see
            :mod:`saliencykit.audit.ray_executor`). Either one resumes an audit the other started.
        address: the Ray cluster: ``"auto"`` (the cluster this machine is a node of) or the head's
            ``"host:port"``; default: ``RAY_ADDRESS`` or a new local Ray instance. Only with ``executor="ray"``.

    Every option is checked before the model is loaded. Raises :class:`~saliencykit.audit.OutputError` when
    ``out`` is a file, not writable, the dataset or inside it (or holds the dataset in a folder the audit owns),
    :class:`~saliencykit.audit.OutputLocked` when another audit is writing into ``out``, and
    :class:`~saliencykit.audit.StoreError` when its ``audit.sqlite`` is damaged (``fresh=True`` starts over).

    Returns an :class:`AuditResult`; failed images are in ``result.failed`` and make ``result.exit_code`` 1.
    Ctrl-C stops cleanly: finished images are kept (and a partial report written), then KeyboardInterrupt is
    raised; the same call again resumes.
    """
    metric_names = None if metrics is None or callable(metrics) else parse_audit_metrics(metrics)
    _check_hooks(data, out, None if metric_names is not None else metrics, progress)
    out = Path(out)
    # every check that needs no model comes first: a usage mistake fails at once, not once per image
    _check_executor(executor, address)  # a missing Ray fails at once too
    thresholds = _check_thresholds(thresholds)
    _check_options(mode, method, class_map, max_maps, top_k, batch_size, workers, max_side, alpha)
    output = OutputOptions(colormap=colormap, alpha=alpha, max_side=max_side, raw=raw)
    if not Path(data).exists():
        raise DatasetError(f"{data}: no such folder or CSV file.")
    check_places(data, out)
    objects = None
    if annotations is not None:
        if not isinstance(annotations, (str, os.PathLike)):
            raise SaliencyKitError(f"annotations={annotations!r}: give the path of an annotation file or folder.")
        data_root = Path(data).resolve() if Path(data).is_dir() else Path(data).resolve().parent
        objects = read_annotations(annotations, data_root)  # a malformed file fails before the model loads
    with output_lock(out):  # one audit per output folder at a time, from before --fresh deletes anything
        explainer = _explainer(
            model, preprocess, postprocess, label_names, mode, method, target_layer, device, batch_size
        )
        dataset = read(data, explainer, class_map, out)
        annotated = None
        if objects is not None and annotations is not None:
            dataset, matched, unmatched = attach(dataset, objects)
            # what the boxes say, not how many images they match: a dataset that grows still resumes
            annotated = {"source": str(Path(annotations).resolve()), "digest": digest(objects)}
            log.info("saliencykit: %d image(s) of the dataset have annotated objects", matched)
            if unmatched:
                shown = ", ".join(unmatched[:5]) + (" ..." if len(unmatched) > 5 else "")
                dataset.notes.append(
                    ("annotations", str(annotations), f"{len(unmatched)} annotated name(s) match no image: {shown}")
                )
        hook = metric_hook(explainer, metric_names) if metric_names is not None else metrics
        if dataset.kind == "csv":
            check_items((item.path for item in dataset.items), out)
        if fresh:
            clear_output(out)
        options = RunOptions(
            thresholds=thresholds,
            output=output,
            max_maps=max_maps,
            top_k=top_k,
            batch_size=batch_size,
            workers=workers if workers is not None and executor == "local" else 2,
            metrics=hook if callable(hook) else None,
        )
        settings = {
            "model": model_id(model if isinstance(model, (str, Path)) else explainer),
            "preprocess": _describe_callable(explainer.pipeline.preprocess),
            "postprocess": _describe_callable(explainer.pipeline.postprocess),
            "labels": _digest("\n".join(explainer.label_names or [])),
            "method": explainer.method.name,
            "target_layer": getattr(explainer.method, "target_layer", None),
            "data": str(Path(data).resolve()),
            "class_map": ClassMap(class_map, explainer.label_names).describe(),
            "thresholds": thresholds.to_dict(),
            "max_maps": max_maps,
            "top_k": top_k,
            "output": options.output.to_dict(),
        }
        if annotated is not None:  # other boxes, other cases: a store refuses to mix them
            settings["annotations"] = annotated
        if metric_names is not None:
            settings["metrics"] = metric_names
        # the executor is not a setting: an audit started by one executor can be finished by the other
        if executor == "ray":
            from .ray_executor import ray_execution

            driver, stops = ray_execution(address, workers)
            return run(
                explainer,
                dataset,
                out.resolve(),
                settings,
                options,
                progress,
                report,
                execution=driver,
                partial_on=stops,
            )
        return run(explainer, dataset, out, settings, options, progress, report)


EXECUTORS = ("local", "ray")
MODES = ("auto", "whitebox", "blackbox")
MAX_BATCH = 1024


def _check_thresholds(thresholds: Any) -> Thresholds:
    if thresholds is None:
        return Thresholds()
    if not isinstance(thresholds, Thresholds):
        raise SaliencyKitError(
            f"thresholds={thresholds!r}: give a saliencykit.audit.Thresholds(high=..., low=..., two=..., explain=...)."
        )
    return thresholds


def _check_hooks(data: Any, out: Any, metrics: Any, progress: Any) -> None:
    for name, value in (("data", data), ("out", out)):
        if not isinstance(value, (str, os.PathLike)):
            raise SaliencyKitError(f"{name}={value!r}: give a path (str or pathlib.Path).")
    for name, value in (("metrics", metrics), ("progress", progress)):
        if value is not None and not callable(value):
            raise SaliencyKitError(f"{name}={value!r}: give a function (see help(saliencykit.audit)) or None.")


def _count(value: Any, option: str, name: str, minimum: int, meaning: str) -> None:
    """Refuse a count option that is not a whole number >= ``minimum``; the message names both spellings."""
    whole = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not whole or value < minimum:
        raise SaliencyKitError(f"{option} {value!r} ({name}={value!r}): {meaning}; give a whole number >= {minimum}.")


def _check_options(mode, method, class_map, max_maps, top_k, batch_size, workers, max_side, alpha) -> None:
    """Every option that can be checked without the model, so that a mistake fails before anything is loaded."""
    from ..methods import registry

    if mode not in MODES:
        raise SaliencyKitError(f"--mode {mode!r} (mode={mode!r}): use one of {', '.join(MODES)}.")
    known = registry.names(task="classification")
    if isinstance(method, str) and method.lower().replace("-", "_") not in known:
        raise SaliencyKitError(f"--method {method!r} is not a method; available: {', '.join(known)}.")
    if isinstance(class_map, str) and class_map not in CLASS_MAP_MODES and not Path(class_map).is_file():
        raise DatasetError(
            f"--class-map {class_map!r}: neither one of {', '.join(CLASS_MAP_MODES)} nor a JSON/CSV file that exists."
        )
    ClassMap(class_map)  # a table file or mapping is read (and refused if broken) now
    _count(top_k, "--top-k", "top_k", 1, "the store keeps this many top classes per image")
    _count(max_maps, "--max-maps", "max_maps", 1, "each image gets at least the map of its top class")
    _count(batch_size, "--batch-size", "batch_size", 1, "images per inference")
    if batch_size > MAX_BATCH:  # twice as many images are read ahead: memory grows with it
        raise SaliencyKitError(
            f"--batch-size {batch_size} (batch_size={batch_size}): at most {MAX_BATCH} images per inference; "
            "larger batches only cost memory."
        )
    if workers is not None:
        _count(workers, "--workers", "workers", 1, "threads (or Ray workers) that do the work")
    _count(max_side, "--max-side", "max_side", 0, "longest overlay side in pixels, 0 for full size")
    if not isinstance(alpha, numbers.Real) or not 0.0 <= float(alpha) <= 1.0:
        raise SaliencyKitError(f"alpha={alpha!r}: the map's weight over the photo is between 0 and 1.")


def _check_executor(executor: str, address: str | None) -> None:
    if executor not in EXECUTORS:
        raise SaliencyKitError(f"executor='{executor}': use one of {', '.join(EXECUTORS)}.")
    if executor == "ray":
        from .ray_executor import check_address

        check_address(address)  # Ray installed, and an address it can use
    elif address is not None:
        raise SaliencyKitError(f"address='{address}' is the Ray cluster to use: give it with executor='ray'.")


def _explainer(model, preprocess, postprocess, label_names, mode, method, target_layer, device, batch_size):
    from ..explainer import Explainer

    if isinstance(model, Explainer):
        return model
    if isinstance(model, str) and model == "demo":
        from .. import demo

        preprocess = preprocess or demo.preprocess
        label_names = label_names or demo.labels()
        model = demo.model()
    return Explainer(
        model,
        preprocess,
        postprocess,
        mode=mode,
        method=method,
        target_layer=target_layer,
        device=device,
        label_names=label_names,
        batch_size=batch_size,
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _file_digest(paths: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()[:16]


def model_id(model: Any) -> str:
    """A stable identity of a model for the run store: file contents for files, structure for objects."""
    if isinstance(model, str) and model == "demo":
        from .. import demo

        return f"demo:{demo.MODEL_ID}"
    if isinstance(model, (str, Path)):
        path = Path(model)
        if path.is_file():
            files = [path] + ([path.with_suffix(".bin")] if path.suffix == ".xml" else [])
            return f"file:{path.name}:{_file_digest([f for f in files if f.is_file()])}"
        return f"file:{path}"
    graph = getattr(getattr(model, "pipeline", None), "ov_model", None)
    if graph is None and isinstance(model, ov.Model):
        graph = model
    if graph is not None:
        parts = [f"{op.get_type_name()}:{op.get_friendly_name()}" for op in graph.get_ordered_ops()]
        constants = [
            float(np.asarray(op.get_data(), np.float64).sum())
            for op in graph.get_ordered_ops()
            if op.get_type_name() == "Constant" and op.get_output_element_type(0).is_real()
        ]
        return f"graph:{_digest('|'.join(parts) + repr(constants))}"
    return f"object:{_describe_callable(model)}"


def _describe_callable(value: Any) -> str:
    if value is None or isinstance(value, (str, int, float)):
        return str(value)
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}"
    return repr(value)
