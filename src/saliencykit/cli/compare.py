"""``saliencykit audit compare RUN_A RUN_B --out DIR``: two audits of the same data compared, image by image.

The command line routes ``audit compare ...`` here (:class:`AuditRouter`, the root group of the app) while
``saliencykit audit MODEL DATA ...`` stays the audit. The rule: ``audit compare`` is the comparison, unless a
file or folder named ``compare`` exists in the working directory (a model called ``compare``) and the two
arguments after it are not both audit folders (folders holding ``audit.sqlite``): then it is an audit of
``compare``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from typer.core import TyperGroup

from .console import boundary, out

COMMAND = "compare"
_HELP = "\n\n".join(
    (
        "Compare two audits of the same data: which images changed case or top-1, or whose map moved.",
        "RUN_A and RUN_B are the --out folders of two audits (another model version, other preprocessing, a "
        "fine-tuned checkpoint). Images are paired by their path inside the dataset; the report lists the ones "
        "whose file, status, case or top-1 changed or whose map moved, least similar maps first, with the two "
        "runs' overlays side by side.",
        "Exit code: 0 compared (whatever changed), 2 usage error (not audit folders, the same folder twice, --out "
        "inside a run, no image in common).",
        "`audit compare` is this comparison unless a file or folder named compare exists here and the two "
        "arguments after it are not both audit folders: then it is an audit of the model compare.",
    )
)


def compare(
    run_a: Path = typer.Argument(..., metavar="RUN_A", help="The --out folder of one audit (the reference)."),
    run_b: Path = typer.Argument(..., metavar="RUN_B", help="The --out folder of another audit of the same data."),
    out_dir: Path = typer.Option(
        ..., "--out", "-o", help="Output folder (outside both runs): compare.html, compare.json, compare.csv."
    ),
    min_similarity: float = typer.Option(
        0.7,
        "--min-similarity",
        help="A map moved when the Pearson correlation of the two top-1 maps (32 x 32) is below this.",
    ),
    max_peak_shift: float = typer.Option(
        0.25, "--max-peak-shift", help="... or when its peak moved by more than this fraction of the image side."
    ),
) -> None:
    """Compare two audits of the same data; the help text is :data:`_HELP`."""
    from ..audit.compare import compare as run_compare

    with boundary():
        comparison = run_compare(run_a, run_b, out_dir, min_similarity=min_similarity, max_peak_shift=max_peak_shift)
    print_summary(comparison.summary, out_dir)


def print_summary(summary: dict[str, Any], out_dir: Path) -> None:
    """What changed, as a table, and where the report is."""
    table = Table(title=f"{summary['paired']} image(s) in both runs: {summary['changed']} changed")
    table.add_column("change")
    table.add_column("images", justify="right")
    for name, label in (
        ("data_changed", "different file (SHA-1)"),
        ("status_changed", "failed in one run only"),
        ("case_changed", "case changed"),
        ("top1_changed", "top-1 changed"),
        ("map_moved", "map moved"),
    ):
        table.add_row(label, str(summary[name]))
    out.print(table)
    median = summary["similarity"]["median"]
    if median is not None:
        out.print(f"median map similarity {median:.3f}")
    if summary["only_a"] or summary["only_b"]:
        out.print(f"{summary['only_a']} image(s) only in run A, {summary['only_b']} only in run B")
    for note in summary["notes"]:
        out.print(f"note: {note}", highlight=False, markup=False)
    out.print(f"report: {(out_dir / 'compare.html').resolve()}", highlight=False, markup=False)


def routes_to_compare(args: Sequence[str]) -> bool:
    """Whether the arguments after ``audit`` are ``compare RUN_A RUN_B ...`` (see the module docstring).

    >>> routes_to_compare(["demo", "data/"])
    False
    """
    if not args or args[0] != COMMAND:
        return False
    if not Path(COMMAND).exists():
        return True
    runs = list(args[1:3])
    return len(runs) == 2 and all(not r.startswith("-") and (Path(r) / "audit.sqlite").is_file() for r in runs)


class AuditRouter(TyperGroup):
    """The root group of ``saliencykit``: ``audit compare ...`` goes to :func:`compare`, everything else as usual.

    The command help lists ``audit compare`` right after ``audit``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if "audit" in self.commands:
            listed: dict[str, Any] = {}
            for name, command in self.commands.items():
                listed[name] = command
                if name == "audit":
                    listed[f"audit {COMMAND}"] = _command()
            self.commands = listed

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        if len(args) > 1 and args[0] == "audit" and routes_to_compare(args[1:]):
            return f"audit {COMMAND}", _command(), args[2:]
        return super().resolve_command(ctx, args)


def _command() -> Any:
    app = typer.Typer(add_completion=False)
    app.command(COMMAND, help=_HELP)(compare)
    command = typer.main.get_command(app)
    command.name = f"audit {COMMAND}"  # its name in the command list of `saliencykit --help`
    return command
