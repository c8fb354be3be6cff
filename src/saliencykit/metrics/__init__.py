"""Quality metrics for saliency maps: is a map faithful to the model, or only pretty?

One file per metric, each a function of (model, image, map) that returns a result dataclass with the protocol it
used (so numbers can be compared with published ones) and ``to_dict()``:

- :func:`insertion_deletion_auc` (Petsiuk et al. 2018),
- :func:`adcc` (Poppi et al. 2021),
- :func:`pointing_game` with its energy variant (Zhang et al. 2018; Wang et al. 2020),
- :func:`model_randomization` with the random-logit check (Adebayo et al. 2018),

and :func:`evaluate`, which runs them for several methods over a set of images (``saliencykit evaluate``).
"""

from typing import TYPE_CHECKING

from ..lazy import attach

if TYPE_CHECKING:
    from .adcc import ADCCResult, adcc, adcc_formula, adcc_of_means, average_drop, coherency, complexity
    from .baselines import sobel_factory, sobel_map
    from .evaluation import COLUMNS, METRICS, EvaluationResult, annotations, evaluate, load_boxes, parse_metrics
    from .insertion_deletion import InsertionDeletionResult, auc, insertion_deletion_auc, pixel_counts
    from .pointing_game import PointingGameResult, boxes_mask, pointing_game
    from .randomization import (
        RandomizationResult,
        RandomizationStage,
        default_stages,
        layer_names,
        model_randomization,
        randomize_weights,
        same_method,
        weight_layers,
    )
    from .scoring import ExplainFn, Scorer, make_substrate
    from .similarity import spearman, ssim

# every name is imported on first use, so importing one submodule does not import them all
__getattr__, __dir__ = attach(
    __name__,
    {
        "ADCCResult": ".adcc",
        "adcc": ".adcc",
        "adcc_formula": ".adcc",
        "adcc_of_means": ".adcc",
        "average_drop": ".adcc",
        "coherency": ".adcc",
        "complexity": ".adcc",
        "sobel_factory": ".baselines",
        "sobel_map": ".baselines",
        "COLUMNS": ".evaluation",
        "METRICS": ".evaluation",
        "EvaluationResult": ".evaluation",
        "annotations": ".evaluation",
        "evaluate": ".evaluation",
        "load_boxes": ".evaluation",
        "parse_metrics": ".evaluation",
        "InsertionDeletionResult": ".insertion_deletion",
        "auc": ".insertion_deletion",
        "insertion_deletion_auc": ".insertion_deletion",
        "pixel_counts": ".insertion_deletion",
        "PointingGameResult": ".pointing_game",
        "boxes_mask": ".pointing_game",
        "pointing_game": ".pointing_game",
        "RandomizationResult": ".randomization",
        "RandomizationStage": ".randomization",
        "default_stages": ".randomization",
        "layer_names": ".randomization",
        "model_randomization": ".randomization",
        "randomize_weights": ".randomization",
        "same_method": ".randomization",
        "weight_layers": ".randomization",
        "ExplainFn": ".scoring",
        "Scorer": ".scoring",
        "make_substrate": ".scoring",
        "spearman": ".similarity",
        "ssim": ".similarity",
    },
    (
        "adcc",
        "baselines",
        "evaluation",
        "insertion_deletion",
        "pointing_game",
        "randomization",
        "scoring",
        "similarity",
    ),
)

__all__ = [
    "COLUMNS",
    "METRICS",
    "EvaluationResult",
    "annotations",
    "evaluate",
    "load_boxes",
    "parse_metrics",
    "ADCCResult",
    "ExplainFn",
    "InsertionDeletionResult",
    "PointingGameResult",
    "RandomizationResult",
    "RandomizationStage",
    "Scorer",
    "adcc",
    "adcc_formula",
    "adcc_of_means",
    "auc",
    "average_drop",
    "boxes_mask",
    "coherency",
    "complexity",
    "default_stages",
    "insertion_deletion_auc",
    "layer_names",
    "make_substrate",
    "model_randomization",
    "pixel_counts",
    "pointing_game",
    "randomize_weights",
    "same_method",
    "sobel_factory",
    "sobel_map",
    "spearman",
    "ssim",
    "weight_layers",
]
