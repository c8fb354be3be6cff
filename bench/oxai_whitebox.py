"""Companion of whitebox.py, run inside openvino-xai 1.1's side environment (bench/.venv-oxai).

Prints one JSON line: plain inference and white-box explain seconds per image (medians, timed alternately)
and the median of their per-pair ratios, on the demo IR.
"""

import json
import sys
import time

import cv2
import numpy as np
import openvino as ov
import openvino_xai as xai


def preprocess_fn(image):
    x = cv2.resize(image, (224, 224)).astype(np.float32)
    return ((x - 127.5) / 127.5).transpose(2, 0, 1)[None]


def main():
    model_path, photos_path, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
    photos = [v for _, v in sorted(np.load(photos_path).items())]
    core = ov.Core()
    compiled = core.compile_model(core.read_model(model_path), "CPU")
    explainer = xai.Explainer(
        model=core.read_model(model_path), task=xai.Task.CLASSIFICATION, preprocess_fn=preprocess_fn
    )
    plain, explain, ratios = [], [], []
    for image in photos:
        top1 = int(np.argmax(compiled(preprocess_fn(image))[0]))
        a, b = [], []
        for _ in range(repeat + 2):
            t0 = time.perf_counter()
            compiled(preprocess_fn(image))[0]
            t1 = time.perf_counter()
            explainer(image, targets=[top1], resize=True, colormap=False)
            a.append(t1 - t0)
            b.append(time.perf_counter() - t1)
        a, b = np.array(a[2:]), np.array(b[2:])
        plain.append(np.median(a))
        explain.append(np.median(b))
        ratios.append(np.median(b / a))
    result = {"plain_s": np.median(plain), "explain_s": np.median(explain), "ratio": np.median(ratios)}
    print(json.dumps({k: float(v) for k, v in result.items()}))


if __name__ == "__main__":
    main()
