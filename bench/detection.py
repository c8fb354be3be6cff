"""Explaining a real detector (MediaPipe BlazeFace): time and model calls per image of each method, against one
inference, and the pointing-game hit rate of the face box's map.

    .venv/bin/python bench/detection.py            # about 3 minutes on 2 cores
    .venv/bin/python bench/detection.py --quick    # a smoke run: three inputs, small budgets

Inputs: the astronaut photo and composites with her face at other positions and scales
(``saliencykit.detection.demo.face_scenes``). For every method it explains the box that covers the pasted face and
prints the median wall time per image, the model calls per image, the time relative to one plain inference
(``explainer.detect``: resize, inference, decoding and NMS; the white-box row is timed alternately with it, so its
ratio is the median of paired ratios), and the share of inputs whose map peaks inside the
box (``saliencykit.metrics.pointing_game``, tolerance 0). The per-box white-box row builds the face box's map from
its own anchors (``DetClassProbabilityMap(per_box=True)``): its cost over one inference is the per-anchor output and
the host-side placing of the box's anchors. "one image per call" sends D-RISE's masked images to
the detector one by one (as openvino-xai's black-box methods do) to show what batching saves.

Timings are noisy on a shared 2-core machine: rows are measured in one run, one after the other.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import median_seconds, paired_seconds, row

from saliencykit.detection import (
    DRISE,
    AISEDetection,
    DetClassProbabilityMap,
    DetectionExplainer,
    box_iou,
    mediapipe_model_path,
)
from saliencykit.detection.demo import face_scenes
from saliencykit.metrics import pointing_game


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three inputs and small budgets")
    args = parser.parse_args()
    scenes = face_scenes(3 if args.quick else None)
    path = mediapipe_model_path("blazeface")
    configs = [
        ("DetClassProbabilityMap (white-box)", lambda: DetClassProbabilityMap()),
        ("DetClassProbabilityMap per box (white-box)", lambda: DetClassProbabilityMap(per_box=True)),
        ("D-RISE speed (500 masks)", lambda: DRISE(preset="speed")),
        ("D-RISE balance (2000 masks)", lambda: DRISE(preset="balance")),
        ("D-RISE 500 masks, one image per call", lambda: DRISE(preset="speed", batch_size=1)),
        ("AISE speed (20 x 3 widths)", lambda: AISEDetection(preset="speed")),
        ("AISE balance (50 x 3 widths)", lambda: AISEDetection(preset="balance")),
    ]
    if args.quick:
        configs = [
            ("DetClassProbabilityMap (white-box)", lambda: DetClassProbabilityMap()),
            ("DetClassProbabilityMap per box (white-box)", lambda: DetClassProbabilityMap(per_box=True)),
            ("D-RISE 100 masks", lambda: DRISE(num_masks=100)),
            ("D-RISE 100 masks, one image per call", lambda: DRISE(num_masks=100, batch_size=1)),
            ("AISE speed (20 x 3 widths)", lambda: AISEDetection(preset="speed")),
        ]

    plain = DetectionExplainer(path, postprocess="blazeface", mode="blackbox")
    targets = []
    for scene in scenes:
        dets = plain.detect(scene.image)
        targets.append(int(np.argmax(box_iou(np.array([scene.box]), dets.boxes)[0])))
    one = float(np.median([median_seconds(lambda s=s: plain.detect(s.image), repeat=20) for s in scenes]))

    print(f"BlazeFace (face_detection_short_range.tflite), {len(scenes)} inputs, median per image")
    row("method", "time / image", "model calls", "x one inference", "pointing game")
    row("one inference (detect)", f"{one * 1000:.2f} ms", "1", "1.0", "-")
    for name, make in configs:
        explainer = DetectionExplainer(path, postprocess="blazeface", method=make())
        explainer(scenes[0].image, targets=targets[0])  # compile and warm up
        times, calls, hits = [], [], []
        for scene, k in zip(scenes, targets, strict=True):
            start = time.perf_counter()
            explanation = explainer(scene.image, targets=k)
            times.append(time.perf_counter() - start)
            calls.append(explanation.stats["model_calls"])
            saliency = explanation.map(k, size=scene.image.shape[:2])
            hits.append(pointing_game(saliency, boxes=[explanation.boxes[k]], tolerance=0).hit)
        t = float(np.median(times))
        ratio = t / one
        if explainer.whitebox:  # close to one inference: time it alternately with detect() so load cancels out
            pairs = [
                paired_seconds(lambda s=s: plain.detect(s.image), lambda s=s, k=k, e=explainer: e(s.image, targets=k))
                for s, k in zip(scenes, targets, strict=True)
            ]
            t = float(np.median([p[1] for p in pairs]))
            ratio = float(np.median([p[2] for p in pairs]))
        row(name, f"{t * 1000:.1f} ms", f"{np.median(calls):.0f}", f"{ratio:.1f}", f"{np.mean(hits):.0%}")


if __name__ == "__main__":
    main()
