"""``saliencykit evaluate``: a thin Typer command over :func:`saliencykit.metrics.evaluate`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import MethodError, SaliencyKitError

CONTROLS = ("sobel",)
METHOD_NAMES = "reciprocam, vit_reciprocam, activation_map, rise, sobel (a control that ignores the model)"


def _substrate(text: str, option: str = "--substrate"):
    """'blur', 'mean', 'black', a pixel value or an RGB triple."""
    from ..cli import _floats

    if not text:
        return None
    if text.lower() in ("blur", "mean", "black"):
        return text.lower()
    try:
        value = _floats(text, option)
    except SaliencyKitError:
        value = None
    if value is None or (isinstance(value, list) and len(value) != 3):
        raise SaliencyKitError(f"{option} '{text}': use blur, mean, black, a pixel value or r,g,b.") from None
    return value


def _stages(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        stages = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        stages = []
    if not stages or min(stages) < 1:
        raise SaliencyKitError(f"--stages '{text}': give layer counts of at least 1, such as 1,2,4,8.")
    return stages


def _method_names(text: str) -> list[str]:
    """``--methods`` as registry names, checked before anything is loaded."""
    from ..methods import METHODS

    names = [m.strip().lower().replace("-", "_") for m in text.split(",") if m.strip()]
    known = ("auto", *METHODS, *CONTROLS)
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise SaliencyKitError(f"--methods {', '.join(unknown) or '(none)'}: use any of {', '.join(known)}.")
    return names


def _check_numbers(settings: dict, rise_masks: int) -> None:
    """The numeric options of ``evaluate``, checked before any image or model is loaded."""
    from ..cli import _check_choice, _check_positive

    _check_positive("--steps", settings["steps"])
    _check_positive("--rise-masks", rise_masks)
    _check_positive("--seed", settings["seed"], 0)
    _check_positive("--tolerance", settings["tolerance"], 0)
    threshold = settings["threshold"]
    if not -1 <= threshold <= 1:
        raise MethodError(f"--threshold {threshold}: a Spearman value, between -1 and 1.")
    settings["score"] = _check_choice("--score", settings["score"], ("probability", "logit"))


def _methods(text: str, model, preprocess, label_names, rise_masks: int, input_name: str | None = None) -> dict:
    from ..explainer import Explainer
    from ..methods import RISE
    from .baselines import sobel_map

    names = _method_names(text)
    methods: dict = {}
    for name in dict.fromkeys(names):
        if name == "sobel":
            methods["sobel (control)"] = sobel_map
            continue
        method = RISE(num_masks=rise_masks) if name == "rise" else (None if name == "auto" else name)
        explainer = Explainer(model, preprocess, method=method, label_names=label_names, input_name=input_name)
        methods[explainer.method.name if name == "auto" else name] = explainer
    return methods


def _cell(stats: dict) -> str:
    if not stats.get("n"):
        return "-"
    return f"{stats['mean']:.3f} ± {stats['std']:.3f}"


def _table(result) -> Table:
    """Metrics down, methods across (methods are few, metric columns many): mean ± std over images."""
    from .runner import COLUMNS

    summary = result.summary()
    table = Table(title=f"saliency-map quality over {len(result.images)} image(s): mean ± std")
    table.add_column("metric")
    for method in result.methods:
        table.add_column(method, justify="right")
    for column in result.columns():
        arrow = "↑" if COLUMNS[column][1] == "higher" else "↓"
        table.add_row(f"{column} {arrow}", *[_cell(summary[m][column]) for m in result.methods])
    if "randomization" in result.metrics:
        verdicts = {True: "pass", False: "FAIL", None: "-"}
        cascade, logit = [], []
        for method in result.methods:
            r = result.randomization.get(method)
            cascade.append(verdicts[r.passed] if r is not None else "-")
            logit.append(verdicts[r.random_logit_passed] if r is not None else "-")
        table.add_row("randomisation check", *cascade)
        table.add_row("random-logit check", *logit)
    return table


def _check_csv(csv_file: Path) -> None:
    """``--csv`` must be a file in an existing, writable folder: found out before a long evaluation."""
    folder = csv_file.parent
    if csv_file.is_dir():
        raise SaliencyKitError(f"cannot write to --csv {csv_file}: it is a folder; give a file name.")
    if not folder.is_dir():
        raise SaliencyKitError(f"cannot write to --csv {csv_file}: the folder {folder} does not exist.")
    if not os.access(folder, os.W_OK):
        raise SaliencyKitError(f"cannot write to --csv {csv_file}: the folder {folder} is not writable.")


def _run(
    model: str,
    images: list[Path],
    methods: str,
    metrics: str,
    boxes: Path | None,
    as_json: bool,
    csv_file: Path | None,
    preprocessing: tuple,
    rise_masks: int,
    input_name: str | None = None,
    max_pixels: int | None = None,
    **settings,
) -> None:
    """The body of ``saliencykit evaluate`` (helpers of saliencykit.cli are imported when it runs).

    Options, paths and files are checked first, then the model is loaded, then the images: a usage mistake
    costs one line and exit 2 before any work.
    """
    from ..cli import _boundary, _check_positive, _image_paths, _pipeline_options, _progress, _read, _skipped, err, out
    from ..model import load_model
    from ..pipeline import Pipeline
    from .runner import evaluate, load_boxes, parse_metrics

    failed = 0
    with _boundary():
        try:
            chosen = parse_metrics(metrics)
        except MethodError as exc:
            raise MethodError(f"--{exc}") from None  # "metrics x: use any of ..." names the option
        _method_names(methods)
        _check_numbers(settings, rise_masks)
        _check_positive("--max-pixels", max_pixels)
        options = {
            **settings,
            "substrate": _substrate(settings["substrate"]),
            "deletion_substrate": _substrate(settings["deletion_substrate"], "--deletion-substrate"),
            "adcc_base": _substrate(settings["adcc_base"], "--adcc-base"),
            "stages": _stages(settings["stages"]),
        }
        if csv_file is not None:
            _check_csv(csv_file)
        paths = _image_paths(images)
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
        source, preprocess, label_names = _pipeline_options(model, *preprocessing)
        graph = load_model(source)
        pipeline = Pipeline(graph, preprocess, label_names=label_names, input_name=input_name)
        explainers = _methods(methods, graph, preprocess, label_names, rise_masks, input_name)
    loaded = {}
    for path in paths:
        try:
            name = path.name if path.name not in loaded else str(path)
            loaded[name] = _read(path, max_pixels)
        except SaliencyKitError as exc:
            _skipped(err, exc)
            failed += 1
    with _boundary():
        if not loaded:
            raise SaliencyKitError(f"none of the {len(paths)} image(s) could be read.")
        described = "; ".join(f"{n}: {getattr(e, 'method_description', 'a control')}" for n, e in explainers.items())
        err.print(f"methods: {escape(described)}", highlight=False)
        with _progress() as progress:
            task = progress.add_task("evaluating", total=None, rate="")

            def report(done: int, total: int, what: str) -> None:
                progress.update(task, completed=done, total=total, rate=escape(what))

            result = evaluate(pipeline, explainers, loaded, chosen, box_data, progress=report, **options)
        for failure in result.failures:
            where = f"{failure['method']} on {failure['image']}: {failure['error']}"
            err.print(f"[red]failed[/red] {escape(where)}", highlight=False)
            failed += 1
        table = _table(result)
        if as_json:
            err.print(table)
            sys.stdout.write(json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
            sys.stdout.flush()
        else:
            out.print(table)
        if csv_file is not None:
            try:
                result.to_csv(csv_file)
            except OSError as exc:
                raise SaliencyKitError(f"cannot write to --csv {csv_file}: {exc.strerror}.") from None
            err.print(f"summary written to {escape(str(csv_file))}", highlight=False)
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``saliencykit evaluate`` to the command-line app.

    The command is declared here, not at import time, so that importing this module never imports
    ``saliencykit.cli`` (which imports this module while it registers its commands).
    """
    from ..cli import (
        MODEL_HELP,
        BgrOpt,
        InputNameOpt,
        LabelsOpt,
        LayoutOpt,
        MaxPixelsOpt,
        MeanOpt,
        ResizeOpt,
        SizeOpt,
        StdOpt,
    )

    @app.command("evaluate")
    def evaluate(
        model: str = typer.Argument(..., help=MODEL_HELP),
        images: list[Path] = typer.Argument(..., help="Image files or folders."),
        methods: str = typer.Option("auto", "--methods", help=f"Comma-separated: auto, {METHOD_NAMES}."),
        metrics: str = typer.Option(
            "insertion-deletion,adcc,pointing-game,randomization",
            "--metrics",
            help="Comma-separated: insertion-deletion, adcc, pointing-game, randomization, or all.",
        ),
        boxes: Path = typer.Option(None, "--boxes", help="Boxes per image name, JSON (default for 'demo': its own)."),
        steps: int = typer.Option(30, "--steps", help="Insertion/deletion increments (steps + 1 points)."),
        substrate: str = typer.Option("blur", "--substrate", help="Removed pixels become: blur, mean, black, a value."),
        deletion_substrate: str = typer.Option(None, "--deletion-substrate", help="Another substrate for deletion."),
        score: str = typer.Option("probability", "--score", help="Insertion/deletion score: probability or logit."),
        adcc_base: str = typer.Option("mean", "--adcc-base", help="ADCC masks towards: mean, black, blur, a value."),
        tolerance: float = typer.Option(15, "--tolerance", help="Pointing-game tolerance in pixels."),
        stages: str = typer.Option(None, "--stages", help="Randomised layer counts, e.g. 1,2,4 (default: to all)."),
        seed: int = typer.Option(0, "--seed", help="Seed of the random weights and random classes."),
        threshold: float = typer.Option(0.5, "--threshold", help="Sanity checks pass below this Spearman value."),
        rise_masks: int = typer.Option(1000, "--rise-masks", help="Masks per image for RISE."),
        as_json: bool = typer.Option(False, "--json", help="Print results as JSON to stdout (tables to stderr)."),
        csv_file: Path = typer.Option(None, "--csv", help="Also write the summary table as CSV to this file."),
        size: int = SizeOpt,
        mean: str = MeanOpt,
        std: str = StdOpt,
        bgr: bool = BgrOpt,
        layout: str = LayoutOpt,
        resize: str = ResizeOpt,
        labels: Path = LabelsOpt,
        input_name: str = InputNameOpt,
        max_pixels: int = MaxPixelsOpt,
    ) -> None:
        """Measure how faithful saliency maps are: insertion/deletion AUC, ADCC, pointing game, sanity checks."""
        _run(
            model,
            images,
            methods,
            metrics,
            boxes,
            as_json,
            csv_file,
            (size, mean, std, bgr, layout, resize, labels),
            rise_masks,
            input_name,
            max_pixels,
            steps=steps,
            substrate=substrate,
            deletion_substrate=deletion_substrate,
            score=score,
            adcc_base=adcc_base,
            tolerance=tolerance,
            stages=stages,
            seed=seed,
            threshold=threshold,
        )
