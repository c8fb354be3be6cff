"""What every command prints: the two consoles, one-line errors, the error boundary and progress bars.

Exit codes: 0 done, 1 some images failed, 2 usage or setup error, 130 interrupted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..errors import SaliencyKitError

out = Console()
err = Console(stderr=True, soft_wrap=True)


def message(exc: BaseException | str) -> str:
    """One line for an error: our own message (which names the CLI option to set), or an OSError's file and reason."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}."
    return " ".join(str(exc).split())


def fail(exc: BaseException | str, code: int = 2) -> NoReturn:
    """Print one error line and exit with ``code`` (2: a usage or setup error)."""
    err.print(f"[red]error:[/red] {escape(message(exc))}", highlight=False)  # messages may hold [brackets]
    raise typer.Exit(code)


def skipped(console: Console, exc: BaseException) -> None:
    """Print one line for an image that failed; the run goes on and exits 1."""
    console.print(f"[red]skipped[/red] {escape(message(exc))}", highlight=False)


@contextlib.contextmanager
def boundary() -> Iterator[None]:
    """Our errors and OS errors end a command with one line and exit 2, Ctrl-C with exit 130; anything else is a
    bug and raises."""
    try:
        yield
    except (SaliencyKitError, OSError) as exc:
        fail(exc)
    except KeyboardInterrupt:
        err.print("interrupted: files already written are kept.", highlight=False)
        raise typer.Exit(130) from None


def progress_bar() -> Progress:
    """The bar every command shows on stderr: count, a rate field, elapsed and remaining time."""
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


def run_with_bar(
    call: Callable[[Callable[[int, int], None]], Any], description: str, interrupted: str, oserror: str
) -> Any:
    """``call(progress)`` under a bar shown from its first update (setup errors print no empty bar).

    Errors before or around the work exit 2 with one line (``oserror`` prefixes an OSError's reason);
    Ctrl-C prints ``interrupted`` and exits 130.
    """
    bar = progress_bar()
    task = bar.add_task(description, total=None, rate="", start=False)

    def update(done: int, total: int) -> None:
        if not bar.live.is_started:
            bar.start()
            bar.start_task(task)  # the rate and ETA count from here, not from loading the model
        elapsed = bar.tasks[task].elapsed or 0.0
        rate = f"{done / elapsed:.1f} img/s" if done and elapsed > 0 else ""
        bar.update(task, completed=done, total=total, rate=rate)

    def stop() -> None:
        if bar.live.is_started:  # stopping a bar never shown prints an empty line before the message
            bar.stop()

    try:
        result = call(update)
    except KeyboardInterrupt:
        stop()
        err.print(interrupted, highlight=False)
        raise typer.Exit(130) from None
    except SaliencyKitError as exc:
        stop()
        fail(exc)
    except OSError as exc:
        stop()
        fail(f"{oserror}: {exc.strerror or exc}")
    stop()
    return result
