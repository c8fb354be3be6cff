"""Run every main-environment benchmark and write their output to ``docs/benchmarks.md`` (what ``make bench`` does).

    .venv/bin/python bench/run_all.py                 # every script, then the page
    .venv/bin/python bench/run_all.py whitebox audit  # only these scripts; the other sections of the page are kept
    .venv/bin/python bench/run_all.py judge blackbox_search   # the black-box judge and search (make bench-judge)

Benchmark figures live on that page, not in docstrings (they go stale there): each section is one script's output
from one run, with the command, the date, the machine and the OpenVINO version it ran with. Scripts print ratios
measured side by side in the same run, so sections from different days stay comparable within themselves.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PAGE = BENCH.parent / "docs" / "benchmarks.md"
#: the scripts ``make bench`` runs, in order (judge.py and the openvino-xai companions have their own targets)
SCRIPTS = (
    "inference",
    "whitebox",
    "metrics",
    "blackbox",
    "blas_threads",
    "audit",
    "audit_ray",
    "detection",
    "segmentation",
    "report_scale",
)
#: scripts that run only when named (they take an hour or more from an empty cache), with their arguments
ON_REQUEST: dict[str, tuple[str, ...]] = {
    "judge": ("--limit", "20", "--oxai"),
    "blackbox_search": (),
}
HEADER = """# Benchmarks

Written by `make bench` (`bench/run_all.py`): one section per script, its output as printed, with the command,
date, machine and OpenVINO version of that run. Figures quoted elsewhere (README, issue notes) come from here.
Machines are shared and noisy: read the ratios and medians each script measures side by side, not single times.
Unless a row says otherwise, our side runs at f32 (`precision="f32"`, the default).
"""


def machine() -> str:
    import openvino

    cores = os.cpu_count()
    return f"{platform.processor() or platform.machine()}, {cores} cores, Python {platform.python_version()}, " + (
        f"OpenVINO {openvino.__version__.split('-')[0]}"
    )


def sections(text: str) -> dict[str, str]:
    """The page's existing sections by script name."""
    found = {}
    for match in re.finditer(r"^## `bench/(\w+)\.py`\n(.*?)(?=^## `bench/|\Z)", text, re.S | re.M):
        found[match.group(1)] = match.group(0).rstrip() + "\n"
    return found


def run(name: str) -> str:
    args = ON_REQUEST.get(name, ())
    command = [sys.executable, str(BENCH / f"{name}.py"), *args]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=BENCH.parent)
    seconds = time.perf_counter() - start
    status = "" if result.returncode == 0 else f" — exit code {result.returncode}:\n{result.stderr[-2000:]}"
    shown = " ".join(["bench/" + name + ".py", *args])
    return (
        f"## `bench/{name}.py`\n\n`.venv/bin/python {shown}` on {time.strftime('%Y-%m-%d')}, "
        f"{machine()}, {seconds:.0f} s{status}\n\n```\n{result.stdout.rstrip()}\n```\n"
    )


def main(names: list[str]) -> None:
    known = (*SCRIPTS, *ON_REQUEST)
    unknown = sorted(set(names) - set(known))
    if unknown:
        sys.exit(f"unknown benchmark(s) {', '.join(unknown)}; there are: {', '.join(known)}")
    old = sections(PAGE.read_text(encoding="utf-8")) if PAGE.exists() else {}
    for name in names or SCRIPTS:
        print(f"running bench/{name}.py ...", flush=True)
        old[name] = run(name)
        body = "\n".join(old[n] for n in known if n in old)
        PAGE.parent.mkdir(exist_ok=True)
        PAGE.write_text(HEADER + "\n" + body, encoding="utf-8")  # after every script: an interrupted run keeps them
    print(f"wrote {PAGE}")


if __name__ == "__main__":
    main(sys.argv[1:])
