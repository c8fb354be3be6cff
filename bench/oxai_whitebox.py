"""Companion of whitebox.py, run inside openvino-xai 1.1's side environment (bench/.venv-oxai).

Prints one JSON line: plain inference and white-box explain seconds per image (medians) on the demo IR.
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


def median(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main():
    model_path, photos_path, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
    photos = [v for _, v in sorted(np.load(photos_path).items())]
    core = ov.Core()
    compiled = core.compile_model(core.read_model(model_path), "CPU")
    explainer = xai.Explainer(
        model=core.read_model(model_path), task=xai.Task.CLASSIFICATION, preprocess_fn=preprocess_fn
    )
    plain, explain = [], []
    for image in photos:
        top1 = int(np.argmax(compiled(preprocess_fn(image))[0]))
        plain.append(median(lambda im=image: compiled(preprocess_fn(im))[0], repeat))
        explain.append(median(lambda im=image, t=top1: explainer(im, targets=[t], resize=True, colormap=False), repeat))
    print(json.dumps({"plain_s": float(np.median(plain)), "explain_s": float(np.median(explain))}))


if __name__ == "__main__":
    main()
