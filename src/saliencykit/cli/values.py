"""Option values turned into what the library takes: numbers, choices, label names, a model with its
preprocessing, image paths, an output folder; each checked before an image or the model is loaded, with a
message that names the option.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import MethodError, PreprocessError, SaliencyKitError, TargetError
from ..methods import registry
from .console import err
from .options import TASK, ModelOptions

LAYOUTS = ("auto", "NCHW", "NHWC")
RESIZES = ("linear", "area", "nearest", "cubic")
#: --size beyond this is a typo, not a model input: 4096 x 4096 float32 pixels are already 200 MB per image
MAX_INPUT_SIZE = 4096


def floats(text: str | None, option: str = "value") -> list[float] | float | None:
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


def channel_values(text: str | None, option: str, default: float, positive: bool = False) -> float | list[float]:
    """``--mean``/``--std``: one number for every channel or three (R,G,B); a std must be above zero."""
    if not text:
        return default
    values = floats(text, option)
    listed = values if isinstance(values, list) else [values]
    if len(listed) not in (1, 3):
        raise PreprocessError(f"{option} '{text}': give one number or three (R,G,B), not {len(listed)}.")
    if positive and min(v for v in listed if v is not None) <= 0:
        raise PreprocessError(f"{option} '{text}': every value must be above zero (pixels are divided by it).")
    return values  # type: ignore[return-value]


def check_size(size: int | None) -> None:
    """``--size``: a model input side, 1..MAX_INPUT_SIZE pixels."""
    if size is not None and not 1 <= size <= MAX_INPUT_SIZE:
        raise PreprocessError(
            f"--size {size}: give the model's input side in pixels, between 1 and {MAX_INPUT_SIZE} (e.g. 224)."
        )


def choice(option: str, value: str, choices: Sequence[str]) -> str:
    """``value`` as spelled in ``choices`` (case-insensitive), else an error listing the valid values."""
    for known in choices:
        if value.lower() == known.lower():
            return known
    raise MethodError(f"{option} '{value}' is not one of: {', '.join(choices)}.")


def check_positive(option: str, value: int | float | None, minimum: float = 1) -> None:
    """A count or size that must be at least ``minimum``."""
    if value is not None and not value >= minimum:
        raise MethodError(f"{option} {value}: must be at least {minimum:g}.")


def method_name(value: str, option: str = "--method") -> str:
    """A registered method's own name for ``value`` (any registered spelling), else an error listing them."""
    try:
        spec = registry.lookup(value, task=TASK)
    except MethodError:
        spec = None
    if spec is None or TASK not in spec.tasks:
        raise MethodError(f"{option} '{value}' is not one of: {', '.join(registry.names(task=TASK))}.")
    return spec.name


def read_label_file(labels: Path) -> list[str]:
    """``--labels``: class names, one per line."""
    from ..labels import read_labels

    try:
        return read_labels(labels)
    except UnicodeDecodeError:
        raise TargetError(f"--labels {labels}: not a UTF-8 text file; give class names, one per line.") from None
    except TargetError as exc:
        raise TargetError(f"--labels: {exc}") from None


def model_and_preprocess(model: str, options: ModelOptions) -> tuple[Any, Any, list[str] | None]:
    """Model, preprocessing and label names from the options; 'demo' takes the demo's own.

    Every option is checked here, before anything is loaded, with messages that name the option.
    """
    from .. import demo
    from ..preprocess import Preprocess

    check_size(options.size)
    mean_value = channel_values(options.mean, "--mean", 0.0)
    std_value = channel_values(options.std, "--std", 1.0, positive=True)
    layout = choice("--layout", options.layout or "auto", LAYOUTS)
    resize = choice("--resize", options.resize or "linear", RESIZES)
    label_names = read_label_file(options.labels) if options.labels else None
    if model == "demo":
        named = (("--size", options.size), ("--mean", options.mean), ("--std", options.std), ("--bgr", options.bgr))
        given = [name for name, value in named if value]
        if layout != "auto":
            given.append("--layout")
        if given:
            err.print(f"note: 'demo' brings its own preprocessing; {', '.join(given)} ignored.", highlight=False)
        return demo.model(), demo.preprocess, label_names or demo.labels()
    extra: dict[str, Any] = {"layout": layout} if layout != "auto" else {}  # auto: the model's own layout
    preprocess = Preprocess(
        size=options.size,
        mean=mean_value,
        std=std_value,
        channel_order="BGR" if options.bgr else "RGB",
        resize=resize,
        **extra,
    )
    return model, preprocess, label_names


def image_paths(images: list[Path]) -> list[Path]:
    """Image files from files and folders (folders searched recursively), each once, in the order given.

    A path that does not exist, or a folder without images, is a usage error: nothing would be done for it.
    """
    from ..images import IMAGE_SUFFIXES

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


def read(path: Path, max_pixels: int | None) -> Any:
    """Read one image; ``--max-pixels`` is passed only when given, so the reader's own default applies."""
    from ..images import read_image

    return read_image(path) if max_pixels is None else read_image(path, max_pixels=max_pixels)


def check_out_dir(out_dir: Path, images: Sequence[Path] = ()) -> None:
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
