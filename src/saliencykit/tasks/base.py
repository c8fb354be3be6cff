"""The Task base: what differs between tasks, so that one Explainer and every method serve them all.

Adding a task (segmentation, landmarks, ...) is one module with a :class:`Task` subclass and one line in
``saliencykit/tasks/__init__.py``'s ``TASKS``; the registry's methods declare the task in their ``tasks``. A task
answers, for the Explainer and the methods:

1. **Model set-up** — :meth:`Task.pipeline`: the :class:`~saliencykit.pipeline.Pipeline` for the model (its
   postprocess, default batch size, any task options such as a detector's box decoding).
2. **Predictions** — :meth:`Task.read` turns the model's outputs for a batch into one prediction per image (class
   scores; detections); :meth:`Task.predict` runs the plain model on pixels and reads them;
   :meth:`Task.perturbed` runs it on a black-box method's perturbed copies and returns what the targets score.
3. **Targets** — :meth:`Task.check_targets` refuses a request that is wrong whatever the model says;
   :meth:`Task.targets` resolves a user's request against one image's prediction into target objects. A target
   object has ``key`` (how maps are keyed), and its class has ``score_batch(targets, outputs, count) -> (count, T)``:
   the score of every target in the outputs of a perturbed batch (class probability; best IoU x score of a box;
   for segmentation it would be the mean class probability over the target's region). Black-box methods are
   written once against it. Optional: ``search_region(padding)`` and ``shorter_side`` (where AISE searches).
4. **White-box maps** — :meth:`Task.insert_argument` is what a white-box method's ``insert(graph, argument)``
   takes; :meth:`Task.whitebox_map` picks a target's map from the ``saliency_map`` output.
5. **Results** — :meth:`Task.finish_map` checks and scales a map; :meth:`Task.explanation` builds the
   :class:`~saliencykit.explanation.Explanation` (labels, file names, what to draw).

The method choice is not the task's: the Explainer asks the registry (:mod:`saliencykit.methods.registry`) for the
task's white-box methods, in order, and falls back to :attr:`Task.default_blackbox`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import openvino as ov

from ..errors import MethodError
from ..explanation import Explanation
from ..pipeline import Pipeline


class Task:
    """One kind of model output (see the module docstring for what a task answers and how to add one)."""

    #: the name users give (``task="classification"``)
    name: ClassVar[str] = ""
    #: what the task's models are called in messages ("classifiers")
    noun: ClassVar[str] = ""
    #: the targets explained when the user names none
    default_targets: ClassVar[Any] = "all"
    #: images per inference request when the user gives no batch size
    default_batch_size: ClassVar[int] = 16
    #: the registry's black-box method used when no white-box method fits
    default_blackbox: ClassVar[str] = "rise"
    #: why the automatic choice fell back to black-box (recorded in ``explanation.method``)
    fallback_reason: ClassVar[str] = "no white-box method fits the graph"
    #: Explainer keyword options this task takes beyond the common ones
    options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            takes = f"; task='{self.name}' takes {', '.join(self.options)}" if self.options else ""
            raise MethodError(f"{', '.join(unknown)}: not an option for task='{self.name}'{takes}.")
        self.pipeline_: Pipeline | None = None

    # -- set-up --------------------------------------------------------------------------------------------

    def pipeline(self, model: Any, preprocess: Any, postprocess: Any, settings: dict[str, Any]) -> Pipeline:
        """The pipeline for ``model``; ``settings``: device, label_names, input_name, example_input, input_shape,
        batch_size (None: :attr:`default_batch_size`), precision."""
        raise NotImplementedError

    def rebuild_options(self) -> dict[str, Any]:
        """The Explainer keyword options that make this task again (``Explainer.with_model``)."""
        return {}

    @property
    def in_graph_blend(self) -> bool:
        """Whether black-box methods may blend their perturbations inside the compiled graph."""
        return False

    def check_target_layer(self, graph: ov.Model, target_layer: Any) -> None:
        """Refuse a ``target_layer`` that cannot be in ``graph`` (before any method is tried)."""

    def insert_argument(self, postprocess: Any) -> Any:
        """What a white-box method's ``insert(graph, argument)`` takes for this task."""
        return postprocess

    # -- predictions -----------------------------------------------------------------------------------------

    def read(self, outputs: list[np.ndarray], names: Sequence[str]) -> Any:
        """One prediction per image from the model's outputs (the map output left out) for ``len(names)`` images."""
        raise NotImplementedError

    def predict(self, pixels: np.ndarray, names: Sequence[str]) -> Any:
        """Predictions of the plain model for a pixel batch (the image itself, before any perturbation)."""
        raise NotImplementedError

    def perturbed(self, pixels: np.ndarray) -> Any:
        """The outputs of a batch of perturbed copies, as the task's targets score them."""
        raise NotImplementedError

    def predict_images(self, images: list[np.ndarray], runner: Any, map_index: int | None) -> Any:
        """What ``Explainer.predict`` returns for RGB uint8 images."""
        raise NotImplementedError

    # -- targets ---------------------------------------------------------------------------------------------

    def check_targets(self, targets: Any) -> None:
        """Raise :class:`~saliencykit.errors.TargetError` for a request wrong whatever the model says."""

    def targets(self, request: Any, prediction: Any, size: tuple[int, int]) -> list[Any]:
        """Target objects (with ``key`` and a ``score_batch``) for ``request`` on one image's prediction."""
        raise NotImplementedError

    # -- results ---------------------------------------------------------------------------------------------

    def whitebox_map(self, saliency: np.ndarray, target: Any, method: Any) -> np.ndarray:
        """The map of ``target`` from one image's ``saliency_map`` output (T, h, w)."""
        raise NotImplementedError

    def finish_map(self, saliency: np.ndarray, target: Any, whitebox: bool, method_name: str) -> np.ndarray:
        """A map ready to store: checked, float32, black-box maps scaled to [0, 1]."""
        raise NotImplementedError

    def explanation(
        self, source: np.ndarray, targets: list[Any], maps: dict, prediction: Any, **common: Any
    ) -> Explanation:
        """The Explanation of the explained image ``source``; ``common``: label_names, method, image, stats."""
        raise NotImplementedError
