"""Code written for openvino-xai 1.1 (the saliency-map interpretation notebook) runs after changing imports."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import openvino as ov

import saliencykit as sk
import saliencykit.openvino_xai as xai
from saliencykit.openvino_xai.explainer import ExplainMode


def preprocess_fn(image: np.ndarray) -> np.ndarray:
    """The notebook's own preprocessing: resize, scale to [-1, 1], NCHW with a batch of one."""
    x = cv2.resize(image, (224, 224)).astype(np.float32)
    x = (x - 127.5) / 127.5
    return x.transpose(2, 0, 1)[None]


def test_notebook_workflow_end_to_end(tmp_path, photo_files):
    model = ov.Core().read_model(sk.demo.model_path())
    label_names = sk.demo.labels()
    explainer = xai.Explainer(
        model=model, task=xai.Task.CLASSIFICATION, preprocess_fn=preprocess_fn, explain_mode=ExplainMode.WHITEBOX
    )

    # 1. one photo, two targets by name, saved with the photo's stem as prefix
    path = Path(photo_files["chelsea"])
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    explanation = explainer(image, targets=["Egyptian cat", "tabby"], label_names=label_names, overlay=True)
    assert sorted(explanation.saliency_map) == [281, 285]
    assert explanation.saliency_map[285].shape == image.shape and explanation.saliency_map[285].dtype == np.uint8
    explanation.save(tmp_path / "single", f"{path.stem}_")
    assert sorted(p.name for p in (tmp_path / "single").iterdir()) == ["chelsea_Egyptian cat.jpg", "chelsea_tabby.jpg"]

    # 2. per use case: classes above a threshold from a plain compiled model, overlays named with gt and scores
    compiled = ov.Core().compile_model(model, "CPU")
    out = tmp_path / "cases"
    out.mkdir()
    ground_truth = {"chelsea": 285, "coffee": 967, "stereo_motorcycle_left": 665, "rocket": 657}
    written = []
    for stem, gt in ground_truth.items():
        image = cv2.cvtColor(cv2.imread(photo_files[stem]), cv2.COLOR_BGR2RGB)
        logits = compiled(preprocess_fn(image))[0][0]
        scores = np.exp(logits - logits.max())
        scores /= scores.sum()
        above = [int(i) for i in np.argwhere(scores > 0.1).ravel()]
        explanation = explainer(image, targets=above, label_names=label_names, overlay=True)
        for idx in above:
            name = f"{stem}_gt_{label_names[gt]}_{scores[gt]:.2f}_pr_{label_names[idx]}_{scores[idx]:.2f}.jpg"
            assert cv2.imwrite(str(out / name), explanation.saliency_map[idx])
            written.append(name)
    assert any(n.startswith("chelsea_gt_Egyptian cat_0.") and "_pr_Egyptian cat_" in n for n in written)
    assert any(n.startswith("rocket_gt_") and "_pr_drilling platform_" in n for n in written)  # a confident mistake
    assert all(cv2.imread(str(out / n)) is not None for n in written)

    # insert_xai keeps its openvino-xai signature
    inserted = xai.insert_xai(model, task=xai.Task.CLASSIFICATION)
    assert sk.has_xai(inserted) and xai.insert_xai(inserted) is inserted


def test_confidence_scores_and_plain_maps(tmp_path, photos):
    model = sk.demo.model()
    explainer = xai.Explainer(model=model, task=xai.Task.CLASSIFICATION, preprocess_fn=preprocess_fn)
    explanation = explainer(photos["coffee"], targets=[967], colormap=False, resize=False)
    assert explanation.saliency_map[967].shape == (7, 7) and explanation.saliency_map[967].dtype == np.uint8
    assert explanation.saliency_map[967].max() == 255
    explanation.save(tmp_path, prefix="coffee_", postfix="_conf_", confidence_scores={967: 0.9176})
    assert [p.name for p in tmp_path.iterdir()] == ["coffee_967_conf_0.92.jpg"]
