"""Command-line interface: a thin Typer layer over the Python API, with Rich tables and progress bars."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .errors import MethodError, SaliencyKitError
from .images import IMAGE_SUFFIXES, read_image

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Explain what computer-vision models look at.")
out = Console()
err = Console(stderr=True, soft_wrap=True)

MODEL_HELP = "Model file (.xml, .onnx, .tflite), or 'demo' for the built-in ImageNet demo model."


def _version(value: bool) -> None:
    if value:
        from . import __version__

        out.print(f"saliencykit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log which method is used and why."),
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False, show_time=False)],
    )


def _floats(text: str | None) -> list[float] | float | None:
    if text is None:
        return None
    values = [float(v) for v in text.split(",") if v.strip()]
    return values[0] if len(values) == 1 else values


def _pipeline_options(model, size, mean, std, bgr, layout, resize, labels):
    """Model, preprocessing and label names from CLI options; 'demo' takes the demo's own."""
    from . import demo
    from .labels import read_labels
    from .preprocess import Preprocess

    label_names = read_labels(labels) if labels else None
    if model == "demo":
        return demo.model(), demo.preprocess, label_names or demo.labels()
    preprocess = Preprocess(
        size=size,
        mean=_floats(mean) if mean else 0.0,
        std=_floats(std) if std else 1.0,
        channel_order="BGR" if bgr else "RGB",
        layout=layout,
        resize=resize,
    )
    return model, preprocess, label_names


def _image_paths(images: list[Path]) -> list[Path]:
    paths: list[Path] = []
    for item in images:
        if item.is_dir():
            paths.extend(sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            paths.append(item)
    if not paths:
        raise SaliencyKitError("no images found: give image files or folders that contain images.")
    return paths


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


def _fail(exc: Exception) -> None:
    err.print(f"[red]error:[/red] {exc}", highlight=False)
    raise typer.Exit(2)


# Options shared by commands that load a model.
SizeOpt = typer.Option(None, "--size", help="Input size (square) when the model's is not fixed.")
MeanOpt = typer.Option(None, "--mean", help="Pixel mean(s), e.g. 127.5 or 123.7,116.3,103.5 (RGB order).")
StdOpt = typer.Option(None, "--std", help="Pixel std(s) or scale, e.g. 127.5 or 58.4,57.1,57.4.")
BgrOpt = typer.Option(False, "--bgr", help="The model expects BGR channel order.")
LayoutOpt = typer.Option("NCHW", "--layout", help="Model input layout: NCHW or NHWC.")
ResizeOpt = typer.Option("linear", "--resize", help="Resize interpolation: linear, area, nearest, cubic.")
LabelsOpt = typer.Option(None, "--labels", help="Class names, one per line.")


@app.command()
def predict(
    model: str = typer.Argument(..., help=MODEL_HELP),
    images: list[Path] = typer.Argument(..., help="Image files or folders."),
    top_k: int = typer.Option(5, "--top-k", "-k", help="How many classes to show per image."),
    size: int = SizeOpt,
    mean: str = MeanOpt,
    std: str = StdOpt,
    bgr: bool = BgrOpt,
    layout: str = LayoutOpt,
    resize: str = ResizeOpt,
    labels: Path = LabelsOpt,
) -> None:
    """Print the top-k classes of each image."""
    import numpy as np

    from .labels import label_of
    from .pipeline import Pipeline

    failed = 0
    try:
        source, preprocess, label_names = _pipeline_options(model, size, mean, std, bgr, layout, resize, labels)
        pipeline = Pipeline(source, preprocess, label_names=label_names)
        paths = _image_paths(images)
    except SaliencyKitError as exc:
        _fail(exc)
    table = Table(title=f"top-{top_k} predictions")
    table.add_column("image")
    table.add_column("rank", justify="right")
    table.add_column("class", justify="right")
    table.add_column("label")
    table.add_column("score", justify="right")
    for path in paths:
        try:
            scores = pipeline.predict([read_image(path)])[0]
        except SaliencyKitError as exc:
            err.print(f"[red]skipped[/red] {exc}", highlight=False)
            failed += 1
            continue
        for rank, index in enumerate(np.argsort(-scores)[:top_k], 1):
            label = label_of(int(index), pipeline.label_names)
            table.add_row(path.name if rank == 1 else "", str(rank), str(index), label, f"{scores[index]:.4f}")
    out.print(table)
    if failed:
        raise typer.Exit(1)


def _explain_paths(explainer, paths: list[Path], targets, out_dir: Path, raw: bool) -> int:
    failed = 0
    with _progress() as progress:
        task = progress.add_task("explaining", total=len(paths), rate="")
        calls = progress.add_task("  model calls", total=None, visible=False, rate="")

        def on_calls(done: int, total: int) -> None:  # black-box methods: a bar within the image
            progress.update(calls, completed=done, total=total, visible=True)

        for n, path in enumerate(paths, 1):
            try:
                progress.reset(calls, total=None, visible=False)
                explanation = explainer(read_image(path), targets=targets, progress=on_calls)
                prefix = f"{path.stem}_"
                explanation.save(out_dir, prefix=prefix, postfix="_")
                if raw:
                    explanation.save_raw(out_dir / f"{path.stem}.npz")
            except SaliencyKitError as exc:
                progress.console.print(f"[red]skipped[/red] {exc}", highlight=False)
                failed += 1
            elapsed = progress.tasks[task].elapsed or 1e-9
            progress.update(task, advance=1, rate=f"{n / elapsed:.1f} img/s")
    return failed


def _parse_targets(text: str):
    if text.startswith("top:") or text == "all":
        return text
    items = [t.strip() for t in text.split(",") if t.strip()]
    return [int(t) if t.lstrip("-").isdigit() else t for t in items]


@app.command()
def explain(
    model: str = typer.Argument(..., help=MODEL_HELP),
    images: list[Path] = typer.Argument(..., help="Image files or folders."),
    targets: str = typer.Option("top:1", "--targets", "-t", help="top:K, all, or indices/names, comma-separated."),
    out_dir: Path = typer.Option(Path("saliency-maps"), "--out", "-o", help="Output folder for the overlays."),
    method: str = typer.Option(
        None, "--method", help="reciprocam, vit_reciprocam, activation_map (white-box); rise, aise (black-box)."
    ),
    mode: str = typer.Option("auto", "--mode", help="auto, whitebox or blackbox."),
    preset: str = typer.Option(
        None, "--preset", help="Black-box presets (openvino-xai's): speed, balance or quality; implies --mode blackbox."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the black-box methods: the same seed gives the same maps."),
    target_layer: str = typer.Option(None, "--target-layer", help="Node name of the feature map to explain."),
    raw: bool = typer.Option(False, "--raw", help="Also save float maps as .npz."),
    size: int = SizeOpt,
    mean: str = MeanOpt,
    std: str = StdOpt,
    bgr: bool = BgrOpt,
    layout: str = LayoutOpt,
    resize: str = ResizeOpt,
    labels: Path = LabelsOpt,
) -> None:
    """Write one overlay per image and target: {image}_{label}_{score}.jpg."""
    from .explainer import Explainer

    try:
        if preset is not None or seed:
            from .methods import get_method

            name = (method or "rise").lower()
            if name not in ("rise", "aise"):
                raise MethodError(f"--preset and --seed are for the black-box methods rise and aise, not '{method}'.")
            if name == "aise" and seed:
                raise MethodError("aise is deterministic (a DIRECT search): it takes no --seed.")
            options = {"seed": seed} if name == "rise" else {}
            if preset is not None:
                options["preset"] = preset
            method, mode = get_method(name, **options), "blackbox"
        source, preprocess, label_names = _pipeline_options(model, size, mean, std, bgr, layout, resize, labels)
        explainer = Explainer(
            source, preprocess, mode=mode, method=method, target_layer=target_layer, label_names=label_names
        )
        paths = _image_paths(images)
    except SaliencyKitError as exc:
        _fail(exc)
    err.print(f"method: {explainer.method_description}", highlight=False)
    failed = _explain_paths(explainer, paths, _parse_targets(targets), out_dir, raw)
    out.print(f"wrote overlays for {len(paths) - failed} image(s) to {out_dir}")
    if failed:
        raise typer.Exit(1)


@app.command()
def demo(
    out_dir: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Output folder."),
) -> None:
    """Audit the built-in demo: a labelled folder made from the demo photos, explained and reported in DIR."""
    audit_cli.demo_command(out_dir)


# Commands that live beside their feature register themselves on `app` here (one line each).
# --- command registrations ---
from .audit import cli as audit_cli  # noqa: E402  (these modules import this one's helpers)
from .metrics import cli as metrics_cli  # noqa: E402

audit_cli.register(app)  # saliencykit audit
metrics_cli.register(app)  # saliencykit evaluate


def main() -> None:
    """Entry point of the ``saliencykit`` command."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
