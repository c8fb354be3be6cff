"""Inserting a white-box method into a model graph: a saliency-map output, for deployment or for the Explainer."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import openvino as ov

from .errors import GraphError, MethodError
from .graph import has_xai
from .graph.query import find_node
from .methods import WhiteBoxMethod, registry
from .model import load_model
from .preprocess import resolve_postprocess

log = logging.getLogger("saliencykit")


def insert_whitebox(
    model: ov.Model,
    method: str | WhiteBoxMethod | None = None,
    target_layer: Any = None,
    postprocess: Any = "softmax",
    task: str = "classification",
) -> tuple[WhiteBoxMethod, ov.Model, str]:
    """Insert a white-box method into ``model``; returns (method, new graph, why it was chosen).

    ``postprocess`` is what the task's methods take besides the graph (classification: the postprocess name;
    detection: the head hints). With no method, the registry's automatic white-box methods for ``task`` are tried
    in order (classification: ViT-ReciproCAM when the graph has transformer blocks, else ReciproCAM); when none
    fits, a :class:`GraphError` says what each one looked for.
    """
    if isinstance(method, str):
        spec = registry.lookup(method, task)
        if spec.kind != "whitebox":
            raise MethodError(f"method '{spec.name}' is black-box: it cannot be inserted into a graph.")
        named: WhiteBoxMethod = spec.create(
            task, **({"target_layer": target_layer} if "target_layer" in spec.options else {})
        )
        return named, named.insert(model, postprocess), "asked for"
    if method is not None:
        return method, method.insert(model, postprocess), "asked for"
    failures = []
    for spec in registry.automatic(task):
        candidate = spec.create(task, target_layer=target_layer)
        try:
            return candidate, candidate.insert(model, postprocess), spec.auto_reason
        except GraphError as exc:
            failures.append(f"{candidate.name}: {exc}")
    raise GraphError("no white-box method fits this model:\n  " + "\n  ".join(failures))


def insert_xai(
    model: str | Path | ov.Model,
    method: str | WhiteBoxMethod | None = None,
    target_layer: str | None = None,
    postprocess: str = "softmax",
) -> ov.Model:
    """A copy of a classifier with a ``saliency_map`` output (N, classes, h, w) beside its untouched outputs.

    Save it with ``openvino.save_model`` (``compress_to_fp16=False`` keeps the weights exact): every inference
    of the deployed model then returns maps too. The maps are float32 in [0, 1], per image and class.
    """
    graph = load_model(model)
    resolved = resolve_postprocess(graph, postprocess)
    if target_layer is not None:
        find_node(graph, target_layer)  # a named layer that does not exist: say so, with close candidates
    chosen, xai_graph, why = insert_whitebox(graph, method, target_layer, resolved)
    log.info("saliencykit: inserted %s because %s", chosen.name, why)
    return xai_graph


__all__ = ["has_xai", "insert_whitebox", "insert_xai"]
