"""Probabilistic 2D pose (TIC-TAC): soft-argmax means, covariance heads, NLL / beta-NLL / faithful /
TIC losses, and the Gaussian NLL and TAC metrics.

Keypoints are [B, K, 2] (x, y); covariances are [B, 2K, 2K] over the vector x0, y0, x1, y1, ...
See ``hpefast/probabilistic/design.md``.
"""

from __future__ import annotations

from hpefast._lazy import lazy_names

_NAMES = {
    "soft_argmax": "hpefast.probabilistic.softargmax",
    "flatten_keypoints": "hpefast.probabilistic.covariance",
    "masked_covariance": "hpefast.probabilistic.covariance",
    "num_tril_params": "hpefast.probabilistic.covariance",
    "scale_tril_from_params": "hpefast.probabilistic.covariance",
    "gaussian_nll": "hpefast.probabilistic.metrics",
    "log_likelihood": "hpefast.probabilistic.metrics",
    "nll_from_scale_tril": "hpefast.probabilistic.metrics",
    "tac": "hpefast.probabilistic.metrics",
    "nll_loss": "hpefast.probabilistic.losses",
    "diagonal_nll_loss": "hpefast.probabilistic.losses",
    "beta_nll_loss": "hpefast.probabilistic.losses",
    "faithful_nll_loss": "hpefast.probabilistic.losses",
    "tic_covariance": "hpefast.probabilistic.losses",
    "tic_loss": "hpefast.probabilistic.losses",
    "LOSS_KINDS": "hpefast.probabilistic.model",
    "CovarianceHead": "hpefast.probabilistic.model",
    "ProbabilisticOutput": "hpefast.probabilistic.model",
    "ProbabilisticPoseModel": "hpefast.probabilistic.model",
    "DownstreamConfig": "hpefast.probabilistic.downstream",
    "run_downstream": "hpefast.probabilistic.downstream",
}
__all__ = sorted(_NAMES)
__getattr__, __dir__ = lazy_names(__name__, _NAMES)
