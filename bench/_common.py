"""Timing helpers shared by the benchmark scripts: medians of repeated runs, ratios side by side."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
OXAI_PYTHON = BENCH / ".venv-oxai" / "bin" / "python"


def median_seconds(fn: Callable[[], object], repeat: int = 20, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run_oxai(script: str, *args: str) -> dict | None:
    """Run a companion script in openvino-xai's side environment; its last stdout line is JSON."""
    if not OXAI_PYTHON.exists():
        print("openvino-xai side environment missing: run `make bench-oxai` to compare against it")
        return None
    result = subprocess.run(
        [str(OXAI_PYTHON), str(BENCH / script), *args], capture_output=True, text=True, timeout=3600
    )
    if result.returncode != 0:
        print(f"openvino-xai run failed:\n{result.stderr[-2000:]}")
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def row(name: str, *cells: str) -> None:
    print(f"{name:<44}" + "".join(f"{c:>16}" for c in cells), file=sys.stdout, flush=True)
