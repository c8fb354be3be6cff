"""Black-box methods: RISE (with its mask designs) and AISE — reproducibility, memory, progress, interruption, and
every kind of model the Explainer accepts, plus one end-to-end check on the real demo model."""

from __future__ import annotations

import threading
import tracemalloc
import warnings

import cv2
import numpy as np
import pytest
from scipy.optimize import Bounds, direct

import saliencykit as sk
from saliencykit.errors import MethodError
from saliencykit.methods import AISE, METHODS, RISE, BlackBoxMethod, get_method
from saliencykit.methods.aise import Windows
from saliencykit.methods.rise import FlatMapWarning, blurred, soft_mask
from saliencykit.methods.sampling import MaskSampler, interpolation_matrix
from saliencykit.metrics.scoring import make_substrate

SIZE = 32


def _toy_predict(batch: np.ndarray) -> np.ndarray:
    """Scores (N, 3) of a cheap 'model': class 0 looks at the top-left, class 1 at the bottom-right quadrant."""
    b = np.asarray(batch, np.float32) / 255.0
    h, w = b.shape[1:3]
    tl = b[:, : h // 2, : w // 2].mean(axis=(1, 2, 3))
    br = b[:, h // 2 :, w // 2 :].mean(axis=(1, 2, 3))
    logits = np.stack([8 * tl, 8 * br, np.full_like(tl, 2.0)], axis=1)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _pixels(size: int = SIZE) -> np.ndarray:
    return np.full((size, size, 3), 200.0, np.float32)


# --------------------------------------------------------------------------------------------- mask sampling


@pytest.mark.parametrize("kind, flag", [("linear", cv2.INTER_LINEAR), ("cubic", cv2.INTER_CUBIC)])
def test_vectorised_upsampling_equals_opencv(kind, flag):
    grid = np.random.default_rng(0).random((6, 6)).astype(np.float32)
    r = interpolation_matrix(6, 70, kind)
    np.testing.assert_allclose(r @ grid @ r.T, cv2.resize(grid, (70, 70), interpolation=flag), atol=1e-5)


@pytest.mark.parametrize("design", ["random", "sobol", "orthogonal"])
@pytest.mark.parametrize("antithetic", [False, True])
def test_masks_do_not_depend_on_chunking(design, antithetic):
    def draw(chunks):
        s = MaskSampler((24, 20), 4, 0.5, design, antithetic, np.random.default_rng(3))
        return np.concatenate([s.draw(c) for c in chunks])

    a, b = draw([40, 40, 40]), draw([1, 7, 64, 3, 45])
    np.testing.assert_array_equal(a, b)
    assert a.shape == (120, 24, 20) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    if antithetic:
        np.testing.assert_allclose(a[0::2] + a[1::2], 1.0, atol=1e-6)


def test_many_small_draws_stay_cheap_and_flat():
    # leftovers of a block are kept in a buffer, not in ever deeper generator chains
    s = MaskSampler((8, 8), 8, 0.5, "orthogonal", True, np.random.default_rng(0))
    masks = np.concatenate([s.draw(3) for _ in range(2000)])
    assert masks.shape == (6000, 8, 8)


def test_orthogonal_design_is_balanced():
    cells = 4
    s = MaskSampler((8, 8), cells, 0.5, "orthogonal", False, np.random.default_rng(0))
    block = next(s._grids)  # one Hadamard block: 32 masks over 16 cells
    assert block.shape == (32, cells * cells)
    np.testing.assert_array_equal(block.sum(axis=0), 16)  # every cell kept in half the masks
    together = block.T @ block
    off_diagonal = together[~np.eye(cells * cells, dtype=bool)]
    np.testing.assert_array_equal(off_diagonal, 8)  # every pair kept together in a quarter


def test_orthogonal_design_needs_half_probability():
    with pytest.raises(MethodError, match="prob=0.5"):
        RISE(sampler="orthogonal", prob=0.3)


# --------------------------------------------------------------------------------------------- RISE


def test_presets_are_openvino_xai_s():
    default = RISE().settings()
    assert (default["num_masks"], default["num_cells"], default["sampler"], default["estimator"]) == (
        256,
        [4, 7, 10],
        "orthogonal",
        "centered",
    )
    assert (default["interpolation"], default["substrates"], default["output"]) == ("cubic", ["blur", "mean"], "raw")
    assert default["combine"] == "equal"
    assert RISE(preset="balance").settings()["combine"] == "sum"
    balance = RISE(preset="balance").settings()  # openvino-xai's configuration, with our design and estimator
    assert (balance["num_masks"], balance["num_cells"], balance["interpolation"]) == (5000, 8, "linear")
    assert (balance["substrates"], balance["output"]) == (["mean"], "raw")
    assert RISE(prob=0.3).settings()["sampler"] == "sobol"
    assert RISE(preset="speed").settings()["num_masks"] == 1000
    assert RISE(preset="balance").settings()["num_cells"] == 8
    q = RISE(preset="quality").settings()
    assert (q["num_masks"], q["num_cells"]) == (10000, 12)
    assert RISE(preset="quality", num_masks=7).settings()["num_masks"] == 7
    with pytest.raises(MethodError, match="preset='fast'"):
        RISE(preset="fast")
    assert isinstance(RISE(), BlackBoxMethod) and isinstance(AISE(), BlackBoxMethod)
    assert METHODS["rise"] is RISE and METHODS["aise"] is AISE
    assert get_method("aise", preset="speed").settings()["num_iterations_per_kernel"] == 20


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"sampler": "random", "estimator": "mean", "substrates": ("mean",), "output": "raw"},  # published RISE
        {"sampler": "sobol", "prob": 0.4},
        {"sampler": "orthogonal", "antithetic": True},
    ],
)
def test_rise_same_seed_same_map_other_seed_other_map(options):
    def run(seed):
        method = RISE(num_masks=96, num_cells=4, seed=seed, batch_size=32, **options)
        return method.explain(_toy_predict, _pixels(), [0, 1], fill=127.5)

    a, b, c = run(1), run(1), run(2)
    assert a.shape == (2, SIZE, SIZE) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # the toy model's class 0 looks at the top-left quadrant, class 1 at the bottom-right
    assert a[0, :16, :16].mean() > a[0, 16:, 16:].mean()
    assert a[1, 16:, 16:].mean() > a[1, :16, :16].mean()


def test_several_grids_give_one_estimate_each_weighted_equally():
    """The default's three grids: each (substrate, grid) estimate is scaled to max |.| = 1 before they are added."""
    pixels = _pixels()
    multi = RISE(num_masks=96, num_cells=(2, 4), substrates=("mean",), combine="equal")
    maps = multi.explain(_toy_predict, pixels, [0, 1], fill=127.5)
    assert maps[0, :16, :16].mean() > maps[0, 16:, 16:].mean()
    assert maps[1, 16:, 16:].mean() > maps[1, :16, :16].mean()
    # each estimate contributes at most 1 in absolute value, and the largest value is reached where both agree
    assert np.abs(maps).max() <= 2.0 + 1e-5 and np.abs(maps[0]).max() > 1.0
    summed = RISE(num_masks=96, num_cells=(2, 4), substrates=("mean",), combine="sum").explain(
        _toy_predict, pixels, [0, 1], fill=127.5
    )
    assert not np.allclose(maps, summed) and np.abs(summed).max() < 1.0  # raw probabilities differences are small
    # the masks are split evenly: 48 per grid, with the grid's own stream
    counts = []
    multi.explain(_toy_predict, pixels, [0], fill=127.5, progress=lambda done, total: counts.append((done, total)))
    assert counts[-1] == (96, 96)
    assert multi.settings()["num_cells"] == [2, 4]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"num_cells": (4, "7")}, "whole number"),
        ({"num_cells": ()}, "whole number"),
        ({"num_cells": 2.5}, "whole number"),
        ({"num_cells": (4, 4)}, "each grid size once"),
        ({"num_cells": (4, 0)}, ">= 1"),
        ({"num_masks": 5, "num_cells": (4, 7, 10)}, "6 here"),
        ({"combine": "max"}, "combine='max'"),
    ],
)
def test_bad_grids_and_combine_are_refused(options, message):
    with pytest.raises(MethodError, match=message):
        RISE(**options)


def test_soft_output_keeps_the_ranking_and_compresses_positive_evidence():
    ramp = np.tile(np.linspace(-1.0, 1.0, 224, dtype=np.float32), (224, 1))  # smooth: smoothing changes nothing
    soft = soft_mask(ramp)
    row = soft[112]
    assert np.all(np.diff(row[8:-8]) > 0)  # same order as the estimate, away from the borders
    assert row.max() <= np.tanh(1.0) + 1e-6 and row[-20] > 0.9 * np.tanh(1.0)  # positive evidence near the top
    assert -0.06 < row.min() < 0  # negative evidence kept, scaled down
    assert np.array_equal(soft_mask(np.zeros((8, 8), np.float32)), np.zeros((8, 8), np.float32))


def test_blur_substrate_is_the_insertion_metrics_blur():
    pixels = np.random.default_rng(4).uniform(0, 255, (224, 224, 3)).astype(np.float32)
    expected, name = make_substrate(pixels, "blur", np.zeros(3, np.float32))
    np.testing.assert_allclose(blurred(pixels), expected, atol=1e-4)
    assert name == "blur(kernel=11, sigma=5)"


def test_constant_model_gives_a_flat_map_and_a_warning():
    def constant(batch):
        return np.tile(np.array([[0.2, 0.3, 0.5]], np.float32), (len(batch), 1))

    for method in (RISE(num_masks=40, num_cells=4), RISE(num_masks=40, num_cells=4, estimator="mean")):
        with pytest.warns(FlatMapWarning, match="flat"):
            maps = method.explain(constant, _pixels(), [1], fill=0.0)
        assert np.isfinite(maps).all() and not maps.any()
    explainer = sk.Explainer(
        lambda b: np.zeros((len(b), 4), np.float32), mode="blackbox", preprocess=sk.Preprocess(size=16)
    )
    with pytest.warns(FlatMapWarning):
        explanation = explainer(np.zeros((20, 20, 3), np.uint8), targets=2)
    assert np.isfinite(explanation.maps[2]).all() and not explanation.maps[2].any()


def test_rise_memory_is_bounded_by_the_batch():
    seen = []

    def predict(batch):
        seen.append(len(batch))
        return _toy_predict(batch[:, ::16, ::16])

    pixels = np.full((224, 224, 3), 100.0, np.float32)
    method = RISE(num_masks=2000, num_cells=8, batch_size=32)
    tracemalloc.start()
    try:
        method.explain(predict, pixels, [0], fill=127.5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert max(seen) == 32 and sum(seen) == 2000
    # one batch: 32 masks (6.4 MB) + 32 masked images (19 MB); all 2000 masks would be 400 MB
    assert peak < 60e6, peak / 1e6


def test_progress_counts_up_to_the_total():
    calls = []
    RISE(num_masks=100, num_cells=4, batch_size=32).explain(
        _toy_predict, _pixels(), [0], progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(32, 100), (50, 100), (82, 100), (100, 100)]  # 50 masks per substrate, 32 per batch
    calls.clear()
    AISE(preset="speed").explain(_toy_predict, _pixels(), [0, 1], progress=lambda d, t: calls.append((d, t)))
    done = [d for d, _ in calls]
    assert done == sorted(done) and len(set(done)) == len(done) and calls[-1] == (240, 240)  # model inputs


@pytest.mark.parametrize("method", [RISE(num_masks=500, num_cells=4, batch_size=16), AISE(preset="speed")])
def test_keyboard_interrupt_inside_predict_propagates(method):
    calls = 0

    def predict(batch):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt
        return _toy_predict(batch)

    with pytest.raises(KeyboardInterrupt):
        method.explain(predict, _pixels(), [0, 1], fill=0.0)
    assert calls == 3
    assert not [t for t in threading.enumerate() if t.name.startswith("aise-search")]


# --------------------------------------------------------------------------------------------- AISE


def test_aise_batches_its_searches_and_visits_the_points_of_sequential_direct():
    pixels = _pixels()
    fill = np.full(3, 127.5, np.float32)
    windows = Windows(SIZE, SIZE)
    method = AISE(preset="speed", aggregate="openvino-xai")
    sizes = []

    def predict(batch):
        sizes.append(len(batch))
        return _toy_predict(batch)

    searches, history = method._search(predict, pixels, [0, 1], fill, windows, None)
    assert len(searches) == 6 and max(sizes) == 12  # 2 targets x 3 widths x (kept, deleted) per batch
    # the same searches one point at a time, openvino-xai's way
    for i, (k, width) in enumerate(searches):
        visited = []

        def objective(x, k=k, width=width, visited=visited):
            kept = windows.masks(np.array([x]), np.array([width]))[0][..., None]
            pair = np.stack([kept * (pixels - fill) + fill, (1 - kept) * (pixels - fill) + fill])
            s = _toy_predict(pair)[:, k]
            visited.append(tuple(x))
            return -(s[0] - s[1])

        direct(objective, Bounds([0.0, 0.0], [1.0, 1.0]), eps=0.1, maxfun=20, locally_biased=False)
        # DIRECT completes its last iteration past maxfun; openvino-xai's density uses the first maxfun points only,
        # and we do not even score the others
        assert len(visited) > 20
        assert [tuple(p) for p, _ in history[i]] == visited[:20]


def test_aise_is_deterministic_and_finds_the_toy_models_quadrant():
    a = AISE(preset="speed").explain(_toy_predict, _pixels(), [0, 1], fill=127.5)
    b = AISE(preset="speed").explain(_toy_predict, _pixels(), [0, 1], fill=127.5)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2, SIZE, SIZE) and np.isfinite(a).all()
    assert a[0, :16, :16].mean() > a[0, 16:, 16:].mean()
    assert a[1, 16:, 16:].mean() > a[1, :16, :16].mean()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FlatMapWarning)
        flat = AISE(preset="speed").explain(lambda b: np.ones((len(b), 3)), _pixels(), [0])
    assert not flat.any()


# --------------------------------------------------------------------------------------------- every model kind


def _tiny_cnn():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 3),
    ).eval()


@pytest.fixture(scope="module")
def model_sources(tmp_path_factory):
    torch = pytest.importorskip("torch")
    import openvino as ov

    folder = tmp_path_factory.mktemp("blackbox_models")
    module = _tiny_cnn()
    example = torch.zeros(1, 3, SIZE, SIZE)
    onnx_path = folder / "tiny.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter: no onnxscript needed
        torch.onnx.export(
            module, example, str(onnx_path), dynamo=False, dynamic_axes={"input": {0: "n"}}, input_names=["input"]
        )
    ir_path = folder / "tiny.xml"
    ov.save_model(ov.convert_model(module, example_input=example), str(ir_path))
    return {"module": module, "onnx": str(onnx_path), "ir": str(ir_path)}


@pytest.mark.parametrize("kind", ["callable", "module", "onnx", "ir"])
def test_blackbox_explainer_takes_every_model_kind(kind, model_sources):
    model = _toy_predict if kind == "callable" else model_sources[kind]
    method = RISE(num_masks=64, num_cells=4, batch_size=32)
    explainer = sk.Explainer(model, mode="blackbox", method=method, preprocess=sk.Preprocess(size=SIZE, std=255.0))
    image = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    explanation = explainer(image, targets=[0, 2])
    assert explanation.targets == [0, 2]
    for t in (0, 2):
        m = explanation.maps[t]
        assert m.shape == (SIZE, SIZE) and m.dtype == np.float32 and np.isfinite(m).all()
    assert explanation.stats["model_calls"] == 65 and not explanation.stats["whitebox"]
    assert explanation.stats["settings"]["num_masks"] == 64
    where = "blended on the host" if kind == "callable" else "blended inside the compiled graph"
    assert where in explanation.stats["perturbed"]


def test_same_maps_from_torch_onnx_and_ir(model_sources):
    image = np.random.default_rng(1).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    maps = []
    for kind in ("module", "onnx", "ir"):
        explainer = sk.Explainer(
            model_sources[kind],
            mode="blackbox",
            method=RISE(num_masks=64, num_cells=4, output="raw", combine="sum"),  # the estimates themselves
            preprocess=sk.Preprocess(size=SIZE, std=255.0),
        )
        maps.append(explainer(image, targets=1).maps[1])
    np.testing.assert_allclose(maps[0], maps[1], atol=3e-3)
    np.testing.assert_allclose(maps[0], maps[2], atol=3e-3)


@pytest.mark.parametrize(
    "method", [RISE(num_masks=40, num_cells=4, batch_size=16, output="soft", combine="sum"), AISE(preset="speed")]
)
def test_masks_blended_inside_the_graph_give_the_host_blends_maps(method, model_sources):
    explainer = sk.Explainer(
        model_sources["ir"], mode="blackbox", method=method, preprocess=sk.Preprocess(size=SIZE, std=255.0)
    )
    pipeline = explainer.pipeline
    image = np.random.default_rng(2).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    pixels = pipeline.pixels(image)
    blurred = cv2.GaussianBlur(pixels, (0, 0), 3)
    masks = np.random.default_rng(3).random((5, SIZE, SIZE), dtype=np.float32)
    for base in (pipeline.fill, blurred):  # a colour or an image: the graph's blend equals the host's
        expected = pipeline.predict_pixels(base + masks[..., None] * (pixels - base))
        np.testing.assert_allclose(pipeline.blend_scorer(pixels, base)(masks), expected, atol=1e-5)
    on_host = method.explain(pipeline.predict_pixels, pixels, [0, 1], fill=pipeline.fill)  # a plain callable
    explanation = explainer(image, targets=[0, 1])
    if isinstance(method, RISE):
        assert explanation.stats["model_calls"] == 41  # the in-graph calls are counted too
    for k, t in enumerate((0, 1)):
        np.testing.assert_allclose(explanation.maps[t], sk.visualize.normalize(on_host[k]), atol=1e-4)


def test_a_callable_model_has_no_in_graph_blend():
    explainer = sk.Explainer(_toy_predict, mode="blackbox", preprocess=sk.Preprocess(size=SIZE, std=255.0))
    assert explainer.pipeline.blend_scorer(_pixels(), 0.0) is None


# --------------------------------------------------------------------------------------------- the demo model


@pytest.mark.slow
def test_demo_rise_map_of_chelsea_peaks_inside_the_cat_box(photos):
    image = photos["chelsea"]
    explainer = sk.demo.explainer(
        mode="blackbox",
        method=RISE(num_masks=128),
    )
    explanation = explainer(image, targets="top:1")
    target = explanation.targets[0]
    box = sk.demo.boxes()["chelsea"]["objects"][0]
    assert target == box["class"] == 285
    saliency = explanation.map(target, size=image.shape[:2])
    y, x = np.unravel_index(np.argmax(saliency), saliency.shape)
    x0, y0, x1, y1 = box["box"]
    assert x0 <= x <= x1 and y0 <= y <= y1, (y, x)
    assert explanation.stats["model_calls"] == 129
