"""openvino-xai 1.1's ``RISE``, run by saliencykit's RISE configured as openvino-xai's (random masks, cubic
up-sampling, score-weighted mean, zero as the hidden value) and honouring every budget argument."""

from __future__ import annotations

import numpy as np

from ....methods.rise import RISE as _RISE
from ...common.utils import scaling
from .base import BlackBoxXAIMethod, Preset, preset_of


class RISE(BlackBoxXAIMethod):
    """RISE (Petsiuk et al. 2018): score-weighted random masks at the model's input size."""

    #: the budget of the last explanation (None before the first)
    num_masks: int | None = None
    num_cells: int | None = None

    def generate_saliency_map(
        self,
        data: np.ndarray,
        target_indices: list[int] | None = None,
        preset: Preset = Preset.BALANCE,
        num_masks: int | None = None,
        num_cells: int | None = None,
        prob: float = 0.5,
        seed: int = 0,
        scale_output: bool = True,
    ) -> np.ndarray | dict[int, np.ndarray]:
        """Maps at the model's input size: (1, C, H, W) for every class, or ``{target: map}``."""
        x = self._preprocessed(data)
        method = _RISE(
            num_masks=num_masks,
            num_cells=num_cells,
            prob=prob,
            seed=int(seed),
            preset=preset_of(preset).value,
            sampler="random",
            estimator="mean",
            interpolation="cubic",
            substrates=("mean",),
            output="raw",
        )
        self.num_masks, grids = method._sizes()
        self.num_cells = grids[0]
        logits = self.get_logits(x)
        targets = list(range(logits.shape[1])) if target_indices is None else [int(t) for t in target_indices]
        maps = self._explain(method, x, targets)
        if target_indices is None:
            return (scaling(maps) if scale_output else maps)[None]
        return self._per_target(targets, maps, logits, scale_output)
