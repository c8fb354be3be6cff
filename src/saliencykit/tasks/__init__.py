"""Tasks: what differs between classification, detection, segmentation and a user's own scorer for one Explainer.

``TASKS`` is the task registry: adding a task is one module with a :class:`~saliencykit.tasks.base.Task` subclass
(its docstring is the guide) and one line here.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import MethodError
from .base import Task

#: task name -> "module:class" (imported when first used, so ``import saliencykit`` stays light)
TASKS: dict[str, str] = {
    "classification": ".classification:ClassificationTask",
    "detection": ".detection:DetectionTask",
    "segmentation": ".segmentation:SegmentationTask",
    "scalar": ".scalar:ScalarTask",
}


def task_class(name: str) -> type[Task]:
    """The task class for ``name`` (its ``noun``, ``options``, ... without making one)."""
    if not isinstance(name, str) or name not in TASKS:
        raise MethodError(f"task='{name}': use one of {', '.join(TASKS)}.")
    module, cls = TASKS[name].split(":")
    return getattr(importlib.import_module(module, __package__), cls)


def get_task(name: str, **options: Any) -> Task:
    """A task object for ``name`` with its options (e.g. ``get_task("detection", class_output=1)``)."""
    return task_class(name)(**options)


__all__ = ["TASKS", "Task", "get_task", "task_class"]
