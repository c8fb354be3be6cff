"""Every option shared by more than one command, declared once.

Commands that load a model take the preprocessing options through :func:`with_model_options`, which adds them
to the command's signature and hands the command one :class:`ModelOptions`. The ``--method`` help is read from
the method registry when the app is built (:func:`describe_methods`), so a method registered after
``import saliencykit`` is listed too.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import typer
from typer.models import OptionInfo

from ..methods import registry

#: the task of every command-line command (the CLI explains classifiers)
TASK = "classification"

MODEL_HELP = "Model file (.xml, .onnx, .tflite), or 'demo' for the built-in ImageNet demo model."
MODEL = typer.Argument(..., help=MODEL_HELP)
IMAGES = typer.Argument(..., help="Image files or folders.")
MODE = typer.Option("auto", "--mode", help="auto, whitebox or blackbox.")
TARGET_LAYER = typer.Option(None, "--target-layer", help="Node name of the feature map to explain.")


def out_option(default: str, help: str) -> Any:
    """``--out``/``-o``: every command writes into one folder; the default and what lands there differ."""
    return typer.Option(Path(default), "--out", "-o", help=help)


def seed_option(help: str) -> Any:
    """``--seed``: a whole number of 0 or more; what it seeds differs by command."""
    return typer.Option(0, "--seed", help=help)


# --method: the help lists the registry's methods when the app is built ------------------------------------------
_METHOD_OPTIONS: list[tuple[OptionInfo, str]] = []


def method_option(names: str, template: str = "{methods}") -> Any:
    """A method option (``--method``, ``--methods``) whose help is ``template`` with the registry's methods."""
    info = typer.Option(None if names == "--method" else "auto", names)
    _METHOD_OPTIONS.append((info, template))
    return info


def describe_methods() -> None:
    """Fill every method option's help from the registry as it is now (called by ``build_app``)."""
    methods = registry.help_text(TASK)
    names = ", ".join(registry.names(task=TASK))
    for info, template in _METHOD_OPTIONS:
        info.help = template.format(methods=methods, names=names)


# Model and preprocessing: one group, added to a command's signature -----------------------------------------------
@dataclass
class ModelOptions:
    """The model-loading options of a command, as given on the command line (checked by ``values``)."""

    size: int | None = None
    mean: str | None = None
    std: str | None = None
    bgr: bool = False
    layout: str = "auto"
    resize: str = "linear"
    labels: Path | None = None
    input_name: str | None = None
    max_pixels: int | None = None
    precision: str = "f32"


_MODEL_OPTIONS: dict[str, tuple[Any, Any]] = {
    "size": (int, typer.Option(None, "--size", help="Input size (square) when the model's is not fixed.")),
    "mean": (str, typer.Option(None, "--mean", help="Pixel mean(s), e.g. 127.5 or 123.7,116.3,103.5 (RGB order).")),
    "std": (str, typer.Option(None, "--std", help="Pixel std(s) or scale, e.g. 127.5 or 58.4,57.1,57.4.")),
    "bgr": (bool, typer.Option(False, "--bgr", help="The model expects BGR channel order.")),
    "layout": (str, typer.Option("auto", "--layout", help="NCHW or NHWC; default: read from the model's input shape.")),
    "resize": (str, typer.Option("linear", "--resize", help="Resize interpolation: linear, area, nearest, cubic.")),
    "labels": (Path, typer.Option(None, "--labels", help="Class names, one per line (line N names class N).")),
    "input_name": (
        str,
        typer.Option(None, "--input-name", help="The model input that receives the images (several inputs)."),
    ),
    "max_pixels": (
        int,
        typer.Option(
            None,
            "--max-pixels",
            help="Refuse images with more pixels than this (width x height); default: the reader's.",
        ),
    ),
    "precision": (
        str,
        typer.Option(
            "f32",
            "--precision",
            help="Inference precision: f32 (default, exact), bf16 or f16 (faster where the processor has them).",
        ),
    ),
}
assert set(_MODEL_OPTIONS) == {f.name for f in fields(ModelOptions)}


def with_model_options(*, exclude: tuple[str, ...] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the model options (all but ``exclude``) to a command; it receives them as ``options: ModelOptions``."""
    names = [name for name in _MODEL_OPTIONS if name not in exclude]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(command)
        hints = {k: v for k, v in typing.get_type_hints(command).items() if k not in ("options", "return")}
        own = [p.replace(annotation=hints[p.name]) for p in signature.parameters.values() if p.name != "options"]
        added = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=kind)
            for name, (kind, info) in ((n, _MODEL_OPTIONS[n]) for n in names)
        ]

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given = ModelOptions(**{name: kwargs.pop(name) for name in names})
            return command(*args, options=given, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
        wrapper.__annotations__ = {**hints, **{name: _MODEL_OPTIONS[name][0] for name in names}}
        del wrapper.__wrapped__  # typing.get_type_hints reads the wrapper's annotations, not the command's
        return wrapper

    return decorate
