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


def paired_seconds(
    first: Callable[[], object], second: Callable[[], object], repeat: int = 20, warmup: int = 2
) -> tuple[float, float, float]:
    """Time ``first`` and ``second`` alternately; return their medians and the median of per-pair ratios.

    Alternating keeps both under the same machine load, so the ratio stays meaningful on a busy machine.
    """
    for _ in range(warmup):
        first()
        second()
    a, b = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        first()
        middle = time.perf_counter()
        second()
        a.append(middle - start)
        b.append(time.perf_counter() - middle)
    ratios = np.asarray(b) / np.asarray(a)
    return float(np.median(a)), float(np.median(b)), float(np.median(ratios))


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
