"""Training and evaluation engine.

- ``config``: typed configs (unknown keys refused, did-you-mean), YAML + ``key=value`` overrides.
- ``presets``: ViTPose-{S,B,L,H} x {coco, mpii, aic, union21, union23} and ``tiny-synthetic``.
- ``trainer``: the loop (device-side targets, masked union loss, AMP, clipping, EMA, DDP, exact resume).
- ``validation``: flip test + DARK-UDP + inverse warp, mapped back to each dataset's schema and metric;
  COCO-format results files (``keypoint_results``, ``write_results``).
- ``optim`` (layer decay, schedule), ``sampler`` (resumable order), ``state`` (atomic checkpoints, RNG),
  ``ema``, ``distributed``, ``runlog`` (JSONL + optional TensorBoard), ``builders`` (datasets, model).

Names are resolved lazily so that ``import hpefast.engine`` stays cheap.
"""

from __future__ import annotations

from hpefast._lazy import lazy_names

_NAMES = {
    "TrainConfig": "hpefast.engine.config",
    "ConfigError": "hpefast.engine.config",
    "load_config": "hpefast.engine.config",
    "from_dict": "hpefast.engine.config",
    "to_dict": "hpefast.engine.config",
    "PRESETS": "hpefast.engine.presets",
    "get_preset": "hpefast.engine.presets",
    "preset_names": "hpefast.engine.presets",
    "Trainer": "hpefast.engine.trainer",
    "TrainResult": "hpefast.engine.trainer",
    "train": "hpefast.engine.trainer",
    "evaluate_dataset": "hpefast.engine.validation",
    "predict": "hpefast.engine.validation",
    "keypoint_results": "hpefast.engine.validation",
    "write_results": "hpefast.engine.validation",
}

__all__ = sorted(_NAMES)

__getattr__, __dir__ = lazy_names(__name__, _NAMES)
