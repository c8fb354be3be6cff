"""Command-line interface: a thin Typer layer over the Python API, with Rich tables and progress bars.

One module per command (:mod:`.predict`, :mod:`.explain`, :mod:`.audit`, :mod:`.evaluate`, :mod:`.demo`), the
options they share in :mod:`.options`, option values checked and converted in :mod:`.values`, and what every
command prints (errors, the error boundary, progress bars) in :mod:`.console`. Every option is checked before an
image or the model is loaded, so a usage mistake costs one line and exit code 2, not a traceback or the same
error once per image. Exit codes: 0 done, 1 some images failed, 2 usage or setup error, 130 interrupted.

:func:`build_app` makes the Typer app when it is needed, so ``--method`` help lists every method registered
by then (``saliencykit.methods.registry``).
"""

from __future__ import annotations

import logging
from typing import Any

import typer

from . import audit, compare, demo, evaluate, explain, options, predict
from .console import err, out

__all__ = ["build_app", "main"]


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        out.print(f"saliencykit {__version__}")
        raise typer.Exit()


def _setup(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log which method is used and why."),
) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False, show_time=False, markup=False)],
    )


def build_app() -> typer.Typer:
    """The ``saliencykit`` app with every command; ``--method`` help lists the methods registered now."""
    options.describe_methods()
    app = typer.Typer(
        cls=compare.AuditRouter,  # routes `audit compare RUN_A RUN_B` to the comparison (rule in cli/compare.py)
        add_completion=False,
        no_args_is_help=True,
        help="Explain what computer-vision models look at.",
    )
    app.callback()(_setup)
    app.command("predict")(predict.predict)
    app.command("explain")(explain.explain)
    app.command("audit")(audit.audit)
    app.command("evaluate")(evaluate.evaluate)
    app.command("demo")(demo.demo)
    return app


def main() -> None:
    """Entry point of the ``saliencykit`` command; Ctrl-C exits 130."""
    try:
        build_app()()
    except KeyboardInterrupt:  # Typer already turns it into exit 130; this covers Ctrl-C outside a command
        err.print("interrupted")
        raise SystemExit(130) from None


def __getattr__(name: str) -> Any:
    """``saliencykit.cli.app``: an app built on access (for ``typer.testing.CliRunner``)."""
    if name == "app":
        return build_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
