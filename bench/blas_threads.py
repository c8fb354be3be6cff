"""Why black-box explanations run with one BLAS thread: RISE() and D-RISE with and without the limit.

    .venv/bin/python bench/blas_threads.py

numpy's OpenBLAS threads keep spinning for a while after each call (mask up-sampling, accumulation); on a
2-core machine they then compete with OpenVINO's inference threads. The Explainer limits BLAS to one thread while
an OpenVINO model infers (``Pipeline.quiet_blas``); this script times the same explanations with the limit and
with it switched off, alternately, and prints the ratio.
"""

from __future__ import annotations

import contextlib

from _common import paired_seconds

import saliencykit as sk
from saliencykit.detection import DRISE, DetectionExplainer, mediapipe_model_path
from saliencykit.detection.demo import face_scenes
from saliencykit.pipeline import Pipeline


def _compare(name: str, explain_all, calls: int) -> None:
    limited = Pipeline.quiet_blas

    def run(limit: bool) -> None:
        Pipeline.quiet_blas = limited if limit else (lambda pipeline: contextlib.nullcontext())
        explain_all()

    try:
        with_limit, without, ratio = paired_seconds(lambda: run(True), lambda: run(False), repeat=3, warmup=1)
    finally:
        Pipeline.quiet_blas = limited
    print(f"{name}: {calls} model calls per run (median of 3 alternating pairs)")
    print(f"  one BLAS thread (default)   {1e3 * with_limit / calls:6.2f} ms per model call")
    print(f"  BLAS threads not limited    {1e3 * without / calls:6.2f} ms per model call")
    print(f"  not limited ÷ limited       {ratio:6.2f}")


def main() -> None:
    photos = list(sk.demo.photos().values())
    explainer = sk.demo.explainer(mode="blackbox")
    calls = len(photos) * explainer.method.settings()["num_masks"]
    _compare(
        f"RISE() on the {len(photos)} demo photos", lambda: [explainer(p, keep_image=False) for p in photos], calls
    )

    scenes = face_scenes(3)
    detector = DetectionExplainer(
        mediapipe_model_path("blazeface"), postprocess="blazeface", method=DRISE(preset="speed")
    )

    def explain_faces() -> None:
        for scene in scenes:
            detector(scene.image, targets="all", keep_image=False)

    _compare(f"D-RISE speed on BlazeFace, {len(scenes)} scenes", explain_faces, len(scenes) * 501)  # every box at once


if __name__ == "__main__":
    main()
