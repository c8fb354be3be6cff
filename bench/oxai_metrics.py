"""Companion of metrics_crosscheck.py, run inside openvino-xai 1.1's side environment (bench/.venv-oxai).

Reads the .npz written by metrics_crosscheck.py (model path, pixels at 224 x 224, targets, maps, the maps our
explainer computed on ADCC's masked images) and prints one JSON line with openvino-xai's InsertionDeletionAUC and
ADCC per image: once with the model compiled in f32 (as saliencykit does) and once with openvino-xai's own default
compilation (bf16 where the CPU supports it).
With ``time`` first (used by bench/metrics.py), it prints the median seconds per image of openvino-xai's
InsertionDeletionAUC and ADCC instead, with its own white-box ReciproCAM explainer re-explaining for ADCC.
Usage: bench/.venv-oxai/bin/python bench/oxai_metrics.py [time] DATA.npz [REPEAT]
"""

import json
import sys
import time

import numpy as np
import openvino as ov
import openvino_xai as xai
from openvino_xai.metrics import ADCC, InsertionDeletionAUC


def preprocess_fn(pixels):
    """The demo model's preprocessing on pixels already at 224 x 224: scale to [-1, 1], NCHW."""
    x = np.asarray(pixels, np.float32)
    return ((x - 127.5) / 127.5).transpose(2, 0, 1)[None]


def postprocess_fn(outputs):
    logits = np.asarray(outputs[0], np.float64)
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class StoredMaps:
    """Stands in for openvino-xai's Explainer in ADCC's coherency: returns the map computed by saliencykit's
    explainer on the same masked image, so both sides compare the same maps (the subject is the metric)."""

    class _Explanation:
        def __init__(self, target, saliency):
            self.saliency_map = {target: saliency}

    def __init__(self, maps):
        self.maps = maps
        self.index = 0

    def __call__(self, image, targets, **kwargs):
        return self._Explanation(int(targets), self.maps[self.index])


def run(data, model, f32):
    maps = StoredMaps(data["reexplained"])
    auc = InsertionDeletionAUC(model, preprocess_fn, postprocess_fn)
    adcc = ADCC(model, preprocess_fn, postprocess_fn, explainer=maps)
    if f32:
        compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        auc.model_compiled = compiled
        adcc.model_compiled = compiled
    out = []
    steps = int(data["steps"])
    for i, target in enumerate(data["targets"]):
        pixels = data["pixels"][i]
        r = auc(data["id_maps"][i], int(target), pixels, steps=steps)
        maps.index = i
        a = adcc(data["adcc_maps"][i], int(target), pixels)
        out.append(
            {
                "insertion": float(r["insertion"]),
                "deletion": float(r["deletion"]),
                "adcc": float(a["adcc"]),
                "average_drop": float(a["average_drop"]),
                "coherency": float(a["coherency"]),
                "complexity": float(a["complexity"]),
            }
        )
    return out


def median_seconds(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def timing(data, repeat):
    core = ov.Core()
    model = core.read_model(str(data["model_path"]))
    explainer = xai.Explainer(
        model=core.read_model(str(data["model_path"])), task=xai.Task.CLASSIFICATION, preprocess_fn=preprocess_fn
    )
    auc = InsertionDeletionAUC(model, preprocess_fn, postprocess_fn)
    adcc = ADCC(model, preprocess_fn, postprocess_fn, explainer=explainer)
    steps = int(data["steps"])
    auc_s, adcc_s = [], []
    for pixels, target in zip(data["pixels"], data["targets"]):
        target = int(target)
        saliency = explainer(pixels, targets=[target], colormap=False, scaling=False).saliency_map[target]
        saliency = (saliency - saliency.min()) / max(float(saliency.max() - saliency.min()), 1e-12)
        auc_s.append(median_seconds(lambda s=saliency, t=target, p=pixels: auc(s, t, p, steps=steps), repeat))
        adcc_s.append(median_seconds(lambda s=saliency, t=target, p=pixels: adcc(s, t, p), repeat))
    return {"insertion_deletion_s": float(np.median(auc_s)), "adcc_s": float(np.median(adcc_s))}


def main():
    if sys.argv[1] == "time":
        data = dict(np.load(sys.argv[2]))
        print(json.dumps(timing(data, int(sys.argv[3]) if len(sys.argv) > 3 else 3)))
        return
    data = dict(np.load(sys.argv[1]))
    model = ov.Core().read_model(str(data["model_path"]))
    print(json.dumps({"f32": run(data, model, True), "default": run(data, model, False)}))


if __name__ == "__main__":
    main()
