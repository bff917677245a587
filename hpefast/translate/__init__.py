"""Translating keypoints between dataset representations, cross-dataset evaluation and error analysis.

Is there a mapping between what COCO, MPII and AI Challenger call a joint, and how biased is each
dataset's notion of it? This package answers with:

- :class:`KeypointTranslator` — a small network from one schema's keypoints to another's, residual on
  the plain mapping of the shared joints (:mod:`hpefast.translate.model`);
- pairs from models: a model of schema A run on dataset B, matched to B's people
  (:func:`read_ground_truth`, :func:`read_predictions`, :func:`build_pairs`);
- cross-dataset scores in the dataset's own protocol, plain mapping vs translator
  (:func:`evaluate_translation`);
- error analysis: per-joint normalised residuals, bias, covariance, a normality test, pictures
  (:mod:`hpefast.translate.analysis`, :mod:`hpefast.translate.plots`);
- synthetic people and dataset conventions with known answers (:mod:`hpefast.translate.synthetic`).

Command line: ``hpefast translate {fit,eval,simulate}`` and ``hpefast analyze errors``.
"""

from __future__ import annotations

from hpefast._lazy import lazy_names

_NAMES = {
    "KeypointTranslator": "hpefast.translate.model",
    "GroundTruth": "hpefast.translate.pairs",
    "Predictions": "hpefast.translate.pairs",
    "Pairs": "hpefast.translate.pairs",
    "read_ground_truth": "hpefast.translate.pairs",
    "read_predictions": "hpefast.translate.pairs",
    "guess_schema": "hpefast.translate.pairs",
    "guess_results_schema": "hpefast.translate.pairs",
    "match": "hpefast.translate.pairs",
    "build_pairs": "hpefast.translate.pairs",
    "prediction_boxes": "hpefast.translate.pairs",
    "evaluate_translation": "hpefast.translate.scoring",
    "analyse": "hpefast.translate.analysis",
    "analyse_predictions": "hpefast.translate.analysis",
    "normality_test": "hpefast.translate.analysis",
}

__all__ = sorted(_NAMES)

__getattr__, __dir__ = lazy_names(__name__, _NAMES)
