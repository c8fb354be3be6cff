"""Audit throughput on Ray vs the local executor, side by side on this machine.

The images are the demo's labelled set copied up to --images files (as in bench/audit.py). "local" is
`saliencykit.audit` with its defaults; "ray" is the same call with executor="ray" on a Ray instance started once
by this script on this machine (like a cluster that is already up: its start-up is printed, not timed). A Ray
run's time includes everything a run pays: the storage probe, starting the workers, compiling the model in each
worker and streaming the records back; "first result" is when the first records reached the store, "then img/s"
the throughput from there on (what a long run approaches). Every run writes a fresh output folder; the
configurations run in interleaved rounds; best and median are printed.
Usage: python bench/audit_ray.py [--images 2000] [--batch-size 16] [--rounds 2]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import row
from audit import make_dataset

import saliencykit as sk
from saliencykit.audit import audit


def timed(explainer, data: Path, out: Path, batch_size: int, **executor) -> tuple[float, float, int]:
    """(seconds, seconds to the first stored results, how many they were) of one fresh audit."""
    first: list[tuple[float, int]] = []
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done and not first:
            first.append((time.perf_counter() - start, done))

    result = audit(explainer, data, out, batch_size=batch_size, fresh=True, progress=progress, **executor)
    seconds = time.perf_counter() - start
    assert result.exit_code == 0 and result.processed == result.summary["totals"]["items"]
    return (seconds, *first[0]) if first else (seconds, float("nan"), 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    try:
        import ray
    except ImportError:
        raise SystemExit('Ray is not installed: pip install "saliencykit[ray]"') from None
    cpus = os.cpu_count() or 1
    start = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    startup = time.perf_counter() - start
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "data"
            paths = make_dataset(data, args.images)
            explainer = sk.demo.explainer(batch_size=args.batch_size)
            configurations = {
                "local executor (defaults)": {},
                "ray, 1 worker x all CPUs (default)": {"executor": "ray"},
                f"ray, {cpus} workers x 1 CPU": {"executor": "ray", "workers": cpus},
            }
            timed(explainer, data, Path(tmp) / "warmup", args.batch_size)  # caches warm, model compiled once
            seconds: dict[str, list[tuple[float, float, int]]] = {name: [] for name in configurations}
            for _ in range(args.rounds):  # interleaved: every configuration sees the same machine state
                for name, options in configurations.items():
                    seconds[name].append(timed(explainer, data, Path(tmp) / "out", args.batch_size, **options))
        n = len(paths)
        print(
            f"{n} images, batch {args.batch_size}, {cpus} CPUs, {args.rounds} interleaved rounds; "
            f"Ray {ray.__version__} started in {startup:.1f} s (not timed)"
        )
        row("", "best img/s", "median img/s", "best ÷ local", "median ÷ local", "first result s", "then img/s")
        best = {name: n / min(s for s, _, _ in runs) for name, runs in seconds.items()}
        median = {name: n / float(np.median([s for s, _, _ in runs])) for name, runs in seconds.items()}
        local = next(iter(configurations))
        for name, runs in seconds.items():
            row(
                name,
                f"{best[name]:.1f}",
                f"{median[name]:.1f}",
                f"{best[name] / best[local]:.2f}",
                f"{median[name] / median[local]:.2f}",
                f"{np.median([f for _, f, _ in runs]):.1f}",
                f"{np.median([(n - k) / (s - f) for s, f, k in runs]):.1f}",  # after the start-up
            )
        print("target on one machine: ray ÷ local >= 0.75 (overhead <= 25 %)")
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
