"""Metrics against hand-computed values on tiny synthetic models and maps (no demo model needed)."""

from __future__ import annotations

import json

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import saliencykit as sk
from saliencykit import metrics as M
from saliencykit.errors import MethodError, TargetError

SIZE = 32
REGION = (slice(0, 8), slice(0, 8))  # 64 of 1024 pixels: 1/16 of the image


def region_mask() -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), np.float32)
    mask[REGION] = 1.0
    return mask


def region_score(batch: np.ndarray) -> np.ndarray:
    """A 'model' whose class-0 score is the mean brightness (0..1) of the region; class 1 scores 0.1."""
    batch = np.asarray(batch, np.float32)
    s = batch[:, REGION[0], REGION[1], :].mean(axis=(1, 2, 3)) / 255.0
    return np.stack([s, np.full_like(s, 0.1)], axis=1)


def region_model() -> ov.Model:
    """The same score as a tiny OpenVINO model on NCHW input normalised to 0..1 (Preprocess std=255)."""
    x = ops.parameter([-1, 3, SIZE, SIZE], ov.Type.f32, name="input")
    weights = np.zeros((1, 3, SIZE, SIZE), np.float32)
    weights[:, :, REGION[0], REGION[1]] = 1.0 / (3 * 64)
    s = ops.reduce_sum(ops.multiply(x, ops.constant(weights)), [1, 2, 3], keep_dims=False)
    s = ops.unsqueeze(s, [1])
    zero, tenth = ops.constant(np.zeros((1, 1), np.float32)), ops.constant(np.full((1, 1), 0.1, np.float32))
    other = ops.add(ops.multiply(s, zero), tenth)
    return ov.Model([ops.concat([s, other], 1)], [x], "region")


WHITE = np.full((SIZE, SIZE, 3), 255, np.uint8)


@pytest.fixture(scope="module")
def region_pipeline():
    return sk.Pipeline(region_model(), sk.Preprocess(size=SIZE, std=255.0), postprocess="identity")


# --- insertion / deletion -------------------------------------------------------------------------------------------


def test_auc_and_pixel_counts_by_hand():
    assert M.auc(np.array([0.0, 1.0])) == 0.5
    assert M.auc(np.array([0.0, 1.0, 1.0])) == 0.75
    assert M.auc(np.array([1.0, 1.0, 1.0, 1.0])) == 1.0
    assert M.pixel_counts(1024, 32).tolist() == [32 * i for i in range(33)]
    assert M.pixel_counts(10, 3).tolist() == [0, 3, 6, 10]
    with pytest.raises(MethodError):
        M.auc(np.array([1.0]))


@pytest.mark.parametrize("as_pipeline", [False, True])
def test_a_map_of_the_scored_region_inserts_fast_and_deletes_fast(as_pipeline):
    # Score = share of the region (64 px) present. Steps of 32 px: insertion 0, 0.5, 1, 1, ... -> AUC 31/32.
    model = sk.Pipeline(region_score, sk.Preprocess(size=SIZE), postprocess="identity") if as_pipeline else region_score
    r = M.insertion_deletion_auc(model, WHITE, region_mask(), 0, steps=32, substrate="black")
    assert r.insertion_curve[:4].tolist() == [0.0, 0.5, 1.0, 1.0]
    assert r.deletion_curve[:4].tolist() == [1.0, 0.5, 0.0, 0.0]
    assert r.insertion == pytest.approx(31 / 32)
    assert r.deletion == pytest.approx(1 / 32)
    assert r.difference == pytest.approx(30 / 32)
    assert len(r.insertion_curve) == len(r.deletion_curve) == 33


def test_a_reversed_map_gets_the_opposite_aucs():
    r = M.insertion_deletion_auc(region_score, WHITE, 1.0 - region_mask(), 0, steps=32, substrate="black")
    assert r.insertion == pytest.approx(1 / 32)
    assert r.deletion == pytest.approx(31 / 32)
    assert r.difference < 0


def test_a_real_openvino_model_gives_the_same_numbers(region_pipeline):
    r = M.insertion_deletion_auc(region_pipeline, WHITE, region_mask(), 0, steps=32, substrate="black")
    assert r.insertion == pytest.approx(31 / 32, abs=1e-6)
    assert r.deletion == pytest.approx(1 / 32, abs=1e-6)
    logits = M.insertion_deletion_auc(
        region_pipeline, WHITE, region_mask(), 0, steps=32, substrate="black", score="logit"
    )
    assert logits.insertion == pytest.approx(r.insertion, abs=1e-6)
    assert logits.protocol["score"] == "logit" and r.protocol["score"] == "identity"


def test_the_map_is_resized_to_the_model_input(region_pipeline):
    # A 4 x 4 map whose top-left cell is the region at 32 x 32; the image is 64 x 64 and resized to 32 x 32.
    small = np.zeros((4, 4), np.float32)
    small[0, 0] = 1.0
    big_white = np.full((64, 64, 3), 255, np.uint8)
    r = M.insertion_deletion_auc(region_pipeline, big_white, small, 0, steps=32, substrate="black")
    assert r.protocol["resolution"] == [SIZE, SIZE]
    assert r.insertion > 0.9 and r.deletion < 0.1


def test_substrates_and_protocol_record():
    image = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    seen = []

    def model(batch):
        seen.append(batch.copy())
        return region_score(batch)

    r = M.insertion_deletion_auc(model, image, region_mask(), 0, steps=4, substrate=(10, 20, 30))
    first = seen[0][0]  # insertion step 0: all substrate
    assert np.all(first == np.array([10, 20, 30], np.float32))
    assert r.protocol["substrate"] == "constant(10,20,30)" and r.protocol["steps"] == 4
    assert r.protocol["points"] == 5 and r.protocol["resolution"] == [SIZE, SIZE]
    # 2 * steps images, all in one batch
    assert len(seen) == 1 and len(seen[0]) == 8
    # a uniform image blurs to itself: both curves are flat at the image's score
    flat = M.insertion_deletion_auc(region_score, WHITE, region_mask(), 0, steps=4, substrate="blur")
    assert flat.insertion == pytest.approx(1.0) and flat.deletion == pytest.approx(1.0)
    assert flat.protocol["substrate"].startswith("blur(")
    # a separate deletion substrate: deletion ends on it, insertion starts from the other
    both = M.insertion_deletion_auc(
        region_score, WHITE, region_mask(), 0, steps=4, substrate="blur", deletion_substrate="black"
    )
    assert both.insertion_curve[0] == pytest.approx(1.0) and both.deletion_curve[-1] == 0.0
    json.dumps(both.to_dict())


def test_target_defaults_to_top1_and_is_checked():
    r = M.insertion_deletion_auc(region_score, WHITE, region_mask(), steps=4, substrate="black")
    assert r.target == 0  # 1.0 beats 0.1 on the white image
    with pytest.raises(TargetError):
        M.insertion_deletion_auc(region_score, WHITE, region_mask(), 5, steps=4)
    with pytest.raises(MethodError):
        M.insertion_deletion_auc(region_score, WHITE, region_mask(), 0, steps=0)
    with pytest.raises(MethodError):
        M.insertion_deletion_auc(region_score, WHITE, np.full((4, 4), np.nan), 0)
    with pytest.raises(MethodError):
        M.insertion_deletion_auc(region_score, WHITE, region_mask(), 0, substrate="grey")


# --- ADCC ------------------------------------------------------------------------------------------------------------


def bright_pixels(image: np.ndarray, target: int) -> np.ndarray:
    """An 'explainer' that marks bright pixels: it re-finds the region on an image masked by the region map."""
    return (image[..., 0] > 127).astype(np.float32)


def test_adcc_components_by_hand():
    assert M.average_drop(0.8, 0.6) == pytest.approx(0.25)
    assert M.average_drop(0.5, 0.9) == 0.0
    assert M.coherency(np.array([0.0, 1.0, 2.0]), np.array([5.0, 3.0, 1.0])) == 0.0
    assert M.coherency(np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 1.0])) == 0.0  # constant: undefined -> 0
    assert M.complexity(np.array([[1.0, 0.0], [0.0, 1.0]])) == 0.5
    assert M.adcc_formula(0.0, 1.0, 0.0) == pytest.approx(1.0)
    assert M.adcc_formula(0.5, 0.5, 0.5) == pytest.approx(0.5)
    assert M.adcc_formula(0.2, 0.0, 0.1) == 0.0
    with pytest.raises(MethodError):
        M.average_drop(0.0, 0.1)


def test_adcc_of_a_map_that_keeps_the_scored_region():
    # masked image keeps the region: no drop; re-explaining finds the same map: coherency 1; complexity 1/16
    r = M.adcc(region_score, WHITE, region_mask(), 0, bright_pixels, base="black")
    assert r.average_drop == 0.0
    assert r.coherency == pytest.approx(1.0)
    assert r.complexity == pytest.approx(1 / 16)
    assert r.adcc == pytest.approx(3 / (1 + 16 / 15 + 1))
    # maps outside [0, 1] are min-max normalised first: the same numbers
    assert M.adcc(region_score, WHITE, 10 * region_mask() - 3, 0, bright_pixels, base="black").adcc == pytest.approx(
        r.adcc
    )


def test_adcc_of_a_map_that_hides_the_region():
    r = M.adcc(region_score, WHITE, 1.0 - region_mask(), 0, bright_pixels, base="black")
    assert r.average_drop == pytest.approx(1.0)
    assert r.complexity == pytest.approx(15 / 16)
    assert r.adcc == 0.0
    half = M.adcc(region_score, WHITE, np.full((SIZE, SIZE), 0.5, np.float32), 0, bright_pixels, base="black")
    assert half.average_drop == pytest.approx(0.5)
    assert half.complexity == pytest.approx(0.5)


def test_adcc_masks_towards_the_preprocessing_mean_by_default():
    seen = []

    def model(batch):
        seen.append(batch.copy())
        return region_score(batch)

    pipeline = sk.Pipeline(model, sk.Preprocess(size=SIZE, mean=100.0, std=50.0), postprocess="identity")
    r = M.adcc(pipeline, WHITE, region_mask(), 0, bright_pixels)
    masked = seen[0][1]
    assert np.all(masked[REGION] == 255) and np.all(masked[8:, 8:] == 100)
    assert r.protocol["base"] == "mean(100)"
    json.dumps(r.to_dict())
    with pytest.raises(MethodError, match="explain="):
        M.adcc(pipeline, WHITE, region_mask(), 0)


# --- pointing game ---------------------------------------------------------------------------------------------------


def peak_at(x: int, y: int, size=(100, 100)) -> np.ndarray:
    m = np.zeros(size, np.float32)
    m[y, x] = 1.0
    return m


BOX = [10, 10, 60, 60]


@pytest.mark.parametrize(
    "x, y, tolerance, hit",
    [
        (30, 30, 0, True),  # inside
        (60, 60, 0, True),  # on the inclusive corner
        (61, 60, 0, False),
        (80, 50, 15, False),  # 20 px to the right
        (80, 50, 19.99, False),
        (80, 50, 20, True),
        (70, 70, 15, True),  # sqrt(200) = 14.14 px from the corner
        (70, 70, 14, False),
        (5, 5, 15, True),  # 7.07 px from the top-left corner
    ],
)
def test_pointing_game_hits_misses_and_tolerance(x, y, tolerance, hit):
    m = peak_at(x, y)
    assert M.pointing_game(m, boxes=[BOX], tolerance=tolerance).hit is hit
    # a mask of the same box gives the same verdict
    assert M.pointing_game(m, mask=M.boxes_mask([BOX], m.shape), tolerance=tolerance).hit is hit


def test_pointing_game_distance_point_and_several_boxes():
    r = M.pointing_game(peak_at(80, 50), boxes=[BOX])
    assert r.distance == pytest.approx(20.0) and r.point == (80, 50) and r.maxima == 1
    assert json.loads(json.dumps(r.to_dict()))["protocol"]["tolerance_px"] == 15.0
    assert M.pointing_game(peak_at(80, 50), boxes=[BOX, [75, 45, 90, 55]], tolerance=0).hit
    assert M.boxes_mask([[1, 0, 2, 1]], (3, 4)).astype(int).tolist() == [[0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]


def test_pointing_game_ties_and_constant_maps():
    m = peak_at(90, 90)
    m[30, 30] = 1.0  # a second maximum inside the box
    assert M.pointing_game(m, boxes=[BOX], tolerance=0).hit
    assert not M.pointing_game(np.ones((100, 100), np.float32), boxes=[BOX]).hit


def test_pointing_game_energy():
    m = np.zeros((100, 100), np.float32)
    m[0:10, 55:65] = 1.0  # half of it inside x <= 60? columns 55..60 (6 of 10) and rows 10.. none: rows 0..9 outside
    assert M.pointing_game(m, boxes=[[0, 0, 60, 99]]).energy == pytest.approx(0.6)
    assert M.pointing_game(m, boxes=[[0, 0, 99, 99]]).energy == pytest.approx(1.0)
    assert M.pointing_game(m - 1.0, boxes=[[0, 0, 60, 99]]).energy == pytest.approx(0.6)  # shifted to >= 0


def test_pointing_game_resizes_a_small_map_to_the_image():
    small = np.zeros((7, 7), np.float32)
    small[1, 5] = 1.0  # cell centre at (x, y) = (55, 15) in a 70 x 70 image
    r = M.pointing_game(small, boxes=[[50, 10, 60, 20]], tolerance=0, image_size=(70, 70))
    assert r.hit and r.protocol["resolution"] == [70, 70]
    with pytest.raises(MethodError):
        M.pointing_game(small, boxes=[BOX], mask=np.zeros((7, 7), bool))
    with pytest.raises(MethodError, match="image_size"):
        M.pointing_game(small, mask=np.zeros((70, 70), bool))
    with pytest.raises(MethodError):
        M.pointing_game(small, boxes=[[10, 10, 5, 20]])


# --- similarity ------------------------------------------------------------------------------------------------------


def smooth_map(seed: int, size=(48, 64)) -> np.ndarray:
    import cv2

    noise = np.random.default_rng(seed).random((6, 8)).astype(np.float32)
    return cv2.resize(noise, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def test_spearman_by_hand():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert M.spearman(a, a**3) == pytest.approx(1.0)
    assert M.spearman(a, -a) == pytest.approx(-1.0)
    assert M.spearman(a, np.ones_like(a)) == 0.0
    with pytest.raises(MethodError):
        M.spearman(a, a.T)


def test_ssim_matches_scikit_image():
    metrics = pytest.importorskip("skimage.metrics")
    for seed in range(3):
        a, b = smooth_map(seed), smooth_map(seed + 10)
        ours = M.ssim(a, b)
        na = (a - a.min()) / (a.max() - a.min())
        nb = (b - b.min()) / (b.max() - b.min())
        theirs = metrics.structural_similarity(
            na.astype(np.float64),
            nb.astype(np.float64),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
        )
        assert ours == pytest.approx(theirs, abs=1e-6)
    assert M.ssim(a, a) == pytest.approx(1.0)


# --- randomisation on a tiny network ---------------------------------------------------------------------------------


def tiny_cnn(weights: str = "f32") -> ov.Model:
    """conv 3->4, conv 4->6, global mean, matmul 6->5; weights plain f32, f16 + Convert, or through FakeQuantize."""
    rng = np.random.default_rng(1)
    x = ops.parameter([-1, 3, 16, 16], ov.Type.f32, name="input")

    def weight(shape):
        values = rng.normal(0, 0.3, shape).astype(np.float32)
        if weights == "f16":
            return ops.convert(ops.constant(values.astype(np.float16)), ov.Type.f32)
        if weights == "fq":
            lo, hi = ops.constant(np.float32(-1)), ops.constant(np.float32(1))
            return ops.fake_quantize(ops.constant(values), lo, hi, lo, hi, 255)
        return ops.constant(values)

    h = ops.relu(ops.convolution(x, weight((4, 3, 3, 3)), [1, 1], [1, 1], [1, 1], [1, 1]))
    h = ops.relu(ops.convolution(h, weight((6, 4, 3, 3)), [1, 1], [1, 1], [1, 1], [1, 1]))
    pooled = ops.reduce_mean(h, [2, 3], keep_dims=False)
    logits = ops.matmul(pooled, weight((6, 5)), False, False)
    return ov.Model([logits], [x], "tiny")


def conv_weights(model: ov.Model) -> list[np.ndarray]:
    out = []
    for _node, const in M.weight_layers(model):
        out.append(np.asarray(const.get_data()).copy())
    return out


@pytest.mark.parametrize("weights", ["f32", "f16", "fq"])
def test_weight_layers_are_found_from_the_top_and_randomised_in_cascade(weights):
    model = tiny_cnn(weights)
    kinds = [node.get_type_name() for node, _ in M.weight_layers(model)]
    assert kinds == ["MatMul", "Convolution", "Convolution"]
    original = conv_weights(model)
    one = conv_weights(M.randomize_weights(model, 1, seed=3))
    two = conv_weights(M.randomize_weights(model, 2, seed=3))
    assert not np.allclose(one[0], original[0]) and np.array_equal(one[1], original[1])
    assert np.array_equal(one[2], original[2])
    assert np.array_equal(two[0], one[0])  # the cascade extends the previous stage
    assert not np.allclose(two[1], original[1]) and np.array_equal(two[2], original[2])
    for new, old in zip(two[:2], original[:2]):
        assert new.shape == old.shape and new.dtype == old.dtype
        assert new.std() == pytest.approx(old.std(), rel=0.5)
    assert np.array_equal(conv_weights(model)[0], original[0])  # the input model is untouched
    x = np.random.default_rng(0).random((2, 3, 16, 16)).astype(np.float32)
    compiled = ov.Core().compile_model(M.randomize_weights(model, 3, seed=3), "CPU")
    assert compiled(x)[0].shape == (2, 5)
    with pytest.raises(MethodError):
        M.randomize_weights(model, 4)


def test_default_stages():
    assert M.default_stages(1) == [1]
    assert M.default_stages(8) == [1, 2, 4, 8]
    assert M.default_stages(50) == [1, 2, 4, 8, 16, 32, 50]


def test_randomization_fails_a_method_that_ignores_the_model_and_passes_one_that_reads_it():
    pipeline = sk.Pipeline(tiny_cnn(), sk.Preprocess(size=16), postprocess="identity")
    images = [np.random.default_rng(s).integers(0, 256, (16, 16, 3), dtype=np.uint8) for s in range(2)]
    sobel = M.model_randomization(pipeline, images, explain=M.sobel_factory)
    assert not sobel.passed and sobel.final_spearman == pytest.approx(1.0)
    assert sobel.random_logit_passed is False
    assert [s.layers for s in sobel.stages] == [1, 2, 3]

    def occlusion(model: ov.Model):
        """A model-reading 'method': score drop when each 4 x 4 patch is greyed out."""
        scorer = sk.Pipeline(model, sk.Preprocess(size=16), postprocess="identity")

        def explain(image, target):
            base = image.astype(np.float32)
            batch = [base]
            for r in range(0, 16, 4):
                for c in range(0, 16, 4):
                    x = base.copy()
                    x[r : r + 4, c : c + 4] = 128
                    batch.append(x)
            s = scorer.predict_pixels(np.stack(batch))[:, target]
            return (s[0] - s[1:]).reshape(4, 4)

        return explain

    faithful = M.model_randomization(pipeline, images, explain=occlusion, seed=1)
    assert faithful.final_spearman < 0.9
    assert faithful.final_spearman < sobel.final_spearman
    d = faithful.to_dict()
    json.dumps(d)
    assert d["protocol"]["weight_layers"] == 3 and len(d["stages"]) == 3
    with pytest.raises(MethodError):
        M.model_randomization(pipeline, images)  # a Pipeline needs explain=


# --- runner helpers --------------------------------------------------------------------------------------------------


def test_parse_metrics_and_annotations():
    assert M.parse_metrics("all") == list(M.METRICS)
    assert M.parse_metrics("adcc, insertion") == ["adcc", "insertion-deletion"]
    with pytest.raises(MethodError, match="use any of"):
        M.parse_metrics("accuracy")
    entry = {
        "size_hw": [100, 200],
        "objects": [{"class": 3, "box": [0, 0, 100, 50]}, {"class": 3, "box": [1, 1, 2, 2]}],
    }
    assert M.annotations(entry, (50, 100)) == [(3, [[0, 0, 50, 25], [0.5, 0.5, 1, 1]])]
    assert M.annotations([[1, 2, 3, 4]], (10, 10)) == [(None, [[1, 2, 3, 4]])]
    with pytest.raises(MethodError):
        M.annotations([[1, 2, 3]], (10, 10))


def test_evaluate_on_a_synthetic_model():
    pipeline = sk.Pipeline(region_score, sk.Preprocess(size=SIZE), postprocess="identity")
    images = {"white.png": WHITE, "grey.png": np.full((SIZE, SIZE, 3), 200, np.uint8)}
    methods = {"region": lambda image, target: region_mask(), "reversed": lambda image, target: 1 - region_mask()}
    boxes = {"white": [[0, 0, 7, 7]], "grey.png": {"objects": [{"box": [20, 20, 30, 30]}]}}
    steps = []
    result = M.evaluate(
        pipeline,
        methods,
        images,
        "insertion-deletion,pointing-game",
        boxes,
        steps=32,
        substrate="black",
        progress=lambda done, total, what: steps.append((done, total)),
    )
    summary = result.summary()
    brightness = (1.0 + 200 / 255) / 2  # mean score of the full images
    assert summary["region"]["insertion"]["mean"] == pytest.approx(31 / 32 * brightness)
    assert summary["reversed"]["deletion"]["mean"] == pytest.approx(31 / 32 * brightness)
    assert summary["region"]["pointing"] == {"mean": 0.5, "std": 0.5, "n": 2}
    assert steps[-1] == (4, 4)
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["protocol"]["insertion-deletion"]["steps"] == 32
    assert data["protocol"]["insertion-deletion"]["substrate"] == "constant(0)"
    assert "region,insertion,insertion-deletion,higher" in result.to_csv()
    with pytest.raises(MethodError, match="boxes"):
        M.evaluate(pipeline, methods, images, "pointing-game")


# --- properties ------------------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), steps=st.sampled_from([1, 2, 4, 8, 16, 64]))
def test_inserting_in_reverse_order_is_deleting_in_order(seed, steps):
    # With a shared substrate and N divisible by steps, insertion of the reversed ranking visits the same images
    # as deletion of the ranking, backwards: the two AUCs are equal whatever the model.
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    saliency = rng.permutation(64).reshape(8, 8).astype(np.float32)  # no ties
    weights = rng.normal(size=(8 * 8 * 3, 3))

    def model(batch):
        return np.tanh(batch.reshape(len(batch), -1) / 255.0 @ weights)

    forward = M.insertion_deletion_auc(model, image, saliency, 1, steps=steps, substrate="mean")
    backward = M.insertion_deletion_auc(model, image, 63 - saliency, 1, steps=steps, substrate="mean")
    assert backward.insertion == pytest.approx(forward.deletion, abs=1e-9)
    assert backward.deletion == pytest.approx(forward.insertion, abs=1e-9)
    np.testing.assert_allclose(backward.insertion_curve, forward.deletion_curve[::-1], atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_similarities_are_symmetric_and_bounded(seed):
    a, b = smooth_map(seed, (24, 24)), smooth_map(seed + 1, (24, 24))
    assert M.ssim(a, b) == pytest.approx(M.ssim(b, a))
    assert -1.0 <= M.ssim(a, b) <= 1.0
    assert M.spearman(a, b) == pytest.approx(M.spearman(b, a))
    assert M.spearman(a, 2 * a + 1) == pytest.approx(1.0)
