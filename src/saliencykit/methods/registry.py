"""The one list of explanation methods: name, kind, the tasks each supports, its options and a one-line help.

Everything that names methods reads it: the Explainer's automatic choice and validation, every CLI's
``--method`` help, ``evaluate``, the audit and the openvino-xai compatibility layer. Adding a method is one file
and one :func:`register` call (a project of yours can register its own method the same way).

>>> [spec.name for spec in available(task="classification", kind="blackbox")]  # doctest: +SKIP
['rise', 'aise']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import MethodError

KINDS = ("whitebox", "blackbox")


@dataclass(frozen=True)
class MethodSpec:
    """One registered method.

    Attributes:
        name: the name users type (``method="rise"``, ``--method rise``).
        kind: ``"whitebox"`` (edits the graph) or ``"blackbox"`` (perturbs the input).
        tasks: the tasks it explains (``"classification"``, ``"detection"``, ...).
        factory: ``factory(task, **options) -> method object`` for a task it supports.
        summary: one line for help texts.
        options: the keyword options it takes (``preset``, ``seed``, ``target_layer``, ...).
        aliases: other accepted spellings.
        auto_rank: white-box methods with a rank are tried by the automatic choice, lowest first, per task.
        auto_reason: why the automatic choice took it when it fits (recorded in ``explanation.method``).
    """

    name: str
    kind: str
    tasks: tuple[str, ...]
    factory: Callable[..., Any]
    summary: str
    options: tuple[str, ...] = ()
    aliases: tuple[str, ...] = field(default=())
    auto_rank: int | None = None
    auto_reason: str = ""

    def create(self, task: str = "classification", **options: Any) -> Any:
        """A method object for ``task``; unknown options and unsupported tasks are refused by name."""
        if task not in self.tasks:
            raise MethodError(
                f"method '{self.name}' does not explain {task} models; for {task} use one of: "
                f"{', '.join(names(task=task))}."
            )
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            takes = ", ".join(self.options) or "no options"
            raise MethodError(f"method '{self.name}' takes no option {', '.join(unknown)} (it takes: {takes}).")
        return self.factory(task, **options)

    def method_class(self, task: str) -> Any:
        """The class (or factory) that makes the method for ``task``: ``method_class(task)(**options)``."""
        target = getattr(self.factory, "target", None)
        if target is not None:
            return target(task)
        return lambda **options: self.factory(task, **options)


_REGISTRY: dict[str, MethodSpec] = {}


def _key(name: str) -> str:
    return str(name).strip().lower().replace("-", "_")


def register(spec: MethodSpec) -> MethodSpec:
    """Add a method (or replace one of the same name); returns it."""
    if spec.kind not in KINDS:
        raise MethodError(f"method '{spec.name}': kind must be one of {', '.join(KINDS)}, not '{spec.kind}'.")
    for key in (spec.name, *spec.aliases):
        _REGISTRY[_key(key)] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a method and its aliases (tests that register their own use this to clean up)."""
    spec = _REGISTRY.get(_key(name))
    if spec is not None:
        for key in [k for k, v in _REGISTRY.items() if v is spec]:
            del _REGISTRY[key]


def available(task: str | None = None, kind: str | None = None) -> list[MethodSpec]:
    """Registered methods (each once, in registration order), optionally only those for ``task`` / of ``kind``."""
    seen: list[MethodSpec] = []
    for spec in _REGISTRY.values():
        if spec in seen:
            continue
        if (task is None or task in spec.tasks) and (kind is None or spec.kind == kind):
            seen.append(spec)
    return seen


def names(task: str | None = None, kind: str | None = None) -> list[str]:
    """Names of :func:`available` methods."""
    return [spec.name for spec in available(task, kind)]


def lookup(name: str, task: str | None = None) -> MethodSpec:
    """The method called ``name`` (or an alias); an unknown name is an error listing the ones there are."""
    spec = _REGISTRY.get(_key(name))
    if spec is None:
        raise MethodError(f"method '{name}' is unknown; available: {', '.join(names(task=task))}.")
    return spec


def automatic(task: str) -> list[MethodSpec]:
    """The white-box methods the automatic choice tries for ``task``, in order."""
    ranked = [s for s in available(task, "whitebox") if s.auto_rank is not None]
    return sorted(ranked, key=lambda s: int(s.auto_rank or 0))


class View(Mapping[str, Any]):
    """A live ``{name: class}`` view of the methods for one task (with their aliases if asked).

    ``methods.METHODS`` and ``detection.DETECTION_METHODS`` are such views: a method registered later shows up.
    """

    def __init__(self, task: str, aliases: bool = False) -> None:
        self.task, self.aliases = task, aliases

    def _keys(self) -> list[str]:
        return [k for k, s in _REGISTRY.items() if self.task in s.tasks and (self.aliases or k == _key(s.name))]

    def __getitem__(self, name: str) -> Any:
        key = _key(name)
        if key not in self._keys():
            raise KeyError(name)
        return _REGISTRY[key].method_class(self.task)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def create(self, name: str, **options: Any) -> Any:
        """A method object by name with any constructor options (the older ``get_method`` spelling)."""
        if _key(name) not in self._keys():
            raise MethodError(f"method '{name}' is unknown; available: {', '.join(names(task=self.task))}.")
        return self[name](**options)


def help_text(task: str | None = None) -> str:
    """One line for ``--method`` help: white-box and black-box names, e.g. ``reciprocam, ... (white-box); ...``."""
    parts = []
    for kind, label in (("whitebox", "white-box"), ("blackbox", "black-box")):
        found = names(task=task, kind=kind)
        if found:
            parts.append(f"{', '.join(found)} ({label})")
    return "; ".join(parts) + "."


class _lazy:  # noqa: N801 (used like a function in the table below)
    """A factory that imports ``module`` only when a method object is made (keeps ``import saliencykit`` light).

    ``by_task`` names the class per task; the first is the method's general class, used for a task the spec lists
    without an entry of its own (a configuration such as D-RISE is an entry for its task).
    """

    def __init__(self, module: str, by_task: dict[str, str]) -> None:
        self.module, self.by_task = module, by_task

    def target(self, task: str) -> Any:
        """The class that makes the method for ``task``."""
        import importlib

        name = self.by_task.get(task, next(iter(self.by_task.values())))
        return getattr(importlib.import_module(self.module, __package__), name)

    def __call__(self, task: str, **options: Any) -> Any:
        return self.target(task)(**options)


# The built-in methods: one line each.
register(MethodSpec("reciprocam", "whitebox", ("classification",), _lazy(".whitebox", {"classification": "ReciproCAM"}),
                    "ReciproCAM: class maps from spatially masked feature maps, inside the graph (CNNs)",
                    ("target_layer", "one_pass", "kernel"), auto_rank=1,
                    auto_reason="the graph has a spatial feature map before global pooling"))  # fmt: skip
register(MethodSpec("vit_reciprocam", "whitebox", ("classification",),
                    _lazy(".whitebox", {"classification": "ViTReciproCAM"}),
                    "ViT-ReciproCAM: token masking inside a transformer block, inside the graph",
                    ("target_layer", "block_index", "use_gaussian"), aliases=("vitreciprocam",), auto_rank=0,
                    auto_reason="the graph has transformer blocks"))  # fmt: skip
register(MethodSpec("activation_map", "whitebox", ("classification",),
                    _lazy(".whitebox", {"classification": "ActivationMap"}),
                    "ActivationMap: the class-agnostic mean of the feature map", ("target_layer",),
                    aliases=("activationmap",)))  # fmt: skip
register(MethodSpec("det_class_probability_map", "whitebox", ("detection",),
                    _lazy("..detection.whitebox", {"detection": "DetClassProbabilityMap"}),
                    "per-class maps from a detector's class head at every scale, inside the graph",
                    ("target_layer", "class_output", "activation", "reduce_anchors", "combine_scales", "per_box",
                     "box_iou"),
                    aliases=("detclassprobabilitymap", "class_probability_map"), auto_rank=0,
                    auto_reason="the graph has an SSD-style class head"))  # fmt: skip
register(MethodSpec("det_box_probability_map", "whitebox", ("detection",),
                    _lazy("..detection.whitebox", {"detection": "DetBoxProbabilityMap"}),
                    "per-box maps: each box's own anchors' class probabilities at every scale, inside the graph",
                    ("target_layer", "class_output", "activation", "reduce_anchors", "combine_scales", "box_iou"),
                    aliases=("detboxprobabilitymap", "box_probability_map")))  # fmt: skip
register(MethodSpec("rise", "blackbox", ("classification", "detection", "segmentation", "scalar"),
                    _lazy(".rise", {"classification": "RISE", "detection": "DRISE"}),
                    "RISE (D-RISE for boxes): randomly masked copies weighted by the target's score",
                    ("preset", "seed", "num_masks", "num_cells", "prob", "sampler", "estimator", "batch_size",
                     "antithetic", "interpolation", "substrates", "output", "combine", "use_probs"),
                    aliases=("drise", "d_rise")))  # fmt: skip
register(MethodSpec("aise", "blackbox", ("classification", "detection", "segmentation", "scalar"),
                    _lazy(".aise", {"classification": "AISE", "detection": "AISEDetection"}),
                    "AISE: Gaussian windows searched by DIRECT where they matter most to the target",
                    ("preset", "num_iterations_per_kernel", "kernel_widths", "divisors", "solver_epsilon",
                     "locally_biased", "deletion", "aggregate", "padding")))  # fmt: skip
