"""Running the metrics for several methods over a set of images: what ``saliencykit evaluate`` prints.

Every (method, image) pair explains the model's top-1 class once; that map feeds insertion/deletion and ADCC. The
pointing game explains each annotated class of an image (Zhang et al.'s protocol: the map of the ground-truth class)
and falls back to the top-1 class when an annotation names none. The randomisation check runs once per method over
all images. Results keep one record per measurement; :meth:`EvaluationResult.summary` gives mean, standard
deviation and count per method and column.
"""

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MethodError, SaliencyKitError
from ..files import atomic_write_bytes, csv_text
from .adcc import adcc
from .insertion_deletion import insertion_deletion_auc
from .pointing_game import pointing_game
from .randomization import RandomizationResult, default_stages, layer_names, model_randomization
from .scoring import ExplainFn, Scorer, SubstrateSpec, explain_fn, to_builtin

METRICS = ("insertion-deletion", "adcc", "pointing-game", "randomization")

#: metric -> its columns: column -> (better direction, description)
_COLUMNS_BY_METRIC: dict[str, dict[str, tuple[str, str]]] = {
    "insertion-deletion": {
        "insertion": ("higher", "insertion AUC"),
        "deletion": ("lower", "deletion AUC"),
        "ins_del": ("higher", "insertion - deletion"),
    },
    "adcc": {
        "adcc": ("higher", "ADCC"),
        "average_drop": ("lower", "average drop"),
        "coherency": ("higher", "coherency"),
        "complexity": ("lower", "complexity"),
    },
    "pointing-game": {
        "pointing": ("higher", "pointing-game hit rate"),
        "energy": ("higher", "energy inside the boxes"),
    },
    "randomization": {
        "rand_spearman": ("lower", "Spearman, deepest randomisation stage"),
        "rand_ssim": ("lower", "SSIM, deepest randomisation stage"),
        "random_logit_spearman": ("lower", "Spearman, random class vs top-1"),
    },
}
#: column -> (metric, better direction, description)
COLUMNS: dict[str, tuple[str, str, str]] = {
    column: (metric, better, description)
    for metric, columns in _COLUMNS_BY_METRIC.items()
    for column, (better, description) in columns.items()
}


def parse_metrics(metrics: str | Sequence[str]) -> list[str]:
    """Metric names from a list or a comma-separated string; ``"all"`` means every metric."""
    items = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    names = [m.strip().lower().replace("_", "-") for m in items if m.strip()]
    if names == ["all"]:
        return list(METRICS)
    aliases = {"insertion": "insertion-deletion", "deletion": "insertion-deletion", "pointing": "pointing-game"}
    names = [aliases.get(n, n) for n in names]
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise MethodError(f"metrics {', '.join(unknown) or '(none)'}: use any of {', '.join(METRICS)} or 'all'.")
    return list(dict.fromkeys(names))


def load_boxes(path: str | Path) -> dict[str, Any]:
    """Box annotations from a JSON file (see :func:`annotations`); keys starting with ``_`` are comments."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MethodError(f"{path}: cannot read box annotations ({exc}).") from None
    if not isinstance(data, dict):
        raise MethodError(f"{path}: expected a JSON object mapping image names to boxes.")
    return {k: v for k, v in data.items() if not str(k).startswith("_")}


def annotations(entry: Any, image_size: tuple[int, int], name: str = "image") -> list[tuple[int | None, list]]:
    """``[(class or None, [boxes])]`` for one image, boxes scaled to ``image_size`` when the entry gives its size.

    An entry is ``{"size_hw": [h, w], "objects": [{"class": 285, "box": [x0, y0, x1, y1]}, ...]}`` (the format of
    ``saliencykit.demo.boxes()``), a list of such objects, or a plain list of boxes.
    """
    size_hw = None
    objects = entry
    if isinstance(entry, Mapping):
        size_hw = entry.get("size_hw")
        objects = entry.get("objects", entry.get("boxes"))
    if not isinstance(objects, Sequence) or isinstance(objects, str):
        raise MethodError(f"boxes for {name}: expected a list of boxes or of {{'class', 'box'}} objects.")
    sy = sx = 1.0
    if size_hw is not None:
        sy, sx = image_size[0] / float(size_hw[0]), image_size[1] / float(size_hw[1])
    grouped: dict[int | None, list] = {}
    for obj in objects:
        if isinstance(obj, Mapping):
            box, cls = obj.get("box"), obj.get("class")
        else:
            box, cls = obj, None
        if box is None or len(box) != 4:
            raise MethodError(f"boxes for {name}: {obj!r} is not [x0, y0, x1, y1] or {{'box': [...]}}.")
        x0, y0, x1, y1 = (float(v) for v in box)
        grouped.setdefault(None if cls is None else int(cls), []).append([x0 * sx, y0 * sy, x1 * sx, y1 * sy])
    return list(grouped.items())


def _stats(values: list[float]) -> dict[str, float]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"mean": float("nan"), "std": float("nan"), "n": 0}
    return {"mean": float(np.mean(finite)), "std": float(np.std(finite)), "n": len(finite)}


@dataclass
class EvaluationResult:
    """Every measurement of an evaluation, its protocol, and per-method summaries."""

    methods: list[str]
    metrics: list[str]
    images: list[str]
    records: list[dict[str, Any]] = field(default_factory=list)
    randomization: dict[str, RandomizationResult] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    protocol: dict[str, Any] = field(default_factory=dict)

    def columns(self) -> list[str]:
        """The summary columns of the metrics that were run, in a fixed order."""
        return [c for c, (metric, _, _) in COLUMNS.items() if metric in self.metrics]

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """method -> column -> {"mean", "std", "n"} over images (over trials for the pointing game)."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for method in self.methods:
            rows = [r for r in self.records if r["method"] == method]
            out[method] = {c: _stats([r[c] for r in rows if c in r]) for c in self.columns()}
            if "randomization" in self.metrics and method in self.randomization:
                result = self.randomization[method]
                out[method]["rand_spearman"] = _stats(result.stages[-1].spearman)
                out[method]["rand_ssim"] = _stats(result.stages[-1].ssim)
                out[method]["random_logit_spearman"] = _stats(result.random_logit_spearman)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-able values."""
        return to_builtin(
            {
                "methods": self.methods,
                "metrics": self.metrics,
                "images": self.images,
                "columns": {c: {"metric": COLUMNS[c][0], "better": COLUMNS[c][1]} for c in self.columns()},
                "summary": self.summary(),
                "randomization": {m: r.to_dict() for m, r in self.randomization.items()},
                "records": self.records,
                "failures": self.failures,
                "protocol": self.protocol,
            }
        )

    def to_csv(self, path: str | Path | None = None) -> str:
        """The summary as CSV (one row per method and column); written to ``path`` when given."""
        rows: list[list[Any]] = [["method", "column", "metric", "better", "mean", "std", "n"]]
        for method, columns in self.summary().items():
            for column, stats in columns.items():
                metric, better, _ = COLUMNS[column]
                rows.append([method, column, metric, better, stats["mean"], stats["std"], stats["n"]])
        text = csv_text(rows)
        if path is not None:
            atomic_write_bytes(Path(path), text.encode("utf-8"))
        return text


Progress = Callable[[int, int, str], None]


def evaluate(
    model: Any,
    methods: Mapping[str, Any],
    images: Mapping[str, np.ndarray] | Sequence[np.ndarray],
    metrics: str | Sequence[str] = METRICS,
    boxes: Mapping[str, Any] | None = None,
    *,
    steps: int = 30,
    substrate: SubstrateSpec = "blur",
    deletion_substrate: SubstrateSpec | None = None,
    score: str = "probability",
    adcc_base: SubstrateSpec = "mean",
    tolerance: float = 15,
    stages: Sequence[int] | None = None,
    seed: int = 0,
    threshold: float = 0.5,
    progress: Progress | None = None,
) -> EvaluationResult:
    """Run ``metrics`` for every method over ``images``; see the module docstring.

    Args:
        model: the :class:`~saliencykit.pipeline.Pipeline` (or Explainer) that scores images.
        methods: name -> an :class:`~saliencykit.Explainer` on that model, or a callable ``(image, target) -> map``
            (a control such as :func:`~saliencykit.metrics.sobel_map`, randomisation-checked as ignoring the model).
        images: name -> RGB uint8 image, or a list of images (named ``image 0``, ...).
        boxes: image name -> annotation (see :func:`annotations`); needed for the pointing game.
        progress: called with (done, total, what) after each unit of work.

    >>> result = evaluate(pipeline, {"reciprocam": explainer}, photos, ["insertion-deletion"])  # doctest: +SKIP
    >>> result.summary()["reciprocam"]["insertion"]["mean"]  # doctest: +SKIP
    """
    chosen = parse_metrics(metrics)
    named = dict(images) if isinstance(images, Mapping) else {f"image {i}": im for i, im in enumerate(images)}
    if not named:
        raise MethodError("evaluate: no images.")
    if not methods:
        raise MethodError("evaluate: no methods.")
    if "pointing-game" in chosen and not boxes:
        raise MethodError("the pointing game needs box annotations: pass boxes= (saliencykit evaluate --boxes FILE).")
    scorer = Scorer(model, score)
    prob_scorer = scorer if scorer.score == "probability" else Scorer(model, "probability")
    pipeline = scorer.pipeline
    per_image = [m for m in chosen if m != "randomization"]
    n_stages = 0
    if "randomization" in chosen:
        if pipeline is None or pipeline.ov_model is None:
            raise MethodError("the randomisation check needs a model graph, not a Python callable.")
        n_stages = len(stages) if stages is not None else len(default_stages(len(layer_names(pipeline.ov_model))))
    total = (len(methods) * len(named) if per_image else 0) + len(methods) * (n_stages + 1 if n_stages else 0)
    done = 0

    def tick(what: str, amount: int = 1) -> None:
        nonlocal done
        done += amount
        if progress is not None:
            progress(done, total, what)

    result = EvaluationResult(methods=list(methods), metrics=chosen, images=list(named))
    top1 = {}
    for name, image in named.items():
        top1[name] = int(np.argmax(prob_scorer.predict(prob_scorer.pixels(image, name)[None])[0]))
    for method_name, method in methods.items() if per_image else ():
        explain = explain_fn(method)
        for name, image in named.items():
            try:
                result.records.extend(
                    _image_records(
                        method_name,
                        explain,
                        scorer,
                        prob_scorer,
                        name,
                        image,
                        top1[name],
                        chosen,
                        boxes,
                        steps=steps,
                        substrate=substrate,
                        deletion_substrate=deletion_substrate,
                        adcc_base=adcc_base,
                        tolerance=tolerance,
                    )
                )
            except SaliencyKitError as exc:  # one bad image or method must not lose the others' results
                result.failures.append({"method": method_name, "image": name, "error": str(exc)})
            tick(f"{method_name}: {name}")
    if "randomization" in chosen:
        for method_name, method in methods.items():
            is_explainer = hasattr(method, "pipeline") and hasattr(method, "method")

            def fixed_explain(_model: Any, fn: Any = method) -> ExplainFn:  # a control ignores the randomised model
                return explain_fn(fn)

            def stage_done(k: int, n: int, m: str = method_name) -> None:
                tick(f"{m}: randomisation {k}/{n}")

            try:
                result.randomization[method_name] = model_randomization(
                    method if is_explainer else pipeline,
                    list(named.values()),
                    [top1[n] for n in named],
                    explain=None if is_explainer else fixed_explain,
                    stages=stages,
                    seed=seed,
                    threshold=threshold,
                    progress=stage_done,
                )
            except SaliencyKitError as exc:
                result.failures.append({"method": method_name, "image": "*", "error": f"randomization: {exc}"})
            tick(f"{method_name}: randomisation done", 1)
    result.protocol = {
        "insertion-deletion": {"steps": steps, "substrate": str(substrate), "score": scorer.score_name}
        if "insertion-deletion" in chosen
        else None,
        "adcc": {"base": str(adcc_base), "score": prob_scorer.score_name, "dataset": "mean of per-image ADCC"}
        if "adcc" in chosen
        else None,
        "pointing-game": {"tolerance_px": tolerance, "target": "annotated class, else top-1"}
        if "pointing-game" in chosen
        else None,
        "randomization": next(iter(result.randomization.values())).protocol if result.randomization else None,
        "target": "top-1 class of the model",
    }
    _add_full_protocols(result)
    return result


def _add_full_protocols(result: EvaluationResult) -> None:
    for record in result.records:
        proto = record.pop("_protocol", None)
        if proto and result.protocol.get(proto["metric"]) is not None:
            if proto["metric"] == "pointing-game":
                proto = {**proto, "resolution": "the image's own size"}
            result.protocol[proto["metric"]] = {**result.protocol[proto["metric"]], **proto}


def _image_records(
    method_name: str,
    explain: Callable[[np.ndarray, int], np.ndarray],
    scorer: Scorer,
    prob_scorer: Scorer,
    name: str,
    image: np.ndarray,
    target: int,
    chosen: list[str],
    boxes: Mapping[str, Any] | None,
    **options: Any,
) -> list[dict[str, Any]]:
    records = []
    base = {"method": method_name, "image": name}
    saliency = None
    if "insertion-deletion" in chosen or "adcc" in chosen:
        saliency = explain(image, target)
    if "insertion-deletion" in chosen:
        assert saliency is not None
        r = insertion_deletion_auc(
            scorer,
            image,
            saliency,
            target,
            steps=options["steps"],
            substrate=options["substrate"],
            deletion_substrate=options["deletion_substrate"],
        )
        records.append(
            {
                **base,
                "metric": "insertion-deletion",
                "target": target,
                "insertion": r.insertion,
                "deletion": r.deletion,
                "ins_del": r.difference,
                "_protocol": r.protocol,
            }
        )
    if "adcc" in chosen:
        assert saliency is not None
        a = adcc(prob_scorer, image, saliency, target, explain, base=options["adcc_base"])
        records.append(
            {
                **base,
                "metric": "adcc",
                "target": target,
                "adcc": a.adcc,
                "average_drop": a.average_drop,
                "coherency": a.coherency,
                "complexity": a.complexity,
                "_protocol": a.protocol,
            }
        )
    if "pointing-game" in chosen:
        entry = _find_boxes(boxes or {}, name)
        if entry is not None:
            for cls, class_boxes in annotations(entry, image.shape[:2], name):
                t = target if cls is None else cls
                m = saliency if (t == target and saliency is not None) else explain(image, t)
                hit = pointing_game(m, boxes=class_boxes, tolerance=options["tolerance"], image_size=image.shape[:2])
                records.append(
                    {
                        **base,
                        "metric": "pointing-game",
                        "target": t,
                        "pointing": float(hit.hit),
                        "energy": hit.energy,
                        "_protocol": hit.protocol,
                    }
                )
    return records


def _find_boxes(boxes: Mapping[str, Any], name: str) -> Any:
    if name in boxes:
        return boxes[name]
    stem = Path(name).stem
    return boxes.get(stem)
