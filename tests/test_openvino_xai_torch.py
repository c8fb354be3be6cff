"""openvino-xai 1.1's ``insert_xai`` for PyTorch modules (README "Insert XAI head to your models", user guide "XAI
insertion"): the module's forward returns the prediction and the saliency map, and its maps agree with the
OpenVINO insertion of the same network."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import openvino as ov  # noqa: E402
from cnn_architectures import INPUT_SIZE, build, example_input, to_ov  # noqa: E402
from torch import nn  # noqa: E402

import saliencykit.openvino_xai as xai  # noqa: E402
from saliencykit.errors import SaliencyKitError  # noqa: E402
from saliencykit.openvino_xai.common.utils import has_xai  # noqa: E402

pytestmark = pytest.mark.slow  # left out of `make test-fast` (the inner loop); `make test` runs it

SIZE = (INPUT_SIZE, INPUT_SIZE)


def ov_maps(module: nn.Module, x: torch.Tensor, **kwargs) -> np.ndarray:
    model_xai = xai.insert_xai(to_ov(module), xai.Task.CLASSIFICATION, **kwargs)
    compiled = ov.Core().compile_model(model_xai, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return compiled(x.numpy())["saliency_map"]


def r(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(np.float64).ravel(), b.astype(np.float64).ravel())[0, 1])


def test_readme_torch_insertion_outputs():
    # README, "Insert XAI head to your models" (timm's resnet18 replaced by a seeded ResNet, image_norm by a batch)
    torch_model: torch.nn.Module = build("resnet")
    image_norm = example_input(torch_model).numpy()

    model_xai: torch.nn.Module = xai.insert_xai(torch_model, xai.Task.CLASSIFICATION, input_size=SIZE)

    model_xai.eval()
    with torch.no_grad():
        outputs = model_xai(torch.from_numpy(image_norm))
        logits = outputs["prediction"]  # BxC
        saliency_maps = outputs["saliency_map"]  # BxCxHxW: per-class saliency map

    assert isinstance(model_xai, type(torch_model)) and has_xai(model_xai) and not has_xai(torch_model)
    assert logits.shape == (1, 10) and logits.dtype == torch.float32
    assert saliency_maps.shape == (1, 10, 8, 8) and saliency_maps.dtype == torch.uint8
    with torch.no_grad():
        assert torch.allclose(logits, torch_model(torch.from_numpy(image_norm)), atol=1e-5)  # predictions kept
    assert int(saliency_maps.max()) == 255 and int(saliency_maps.min()) == 0


@pytest.mark.parametrize("family", ["resnet", "mobilenetv3"])
def test_maps_agree_with_the_openvino_insertion(family):
    module = build(family)
    x = example_input(module, batch=2, seed=3)
    with torch.no_grad():
        maps = xai.insert_xai(module, xai.Task.CLASSIFICATION, input_size=SIZE)(x)["saliency_map"].numpy()
    reference = ov_maps(module, x)
    assert maps.shape == reference.shape == (2, 10, 8, 8)
    assert min(r(maps[b, c], reference[b, c]) for b in range(2) for c in range(10)) > 0.99


def test_batch_of_two_gives_each_image_its_own_maps():
    module = build("resnet")
    model_xai = xai.insert_xai(module, xai.Task.CLASSIFICATION, input_size=SIZE)
    x = example_input(module, batch=2, seed=5)
    with torch.no_grad():
        both = model_xai(x)["saliency_map"]
        first, second = model_xai(x[:1])["saliency_map"], model_xai(x[1:])["saliency_map"]
    assert torch.equal(both[:1], first) and torch.equal(both[1:], second) and not torch.equal(first, second)


def test_activation_map_and_raw_scores():
    module = build("resnet")
    x = example_input(module, seed=1)
    activation = xai.insert_xai(
        module, xai.Task.CLASSIFICATION, explain_method=xai.Method.ACTIVATIONMAP, input_size=SIZE
    )
    with torch.no_grad():
        per_image = activation(x)["saliency_map"]
        raw = xai.insert_xai(module, xai.Task.CLASSIFICATION, embed_scaling=False, input_size=SIZE)(x)["saliency_map"]
    assert per_image.shape == (1, 8, 8) and per_image.dtype == torch.uint8
    assert r(per_image.numpy(), ov_maps(module, x, explain_method=xai.Method.ACTIVATIONMAP)) > 0.99
    assert raw.dtype == torch.float32 and raw.shape == (1, 10, 8, 8) and float(raw.max()) != 255.0


def test_an_inserted_module_is_returned_as_it_is_and_the_original_is_untouched():
    module = build("resnet")
    model_xai = xai.insert_xai(module, xai.Task.CLASSIFICATION, input_size=SIZE)
    assert xai.insert_xai(model_xai, xai.Task.CLASSIFICATION) is model_xai
    with torch.no_grad():
        assert isinstance(module(example_input(module)), torch.Tensor)


def test_a_named_target_layer():
    module = build("resnet")
    name = [n for n, m in module.named_modules() if isinstance(m, nn.BatchNorm2d)][-1]
    with torch.no_grad():
        maps = xai.insert_xai(module, xai.Task.CLASSIFICATION, target_layer=name, input_size=SIZE)(
            example_input(module)
        )["saliency_map"]
    assert maps.shape == (1, 10, 8, 8)


class BatchFromInput(nn.Module):
    """A head that reshapes with the input's batch size (as EfficientNet-PyTorch does)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 16, 3, stride=8, padding=1), nn.ReLU())
        self.fc = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bs = x.size(0)
        return self.fc(self.features(x).mean((2, 3)).view(bs, -1))


class SharedActivation(nn.Module):
    """One ReLU module used twice in the forward."""

    def __init__(self) -> None:
        super().__init__()
        self.act = nn.ReLU()
        self.conv1 = nn.Conv2d(3, 16, 3, stride=4, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.conv3 = nn.Conv2d(32, 32, 1)
        self.bn3 = nn.BatchNorm2d(32)
        self.fc = nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn2(self.conv2(self.act(self.conv1(x)))))
        return self.fc(self.act(self.bn3(self.conv3(x))).mean((2, 3)))


@pytest.mark.parametrize(
    ("module", "kwargs", "error", "words"),
    [
        (lambda: build("resnet"), {"target_layer": "no_such_layer"}, ValueError, "not a module of the torch model"),
        (lambda: build("resnet"), {"target_layer": ["layer4", "fc"]}, ValueError, "one module name"),
        (lambda: build("resnet"), {"explain_method": xai.Method.VITRECIPROCAM}, ValueError, "RECIPROCAM or"),
        (lambda: build("resnet"), {"num_masks": 10}, ValueError, "num_masks: not an argument"),
        (lambda: build("resnet"), {"input_size": (0, 0)}, RuntimeError, "give input_size="),
        (BatchFromInput, {"target_layer": "features"}, RuntimeError, "Give the module to Explainer"),
        (SharedActivation, {"target_layer": "act"}, ValueError, "runs 3 times in one forward"),
    ],
)
def test_bad_insertions_are_refused(module, kwargs, error, words):
    kwargs = {"input_size": SIZE, **kwargs}
    with pytest.raises(error, match=words) as caught:
        xai.insert_xai(module(), xai.Task.CLASSIFICATION, **kwargs)
    assert isinstance(caught.value, SaliencyKitError)


def test_a_shared_activation_is_not_picked_automatically():
    module = SharedActivation().eval()
    with torch.no_grad():
        maps = xai.insert_xai(module, xai.Task.CLASSIFICATION, input_size=SIZE)(torch.randn(1, 3, 64, 64))
    assert maps["saliency_map"].shape == (1, 4, 8, 8)


def test_detection_task_with_a_torch_module_is_refused():
    with pytest.raises(ValueError, match="Task.CLASSIFICATION only"):
        xai.insert_xai(build("resnet"), xai.Task.DETECTION)


def test_the_inserted_module_exports_to_onnx_with_its_map_output(tmp_path):
    # README "More advanced use-cases": insert the XAI head into a PyTorch model and export it to ONNX
    import warnings

    module = build("resnet")
    model_xai = xai.insert_xai(module, xai.Task.CLASSIFICATION, input_size=SIZE)
    path = tmp_path / "model_xai.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notes
        torch.onnx.export(
            model_xai, (torch.zeros(1, 3, *SIZE),), str(path), input_names=["data"],
            output_names=["logits", "saliency_map"], dynamo=False,
        )  # fmt: skip
    x = example_input(module, seed=2)
    exported = ov.Core().compile_model(str(path), "CPU")(x.numpy())["saliency_map"]
    with torch.no_grad():
        direct = model_xai(x)["saliency_map"].numpy()
    assert exported.shape == direct.shape == (1, 10, 8, 8) and exported.dtype == np.uint8
    assert r(exported, direct) > 0.99


def test_explainer_takes_a_torch_module_by_converting_it():
    # openvino-xai 1.1 fails here (its torch method refuses target_indices); this converts the module instead
    module = build("resnet")
    x = example_input(module, seed=4).numpy()
    explanation = xai.Explainer(model=module, task=xai.Task.CLASSIFICATION, input_size=SIZE)(x, targets=[1, 2])
    assert sorted(explanation.saliency_map) == [1, 2]
    assert explanation.saliency_map[1].shape == (64, 64, 3) and explanation.saliency_map[1].dtype == np.uint8
