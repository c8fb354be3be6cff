"""Plain inference on the demo model: latency vs throughput hint, f32 vs bf16, single image vs batches, and the
static batch-1 compilation ``ModelRunner`` uses for single samples vs its dynamic-batch one.

Why ModelRunner defaults to the latency hint and f32, and compiles single samples separately: this prints the
measured ratios (the last rows are medians of per-pair ratios, timed alternately under the same load).
Usage: python bench/inference.py
"""

from __future__ import annotations

import numpy as np
from _common import median_seconds, paired_seconds, row

import saliencykit as sk


def main() -> None:
    model = sk.demo.model()
    x1 = np.random.default_rng(0).random((1, 3, 224, 224), dtype=np.float32)
    x64 = np.random.default_rng(1).random((64, 3, 224, 224), dtype=np.float32)
    row("configuration", "1 image ms", "batch 64 ms/im")
    results = {}
    for performance in ("latency", "throughput"):
        for precision in ("f32", "bf16"):
            runner = sk.ModelRunner(model, performance=performance, precision=precision, chunk_size=16)
            single = median_seconds(lambda r=runner: r(x1), repeat=30)
            batch = median_seconds(lambda r=runner: r(x64), repeat=5, warmup=1) / 64
            results[(performance, precision)] = (single, batch)
            row(f"{performance} hint, {precision}", f"{single * 1e3:.2f}", f"{batch * 1e3:.2f}")
    base = results[("latency", "f32")]
    for key, (single, batch) in results.items():
        row(f"ratio {key[0]}/{key[1]} ÷ latency/f32", f"{single / base[0]:.2f}", f"{batch / base[1]:.2f}")
    row("1 image, paired", "first ms", "second ms", "second÷first")
    f32, bf16 = (sk.ModelRunner(model, precision=p) for p in ("f32", "bf16"))
    a, b, ratio = paired_seconds(lambda: f32(x1), lambda: bf16(x1), repeat=40)
    row("f32 then bf16 (static batch-1 path)", f"{a * 1e3:.2f}", f"{b * 1e3:.2f}", f"{ratio:.2f}")
    for precision in ("f32", "bf16"):
        runner = sk.ModelRunner(model, precision=precision)
        dynamic = runner._batched_model()[1]  # the dynamic-batch compilation that serves batches of several

        def on_dynamic(request=dynamic):
            return request.infer({0: x1})

        a, b, ratio = paired_seconds(lambda r=runner: r(x1), on_dynamic, repeat=40)
        row(f"{precision}: static batch-1 then dynamic batch", f"{a * 1e3:.2f}", f"{b * 1e3:.2f}", f"{ratio:.2f}")


if __name__ == "__main__":
    main()
