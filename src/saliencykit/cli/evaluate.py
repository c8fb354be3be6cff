"""``saliencykit evaluate``: a thin command over :func:`saliencykit.metrics.evaluate`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import MethodError, SaliencyKitError
from ..methods import registry
from . import options as opt
from . import values
from .console import boundary, err, out, progress_bar, skipped

CONTROLS = ("sobel",)


def substrate(text: str | None, option: str = "--substrate") -> Any:
    """'blur', 'mean', 'black', a pixel value or an RGB triple."""
    if not text:
        return None
    if text.lower() in ("blur", "mean", "black"):
        return text.lower()
    try:
        value = values.floats(text, option)
    except SaliencyKitError:
        value = None
    if value is None or (isinstance(value, list) and len(value) != 3):
        raise SaliencyKitError(f"{option} '{text}': use blur, mean, black, a pixel value or r,g,b.") from None
    return value


def stages(text: str | None) -> list[int] | None:
    """``--stages``: randomised layer counts, e.g. 1,2,4."""
    if not text:
        return None
    try:
        counts = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise SaliencyKitError(f"--stages '{text}': give layer counts of at least 1, such as 1,2,4,8.")
    return counts


def method_names(text: str) -> list[str]:
    """``--methods`` as registry names, checked before anything is loaded."""
    names = [m.strip().lower().replace("-", "_") for m in text.split(",") if m.strip()]
    known = ("auto", *registry.names(task=opt.TASK), *CONTROLS)
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise SaliencyKitError(f"--methods {', '.join(unknown) or '(none)'}: use any of {', '.join(known)}.")
    return names


#: more increments than this add model calls, not information (a 224 x 224 input has 50 176 pixels)
MAX_STEPS = 1024


def check_numbers(settings: dict, rise_masks: int) -> None:
    """The numeric options of ``evaluate``, checked before any image or model is loaded."""
    values.check_positive("--steps", settings["steps"])
    if settings["steps"] > MAX_STEPS:
        raise MethodError(
            f"--steps {settings['steps']}: at most {MAX_STEPS} (each step is two model calls per image and map; "
            "the RISE paper's finest protocol uses 224 at 224 x 224)."
        )
    values.check_positive("--rise-masks", rise_masks)
    values.check_positive("--seed", settings["seed"], 0)
    values.check_positive("--tolerance", settings["tolerance"], 0)
    threshold = settings["threshold"]
    if not -1 <= threshold <= 1:
        raise MethodError(f"--threshold {threshold}: a Spearman value, between -1 and 1.")
    settings["score"] = values.choice("--score", settings["score"], ("probability", "logit"))


def explainers(
    text: str, model: Any, preprocess: Any, label_names: Any, rise_masks: int, input_name: Any, precision: str = "f32"
) -> dict:
    """One explainer per ``--methods`` name (``auto``: the Explainer's own choice), the controls as functions."""
    from ..explainer import Explainer
    from ..methods import RISE
    from ..metrics.baselines import sobel_map

    methods: dict = {}
    for name in dict.fromkeys(method_names(text)):
        if name == "sobel":
            methods["sobel (control)"] = sobel_map
            continue
        method = RISE(num_masks=rise_masks) if name == "rise" else (None if name == "auto" else name)
        explainer = Explainer(
            model, preprocess, method=method, label_names=label_names, input_name=input_name, precision=precision
        )
        methods[explainer.method.name if name == "auto" else name] = explainer
    return methods


def _cell(stats: dict) -> str:
    if not stats.get("n"):
        return "-"
    return f"{stats['mean']:.3f} ± {stats['std']:.3f}"


def table(result: Any) -> Table:
    """Metrics down, methods across (methods are few, metric columns many): mean ± std over images."""
    from ..metrics.evaluation import COLUMNS

    summary = result.summary()
    shown = Table(title=f"saliency-map quality over {len(result.images)} image(s): mean ± std")
    shown.add_column("metric")
    for method in result.methods:
        shown.add_column(method, justify="right")
    for column in result.columns():
        arrow = "↑" if COLUMNS[column][1] == "higher" else "↓"
        shown.add_row(f"{column} {arrow}", *[_cell(summary[m][column]) for m in result.methods])
    if "randomization" in result.metrics:
        verdicts = {True: "pass", False: "FAIL", None: "-"}
        cascade, logit = [], []
        for method in result.methods:
            r = result.randomization.get(method)
            cascade.append(verdicts[r.passed] if r is not None else "-")
            logit.append(verdicts[r.random_logit_passed] if r is not None else "-")
        shown.add_row("randomisation check", *cascade)
        shown.add_row("random-logit check", *logit)
    return shown


def check_csv(csv_file: Path) -> None:
    """``--csv`` must be a file in an existing, writable folder: found out before a long evaluation."""
    folder = csv_file.parent
    if csv_file.is_dir():
        raise SaliencyKitError(f"cannot write to --csv {csv_file}: it is a folder; give a file name.")
    if not folder.is_dir():
        raise SaliencyKitError(f"cannot write to --csv {csv_file}: the folder {folder} does not exist.")
    if not os.access(folder, os.W_OK):
        raise SaliencyKitError(f"cannot write to --csv {csv_file}: the folder {folder} is not writable.")


@opt.with_model_options()
def evaluate(
    model: str = opt.MODEL,
    images: list[Path] = opt.IMAGES,
    methods: str = opt.method_option(
        "--methods", "Comma-separated: auto, {names}, sobel (a control that ignores the model)."
    ),
    metrics: str = typer.Option(
        "insertion-deletion,adcc,pointing-game,randomization",
        "--metrics",
        help="Comma-separated: insertion-deletion, adcc, pointing-game, randomization, or all.",
    ),
    boxes: Path = typer.Option(None, "--boxes", help="Boxes per image name, JSON (default for 'demo': its own)."),
    steps: int = typer.Option(30, "--steps", help="Insertion/deletion increments (steps + 1 points)."),
    substrate_text: str = typer.Option(
        "blur", "--substrate", help="Removed pixels become: blur, mean, black, a value."
    ),
    deletion_substrate: str = typer.Option(None, "--deletion-substrate", help="Another substrate for deletion."),
    score: str = typer.Option("probability", "--score", help="Insertion/deletion score: probability or logit."),
    adcc_base: str = typer.Option("mean", "--adcc-base", help="ADCC masks towards: mean, black, blur, a value."),
    tolerance: float = typer.Option(15, "--tolerance", help="Pointing-game tolerance in pixels."),
    stages_text: str = typer.Option(None, "--stages", help="Randomised layer counts, e.g. 1,2,4 (default: to all)."),
    seed: int = opt.seed_option("Seed of the random weights and random classes."),
    threshold: float = typer.Option(0.5, "--threshold", help="Sanity checks pass below this Spearman value."),
    rise_masks: int = typer.Option(1000, "--rise-masks", help="Masks per image for RISE."),
    as_json: bool = typer.Option(False, "--json", help="Print results as JSON to stdout (tables to stderr)."),
    csv_file: Path = typer.Option(None, "--csv", help="Also write the summary table as CSV to this file."),
    *,
    options: opt.ModelOptions,
) -> None:
    """Measure how faithful saliency maps are: insertion/deletion AUC, ADCC, pointing game, sanity checks."""
    # Options, paths and files are checked first, then the model is loaded, then the images: a usage mistake
    # costs one line and exit 2 before any work.
    from ..metrics.evaluation import evaluate as run_evaluation
    from ..metrics.evaluation import load_boxes, parse_metrics
    from ..model import load_model
    from ..pipeline import Pipeline

    settings: dict[str, Any] = dict(
        steps=steps, score=score, tolerance=tolerance, seed=seed, threshold=threshold, stages=stages_text
    )
    failed = 0
    with boundary():
        try:
            chosen = parse_metrics(metrics)
        except MethodError as exc:
            raise MethodError(f"--{exc}") from None  # "metrics x: use any of ..." names the option
        method_names(methods)
        check_numbers(settings, rise_masks)
        values.check_positive("--max-pixels", options.max_pixels)
        settings.update(
            substrate=substrate(substrate_text),
            deletion_substrate=substrate(deletion_substrate, "--deletion-substrate"),
            adcc_base=substrate(adcc_base, "--adcc-base"),
            stages=stages(stages_text),
        )
        if csv_file is not None:
            check_csv(csv_file)
        paths = values.image_paths(images)
        box_data = None
        if boxes is not None:
            box_data = load_boxes(boxes)
        elif model == "demo":
            from .. import demo

            box_data = demo.boxes()
        if "pointing-game" in chosen and not box_data:
            err.print("pointing game skipped: no --boxes given", highlight=False)
            chosen.remove("pointing-game")
        if not chosen:
            raise SaliencyKitError("no metric left to run: the pointing game needs --boxes FILE.")
        source, preprocess, label_names = values.model_and_preprocess(model, options)
        graph = load_model(source)
        pipeline = Pipeline(
            graph, preprocess, label_names=label_names, input_name=options.input_name, precision=options.precision
        )
        chosen_methods = explainers(
            methods, graph, preprocess, label_names, rise_masks, options.input_name, options.precision
        )
    loaded = {}
    for path in paths:
        try:
            name = path.name if path.name not in loaded else str(path)
            loaded[name] = values.read(path, options.max_pixels)
        except SaliencyKitError as exc:
            skipped(err, exc)
            failed += 1
    with boundary():
        if not loaded:
            raise SaliencyKitError(f"none of the {len(paths)} image(s) could be read.")
        described = "; ".join(
            f"{n}: {getattr(e, 'method_description', 'a control')}" for n, e in chosen_methods.items()
        )
        err.print(f"methods: {escape(described)}", highlight=False)
        with progress_bar() as progress:
            task = progress.add_task("evaluating", total=None, rate="")

            def report(done: int, total: int, what: str) -> None:
                progress.update(task, completed=done, total=total, rate=escape(what))

            result = run_evaluation(pipeline, chosen_methods, loaded, chosen, box_data, progress=report, **settings)
        for failure in result.failures:
            where = f"{failure['method']} on {failure['image']}: {failure['error']}"
            err.print(f"[red]failed[/red] {escape(where)}", highlight=False)
            failed += 1
        shown = table(result)
        if as_json:
            err.print(shown)
            sys.stdout.write(json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
            sys.stdout.flush()
        else:
            out.print(shown)
        if csv_file is not None:
            try:
                result.to_csv(csv_file)
            except OSError as exc:
                raise SaliencyKitError(f"cannot write to --csv {csv_file}: {exc.strerror}.") from None
            err.print(f"summary written to {escape(str(csv_file))}", highlight=False)
    if failed:
        raise typer.Exit(1)
