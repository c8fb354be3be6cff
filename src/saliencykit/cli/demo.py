"""``saliencykit demo``: the built-in demo data set, audited."""

from __future__ import annotations

from pathlib import Path

import typer

from . import options as opt
from .audit import run_and_summarise


def demo(out_dir: Path = opt.out_option("demo-output", "Output folder.")) -> None:
    """Audit the built-in demo: a labelled folder made from the demo photos, explained and reported in DIR."""
    from ..audit.demo import run_demo

    result = run_and_summarise(lambda progress: run_demo(out_dir, progress=progress), out_dir)
    raise typer.Exit(result.exit_code)
