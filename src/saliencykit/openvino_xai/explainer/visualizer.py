"""openvino-xai 1.1's visualizer: resize, scale, colour and overlay maps, and print the prediction on overlays.

The arithmetic is openvino-xai's (OpenCV bilinear resize, min-max scaling to uint8, ``COLORMAP_JET``, overlay
``image * overlay_weight + map * (1 - overlay_weight)``), so pictures and files match pixel for pixel.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from .._errors import XAIRuntimeError, XAIValueError
from ..common.parameters import Task
from ..common.utils import format_to_bhwc, infer_size_from_image, scaling
from .explanation import COLOR_MAPPED_LAYOUTS, GRAY_LAYOUTS, MULTIPLE_MAP_LAYOUTS, ONE_MAP_LAYOUTS, Explanation, Layout


def _check_size(output_size: Any) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in output_size)
    except (TypeError, ValueError):
        raise XAIValueError(f"output_size={output_size!r}: give (height, width).") from None
    if h < 1 or w < 1:
        raise XAIValueError(f"output_size={output_size!r}: height and width must be at least 1.")
    return h, w


def resize(saliency_map: np.ndarray, output_size: tuple[int, int]) -> np.ndarray:
    """Resize a map (h, w) or a stack (N, h, w) to ``output_size=(height, width)``."""
    h, w = _check_size(output_size)
    if saliency_map.ndim == 2:
        return cv2.resize(saliency_map, (w, h))
    x = saliency_map.transpose((1, 2, 0))
    batches = []
    for start in range(0, x.shape[-1], 128):  # OpenCV 5 takes at most 128 channels (OpenCV 4: 512)
        batch = cv2.resize(x[:, :, start : start + 128], (w, h))
        batches.append(batch[..., None] if batch.ndim == 2 else batch)
    return np.concatenate(batches, axis=-1).transpose((2, 0, 1))


def colormap(saliency_map: np.ndarray, colormap_type: int = cv2.COLORMAP_JET) -> np.ndarray:
    """Colour each uint8 map of a stack (N, h, w) -> RGB (N, h, w, 3)."""
    saliency_map = np.asarray(saliency_map)
    if saliency_map.dtype != np.uint8:
        raise XAIValueError(f"colormap: maps must be uint8 (scale them first), got {saliency_map.dtype}.")
    return np.array([cv2.cvtColor(cv2.applyColorMap(m, colormap_type), cv2.COLOR_BGR2RGB) for m in saliency_map])


def overlay(
    saliency_map: np.ndarray, input_image: np.ndarray, overlay_weight: float = 0.5, cast_to_uint8: bool = True
) -> np.ndarray:
    """``input_image * overlay_weight + saliency_map * (1 - overlay_weight)``, clipped at 255."""
    res = input_image * overlay_weight + saliency_map * (1 - overlay_weight)
    res[res > 255] = 255
    return res.astype(np.uint8) if cast_to_uint8 else res


class Visualizer:
    """Turns an :class:`Explanation`'s raw maps into the pictures asked for (in place; returns it)."""

    def __call__(self, explanation: Explanation, *args: Any, **kwargs: Any) -> Explanation:
        return self.visualize(explanation, *args, **kwargs)

    def visualize(
        self,
        explanation: Explanation,
        original_input_image: np.ndarray | None = None,
        output_size: tuple[int, int] | None = None,
        scaling: bool = False,
        resize: bool = True,
        colormap: bool = True,
        overlay: bool = False,
        overlay_weight: float = 0.5,
        overlay_prediction: bool = True,
    ) -> Explanation:
        """Scale / resize / colour / overlay as openvino-xai orders these steps."""
        if not 0.0 <= float(overlay_weight) <= 1.0:
            raise XAIValueError(f"overlay_weight={overlay_weight}: use a weight in [0, 1] (of the image).")
        if output_size is not None:
            output_size = _check_size(output_size)
        if original_input_image is not None:
            original_input_image = format_to_bhwc(np.asarray(original_input_image))
        indices = list(explanation.saliency_map.keys())
        maps = np.array(list(explanation.saliency_map.values()))
        if scaling and not resize and not overlay:
            maps = self._apply_scaling(explanation, maps)
        if overlay:
            if original_input_image is None:
                raise XAIValueError("overlay=True needs the input image (original_input_image).")
            maps = self._apply_resize(explanation, maps, original_input_image, output_size)
            maps = self._apply_colormap(explanation, maps)
            maps = self._apply_overlay(explanation, maps, original_input_image, output_size, overlay_weight)
            if overlay_prediction and explanation.task == Task.CLASSIFICATION:
                self._put_classification_info(maps, indices, explanation.label_names, explanation.predictions)
            if overlay_prediction and explanation.task == Task.DETECTION:
                self._put_detection_info(maps, indices, explanation.label_names, explanation.predictions)
        else:
            if resize:
                if original_input_image is None and output_size is None:
                    raise XAIValueError("resize=True needs the input image or output_size (to know the size).")
                maps = self._apply_resize(explanation, maps, original_input_image, output_size)
            if colormap:
                maps = self._apply_colormap(explanation, maps)
        return self._update_explanation(explanation, maps, indices)

    @staticmethod
    def _fit_text_to_image(text: str, x_start: int, image_width: int, font_scale: float = 1.0, thickness: int = 1):
        while True:
            (text_width, text_height), _ = cv2.getTextSize(text, 2, font_scale, thickness)
            if x_start + text_width <= image_width - 5:
                return font_scale, text_height
            font_scale -= 0.1
            if abs(font_scale - 0.1) < 0.001:
                return font_scale, text_height

    def _put_classification_info(self, maps, indices, label_names, predictions) -> None:
        offset = 3
        for k, target in enumerate(indices):
            label = label_names[target] if label_names and not isinstance(target, str) else str(target)
            if predictions and target in predictions:
                score = predictions[target].score
                if score:
                    label = f"{label}|{score:.2f}"
            font_scale, text_height = self._fit_text_to_image(label, offset, maps[k].shape[1])
            cv2.putText(maps[k], label, (offset, text_height + offset), 2, font_scale, (255, 0, 0), 1)

    def _put_detection_info(self, maps, indices, label_names, predictions) -> None:
        if not predictions:
            return
        offset = 7
        for k, target in enumerate(indices):
            prediction = predictions[target]
            x1, y1, x2, y2 = np.array(prediction.bounding_box, dtype=np.int32)
            cv2.rectangle(maps[k], (int(x1), int(y1)), (int(x2), int(y2)), color=(255, 0, 0), thickness=2)
            label = label_names[prediction.label] if label_names else prediction.label
            text = f"{label}|{prediction.score:.2f}"
            font_scale, _ = self._fit_text_to_image(text, int(x1), maps[k].shape[1])
            cv2.putText(maps[k], text, (int(x1), int(y1) - offset), 2, font_scale, (255, 0, 0), 1)

    @staticmethod
    def _apply_scaling(explanation: Explanation, maps: np.ndarray) -> np.ndarray:
        if explanation.layout not in GRAY_LAYOUTS:
            raise XAIValueError(f"scaling needs grey maps; these are {explanation.layout.value}.")
        return scaling(maps)

    def _apply_resize(self, explanation, maps, original_input_image=None, output_size=None) -> np.ndarray:
        if explanation.layout not in GRAY_LAYOUTS:
            raise XAIValueError(f"resizing needs grey maps; these are {explanation.layout.value}.")
        output_size = output_size if output_size else infer_size_from_image(original_input_image)
        return self._apply_scaling(explanation, resize(maps, output_size))  # scaled after resizing: 0..255 kept

    @staticmethod
    def _apply_colormap(explanation: Explanation, maps: np.ndarray) -> np.ndarray:
        if maps.dtype != np.uint8:
            raise XAIValueError(
                f"colormap needs uint8 maps, got {maps.dtype} (embed_scaling=False gives raw maps): pass scaling=True."
            )
        if explanation.layout not in GRAY_LAYOUTS:
            raise XAIValueError(f"colormap needs grey maps; these are {explanation.layout.value}.")
        maps = colormap(maps)
        if explanation.layout == Layout.ONE_MAP_PER_IMAGE_GRAY:
            explanation.layout = Layout.ONE_MAP_PER_IMAGE_COLOR
        if explanation.layout == Layout.MULTIPLE_MAPS_PER_IMAGE_GRAY:
            explanation.layout = Layout.MULTIPLE_MAPS_PER_IMAGE_COLOR
        return maps

    @staticmethod
    def _apply_overlay(explanation, maps, original_input_image=None, output_size=None, overlay_weight=0.5):
        if explanation.layout not in COLOR_MAPPED_LAYOUTS:
            raise XAIRuntimeError("overlay needs colour-mapped maps.")
        if output_size:
            original_input_image = cv2.resize(original_input_image[0], output_size[::-1])[None, ...]
        if original_input_image.shape[1:3] != maps.shape[1:3] or original_input_image.shape[-1] != maps.shape[-1]:
            raise XAIValueError(
                f"overlay: the image is {original_input_image.shape[1:]} but the maps are {maps.shape[1:]}; "
                "give the original RGB image as original_input_image= (HWC)."
            )
        return overlay(maps, original_input_image, overlay_weight)

    @staticmethod
    def _update_explanation(explanation: Explanation, maps: np.ndarray, indices: list) -> Explanation:
        if explanation.layout in ONE_MAP_LAYOUTS:
            explanation.saliency_map = {"per_image_map": maps[0]}
        elif explanation.layout in MULTIPLE_MAP_LAYOUTS:
            explanation.saliency_map = dict(zip(indices, maps))
        return explanation
