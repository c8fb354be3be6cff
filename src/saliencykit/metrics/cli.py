"""``saliencykit evaluate``: a thin Typer command over :func:`saliencykit.metrics.evaluate`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from ..errors import SaliencyKitError
from ..images import read_image

CONTROLS = ("sobel",)
METHOD_NAMES = "reciprocam, vit_reciprocam, activation_map, rise, sobel (a control that ignores the model)"


def _substrate(text: str):
    """'blur', 'mean', 'black', a pixel value or an RGB triple."""
    from ..cli import _floats

    if not text:
        return None
    if text.lower() in ("blur", "mean", "black"):
        return text.lower()
    try:
        return _floats(text)
    except ValueError:
        raise SaliencyKitError(f"substrate '{text}': use blur, mean, black, a pixel value or r,g,b.") from None


def _stages(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SaliencyKitError(f"--stages '{text}': give layer counts such as 1,2,4,8.") from None


def _methods(text: str, model, preprocess, label_names, rise_masks: int) -> dict:
    from ..explainer import Explainer
    from ..methods import METHODS, RISE
    from .baselines import sobel_map

    names = [m.strip().lower().replace("-", "_") for m in text.split(",") if m.strip()]
    known = ("auto", *METHODS, *CONTROLS)
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise SaliencyKitError(f"--methods {', '.join(unknown) or '(none)'}: use any of {', '.join(known)}.")
    methods: dict = {}
    for name in dict.fromkeys(names):
        if name == "sobel":
            methods["sobel (control)"] = sobel_map
            continue
        method = RISE(num_masks=rise_masks) if name == "rise" else (None if name == "auto" else name)
        explainer = Explainer(model, preprocess, method=method, label_names=label_names)
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
    **settings,
) -> None:
    """The body of ``saliencykit evaluate`` (helpers of saliencykit.cli are imported when it runs)."""
    from ..cli import _fail, _image_paths, _pipeline_options, _progress, err, out
    from ..model import load_model
    from ..pipeline import Pipeline
    from .runner import evaluate, load_boxes, parse_metrics

    failed = 0
    try:
        chosen = parse_metrics(metrics)
        source, preprocess, label_names = _pipeline_options(model, *preprocessing)
        graph = load_model(source)
        pipeline = Pipeline(graph, preprocess, label_names=label_names)
        explainers = _methods(methods, graph, preprocess, label_names, rise_masks)
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
            raise SaliencyKitError("no metric left to run.")
        options = {
            **settings,
            "substrate": _substrate(settings["substrate"]),
            "deletion_substrate": _substrate(settings["deletion_substrate"]),
            "adcc_base": _substrate(settings["adcc_base"]),
            "stages": _stages(settings["stages"]),
        }
        paths = _image_paths(images)
    except SaliencyKitError as exc:
        _fail(exc)
    loaded = {}
    for path in paths:
        try:
            name = path.name if path.name not in loaded else str(path)
            loaded[name] = read_image(path)
        except SaliencyKitError as exc:
            err.print(f"[red]skipped[/red] {exc}", highlight=False)
            failed += 1
    if not loaded:
        _fail(SaliencyKitError("no readable images."))
    described = "; ".join(f"{n}: {getattr(e, 'method_description', 'a control')}" for n, e in explainers.items())
    err.print(f"methods: {described}", highlight=False)
    with _progress() as progress:
        task = progress.add_task("evaluating", total=None, rate="")

        def report(done: int, total: int, what: str) -> None:
            progress.update(task, completed=done, total=total, rate=what)

        try:
            result = evaluate(pipeline, explainers, loaded, chosen, box_data, progress=report, **options)
        except SaliencyKitError as exc:
            progress.stop()
            _fail(exc)
    for failure in result.failures:
        err.print(f"[red]failed[/red] {failure['method']} on {failure['image']}: {failure['error']}", highlight=False)
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
            _fail(SaliencyKitError(f"{csv_file}: cannot write the CSV ({exc.strerror})."))
        err.print(f"summary written to {csv_file}", highlight=False)
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``saliencykit evaluate`` to the command-line app.

    The command is declared here, not at import time, so that importing this module never imports
    ``saliencykit.cli`` (which imports this module while it registers its commands).
    """
    from ..cli import MODEL_HELP, BgrOpt, LabelsOpt, LayoutOpt, MeanOpt, ResizeOpt, SizeOpt, StdOpt

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
