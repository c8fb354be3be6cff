"""Why black-box explanations run with one BLAS thread: RISE() on the demo photos with and without the limit.

    .venv/bin/python bench/blas_threads.py

numpy's OpenBLAS threads keep spinning for a while after each call (mask up-sampling, accumulation); on a
2-core machine they then compete with OpenVINO's inference threads. The Explainer limits BLAS to one thread while
an OpenVINO model infers (``saliencykit.explainer._quiet_blas``); this script times the same explanations with the
limit and with it switched off, alternately, and prints the ratio.
"""

from __future__ import annotations

import contextlib

from _common import paired_seconds

import saliencykit as sk
import saliencykit.explainer as explainer_module


def main() -> None:
    photos = list(sk.demo.photos().values())
    explainer = sk.demo.explainer(mode="blackbox")
    limited = explainer_module._quiet_blas

    def run(limit: bool) -> None:
        explainer_module._quiet_blas = limited if limit else (lambda pipeline: contextlib.nullcontext())
        for image in photos:
            explainer(image, keep_image=False)

    with_limit, without, ratio = paired_seconds(lambda: run(True), lambda: run(False), repeat=3, warmup=1)
    explainer_module._quiet_blas = limited
    calls = len(photos) * explainer.method.settings()["num_masks"]
    print(f"RISE() on {len(photos)} photos, {calls} model calls per run (median of 3 alternating pairs)")
    print(f"  one BLAS thread (default)   {1e3 * with_limit / calls:6.2f} ms per model call")
    print(f"  BLAS threads not limited    {1e3 * without / calls:6.2f} ms per model call")
    print(f"  not limited ÷ limited       {ratio:6.2f}")


if __name__ == "__main__":
    main()
