"""``saliencykit explain``: one overlay per image and target, for classifiers, detectors and segmentation models."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from ..errors import MethodError, SaliencyKitError, TargetError
from ..methods import registry
from . import options as opt
from . import values
from .console import boundary, err, out, progress_bar, skipped


def parse_targets(text: str) -> str | list[int | str]:
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


def check_targets(
    targets: str | list[int | str], num_classes: int | None, label_names: list[str] | None, text: str = ""
) -> str | list[int | str]:
    """Check targets against the model's class count and names once, before any image; returns the targets.

    A class name that itself holds commas (``"tabby, tabby cat"``) is one target when the whole ``--targets`` text
    is that name.
    """
    import numpy as np

    from ..labels import label_index
    from ..targets import resolve_targets

    whole = text.strip()
    if "," in whole and label_names and whole.casefold() in (n.casefold() for n in label_names):
        targets = [whole]

    try:
        if num_classes is not None:
            resolve_targets(targets, np.zeros(num_classes, np.float32), label_names)
        elif isinstance(targets, list):
            for item in targets:
                if isinstance(item, str):
                    label_index(item, label_names)
    except TargetError as exc:
        raise TargetError(f"--targets: {exc}") from None
    return targets


def blackbox_method(method: str | None, preset: str | None, seed: int, task: str = opt.TASK) -> Any:
    """The method object for ``--preset``/``--seed`` (black-box methods only), else ``method`` unchanged."""
    if seed < 0:
        raise MethodError(f"--seed {seed}: give a whole number of 0 or more.")
    if preset is None and not seed:
        return method
    blackbox = registry.names(task=task, kind="blackbox")
    spec = registry.lookup(method or blackbox[0], task=task)
    if spec.kind != "blackbox":
        raise MethodError(f"--preset and --seed are for the black-box methods {', '.join(blackbox)}, not '{method}'.")
    if seed and "seed" not in spec.options:
        raise MethodError(f"{spec.name} is deterministic: it takes no --seed.")
    settings: dict[str, Any] = {"seed": seed} if "seed" in spec.options else {}
    if preset is not None:
        settings["preset"] = preset
    return spec.create(task, **settings)


#: the tasks ``--task`` takes
CLI_TASKS = ("classification", "detection", "segmentation")


def parse_task_targets(task: str, text: str | None) -> Any:
    """``--targets`` for a detector (``all``, ``top:K``, box indices) or a segmentation model (``all``, ``mask``,
    class indices or names); classification keeps :func:`parse_targets`."""
    if task == "classification":
        return parse_targets(text if text is not None else "top:1")
    if text is None or text.strip() == "all":
        return "all"
    text = text.strip()
    if task == "detection" and text.startswith("top:"):
        return parse_targets(text)
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise TargetError(
            f"--targets is empty: give all, {'top:K or box indices' if task == 'detection' else 'mask or classes'}."
        )
    parsed: list[int | str] = []
    for item in items:
        if re.fullmatch(r"\d+", item):
            parsed.append(int(item))
        elif task == "segmentation":
            parsed.append(item)
        else:
            raise TargetError(f"--targets {item}: for detection give all, top:K or box indices (0 is the best box).")
    return parsed


def parse_regions(task: str, regions: list[str]) -> list[Any]:
    """``--region x0,y0,x1,y1[,class]`` (pixels; repeatable): a user box for a detector, a region for a
    segmentation model (class optional there: default the class most predicted in it)."""
    from ..targets import Region

    out: list[Any] = []
    for text in regions:
        parts = [p.strip() for p in text.split(",")]
        if len(parts) not in (4, 5):
            raise TargetError(f"--region '{text}': write x0,y0,x1,y1 or x0,y0,x1,y1,class in pixels of the image.")
        try:
            box = [float(p) for p in parts[:4]]
        except ValueError:
            raise TargetError(f"--region '{text}': the coordinates x0,y0,x1,y1 must be numbers.") from None
        cls: int | str | None = None
        if len(parts) == 5:
            cls = int(parts[4]) if re.fullmatch(r"\d+", parts[4]) else parts[4]
        if task == "segmentation":
            out.append(Region(box, cls))
        elif task == "detection":
            out.append([*box, cls] if cls is not None else box)
        else:
            raise TargetError("--region is for --task detection or segmentation; a classifier explains classes.")
    return out


def _task_model(task: str, model: str, options: opt.ModelOptions, given: bool) -> tuple[Any, Any, Any, dict]:
    """(model, preprocess, label names, task keywords) for a detector or a segmentation model; 'demo' is the
    task's demo model (BlazeFace; MediaPipe's pose model) with its preprocessing."""
    if model == "demo":
        if task == "detection":
            from ..detection.ssd import mediapipe_model_path

            return str(mediapipe_model_path("blazeface")), None, None, {"postprocess": "blazeface"}
        from ..segmentation import demo

        return demo.pose_model(), demo.POSE_PREPROCESS, ["person"], {"output": "Identity_2"}
    source, preprocess, label_names = values.model_and_preprocess(model, options)
    return source, preprocess if given else None, label_names, {}


def explain_paths(
    explainer: Any, paths: list[Path], targets: Any, out_dir: Path, raw: bool, max_pixels: int | None = None
) -> tuple[int, int]:
    """Explain and save every image; returns (failed images, files written).

    Output names come from :func:`saliencykit.files.unique_stems`, the audit's rule: ``a/photo.jpg`` and
    ``b/photo.jpg``, or ``cat.jpg`` and ``cat.png``, get different names and never overwrite each other.
    """
    from ..files import unique_stems

    stems = unique_stems(str(p) for p in paths)
    failed = written = 0
    with progress_bar() as progress:
        task = progress.add_task("explaining", total=len(paths), rate="")
        calls = progress.add_task("  model calls", total=None, visible=False, rate="")

        def on_calls(done: int, total: int) -> None:  # black-box methods: a bar within the image
            progress.update(calls, completed=done, total=total, visible=True)

        for n, path in enumerate(paths, 1):
            stem = stems[str(path)]
            try:
                progress.reset(calls, total=None, visible=False)
                explanation = explainer(values.read(path, max_pixels), targets=targets, progress=on_calls)
            except TargetError:
                raise  # the same for every image: a usage error, reported once
            except SaliencyKitError as exc:
                skipped(progress.console, exc)
                failed += 1
            else:
                written += len(explanation.save(out_dir, prefix=f"{stem}_", postfix="_"))
                if raw:
                    explanation.save_raw(out_dir / f"{stem}.npz")
                    written += 1
            elapsed = progress.tasks[task].elapsed or 1e-9
            progress.update(task, advance=1, rate=f"{n / elapsed:.1f} img/s")
    return failed, written


@opt.with_model_options()
def explain(
    model: str = opt.MODEL,
    images: list[Path] = opt.IMAGES,
    targets: str = typer.Option(
        None,
        "--targets",
        "-t",
        help="top:K, all, or indices/names, comma-separated (default top:1; detection and segmentation: all).",
    ),
    out_dir: Path = opt.out_option("saliency-maps", "Output folder for the overlays."),
    method: str = opt.method_option("--method"),
    mode: str = opt.MODE,
    preset: str = typer.Option(
        None, "--preset", help="Black-box presets (openvino-xai's): speed, balance or quality; implies --mode blackbox."
    ),
    seed: int = opt.seed_option("Seed of the black-box methods: the same seed gives the same maps."),
    target_layer: str = opt.TARGET_LAYER,
    raw: bool = typer.Option(False, "--raw", help="Also save float maps as .npz."),
    task: str = typer.Option(
        "classification", "--task", help="classification, detection (boxes) or segmentation (regions)."
    ),
    region: list[str] = typer.Option(
        None, "--region", help="Detection/segmentation: a box x0,y0,x1,y1[,class] in pixels to explain (repeatable)."
    ),
    postprocess: str = typer.Option(
        None, "--postprocess", help="Detection: the box decoding preset (blazeface, palm)."
    ),
    output: str = typer.Option(None, "--output", help="Segmentation: the name of the per-pixel map output."),
    score: str = typer.Option(
        "probability", "--score", help="Segmentation: a region's score is its mean probability or logit."
    ),
    *,
    options: opt.ModelOptions,
) -> None:
    """Write one overlay per image and target: {image}_{label}_{score}.jpg; boxes are drawn and regions outlined.

    --task detection: targets are boxes (all, top:K, indices; --region for a box it missed).
    --task segmentation: targets are classes over their predicted regions (all, mask, classes; --region a box).
    MODEL 'demo' is the task's demo model: EfficientNet-Lite0, BlazeFace, or MediaPipe's pose segmenter.
    """
    from ..explainer import MODES, Explainer
    from ..methods.rise import PRESETS

    with boundary():
        task = values.choice("--task", task, CLI_TASKS)
        mode = values.choice("--mode", mode, MODES)
        if method is not None:
            method = values.method_name(method, task=task)
        if preset is not None:
            preset = values.choice("--preset", preset, tuple(PRESETS))
        chosen = blackbox_method(method, preset, seed, task)
        if chosen is not method:
            mode = "blackbox"
        _check_task_options(task, postprocess, output, score)
        parsed_targets: Any = parse_task_targets(task, targets)
        regions = parse_regions(task, region or [])
        if regions:
            parsed_targets = regions if targets is None else [*_as_list(parsed_targets), *regions]
        values.check_positive("--max-pixels", options.max_pixels)
        paths = values.image_paths(images)
        values.check_out_dir(out_dir, images)
        if task == "classification":
            source, preprocess, label_names = values.model_and_preprocess(model, options)
            task_options: dict[str, Any] = {}
        else:
            given = any((options.size, options.mean, options.std, options.bgr, options.layout not in (None, "auto")))
            source, preprocess, label_names, task_options = _task_model(task, model, options, given)
            if task == "detection" and postprocess is not None:
                task_options["postprocess"] = postprocess
            if task == "segmentation":
                task_options["score"] = score
                if output is not None:
                    task_options["output"] = output
        explainer = Explainer(
            source,
            preprocess,
            mode=mode,
            method=chosen,
            target_layer=target_layer,
            label_names=label_names,
            input_name=options.input_name,
            task=task,
            precision=options.precision,
            **task_options,
        )
        if task == "classification":
            parsed_targets = check_targets(
                parsed_targets, explainer.pipeline.num_classes, explainer.label_names, targets or "top:1"
            )
        else:
            explainer.task_object.check_targets(parsed_targets)
        err.print(f"method: {escape(explainer.method_description)}", highlight=False)
        failed, written = explain_paths(explainer, paths, parsed_targets, out_dir, raw, options.max_pixels)
    done = len(paths) - failed
    out.print(f"wrote {written} file(s) for {done} of {len(paths)} image(s) to {escape(str(out_dir))}", highlight=False)
    if failed:
        raise typer.Exit(1)


def _as_list(targets: Any) -> list[Any]:
    return list(targets) if isinstance(targets, list) else [targets]


def _check_task_options(task: str, postprocess: str | None, output: str | None, score: str) -> None:
    """Options that belong to another task are usage errors, named."""
    from ..errors import OptionError

    if postprocess is not None and task != "detection":
        raise OptionError("--postprocess is for --task detection (the box decoding preset).")
    if output is not None and task != "segmentation":
        raise OptionError("--output is for --task segmentation (the name of the per-pixel map output).")
    values.choice("--score", score, ("probability", "logit"))
    if score != "probability" and task != "segmentation":
        raise OptionError("--score is for --task segmentation.")
