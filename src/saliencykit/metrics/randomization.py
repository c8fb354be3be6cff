"""The model-randomisation sanity check (Adebayo et al. 2018, "Sanity checks for saliency maps") and the
random-logit check.

*Cascading randomisation*: the weights of the network are replaced by random values layer by layer, from the
logits down. A method whose maps explain the model must produce maps that change as the model is destroyed; a
method that stays the same (an edge detector, say) only shows the image. At each stage we re-explain the same
images for the same targets (the original model's top-1 classes) with the same method on the randomised model and
compare the maps with the original ones: Spearman rank correlation and SSIM, both at the model's input resolution.

*Random logit*: the map of a random class other than the top-1 (seeded) is compared with the top-1 map on the
original model; a class-sensitive method gives different maps.

How weights are randomised: every Convolution, GroupConvolution and MatMul whose weight input is a Constant
(possibly through Convert, FakeQuantize, Subtract/Multiply of a dequantisation, or a Reshape) is a *layer*; layers
are ordered from the output to the input (reverse topological order). Randomising a layer replaces its weight
Constant by seeded normal values with the original tensor's mean and standard deviation, same shape and element
type (integer weights are rounded and clipped). Layer ``k`` always gets the same random values for a given
``seed``, so stage ``n + 1`` extends stage ``n`` (a true cascade). Biases and normalisation shifts are kept
(converters usually fold batch-norm scales into the convolution weights, which are randomised with them).

Pass/fail: the check passes when the mean Spearman correlation at the last stage is below ``threshold`` (0.5), and
the random-logit check when the mean Spearman correlation between the two classes' maps is below it. A constant
map has no ranking and counts as correlation 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from ..errors import MethodError
from .scoring import ExplainFn, JSONResult, explain_fn, map_at, to_builtin
from .similarity import spearman, ssim

LAYER_TYPES = ("Convolution", "GroupConvolution", "MatMul")
_WEIGHT_PATH = ("Convert", "FakeQuantize", "Subtract", "Multiply", "Reshape", "Unsqueeze", "Squeeze", "Transpose")

#: explain factory: given a (randomised) model, return the explain function of the method under test
ExplainFactory = Callable[[ov.Model], ExplainFn]


def _weight_constant(node: ov.Node, port: int) -> ov.Node | None:
    current = node.input_value(port).get_node()
    for _ in range(8):
        kind = current.get_type_name()
        if kind == "Constant":
            return current
        if kind not in _WEIGHT_PATH or current.get_input_size() == 0:
            return None
        current = current.input_value(0).get_node()
    return None


def weight_layers(model: ov.Model) -> list[tuple[ov.Node, ov.Node]]:
    """``(layer, weight Constant)`` pairs, ordered from the output of the network to its input."""
    found = []
    for node in model.get_ordered_ops():
        if node.get_type_name() not in LAYER_TYPES:
            continue
        ports = (1, 0) if node.get_type_name() == "MatMul" else (1,)
        for port in ports:
            const = _weight_constant(node, port)
            if const is not None:
                found.append((node, const))
                break
    return found[::-1]


def layer_names(model: ov.Model) -> list[str]:
    """Friendly names of the weight layers, from the output down (what ``randomize_weights`` counts)."""
    return [node.get_friendly_name() for node, _ in weight_layers(model)]


def _random_like(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    data = values.astype(np.float64)
    mean, std = float(data.mean()), float(data.std())
    fresh = rng.normal(mean, std if std > 0 else 1e-3, size=values.shape)
    if np.issubdtype(values.dtype, np.integer):
        info = np.iinfo(values.dtype)
        return np.clip(np.rint(fresh), info.min, info.max).astype(values.dtype)
    return fresh.astype(values.dtype)


def randomize_weights(model: ov.Model, layers: int, seed: int = 0) -> ov.Model:
    """A copy of ``model`` whose top ``layers`` weight layers (see :func:`weight_layers`) hold random weights.

    Layer ``k`` (0 = nearest the output) is drawn from ``numpy.random.default_rng((seed, k))``.
    """
    graph = model.clone()
    found = weight_layers(graph)
    if layers < 0 or layers > len(found):
        raise MethodError(f"randomize_weights: layers={layers}, but the model has {len(found)} weight layers.")
    for k, (_, const) in enumerate(found[:layers]):
        if not const.output(0).get_target_inputs():
            continue  # a constant shared by several layers, already replaced
        values = const.get_data()
        rng = np.random.default_rng((int(seed), k))
        fresh = ops.constant(_random_like(np.asarray(values), rng), const.get_element_type())
        fresh.set_friendly_name(const.get_friendly_name() + "/randomized")
        const.output(0).replace(fresh.output(0))
    graph.validate_nodes_and_infer_types()
    return graph


def default_stages(total: int) -> list[int]:
    """1, 2, 4, 8, ... layers, ending with all of them.

    >>> default_stages(20)
    [1, 2, 4, 8, 16, 20]
    """
    stages, n = [], 1
    while n < total:
        stages.append(n)
        n *= 2
    return [*stages, total] if total > 0 else []


@dataclass
class RandomizationStage(JSONResult):
    """Similarity of the maps after the top ``layers`` weight layers were randomised."""

    JSON_KEYS = ("layers", "deepest_layer", "mean_spearman", "mean_ssim", "spearman", "ssim")

    layers: int
    deepest_layer: str
    spearman: list[float]
    ssim: list[float]

    @property
    def mean_spearman(self) -> float:
        return float(np.mean(self.spearman))

    @property
    def mean_ssim(self) -> float:
        return float(np.mean(self.ssim))


@dataclass
class RandomizationResult:
    """Cascading model randomisation and random-logit check over a set of images."""

    targets: list[int]
    stages: list[RandomizationStage]
    threshold: float
    random_targets: list[int] = field(default_factory=list)
    random_logit_spearman: list[float] = field(default_factory=list)
    random_logit_ssim: list[float] = field(default_factory=list)
    protocol: dict[str, Any] = field(default_factory=dict)

    @property
    def final_spearman(self) -> float:
        """Mean Spearman correlation at the last (deepest) stage."""
        return self.stages[-1].mean_spearman if self.stages else float("nan")

    @property
    def final_ssim(self) -> float:
        """Mean SSIM at the last (deepest) stage."""
        return self.stages[-1].mean_ssim if self.stages else float("nan")

    @property
    def passed(self) -> bool:
        """Whether the maps moved away from the original ones once the model was randomised."""
        return bool(self.stages) and self.final_spearman < self.threshold

    @property
    def random_logit_mean_spearman(self) -> float:
        return float(np.mean(self.random_logit_spearman)) if self.random_logit_spearman else float("nan")

    @property
    def random_logit_mean_ssim(self) -> float:
        return float(np.mean(self.random_logit_ssim)) if self.random_logit_ssim else float("nan")

    @property
    def random_logit_passed(self) -> bool | None:
        """Whether maps of a random class differ from the top-1 maps (``None`` when not run)."""
        if not self.random_logit_spearman:
            return None
        return self.random_logit_mean_spearman < self.threshold

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return to_builtin(
            {
                "passed": self.passed,
                "final_spearman": self.final_spearman,
                "final_ssim": self.final_ssim,
                "threshold": self.threshold,
                "targets": self.targets,
                "stages": [s.to_dict() for s in self.stages],
                "random_logit": {
                    "passed": self.random_logit_passed,
                    "targets": self.random_targets,
                    "mean_spearman": self.random_logit_mean_spearman,
                    "mean_ssim": self.random_logit_mean_ssim,
                    "spearman": self.random_logit_spearman,
                    "ssim": self.random_logit_ssim,
                },
                "protocol": self.protocol,
            }
        )


def same_method(explainer: Any) -> ExplainFactory:
    """An explain factory that rebuilds ``explainer`` (same method, preprocessing, postprocessing) on a model."""

    def factory(model: ov.Model) -> ExplainFn:
        return explain_fn(explainer.with_model(model))

    return factory


def _random_class(rng: np.random.Generator, num_classes: int, top: int) -> int:
    choice = int(rng.integers(0, num_classes - 1))
    return choice + 1 if choice >= top else choice


def model_randomization(
    explainer: Any,
    images: np.ndarray | Sequence[np.ndarray],
    targets: Sequence[int] | None = None,
    *,
    explain: ExplainFactory | None = None,
    stages: Sequence[int] | None = None,
    seed: int = 0,
    threshold: float = 0.5,
    random_logit: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> RandomizationResult:
    """Cascading model randomisation and the random-logit check; see the module docstring.

    Args:
        explainer: the :class:`~saliencykit.Explainer` whose model is randomised (it must wrap a model graph), or
            a :class:`~saliencykit.pipeline.Pipeline` when ``explain`` is given.
        images: one RGB uint8 image or a list of them.
        targets: one class per image; default the model's top-1 classes.
        explain: a factory ``model -> (image, target) -> map`` for the method under test; default the explainer's
            own method rebuilt on each randomised model (:func:`same_method`). A factory that ignores the model
            (an edge detector) must fail the check.
        stages: how many layers (from the output) are randomised at each stage; default 1, 2, 4, ... all.
        seed: seeds the random weights and the random-logit classes.
        threshold: pass when the mean Spearman correlation is below it.
        progress: called with (stages done, stages total).

    >>> result = model_randomization(sk.demo.explainer(), [image])  # doctest: +SKIP
    >>> result.passed, [s.mean_spearman for s in result.stages]  # doctest: +SKIP
    """
    pipeline = getattr(explainer, "pipeline", explainer)
    model = getattr(pipeline, "ov_model", None)
    if model is None:
        raise MethodError("model_randomization needs an Explainer built on a model graph (not a Python callable).")
    if explain is None and not hasattr(explainer, "method"):
        raise MethodError("model_randomization: give an Explainer, or a Pipeline together with explain=.")
    single = isinstance(images, np.ndarray) and images.ndim == 3
    image_list: list[np.ndarray] = [images] if isinstance(images, np.ndarray) and single else list(images)
    if not image_list:
        raise MethodError("model_randomization: no images.")
    scores = pipeline.predict(image_list)
    if targets is None:
        target_list = [int(np.argmax(s)) for s in scores]
    else:
        target_list = [int(t) for t in targets]
        if len(target_list) != len(image_list):
            raise MethodError(f"model_randomization: {len(target_list)} targets for {len(image_list)} images.")
    factory = explain if explain is not None else same_method(explainer)
    sizes = [pipeline.pixels(im).shape[:2] for im in image_list]
    names = layer_names(model)
    if not names:
        raise MethodError("model_randomization: the model has no Convolution/MatMul layers with constant weights.")
    stage_list = default_stages(len(names)) if stages is None else sorted({int(s) for s in stages})
    if not stage_list or stage_list[0] < 1 or stage_list[-1] > len(names):
        raise MethodError(f"stages={stages}: give layer counts between 1 and {len(names)}.")

    def maps_of(fn: ExplainFn, which: Sequence[int]) -> list[np.ndarray]:
        return [map_at(fn(im, t), size) for im, t, size in zip(image_list, which, sizes)]

    original_fn = factory(model)
    originals = maps_of(original_fn, target_list)
    random_targets: list[int] = []
    rl_spearman: list[float] = []
    rl_ssim: list[float] = []
    if random_logit:
        rng = np.random.default_rng(int(seed))
        random_targets = [_random_class(rng, s.shape[-1], t) for s, t in zip(scores, target_list)]
        for other, base in zip(maps_of(original_fn, random_targets), originals):
            rl_spearman.append(spearman(base, other))
            rl_ssim.append(ssim(base, other))
    results = []
    for n, count in enumerate(stage_list):
        randomized = randomize_weights(model, count, seed)
        maps = maps_of(factory(randomized), target_list)
        results.append(
            RandomizationStage(
                layers=count,
                deepest_layer=names[count - 1],
                spearman=[spearman(a, b) for a, b in zip(originals, maps)],
                ssim=[ssim(a, b) for a, b in zip(originals, maps)],
            )
        )
        if progress is not None:
            progress(n + 1, len(stage_list))
    protocol = {
        "metric": "randomization",
        "cascade": "top-down, cumulative",
        "layer_types": list(LAYER_TYPES),
        "weight_layers": len(names),
        "stages": stage_list,
        "weights": "normal(mean, std of the original tensor), seeded per layer",
        "seed": int(seed),
        "similarity": "spearman, ssim(sigma=1.5, data_range=1) on min-max normalised maps",
        "resolution": [list(s) for s in sizes[:1]][0],
        "threshold_spearman": float(threshold),
    }
    return RandomizationResult(
        targets=target_list,
        stages=results,
        threshold=float(threshold),
        random_targets=random_targets,
        random_logit_spearman=rl_spearman,
        random_logit_ssim=rl_ssim,
        protocol=protocol,
    )
