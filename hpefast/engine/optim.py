"""AdamW with layer-wise lr decay and the warmup + step schedule of the ViTPose recipe.

Layer-wise decay (BEiT / MAE fine-tuning, mmpose ``LayerDecayOptimizerConstructor``): with ``L`` transformer
blocks, the patch/position embedding is layer 0, block ``i`` is layer ``i + 1`` and everything after the
backbone (final norm, heads) is layer ``L + 1``; a parameter of layer ``l`` gets ``lr x decay^(L + 1 - l)``.
Biases, norm weights, position embeddings and whatever ``model.no_weight_decay()`` names get no weight decay
(the ViTPose configs meant this but spelt ``decay_multi``, so mmcv silently applied decay to biases). The
rules live with the model (:meth:`hpefast.models.ViTPose.param_groups`); this module only builds AdamW
over them and schedules the lr.
"""

from __future__ import annotations

import torch

from hpefast.engine.config import OptimConfig, ScheduleConfig

__all__ = ["build_optimizer", "lr_factor", "set_lr"]


def build_optimizer(model: torch.nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    """AdamW over the model's own layer-decay groups (``model.param_groups(lr, weight_decay,
    layer_decay)``, e.g. :meth:`hpefast.models.ViTPose.param_groups`: the one owner of those rules).

    TypeError for a model without ``param_groups``."""
    inner = getattr(model, "module", model)
    if not callable(getattr(inner, "param_groups", None)):
        raise TypeError(
            f"{type(inner).__name__} has no param_groups(lr, weight_decay, layer_decay): the trainer's "
            "layer-wise lr decay needs the model to name its layers (see hpefast.models.ViTPose)"
        )
    groups = inner.param_groups(cfg.lr, cfg.weight_decay, cfg.layer_decay)
    groups = [
        {k: v for k, v in g.items() if k in ("params", "lr", "weight_decay", "lr_scale")} for g in groups
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


def lr_factor(step: int, steps_per_epoch: int, cfg: ScheduleConfig) -> float:
    """Multiplier of the base lr at iteration ``step`` (0-based): mmcv ``policy='step'`` with linear warmup.

    The step policy is per epoch (``epoch = step // steps_per_epoch``); the warmup overrides it during the
    first ``warmup_iters`` iterations: ``factor x (1 - (1 - step / warmup_iters) x (1 - warmup_ratio))``.
    """
    if steps_per_epoch <= 0:
        raise ValueError(f"steps_per_epoch must be positive, got {steps_per_epoch}")
    epoch = step // steps_per_epoch
    factor = cfg.gamma ** sum(1 for m in cfg.milestones if epoch >= m)
    if step < cfg.warmup_iters:
        factor *= 1.0 - (1.0 - step / cfg.warmup_iters) * (1.0 - cfg.warmup_ratio)
    return factor


def set_lr(optimizer: torch.optim.Optimizer, base_lr: float, factor: float) -> None:
    """Set every param group's lr to ``base_lr x factor x group["lr_scale"]`` (the layer-decay scale of
    the group, 1 when absent); ``factor`` is the schedule's, e.g. :func:`lr_factor`. In place."""
    for g in optimizer.param_groups:
        g["lr"] = base_lr * factor * g.get("lr_scale", 1.0)
