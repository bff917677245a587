"""Heatmap heads: the classic and simple decoders of ViTPose, a union head and per-dataset heads.

Parameter names follow mmpose's ``TopdownHeatmapSimpleHead`` (``deconv_layers.{0,1,3,4}``,
``final_layer``) so the official ``keypoint_head.*`` weights map one to one onto a decoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hpefast.models.config import ViTPoseConfig


class ClassicDecoder(nn.Module):
    """Simple-Baselines decoder (Xiao et al., 2018): [deconv 4x4 stride 2 (no bias) + BN + ReLU] x n
    up to stride 4 (n = 2 for patch 16), then a 1x1 conv to K heatmaps."""

    def __init__(self, in_channels: int, num_keypoints: int, channels: int, num_deconv: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(num_deconv):
            layers += [
                nn.ConvTranspose2d(c, channels, 4, stride=2, padding=1, output_padding=0, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            ]
            c = channels
        self.deconv_layers = nn.Sequential(*layers) if layers else nn.Identity()
        self.final_layer = nn.Conv2d(c, num_keypoints, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.final_layer(self.deconv_layers(x))


class SimpleDecoder(nn.Module):
    """ViTPose's simple decoder: ReLU, bilinear upsampling (align_corners=False) to stride 4, 3x3 conv.
    (mmpose applies the ReLU before the resize: ``resize(F.relu(x), scale_factor=4)``.)"""

    def __init__(self, in_channels: int, num_keypoints: int, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.deconv_layers = nn.Identity()
        self.final_layer = nn.Conv2d(in_channels, num_keypoints, kernel_size=3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(x)
        if self.scale != 1:
            x = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return self.final_layer(x)


def make_decoder(cfg: ViTPoseConfig) -> nn.Module:
    """The decoder ``cfg.decoder`` names, from stride ``cfg.patch_size`` tokens to stride-4 heatmaps.

    "classic": :class:`ClassicDecoder` with log2(patch_size / 4) deconvolutions of
    ``cfg.deconv_channels`` (two for patch 16, one for the tiny variant's patch 8); "simple":
    :class:`SimpleDecoder` with x(patch_size / 4) bilinear upsampling. The module maps features
    ``[B, C, gh, gw]`` (C = ``cfg.embed_dim``) to heatmaps ``[B, K, gh * patch / 4, gw * patch / 4]``
    (K = ``cfg.num_keypoints``).
    """
    up = cfg.patch_size // 4  # token stride -> heatmap stride 4
    if cfg.decoder == "classic":
        return ClassicDecoder(cfg.embed_dim, cfg.num_keypoints, cfg.deconv_channels, up.bit_length() - 1)
    return SimpleDecoder(cfg.embed_dim, cfg.num_keypoints, up)


class HeatmapHead(nn.Module):
    """One decoder shared by all datasets (the union head: K channels of the training layout), or one
    decoder per dataset (``cfg.per_dataset_heads``), each sample taking the output of its dataset's.

    ``forward(features [B,C,gh,gw], dataset_id [B] | None) -> heatmaps [B,K,4*gh,4*gw]``; with per-dataset
    heads and no ``dataset_id`` the first head (dataset 0) answers. Every head runs on the whole batch and
    the answer is gathered on the device (no host round trip); BatchNorm statistics of a head therefore see
    all samples of the batch.
    """

    def __init__(self, cfg: ViTPoseConfig) -> None:
        super().__init__()
        self.decoders = nn.ModuleList(make_decoder(cfg) for _ in range(cfg.num_decoders))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """mmpose's init: deconvs and the final conv ~ N(0, 0.001), BN weight 1, biases 0."""
        for m in self.modules():
            if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d)):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor, dataset_id: Tensor | None = None) -> Tensor:
        if len(self.decoders) == 1:
            return self.decoders[0](x)
        if dataset_id is None:
            return self.decoders[0](x)
        stacked = torch.stack([d(x) for d in self.decoders], dim=1)  # [B, D, K, h, w]
        b, _, k, h, w = stacked.shape
        idx = dataset_id.view(b, 1, 1, 1, 1).expand(b, 1, k, h, w)
        return stacked.gather(1, idx).squeeze(1)
