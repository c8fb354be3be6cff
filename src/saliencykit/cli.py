"""Command-line interface: a thin Typer layer over the Python API, with Rich tables and progress bars.

Every option is checked before an image or the model is loaded, so a usage mistake costs one line and exit
code 2, not a traceback or the same error once per image. Exit codes: 0 done, 1 some images failed,
2 usage or setup error, 130 interrupted.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .errors import MethodError, PreprocessError, SaliencyKitError, TargetError
from .images import IMAGE_SUFFIXES, read_image

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Explain what computer-vision models look at.")
out = Console()
err = Console(stderr=True, soft_wrap=True)

MODEL_HELP = "Model file (.xml, .onnx, .tflite), or 'demo' for the built-in ImageNet demo model."
LAYOUTS = ("auto", "NCHW", "NHWC")
RESIZES = ("linear", "area", "nearest", "cubic")
#: --size beyond this is a typo, not a model input: 4096 x 4096 float32 pixels are already 200 MB per image
MAX_INPUT_SIZE = 4096


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
        handlers=[RichHandler(console=err, show_path=False, show_time=False, markup=False)],
    )


def _floats(text: str | None, option: str = "value") -> list[float] | float | None:
    """One number or a comma-separated list of finite numbers, e.g. ``--mean 123.7,116.3,103.5``."""
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise PreprocessError(f"{option} '{text}' is not a number: give one number or r,g,b, e.g. 127.5.") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise PreprocessError(f"{option} '{text}': give one finite number or r,g,b, e.g. 127.5.")
    return values[0] if len(values) == 1 else values


def _channel_values(text: str | None, option: str, default: float, positive: bool = False) -> float | list[float]:
    """``--mean``/``--std``: one number for every channel or three (R,G,B); a std must be above zero."""
    if not text:
        return default
    values = _floats(text, option)
    listed = values if isinstance(values, list) else [values]
    if len(listed) not in (1, 3):
        raise PreprocessError(f"{option} '{text}': give one number or three (R,G,B), not {len(listed)}.")
    if positive and min(listed) <= 0:
        raise PreprocessError(f"{option} '{text}': every value must be above zero (pixels are divided by it).")
    return values  # type: ignore[return-value]


def _check_size(size: int | None) -> None:
    if size is not None and not 1 <= size <= MAX_INPUT_SIZE:
        raise PreprocessError(
            f"--size {size}: give the model's input side in pixels, between 1 and {MAX_INPUT_SIZE} (e.g. 224)."
        )


def _check_choice(option: str, value: str, choices: tuple[str, ...]) -> str:
    """``value`` as spelled in ``choices`` (case-insensitive), else an error listing the valid values."""
    for choice in choices:
        if value.lower() == choice.lower():
            return choice
    raise MethodError(f"{option} '{value}' is not one of: {', '.join(choices)}.")


def _read_labels(labels: Path) -> list[str]:
    from .labels import read_labels

    try:
        return read_labels(labels)
    except UnicodeDecodeError:
        raise TargetError(f"--labels {labels}: not a UTF-8 text file; give class names, one per line.") from None
    except TargetError as exc:
        raise TargetError(f"--labels: {exc}") from None


def _pipeline_options(model, size, mean, std, bgr, layout, resize, labels):
    """Model, preprocessing and label names from CLI options; 'demo' takes the demo's own.

    Every option is checked here, before anything is loaded, with messages that name the option.
    """
    from . import demo
    from .preprocess import Preprocess

    _check_size(size)
    mean_value = _channel_values(mean, "--mean", 0.0)
    std_value = _channel_values(std, "--std", 1.0, positive=True)
    layout = _check_choice("--layout", layout or "auto", LAYOUTS)
    resize = _check_choice("--resize", resize or "linear", RESIZES)
    label_names = _read_labels(labels) if labels else None
    if model == "demo":
        given = [name for name, value in (("--size", size), ("--mean", mean), ("--std", std), ("--bgr", bgr)) if value]
        if layout != "auto":
            given.append("--layout")
        if given:
            err.print(f"note: 'demo' brings its own preprocessing; {', '.join(given)} ignored.", highlight=False)
        return demo.model(), demo.preprocess, label_names or demo.labels()
    options: dict[str, Any] = {"layout": layout} if layout != "auto" else {}  # auto: the model's own layout
    preprocess = Preprocess(
        size=size,
        mean=mean_value,
        std=std_value,
        channel_order="BGR" if bgr else "RGB",
        resize=resize,
        **options,
    )
    return model, preprocess, label_names


def _image_paths(images: list[Path]) -> list[Path]:
    """Image files from files and folders (folders searched recursively), each once, in the order given.

    A path that does not exist, or a folder without images, is a usage error: nothing would be done for it.
    """
    paths: list[Path] = []
    for item in images:
        if item.is_dir():
            found = sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not found:
                raise SaliencyKitError(
                    f"{item}: no images in this folder (looked for {', '.join(IMAGE_SUFFIXES)} files)."
                )
            paths.extend(found)
        elif item.exists():
            paths.append(item)
        else:
            raise SaliencyKitError(f"{item}: no such image file or folder. Check the path.")
    if not paths:
        raise SaliencyKitError("no images given: name image files or folders that contain images.")
    seen: set[Path] = set()
    unique = []
    for path in paths:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique


def _read(path: Path, max_pixels: int | None) -> Any:
    """Read one image; ``--max-pixels`` is passed only when given, so the reader's own default applies."""
    return read_image(path) if max_pixels is None else read_image(path, max_pixels=max_pixels)


def _check_positive(option: str, value: int | float | None, minimum: float = 1) -> None:
    if value is not None and not value >= minimum:
        raise MethodError(f"{option} {value}: must be at least {minimum:g}.")


def _check_out_dir(out_dir: Path, images: Sequence[Path] = ()) -> None:
    """Make sure ``--out`` is a folder we can write to before any image is processed.

    It must not lie inside a folder of input images: the next run over that folder would read the overlays as
    images to explain.
    """
    target = out_dir.resolve()
    for folder in (item.resolve() for item in images if item.is_dir()):
        if target == folder or folder in target.parents:
            raise SaliencyKitError(
                f"--out {out_dir} is inside the image folder {folder}: the next run would read the outputs as "
                "images. Give an --out outside it."
            )
    if out_dir.exists() and not out_dir.is_dir():
        raise SaliencyKitError(f"cannot write to --out {out_dir}: it is a file, not a folder. Give a folder.")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".saliencykit-probe-", dir=out_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise SaliencyKitError(f"cannot write to --out {out_dir}: {exc.strerror or exc}.") from None


def _num_classes(pipeline) -> int | None:
    """The model's class count from its first output's static shape, if it has one."""
    model = getattr(pipeline, "ov_model", None)
    if model is None:
        return None
    shape = model.outputs[0].get_partial_shape()
    if shape.rank.is_dynamic or shape.rank.get_length() < 2 or not all(d.is_static for d in list(shape)[1:]):
        return None  # the batch axis may be dynamic; the class axes must not be
    return int(math.prod(d.get_length() for d in list(shape)[1:]))


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


#: advice written for the Python API, said in the words of the command line
def _message(exc: BaseException) -> str:
    """One line for an error: our own message (which names the CLI option to set), or an OSError's file and reason."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}."
    return " ".join(str(exc).split())


def _fail(exc: BaseException) -> None:
    """Print one error line and exit 2 (a usage or setup error)."""
    err.print(f"[red]error:[/red] {escape(_message(exc))}", highlight=False)
    raise typer.Exit(2)


def _skipped(console: Console, exc: BaseException) -> None:
    """Print one line for an image that failed; the run goes on and exits 1."""
    console.print(f"[red]skipped[/red] {escape(_message(exc))}", highlight=False)


@contextlib.contextmanager
def _boundary() -> Iterator[None]:
    """Our errors and OS errors end a command with one line and exit 2, Ctrl-C with exit 130; anything else is a
    bug and raises."""
    try:
        yield
    except (SaliencyKitError, OSError) as exc:
        _fail(exc)
    except KeyboardInterrupt:
        err.print("interrupted: files already written are kept.", highlight=False)
        raise typer.Exit(130) from None


# Options shared by commands that load a model.
SizeOpt = typer.Option(None, "--size", help="Input size (square) when the model's is not fixed.")
MeanOpt = typer.Option(None, "--mean", help="Pixel mean(s), e.g. 127.5 or 123.7,116.3,103.5 (RGB order).")
StdOpt = typer.Option(None, "--std", help="Pixel std(s) or scale, e.g. 127.5 or 58.4,57.1,57.4.")
BgrOpt = typer.Option(False, "--bgr", help="The model expects BGR channel order.")
LayoutOpt = typer.Option("auto", "--layout", help="NCHW or NHWC; default: read from the model's input shape.")
ResizeOpt = typer.Option("linear", "--resize", help="Resize interpolation: linear, area, nearest, cubic.")
LabelsOpt = typer.Option(None, "--labels", help="Class names, one per line (line N names class N).")
InputNameOpt = typer.Option(None, "--input-name", help="The model input that receives the images (several inputs).")
MaxPixelsOpt = typer.Option(
    None, "--max-pixels", help="Refuse images with more pixels than this (width x height); default: the reader's."
)


def _parse_targets(text: str) -> str | list[int | str]:
    """``--targets``: ``top:K``, ``all``, or class indices and names, comma-separated; checked for form only."""
    text = text.strip()
    if text == "all":
        return text
    if text.startswith("top:"):
        k = text[4:].strip()
        if not k.isdecimal() or int(k) < 1:
            raise TargetError(f"--targets '{text}': write top:K with a whole number K of at least 1, e.g. top:3.")
        return f"top:{int(k)}"
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise TargetError("--targets is empty: give top:K, all, or class indices or names, comma-separated.")
    parsed: list[int | str] = []
    for item in items:
        if re.fullmatch(r"[+-]?\d+", item):
            if int(item) < 0:
                raise TargetError(f"--targets {item}: class indices start at 0; use 'all' for every class.")
            parsed.append(int(item))
        else:
            parsed.append(item)
    return parsed


def _check_targets(targets: str | list[int | str], num_classes: int | None, label_names: list[str] | None) -> None:
    """Check targets against the model's class count and names once, before any image."""
    import numpy as np

    from .labels import label_index
    from .targets import resolve_targets

    try:
        if num_classes is not None:
            resolve_targets(targets, np.zeros(num_classes, np.float32), label_names)
        elif isinstance(targets, list):
            for item in targets:
                if isinstance(item, str):
                    label_index(item, label_names)
    except TargetError as exc:
        raise TargetError(f"--targets: {exc}") from None


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
    input_name: str = InputNameOpt,
    max_pixels: int = MaxPixelsOpt,
) -> None:
    """Print the top-k classes of each image."""
    import numpy as np

    from .labels import label_of
    from .pipeline import Pipeline

    with _boundary():
        if top_k < 1:
            raise TargetError(f"--top-k {top_k}: show at least 1 class per image.")
        _check_positive("--max-pixels", max_pixels)
        paths = _image_paths(images)
        source, preprocess, label_names = _pipeline_options(model, size, mean, std, bgr, layout, resize, labels)
        pipeline = Pipeline(source, preprocess, label_names=label_names, input_name=input_name)
        num_classes = _num_classes(pipeline)
        if num_classes is not None and top_k > num_classes:
            raise TargetError(f"--top-k {top_k}: this model has {num_classes} classes; give 1..{num_classes}.")
    failed = 0
    table = Table(title=f"top-{top_k} predictions")
    table.add_column("image")
    table.add_column("rank", justify="right")
    table.add_column("class", justify="right")
    table.add_column("label")
    table.add_column("score", justify="right")
    with _boundary():
        for path in paths:
            try:
                scores = pipeline.predict([_read(path, max_pixels)])[0]
            except SaliencyKitError as exc:
                _skipped(err, exc)
                failed += 1
                continue
            for rank, index in enumerate(np.argsort(-scores)[:top_k], 1):
                label = escape(label_of(int(index), pipeline.label_names))
                name = escape(path.name) if rank == 1 else ""
                table.add_row(name, str(rank), str(index), label, f"{scores[index]:.4f}")
        out.print(table)
    if failed:
        raise typer.Exit(1)


def _explain_paths(
    explainer, paths: list[Path], targets, out_dir: Path, raw: bool, max_pixels: int | None = None
) -> tuple[int, int]:
    """Explain and save every image; returns (failed images, files written).

    Output names come from :func:`saliencykit.files.unique_stems`, the audit's rule: ``a/photo.jpg`` and
    ``b/photo.jpg``, or ``cat.jpg`` and ``cat.png``, get different names and never overwrite each other.
    """
    from .files import unique_stems

    stems = unique_stems(str(p) for p in paths)
    failed = written = 0
    with _progress() as progress:
        task = progress.add_task("explaining", total=len(paths), rate="")
        calls = progress.add_task("  model calls", total=None, visible=False, rate="")

        def on_calls(done: int, total: int) -> None:  # black-box methods: a bar within the image
            progress.update(calls, completed=done, total=total, visible=True)

        for n, path in enumerate(paths, 1):
            stem = stems[str(path)]
            try:
                progress.reset(calls, total=None, visible=False)
                explanation = explainer(_read(path, max_pixels), targets=targets, progress=on_calls)
            except TargetError:
                raise  # the same for every image: a usage error, reported once
            except SaliencyKitError as exc:
                _skipped(progress.console, exc)
                failed += 1
            else:
                written += len(explanation.save(out_dir, prefix=f"{stem}_", postfix="_"))
                if raw:
                    explanation.save_raw(out_dir / f"{stem}.npz")
                    written += 1
            elapsed = progress.tasks[task].elapsed or 1e-9
            progress.update(task, advance=1, rate=f"{n / elapsed:.1f} img/s")
    return failed, written


def _blackbox_method(method: str | None, preset: str | None, seed: int) -> Any:
    """The method object for ``--preset``/``--seed`` (black-box methods only), else ``method`` unchanged."""
    from .methods import get_method

    if seed < 0:
        raise MethodError(f"--seed {seed}: give a whole number of 0 or more.")
    if preset is None and not seed:
        return method
    name = (method or "rise").lower()
    if name not in ("rise", "aise"):
        raise MethodError(f"--preset and --seed are for the black-box methods rise and aise, not '{method}'.")
    if name == "aise" and seed:
        raise MethodError("aise is deterministic (a DIRECT search): it takes no --seed.")
    options: dict[str, Any] = {"seed": seed} if name == "rise" else {}
    if preset is not None:
        options["preset"] = preset
    return get_method(name, **options)


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
    input_name: str = InputNameOpt,
    max_pixels: int = MaxPixelsOpt,
) -> None:
    """Write one overlay per image and target: {image}_{label}_{score}.jpg."""
    from .explainer import MODES, Explainer
    from .methods import METHODS
    from .methods.rise import PRESETS

    with _boundary():
        mode = _check_choice("--mode", mode, MODES)
        if method is not None:
            method = _check_choice("--method", method.replace("-", "_"), tuple(METHODS))
        if preset is not None:
            preset = _check_choice("--preset", preset, tuple(PRESETS))
        chosen = _blackbox_method(method, preset, seed)
        if chosen is not method:
            mode = "blackbox"
        parsed_targets = _parse_targets(targets)
        _check_positive("--max-pixels", max_pixels)
        paths = _image_paths(images)
        _check_out_dir(out_dir, images)
        source, preprocess, label_names = _pipeline_options(model, size, mean, std, bgr, layout, resize, labels)
        explainer = Explainer(
            source,
            preprocess,
            mode=mode,
            method=chosen,
            target_layer=target_layer,
            label_names=label_names,
            input_name=input_name,
        )
        _check_targets(parsed_targets, _num_classes(explainer.pipeline), explainer.label_names)
        err.print(f"method: {escape(explainer.method_description)}", highlight=False)
        failed, written = _explain_paths(explainer, paths, parsed_targets, out_dir, raw, max_pixels)
    done = len(paths) - failed
    out.print(f"wrote {written} file(s) for {done} of {len(paths)} image(s) to {escape(str(out_dir))}", highlight=False)
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
    """Entry point of the ``saliencykit`` command; Ctrl-C exits 130."""
    try:
        app()
    except KeyboardInterrupt:  # Typer already turns it into exit 130; this covers Ctrl-C outside a command
        err.print("interrupted")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
