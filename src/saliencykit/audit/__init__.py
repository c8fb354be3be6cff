"""Dataset audits: the saliency-map interpretation workflow as one call, with a report and a resumable store.

>>> import saliencykit as sk  # doctest: +SKIP
>>> result = sk.audit("demo", "dataset/", "audit-out/")  # doctest: +SKIP

Modules: :mod:`.dataset` reads class folders / CSVs, :mod:`.cases` sorts images into cases, :mod:`.outputs`
writes overlays, :mod:`.store` is the SQLite run store, :mod:`.local` runs the audit on this machine
(:mod:`.ray_executor` on a Ray cluster), :mod:`.report` writes ``report.html``, ``summary.json`` and
``results.csv``, :mod:`.demo` builds the demo data set, :mod:`.outdir` refuses harmful output folders and locks
them, :mod:`.resume` decides what a resumed run reuses.
"""

from .api import audit, model_id
from .cases import CASES, UNLABELLED, Thresholds, classify, explain_targets
from .dataset import ClassMap, Dataset, DatasetError, Item, load_image, read_dataset
from .demo import demo_dataset, run_demo
from .local import AuditResult, compute_batch, process_items
from .outdir import OutputError, OutputLocked
from .store import AuditStore, SettingsMismatch, StoreError

__all__ = [
    "CASES",
    "UNLABELLED",
    "AuditResult",
    "AuditStore",
    "ClassMap",
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
    "compute_batch",
    "demo_dataset",
    "explain_targets",
    "load_image",
    "model_id",
    "process_items",
    "read_dataset",
    "run_demo",
]
