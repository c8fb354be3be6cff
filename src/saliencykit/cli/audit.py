"""``saliencykit audit``: a classifier audited on a labelled image set, with an HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from . import options as opt
from . import values
from .console import boundary, err, out, run_with_bar

DATA_HELP = (
    "A folder of class sub-folders (named by class index, label name or WordNet id), a CSV of path,label rows, "
    "or a folder of unlabelled images."
)


@opt.with_model_options(exclude=("input_name", "max_pixels"))
def audit(
    model: str = opt.MODEL,
    data: Path = typer.Argument(..., help=DATA_HELP),
    out_dir: Path = opt.out_option("audit", "Output folder: report.html, audit.sqlite, maps."),
    class_map: str = typer.Option(
        "auto", "--class-map", help="How folder names become classes: auto, index, name, wnid, or a JSON/CSV file."
    ),
    method: str = opt.method_option("--method"),
    mode: str = opt.MODE,
    target_layer: str = opt.TARGET_LAYER,
    high: float = typer.Option(0.6, "--high", help="A top-1 score at or above it is a confident decision."),
    low: float = typer.Option(0.3, "--low", help="A correct top-1 below it is an unsure hit."),
    two: float = typer.Option(0.25, "--two", help="Top two classes both at or above it: two predictions."),
    explain: float = typer.Option(0.1, "--explain-threshold", help="Classes scoring at or above it get a map."),
    annotations: Path = typer.Option(
        None,
        "--annotations",
        help="Object boxes or masks per image: a COCO .json, a CSV of path,x0,y0,x1,y1[,label], a folder of "
        "Pascal VOC .xml or of PNG masks (names relative to DATA). Adds the share of each map on its object and "
        "the cases right_for_wrong_reasons / wrong_but_looked_at_object.",
    ),
    metrics: str = typer.Option(
        None,
        "--metrics",
        help="Faithfulness per image, averaged per case in the report: insertion-deletion (adds 2 x 31 model "
        "calls per image), pointing-game (free, needs --annotations), or all.",
    ),
    object_energy: float = typer.Option(
        0.5,
        "--object-energy",
        help="With --annotations: a confident hit with less of its map's mass on the object is right for the "
        "wrong reasons; a mistake with at least this much looked at the object.",
    ),
    border: float = typer.Option(
        0.5, "--border", help="A map with at least this share of its mass in the outer 10% band is on the border."
    ),
    shared: float = typer.Option(
        0.5,
        "--shared-peak",
        help="An off-centre peak shared by at least this share of the other images of its class is suspicious.",
    ),
    diffuse: float = typer.Option(
        0.1, "--diffuse", help="A map whose top 5% of cells hold less than this share of its mass is diffuse."
    ),
    max_maps: int = typer.Option(10, "--max-maps", help="At most this many maps per image (plus the ground truth)."),
    top_k: int = typer.Option(5, "--top-k", help="Top classes kept per image in the store."),
    batch_size: int = typer.Option(16, "--batch-size", help="Images per inference."),
    workers: int = typer.Option(
        None,
        "--workers",
        help="Local: threads reading images ahead and writing maps behind (default 2). "
        "Ray: number of Ray workers (default: one per node).",
    ),
    executor: str = typer.Option(
        "local",
        "--executor",
        help="local (this machine) or ray (a Ray cluster; the output folder and the dataset must be on storage "
        "every node sees). Either one resumes an audit the other started.",
    ),
    address: str = typer.Option(
        None,
        "--address",
        help="Ray cluster for --executor ray: auto (the cluster this machine is a node of) or HEAD_IP:6379. "
        "Default: RAY_ADDRESS, else a new Ray instance on this machine.",
    ),
    max_side: int = typer.Option(512, "--max-side", help="Longest side of the overlays in pixels (0: full size)."),
    raw: bool = typer.Option(True, "--raw/--no-raw", help="Also save the float maps as .npz."),
    fresh: bool = typer.Option(False, "--fresh", help="Delete an earlier audit in --out and start over."),
    *,
    options: opt.ModelOptions,
) -> None:
    """Audit a classifier on a labelled image set: cases, saliency maps per class, and an HTML report.

    Re-running the same command resumes an interrupted audit.

    Exit code: 0 every image audited, 1 some images failed (listed in the report), 2 usage or setup error,
    130 interrupted (finished images are kept).
    """
    from ..audit import audit as run_audit
    from ..audit.cases import Thresholds
    from ..audit.metrics import parse_audit_metrics

    with boundary():
        thresholds = Thresholds(
            high=high,
            low=low,
            two=two,
            explain=explain,
            object_energy=object_energy,
            border=border,
            shared=shared,
            diffuse=diffuse,
        )
        if metrics is not None:
            parse_audit_metrics(metrics)  # a wrong name fails before the model loads
        if model == "demo":  # the audit loads the demo itself (and names it so in the report)
            source, preprocess = "demo", None
            label_names = values.read_label_file(options.labels) if options.labels else None
        else:
            source, preprocess, label_names = values.model_and_preprocess(model, options)
    settings: dict[str, Any] = dict(
        preprocess=preprocess,
        label_names=label_names,
        mode=mode,
        method=method,
        target_layer=target_layer,
        class_map=class_map,
        thresholds=thresholds,
        annotations=annotations,
        metrics=metrics,
        max_maps=max_maps,
        top_k=top_k,
        batch_size=batch_size,
        workers=workers,
        max_side=max_side,
        raw=raw,
        fresh=fresh,
        executor=executor,
        address=address,
    )
    result = run_and_summarise(
        lambda progress: run_audit(source, data, out_dir, progress=progress, **settings), out_dir
    )
    raise typer.Exit(result.exit_code)


def run_and_summarise(call: Any, out_dir: Path) -> Any:
    """Run an audit call under a progress bar and print its summary.

    Every error before or around the images (bad option, unusable --out, corrupt store, lock held, read-only
    disk) exits 2; 1 is only for "some images failed", which the result's own exit code says.
    """
    result = run_with_bar(
        call,
        "auditing",
        interrupted=f"interrupted: the finished images are kept in {out_dir / 'audit.sqlite'}; "
        "run the same command again to resume.",
        oserror=f"cannot write the audit outputs in {out_dir}",
    )
    print_summary(result)
    return result


def print_summary(result: Any) -> None:
    """The cases table, failures and where the report is, on the console."""
    summary = result.summary
    totals = summary["totals"]
    table = Table(title=f"audit of {totals['items']} item(s): {totals['done']} audited")
    table.add_column("case")
    table.add_column("images", justify="right")
    for case, count in summary["cases"].items():
        if count:
            table.add_row(case, str(count))
    out.print(table)
    if totals["top1_accuracy"] is not None:
        out.print(f"top-1 accuracy {100 * totals['top1_accuracy']:.1f}% on {totals['labelled']} labelled image(s)")
    if result.processed < totals["items"]:
        out.print(f"{totals['items'] - result.processed} item(s) were finished by an earlier run (resumed)")
    resume = summary.get("resume") or {}
    if resume.get("changed") or resume.get("removed"):
        out.print(
            f"{resume['changed']} file(s) changed since the earlier run were audited again; "
            f"{resume['removed']} file(s) no longer in the dataset were dropped from the results"
        )
    if resume.get("repaired"):
        out.print(f"{resume['repaired']} image(s) whose overlays had been deleted were audited again")
    for failure in summary["failed"][:10]:
        err.print(f"[red]failed[/red] {failure['key']}: {failure['error']}", highlight=False)
    if len(summary["failed"]) > 10:
        err.print(f"... and {len(summary['failed']) - 10} more failed item(s), listed in the report", highlight=False)
    if totals["skipped"]:
        err.print(f"skipped {totals['skipped']} file(s) that are not images (listed in the report)", highlight=False)
    if result.report is not None:
        out.print(f"report: {result.report.resolve()}")
