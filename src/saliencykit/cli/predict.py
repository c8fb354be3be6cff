"""``saliencykit predict``: the top-k classes of each image."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import SaliencyKitError, TargetError
from . import options as opt
from . import values
from .console import boundary, err, out, skipped


@opt.with_model_options()
def predict(
    model: str = opt.MODEL,
    images: list[Path] = opt.IMAGES,
    top_k: int = typer.Option(5, "--top-k", "-k", help="How many classes to show per image."),
    *,
    options: opt.ModelOptions,
) -> None:
    """Print the top-k classes of each image."""
    import numpy as np

    from ..labels import label_of
    from ..pipeline import Pipeline

    with boundary():
        if top_k < 1:
            raise TargetError(f"--top-k {top_k}: show at least 1 class per image.")
        values.check_positive("--max-pixels", options.max_pixels)
        paths = values.image_paths(images)
        source, preprocess, label_names = values.model_and_preprocess(model, options)
        pipeline = Pipeline(
            source, preprocess, label_names=label_names, input_name=options.input_name, precision=options.precision
        )
        num_classes = pipeline.num_classes
        if num_classes is not None and top_k > num_classes:
            raise TargetError(f"--top-k {top_k}: this model has {num_classes} classes; give 1..{num_classes}.")
    failed = 0
    table = Table(title=f"top-{top_k} predictions")
    table.add_column("image")
    table.add_column("rank", justify="right")
    table.add_column("class", justify="right")
    table.add_column("label")
    table.add_column("score", justify="right")
    with boundary():
        for path in paths:
            try:
                scores = pipeline.predict([values.read(path, options.max_pixels)])[0]
            except SaliencyKitError as exc:
                skipped(err, exc)
                failed += 1
                continue
            for rank, index in enumerate(np.argsort(-scores)[:top_k], 1):
                label = escape(label_of(int(index), pipeline.label_names))
                name = escape(path.name) if rank == 1 else ""
                table.add_row(name, str(rank), str(index), label, f"{scores[index]:.4f}")
        if table.row_count:  # every image failed: the reasons are printed, an empty table would say nothing
            out.print(table)
    if failed:
        raise typer.Exit(1)
