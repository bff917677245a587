"""Lifting networks: 2D keypoints -> root-relative 3D joints.

* :class:`LinearModel`: the single-frame residual MLP of Martinez et al. 2017 ("A simple yet effective
  baseline for 3d human pose estimation"): Linear -> BatchNorm -> ReLU -> Dropout, ``num_blocks`` residual
  blocks of two such layers (1024 units, dropout 0.5 in the paper), and a linear output.
* :class:`TemporalModel`: VideoPose3D's dilated temporal convolutions (Pavllo et al. 2019): an expanding
  convolution of width w, then blocks of (dilated conv of width w -> BN -> ReLU -> Dropout -> 1x1 conv ->
  BN -> ReLU -> Dropout) with residual connections, dilations w, w^2, ...; ``filter_widths`` (3, 3, 3) gives
  a receptive field of 27 frames, (3, 3, 3, 3) 81 and (3, 3, 3, 3, 3) 243.

Both take ``x`` [B, T, J, 2] (normalised screen coordinates) and return [B, T - receptive_field + 1, J, 3]
(metres, relative to the root joint): the temporal model predicts the centre frame of every window, the
MLP every frame. Neither has a host round trip in ``forward``.
"""

from __future__ import annotations

import torch
from torch import nn

from hpefast.errors import InputError

__all__ = ["LinearModel", "TemporalModel", "build_lifter"]


def _check_input(x: torch.Tensor, joints: int, features: int, rf: int, name: str) -> None:
    if x.ndim != 4 or x.shape[-2] != joints or x.shape[-1] != features:
        raise InputError(f"{name}: input must be [B, T, {joints}, {features}], got shape {tuple(x.shape)}")
    if x.shape[1] < rf:
        raise InputError(f"{name}: needs at least {rf} frames (the receptive field), got {x.shape[1]}")


class LinearModel(nn.Module):
    """Martinez et al. 2017 residual MLP (single frame). ``receptive_field`` is 1."""

    receptive_field = 1

    def __init__(
        self,
        num_joints_in: int = 17,
        in_features: int = 2,
        num_joints_out: int = 17,
        channels: int = 1024,
        num_blocks: int = 2,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.num_joints_in, self.in_features, self.num_joints_out = num_joints_in, in_features, num_joints_out

        def layer(i: int, o: int) -> list[nn.Module]:
            return [nn.Linear(i, o), nn.BatchNorm1d(o), nn.ReLU(inplace=True), nn.Dropout(dropout)]

        self.inp = nn.Sequential(*layer(num_joints_in * in_features, channels))
        self.blocks = nn.ModuleList(
            nn.Sequential(*layer(channels, channels), *layer(channels, channels)) for _ in range(num_blocks)
        )
        self.out = nn.Linear(channels, num_joints_out * 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, T, J, 2] -> [B, T, J_out, 3]."""
        _check_input(x, self.num_joints_in, self.in_features, 1, "LinearModel")
        b, t = x.shape[:2]
        y = self.inp(x.reshape(b * t, -1))
        for block in self.blocks:
            y = y + block(y)
        return self.out(y).reshape(b, t, self.num_joints_out, 3)


class TemporalModel(nn.Module):
    """VideoPose3D temporal convolutional model (symmetric or causal), weights laid out as the original's
    ``TemporalModel`` (expand_conv, expand_bn, layers_conv, layers_bn, shrink)."""

    def __init__(
        self,
        num_joints_in: int = 17,
        in_features: int = 2,
        num_joints_out: int = 17,
        filter_widths: tuple[int, ...] = (3, 3, 3),
        causal: bool = False,
        dropout: float = 0.25,
        channels: int = 1024,
    ) -> None:
        super().__init__()
        if not filter_widths or any(w % 2 == 0 or w < 1 for w in filter_widths):
            raise InputError(f"TemporalModel: filter_widths must be odd positive widths, got {filter_widths}")
        self.num_joints_in, self.in_features, self.num_joints_out = num_joints_in, in_features, num_joints_out
        self.filter_widths = tuple(int(w) for w in filter_widths)
        self.drop = nn.Dropout(dropout)
        self.relu = nn.ReLU(inplace=True)
        self.pad = [filter_widths[0] // 2]
        self.causal_shift = [filter_widths[0] // 2 if causal else 0]
        self.expand_conv = nn.Conv1d(num_joints_in * in_features, channels, filter_widths[0], bias=False)
        self.expand_bn = nn.BatchNorm1d(channels, momentum=0.1)
        convs, bns = [], []
        dilation = filter_widths[0]
        for w in filter_widths[1:]:
            self.pad.append((w - 1) * dilation // 2)
            self.causal_shift.append((w // 2 * dilation) if causal else 0)
            convs.append(nn.Conv1d(channels, channels, w, dilation=dilation, bias=False))
            bns.append(nn.BatchNorm1d(channels, momentum=0.1))
            convs.append(nn.Conv1d(channels, channels, 1, dilation=1, bias=False))
            bns.append(nn.BatchNorm1d(channels, momentum=0.1))
            dilation *= w
        self.layers_conv = nn.ModuleList(convs)
        self.layers_bn = nn.ModuleList(bns)
        self.shrink = nn.Conv1d(channels, num_joints_out * 3, 1)

    @property
    def receptive_field(self) -> int:
        """Frames of input per output frame: 1 + 2 * sum(pad) (27 for widths 3, 3, 3)."""
        return 1 + 2 * sum(self.pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, T, J, 2] -> [B, T - receptive_field + 1, J_out, 3]."""
        _check_input(x, self.num_joints_in, self.in_features, self.receptive_field, "TemporalModel")
        b, t = x.shape[:2]
        y = x.reshape(b, t, -1).permute(0, 2, 1)
        y = self.drop(self.relu(self.expand_bn(self.expand_conv(y))))
        for i in range(len(self.pad) - 1):
            pad, shift = self.pad[i + 1], self.causal_shift[i + 1]
            res = y[:, :, pad + shift : y.shape[2] - pad + shift]
            y = self.drop(self.relu(self.layers_bn[2 * i](self.layers_conv[2 * i](y))))
            y = res + self.drop(self.relu(self.layers_bn[2 * i + 1](self.layers_conv[2 * i + 1](y))))
        y = self.shrink(y)
        return y.permute(0, 2, 1).reshape(b, -1, self.num_joints_out, 3)


def build_lifter(cfg) -> nn.Module:
    """The network of a :class:`hpefast.lifting.config.LiftModelConfig`."""
    if cfg.arch == "mlp":
        return LinearModel(cfg.num_joints, 2, cfg.num_joints, cfg.channels, cfg.num_blocks, cfg.dropout)
    return TemporalModel(
        cfg.num_joints, 2, cfg.num_joints, tuple(cfg.filter_widths), cfg.causal, cfg.dropout, cfg.channels
    )
