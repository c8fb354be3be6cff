"""The ``saliencykit audit`` command, added to the main Typer app by :func:`register`.

``saliencykit.cli`` calls :func:`register` at import time, so nothing here imports it at module level (the
command is built inside :func:`register`, where the main module's shared options already exist): importing
this module first works too.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ..errors import SaliencyKitError

DATA_HELP = (
    "A folder of class sub-folders (named by class index, label name or WordNet id), a CSV of path,label rows, "
    "or a folder of unlabelled images."
)


def register(app: typer.Typer) -> None:
    """Add the ``audit`` command to the main app (reusing its shared model and preprocessing options)."""
    from ..cli import MODEL_HELP, BgrOpt, LabelsOpt, LayoutOpt, MeanOpt, ResizeOpt, SizeOpt, StdOpt, _pipeline_options

    def audit_command(
        model: str = typer.Argument(..., help=MODEL_HELP),
        data: Path = typer.Argument(..., help=DATA_HELP),
        out_dir: Path = typer.Option(
            Path("audit"), "--out", "-o", help="Output folder: report.html, audit.sqlite, maps."
        ),
        class_map: str = typer.Option(
            "auto", "--class-map", help="How folder names become classes: auto, index, name, wnid, or a JSON/CSV file."
        ),
        method: str = typer.Option(None, "--method", help="reciprocam, vit_reciprocam, activation_map, rise."),
        mode: str = typer.Option("auto", "--mode", help="auto, whitebox or blackbox."),
        target_layer: str = typer.Option(None, "--target-layer", help="Node name of the feature map to explain."),
        high: float = typer.Option(0.6, "--high", help="A top-1 score at or above it is a confident decision."),
        low: float = typer.Option(0.3, "--low", help="A correct top-1 below it is an unsure hit."),
        two: float = typer.Option(0.25, "--two", help="Top two classes both at or above it: two predictions."),
        explain: float = typer.Option(0.1, "--explain-threshold", help="Classes scoring at or above it get a map."),
        max_maps: int = typer.Option(
            10, "--max-maps", help="At most this many maps per image (plus the ground truth)."
        ),
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
        size: int = SizeOpt,
        mean: str = MeanOpt,
        std: str = StdOpt,
        bgr: bool = BgrOpt,
        layout: str = LayoutOpt,
        resize: str = ResizeOpt,
        labels: Path = LabelsOpt,
    ) -> None:
        """Audit a classifier on a labelled image set: cases, saliency maps per class, and an HTML report.

        Re-running the same command resumes an interrupted audit.

        Exit code: 0 every image audited, 1 some images failed (listed in the report), 2 usage or setup error,
        130 interrupted (finished images are kept).
        """
        from .api import audit
        from .cases import Thresholds

        try:
            thresholds = Thresholds(high=high, low=low, two=two, explain=explain)
            if model == "demo":
                source, preprocess, label_names = "demo", None, None
                if labels:
                    from ..labels import read_labels

                    label_names = read_labels(labels)
            else:
                source, preprocess, label_names = _pipeline_options(model, size, mean, std, bgr, layout, resize, labels)
        except SaliencyKitError as exc:
            _exit(exc, 2)
        options = dict(
            preprocess=preprocess,
            label_names=label_names,
            mode=mode,
            method=method,
            target_layer=target_layer,
            class_map=class_map,
            thresholds=thresholds,
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
        result = _run(lambda progress: audit(source, data, out_dir, progress=progress, **options), out_dir)
        raise typer.Exit(result.exit_code)

    app.command("audit")(audit_command)


def _exit(exc: BaseException | str, code: int) -> None:
    from rich.markup import escape

    from ..cli import err

    err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)  # messages may hold [brackets]
    raise typer.Exit(code)


def _run(call, out_dir: Path):
    """Run an audit call under a Rich progress bar, print its summary; map failures to exit codes.

    Every error before or around the images (bad option, unusable --out, corrupt store, lock held, read-only
    disk) exits 2; 1 is only for "some images failed", which the result's own exit code says.
    """
    from ..cli import _progress, err

    progress = _progress()
    task = progress.add_task("auditing", total=None, rate="", start=False)

    def update(done: int, total: int) -> None:
        if not progress.live.is_started:  # shown from the first update on: setup errors print no empty bar
            progress.start()
            progress.start_task(task)  # the rate and ETA count from here, not from loading the model
        elapsed = progress.tasks[task].elapsed or 0.0
        rate = f"{done / elapsed:.1f} img/s" if done and elapsed > 0 else ""
        progress.update(task, completed=done, total=total, rate=rate)

    def stop() -> None:
        if progress.live.is_started:  # stopping a bar never shown prints an empty line before the message
            progress.stop()

    try:
        result = call(update)
    except KeyboardInterrupt:
        stop()
        err.print(
            f"interrupted: the finished images are kept in {out_dir / 'audit.sqlite'}; "
            "run the same command again to resume.",
            highlight=False,
        )
        raise typer.Exit(130) from None
    except SaliencyKitError as exc:
        stop()
        _exit(exc, 2)
    except OSError as exc:
        stop()
        _exit(f"cannot write the audit outputs in {out_dir}: {exc.strerror or exc}", 2)
    progress.stop()
    print_summary(result)
    return result


def print_summary(result) -> None:
    """The cases table, failures and where the report is, on the console."""
    from ..cli import err, out

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


def demo_command(out_dir: Path) -> None:
    """``saliencykit demo --out DIR``: write the demo data set into DIR/dataset and audit it into DIR."""
    from .demo import run_demo

    result = _run(lambda progress: run_demo(out_dir, progress=progress), out_dir)
    raise typer.Exit(result.exit_code)
