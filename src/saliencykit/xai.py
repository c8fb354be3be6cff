"""Adding a saliency-map output to a model graph, for deployment or for the Explainer."""

from __future__ import annotations

import logging
from pathlib import Path

import openvino as ov

from .errors import GraphError, MethodError
from .graph import has_xai
from .graph.inspect import find_node
from .methods import ReciproCAM, ViTReciproCAM, WhiteBoxMethod, get_method
from .model import load_model
from .preprocess import resolve_postprocess

log = logging.getLogger("saliencykit")


def insert_whitebox(
    model: ov.Model,
    method: str | WhiteBoxMethod | None = None,
    target_layer: str | None = None,
    postprocess: str = "softmax",
) -> tuple[WhiteBoxMethod, ov.Model, str]:
    """Insert a white-box method into ``model``; returns (method, new graph, why it was chosen).

    With no method, ViT-ReciproCAM is tried when the graph has transformer blocks, else ReciproCAM; when
    neither fits, a :class:`GraphError` says what each one looked for.
    """
    if target_layer is not None:
        find_node(model, target_layer)  # a named layer that does not exist: say so, with close candidates
    if isinstance(method, str):
        method = get_method(method, target_layer=target_layer)
        if not isinstance(method, WhiteBoxMethod):
            raise MethodError(f"method '{method.name}' is black-box: it cannot be inserted into a graph.")
    if method is not None:
        return method, method.insert(model, postprocess), "asked for"
    failures = []
    for candidate, why in (
        (ViTReciproCAM(target_layer=target_layer), "the graph has transformer blocks"),
        (ReciproCAM(target_layer=target_layer), "the graph has a spatial feature map before global pooling"),
    ):
        try:
            return candidate, candidate.insert(model, postprocess), why
        except GraphError as exc:
            failures.append(f"{candidate.name}: {exc}")
    raise GraphError("no white-box method fits this model:\n  " + "\n  ".join(failures))


def insert_xai(
    model: str | Path | ov.Model,
    method: str | WhiteBoxMethod | None = None,
    target_layer: str | None = None,
    postprocess: str = "softmax",
) -> ov.Model:
    """A copy of ``model`` with a ``saliency_map`` output (N, classes, h, w) beside its untouched outputs.

    Save it with ``openvino.save_model`` (``compress_to_fp16=False`` keeps the weights exact): every inference
    of the deployed model then returns maps too. The maps are float32 in [0, 1], per image and class.
    """
    graph = load_model(model)
    postprocess = resolve_postprocess(graph, postprocess)
    chosen, xai_graph, why = insert_whitebox(graph, method, target_layer, postprocess)
    log.info("saliencykit: inserted %s because %s", chosen.name, why)
    return xai_graph


__all__ = ["has_xai", "insert_whitebox", "insert_xai"]
