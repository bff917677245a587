"""AdamW with layer-wise lr decay and the warmup + step schedule of the ViTPose recipe.

Layer-wise decay (BEiT / MAE fine-tuning, mmpose ``LayerDecayOptimizerConstructor``): with ``L`` transformer
blocks, the patch/position embedding is layer 0, block ``i`` is layer ``i + 1`` and everything after the
backbone (final norm, heads) is layer ``L + 1``; a parameter of layer ``l`` gets ``lr x decay^(L + 1 - l)``.
Biases, norm weights, position embeddings and whatever ``model.no_weight_decay()`` names get no weight decay
(the ViTPose configs meant this but spelt ``decay_multi``, so mmcv silently applied decay to biases).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import torch

from hpefast.engine.config import OptimConfig, ScheduleConfig

__all__ = ["layer_id_fn", "param_groups", "build_optimizer", "lr_factor", "set_lr"]

_BLOCK = re.compile(r"(?:^|\.)blocks\.(\d+)\.")
_EMBED = ("patch_embed", "pos_embed", "cls_token", "mask_token")


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "module", model)


def _num_blocks(model: torch.nn.Module) -> int:
    ids = {int(m.group(1)) for n, _ in model.named_parameters() if (m := _BLOCK.search(n))}
    return max(ids) + 1 if ids else 0


def layer_id_fn(model: torch.nn.Module) -> tuple[Callable[[str], int], int]:
    """``(fn(param_name) -> layer id, number of layers)``; the model's own ``layer_id`` when it has one."""
    model = _unwrap(model)
    for owner in (model, getattr(model, "backbone", None)):
        if owner is None:
            continue
        fn = getattr(owner, "layer_id", None) or getattr(owner, "get_layer_id", None)
        num = getattr(owner, "num_layers", None)
        if callable(fn) and isinstance(num, int):
            prefix = "backbone." if owner is not model else ""

            def own(name: str, fn=fn, prefix=prefix, num=num) -> int:
                if prefix and not name.startswith(prefix):
                    return num - 1
                return int(fn(name[len(prefix) :]))

            return own, num
    depth = _num_blocks(model)
    num_layers = depth + 2

    def parse(name: str) -> int:
        m = _BLOCK.search(name)
        if m and name.split(".")[0] in ("backbone", "blocks"):
            return int(m.group(1)) + 1
        if any(part in name for part in _EMBED):
            return 0
        return num_layers - 1

    return parse, num_layers


def _no_decay_names(model: torch.nn.Module) -> set[str]:
    names: set[str] = set()
    model = _unwrap(model)
    for owner, prefix in ((model, ""), (getattr(model, "backbone", None), "backbone.")):
        fn = getattr(owner, "no_weight_decay", None) if owner is not None else None
        if callable(fn):
            names |= {prefix + n for n in fn()}
    return names


def param_groups(model: torch.nn.Module, cfg: OptimConfig) -> list[dict]:
    """Groups with ``lr_scale`` (layer decay) and weight decay 0 for biases, norms and embeddings."""
    layer_of, num_layers = layer_id_fn(model)
    skip = _no_decay_names(model)
    groups: dict[tuple[int, bool], dict] = {}
    for name, p in _unwrap(model).named_parameters():
        if not p.requires_grad:
            continue
        no_decay = p.ndim <= 1 or name in skip or name.split(".")[-1] in skip or "pos_embed" in name
        layer = layer_of(name)
        key = (layer, no_decay)
        if key not in groups:
            scale = cfg.layer_decay ** (num_layers - 1 - layer)
            groups[key] = {
                "params": [],
                "names": [],
                "weight_decay": 0.0 if no_decay else cfg.weight_decay,
                "lr_scale": scale,
                "lr": cfg.lr * scale,
            }
        groups[key]["params"].append(p)
        groups[key]["names"].append(name)
    return [groups[k] for k in sorted(groups)]


def build_optimizer(model: torch.nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    """AdamW over the layer-decay groups (the model's own ``param_groups`` when it defines them)."""
    inner = _unwrap(model)
    if callable(getattr(inner, "param_groups", None)):
        groups = inner.param_groups(cfg.lr, cfg.weight_decay, cfg.layer_decay)
    else:
        groups = param_groups(model, cfg)
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
