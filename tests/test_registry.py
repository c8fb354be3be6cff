"""The method registry is the one list of methods: a method defined here, registered with one line, is found by the
Explainer (classification and detection), by the audit and by every view of the registry."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import saliencykit as sk
from saliencykit.errors import MethodError, SaliencyKitError
from saliencykit.methods import registry
from saliencykit.methods.base import blend_scorer
from saliencykit.targets import score_targets


@dataclass
class Occlusion:
    """Sliding-window occlusion written against the target scorer: a window's weight is the score it costs."""

    cells: int = 4
    name: str = "occlusion_test"
    tasks = ("classification", "detection")

    def explain(self, predict, pixels, targets, fill=0.0, progress=None):
        h, w = pixels.shape[:2]
        ys, xs = np.linspace(0, h, self.cells + 1, dtype=int), np.linspace(0, w, self.cells + 1, dtype=int)
        masks = np.ones((self.cells**2, h, w), np.float32)
        for i in range(self.cells):
            for j in range(self.cells):
                masks[i * self.cells + j, ys[i] : ys[i + 1], xs[j] : xs[j + 1]] = 0.0
        score = blend_scorer(predict, pixels, fill)
        base = score_targets(targets, score(np.ones((1, h, w), np.float32)), 1)
        drops = base - score_targets(targets, score(masks), len(masks))  # (windows, targets)
        return np.einsum("nt,nhw->thw", drops, 1.0 - masks).astype(np.float32)


@pytest.fixture
def occlusion():
    spec = registry.register(
        registry.MethodSpec("occlusion_test", "blackbox", ("classification", "detection"),
                            lambda task, **options: Occlusion(**options), "occlusion by a sliding window", ("cells",))
    )  # fmt: skip
    yield spec
    registry.unregister("occlusion_test")


def test_a_registered_method_is_listed_everywhere(occlusion):
    assert "occlusion_test" in registry.help_text("classification")
    assert "occlusion_test" in registry.help_text("detection")
    assert "occlusion_test" in sk.methods.METHODS and "occlusion_test" in sk.detection.DETECTION_METHODS
    assert isinstance(sk.methods.get_method("occlusion_test", cells=2), Occlusion)
    registry.unregister("occlusion_test")
    assert "occlusion_test" not in sk.methods.METHODS and "occlusion_test" not in registry.help_text()
    with pytest.raises(MethodError, match="unknown; available methods: reciprocam"):
        sk.Explainer(sk.demo.model(), sk.demo.preprocess, method="occlusion_test")


def test_the_explainer_runs_a_registered_method_on_a_classifier(occlusion):
    explainer = sk.Explainer(sk.demo.model(), sk.demo.preprocess, method="occlusion_test", label_names=sk.demo.labels())
    assert isinstance(explainer.method, Occlusion) and not explainer.whitebox
    image = sk.demo.photos()["chelsea"]
    explanation = explainer(image, targets="top:1")
    target = explanation.targets[0]
    assert explanation.stats["model_calls"] == 1 + 1 + 16  # the image, the unoccluded blend, 16 windows
    saliency = explanation.maps[target]
    assert saliency.shape == (224, 224) and saliency.max() > saliency.min()
    # the window the map ranks first costs the class more than the window it ranks last
    pixels = explainer.pipeline.pixels(image)
    mask = np.ones((2, 224, 224), np.float32)
    for k, (y, x) in enumerate([np.unravel_index(saliency.argmax(), saliency.shape),
                                np.unravel_index(saliency.argmin(), saliency.shape)]):  # fmt: skip
        mask[k, y // 56 * 56 : y // 56 * 56 + 56, x // 56 * 56 : x // 56 * 56 + 56] = 0.0
    fill = explainer.pipeline.fill
    scores = explainer.pipeline.predict_pixels(mask[..., None] * pixels + (1 - mask[..., None]) * fill)
    assert scores[0, target] < scores[1, target]


def test_the_explainer_runs_a_registered_method_on_a_detector(occlusion):
    from saliencykit.detection.demo import face_scenes

    path = sk.detection.mediapipe_model_path("blazeface")
    explainer = sk.Explainer(path, postprocess="blazeface", task="detection", method="occlusion_test")
    assert isinstance(explainer.method, Occlusion)
    scene = face_scenes()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explanation = explainer(scene.image, targets=0)
    saliency = explanation.maps[0]
    h, w = saliency.shape  # the model's input size
    image_h, image_w = explanation.image_size
    x0, y0, x1, y1 = np.array(explanation.boxes[0]) * [w / image_w, h / image_h, w / image_w, h / image_h]
    y, x = np.unravel_index(saliency.argmax(), saliency.shape)
    # the hottest window overlaps the box it explains (windows are a quarter of the side)
    assert x0 - w / 4 <= x <= x1 + w / 4 and y0 - h / 4 <= y <= y1 + h / 4
    assert saliency[int(y0) : int(y1), int(x0) : int(x1)].mean() > saliency.mean()


def test_the_audit_runs_a_registered_method(occlusion, tmp_path: Path):
    from saliencykit.audit.demo import demo_dataset

    data = demo_dataset(tmp_path / "data")
    for extra in sorted(p for p in data.rglob("*") if p.is_file())[3:]:
        extra.unlink()
    result = sk.audit("demo", data, tmp_path / "out", method="occlusion_test", max_maps=1, report=False)
    rows = result.rows("done")
    assert len(rows) == 3
    assert any("occlusion_test" in p.read_text(encoding="utf-8") for p in (tmp_path / "out").glob("*.json"))
    for row in rows:  # the maps are the registered method's: 4 x 4 windows, so at most 16 distinct values
        with np.load(tmp_path / "out" / row["raw"]) as npz:
            maps = npz["maps"]
        assert maps.max() > maps.min() and len(np.unique(maps[0])) <= 16


def test_the_audit_refuses_an_unregistered_method(tmp_path: Path):
    with pytest.raises(SaliencyKitError, match="'occlusion_test' is not a method; available: reciprocam"):
        sk.audit("demo", tmp_path, tmp_path / "out", method="occlusion_test")


def test_registry_refuses_bad_specs_and_options():
    with pytest.raises(MethodError, match="kind must be one of"):
        registry.register(registry.MethodSpec("x", "greybox", ("classification",), lambda t: None, "x"))
    with pytest.raises(MethodError, match="takes no option colour"):
        registry.lookup("rise").create("classification", colour="red")
    with pytest.raises(MethodError, match="does not explain detection models; for detection use one of: "):
        registry.lookup("reciprocam").create("detection")
    with pytest.raises(
        MethodError, match="unknown; available: det_class_probability_map, det_box_probability_map, rise, aise"
    ):
        registry.lookup("gradcam", task="detection")


def test_the_automatic_choice_reads_the_registry():
    assert [s.name for s in registry.automatic("classification")] == ["vit_reciprocam", "reciprocam"]
    assert [s.name for s in registry.automatic("detection")] == ["det_class_probability_map"]
    assert registry.lookup("rise").method_class("detection") is sk.detection.DRISE
    assert registry.lookup("aise").method_class("detection") is sk.detection.AISEDetection
