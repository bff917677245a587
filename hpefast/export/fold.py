"""Fold BatchNorm into the convolution before it, for inference.

An eval-mode ``BatchNorm2d`` after a convolution is an affine map per output channel,
``y = gamma * (x - mean) / sqrt(var + eps) + beta``, so it can be merged into the convolution's
weight and bias: with ``s = gamma / sqrt(var + eps)`` (one value per output channel),

- ``Conv2d``: weight ``[C_out, C_in/g, kh, kw]`` scaled by ``s`` along dim 0;
- ``ConvTranspose2d``: weight ``[C_in, C_out/g, kh, kw]``, so ``s`` (per output channel) scales dim 1
  within each group;
- bias: ``(b - mean) * s + beta`` (``b = 0`` for a bias-free convolution such as ClassicDecoder's deconvs).

The folded network computes the same function as the unfolded one in eval mode (running statistics),
one BatchNorm kernel fewer per block; exports fold by default (:func:`hpefast.export.to_onnx`).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["fold_batchnorm", "count_batchnorm"]

_CONVS = (nn.Conv2d, nn.ConvTranspose2d)


def _folded(conv: nn.Conv2d | nn.ConvTranspose2d, bn: nn.BatchNorm2d) -> nn.Module:
    """A new convolution equal to ``bn(conv(x))`` with ``bn`` in eval mode (computed in float64)."""
    out_ch = conv.out_channels
    if bn.num_features != out_ch:
        raise ValueError(f"BatchNorm2d has {bn.num_features} features, the convolution {out_ch} outputs")
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("cannot fold a BatchNorm2d without running statistics (track_running_stats=False)")
    dt = conv.weight.dtype
    mean = bn.running_mean.double()
    var = bn.running_var.double()
    gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(mean)
    beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(mean)
    s = gamma / torch.sqrt(var + bn.eps)  # [C_out]
    w = conv.weight.detach().double()
    if isinstance(conv, nn.ConvTranspose2d):
        g = conv.groups
        cin, cog = w.shape[0], w.shape[1]
        w = (w.view(g, cin // g, cog, *w.shape[2:]) * s.view(g, 1, cog, 1, 1)).view_as(conv.weight)
    else:
        w = w * s.view(-1, 1, 1, 1)
    b = conv.bias.detach().double() if conv.bias is not None else torch.zeros_like(mean)
    bias = (b - mean) * s + beta
    new = copy.deepcopy(conv)
    new.weight = nn.Parameter(w.to(dt), requires_grad=conv.weight.requires_grad)
    new.bias = nn.Parameter(bias.to(dt), requires_grad=conv.weight.requires_grad)
    return new


def _fold_in_place(module: nn.Module) -> int:
    folded = 0
    for child in module.children():
        folded += _fold_in_place(child)
    if isinstance(module, nn.Sequential):
        names = list(module._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = module._modules[a], module._modules[b]
            if isinstance(conv, _CONVS) and type(bn) is nn.BatchNorm2d:
                module._modules[a] = _folded(conv, bn)
                module._modules[b] = nn.Identity()
                folded += 1
    return folded


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in eval mode with every ``BatchNorm2d`` that directly follows a ``Conv2d`` or
    ``ConvTranspose2d`` in an ``nn.Sequential`` merged into that convolution (the BN replaced by
    ``nn.Identity``). This covers ClassicDecoder's ``deconv -> BN -> ReLU`` blocks, the only BatchNorms
    of ViTPose. The caller's model is not changed.

    The copy computes ``model.eval()(x)`` to float rounding (the folded parameters are computed in
    float64 and stored in the original dtype); it is for inference, not for further training (the
    BatchNorms are gone). Example::

        fast = fold_batchnorm(build_model("tiny"))
        assert count_batchnorm(fast) == 0
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    net = copy.deepcopy(model).eval()
    with torch.no_grad():
        _fold_in_place(net)
    return net


def count_batchnorm(model: nn.Module) -> int:
    """The number of BatchNorm modules (1d/2d/3d) left in ``model``."""
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
