"""Dataset audits: the saliency-map interpretation workflow as one call, with a report and a resumable store.

>>> import saliencykit as sk  # doctest: +SKIP
>>> result = sk.audit("demo", "dataset/", "audit-out/")  # doctest: +SKIP

Modules: :mod:`.dataset` reads class folders / CSVs, :mod:`.cases` sorts images into cases, :mod:`.outputs`
writes overlays, :mod:`.store` is the SQLite run store, :mod:`.local` runs the audit on this machine
(:mod:`.ray_executor` on a Ray cluster), :mod:`.report` writes ``report.html``, ``summary.json`` and
``results.csv``, :mod:`.demo` builds the demo data set, :mod:`.outdir` refuses harmful output folders and locks
them, :mod:`.resume` decides what a resumed run reuses, :mod:`.annotations` reads object boxes and masks,
:mod:`.focus` and :mod:`.classmaps` measure where the maps look, :mod:`.compare` compares two runs.
"""

from typing import TYPE_CHECKING

from ..lazy import attach

if TYPE_CHECKING:
    from .annotations import AnnotationError, read_annotations
    from .api import audit, model_id
    from .cases import ANNOTATED_CASES, CASES, UNLABELLED, Thresholds, classify, explain_targets
    from .compare import CompareError, compare_audits
    from .dataset import ClassMap, Dataset, DatasetError, Item, load_image, read_dataset
    from .demo import demo_annotations, demo_dataset, run_demo
    from .local import AuditResult, compute_batch, process_items
    from .outdir import OutputError, OutputLocked
    from .store import AuditStore, SettingsMismatch, StoreError

# every name is imported on first use, so importing one submodule does not import them all
__getattr__, __dir__ = attach(
    __name__,
    {
        "audit": ".api",
        "model_id": ".api",
        "AnnotationError": ".annotations",
        "read_annotations": ".annotations",
        "ANNOTATED_CASES": ".cases",
        "CompareError": ".compare",
        "compare_audits": ".compare",
        "CASES": ".cases",
        "UNLABELLED": ".cases",
        "Thresholds": ".cases",
        "classify": ".cases",
        "explain_targets": ".cases",
        "ClassMap": ".dataset",
        "Dataset": ".dataset",
        "DatasetError": ".dataset",
        "Item": ".dataset",
        "load_image": ".dataset",
        "read_dataset": ".dataset",
        "demo_annotations": ".demo",
        "demo_dataset": ".demo",
        "run_demo": ".demo",
        "AuditResult": ".local",
        "compute_batch": ".local",
        "process_items": ".local",
        "OutputError": ".outdir",
        "OutputLocked": ".outdir",
        "AuditStore": ".store",
        "SettingsMismatch": ".store",
        "StoreError": ".store",
    },
    ("annotations", "api", "cases", "compare", "dataset", "demo", "local", "outdir", "store"),
)

__all__ = [
    "ANNOTATED_CASES",
    "CASES",
    "UNLABELLED",
    "AnnotationError",
    "AuditResult",
    "AuditStore",
    "ClassMap",
    "CompareError",
    "Dataset",
    "DatasetError",
    "Item",
    "OutputError",
    "OutputLocked",
    "SettingsMismatch",
    "StoreError",
    "Thresholds",
    "audit",
    "classify",
    "compare_audits",
    "compute_batch",
    "demo_annotations",
    "demo_dataset",
    "explain_targets",
    "load_image",
    "model_id",
    "process_items",
    "read_annotations",
    "read_dataset",
    "run_demo",
]
