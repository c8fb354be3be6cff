"""openvino-xai 1.1's ``AISEClassification`` (its black-box default), run by saliencykit's AISE with
openvino-xai's aggregation and every budget argument honoured."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .....methods.aise import AISE as _AISE
from ....common.utils import logger
from ..base import BlackBoxXAIMethod, Preset, preset_of


class AISEClassification(BlackBoxXAIMethod):
    """AISE: DIRECT searches for the Gaussian windows that keep the target's score, per kernel width."""

    #: the budget of the last explanation (None before the first)
    num_iterations_per_kernel: int | None = None
    kernel_widths: Sequence[float] | None = None

    def generate_saliency_map(
        self,
        data: np.ndarray,
        target_indices: list[int] | None = None,
        preset: Preset = Preset.BALANCE,
        num_iterations_per_kernel: int | None = None,
        kernel_widths: Sequence[float] | np.ndarray | None = None,
        solver_epsilon: float = 0.1,
        locally_biased: bool = False,
        scale_output: bool = True,
    ) -> dict[int, np.ndarray]:
        """``{target: map}`` at the model's input size."""
        x = self._preprocessed(data)
        logits = self.get_logits(x)
        if target_indices is None:
            target_indices = list(range(logits.shape[1]))
            if len(target_indices) > 10:
                logger.info(f"{len(target_indices)} targets to process, which might take significant time.")
        method = _AISE(
            preset=preset_of(preset).value,
            num_iterations_per_kernel=num_iterations_per_kernel,
            kernel_widths=None if kernel_widths is None else [float(w) for w in kernel_widths],
            solver_epsilon=float(solver_epsilon),
            locally_biased=bool(locally_biased),
            aggregate="openvino-xai",
        )
        self.num_iterations_per_kernel, self.kernel_widths = method._sizes()
        targets = [int(t) for t in target_indices]
        return self._per_target(targets, self._explain(method, x, targets), logits, scale_output)
