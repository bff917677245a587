"""ViTPose's forward written independently from the official code (ViTPose ``backbone/vit.py`` and
mmpose's ``TopdownHeatmapSimpleHead``), as functions of a state dict with the official names.
Used by the model and checkpoint tests as the reference."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def official_vit_forward(sd: dict, x: torch.Tensor, heads: int, padding: int = 2) -> torch.Tensor:
    """ViTPose's ViT.forward_features with timm-style blocks, from a state dict with official names."""
    w = sd["patch_embed.proj.weight"]
    x = F.conv2d(x, w, sd["patch_embed.proj.bias"], stride=w.shape[-1], padding=padding)
    b, c, hp, wp = x.shape
    x = x.flatten(2).transpose(1, 2)
    x = x + sd["pos_embed"][:, 1:] + sd["pos_embed"][:, :1]
    i = 0
    while f"blocks.{i}.norm1.weight" in sd:
        p = f"blocks.{i}."
        h = F.layer_norm(x, (c,), sd[p + "norm1.weight"], sd[p + "norm1.bias"], eps=1e-6)
        qkv = F.linear(h, sd[p + "attn.qkv.weight"], sd[p + "attn.qkv.bias"])
        qkv = qkv.reshape(b, -1, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q * (c // heads) ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
        h = (attn @ v).transpose(1, 2).reshape(b, -1, c)
        x = x + F.linear(h, sd[p + "attn.proj.weight"], sd[p + "attn.proj.bias"])
        h = F.layer_norm(x, (c,), sd[p + "norm2.weight"], sd[p + "norm2.bias"], eps=1e-6)
        h = F.gelu(F.linear(h, sd[p + "mlp.fc1.weight"], sd[p + "mlp.fc1.bias"]))
        x = x + F.linear(h, sd[p + "mlp.fc2.weight"], sd[p + "mlp.fc2.bias"])
        i += 1
    x = F.layer_norm(x, (c,), sd["last_norm.weight"], sd["last_norm.bias"], eps=1e-6)
    return x.permute(0, 2, 1).reshape(b, -1, hp, wp)


def official_head_forward(sd: dict, x: torch.Tensor, prefix: str = "") -> torch.Tensor:
    """mmpose TopdownHeatmapSimpleHead (eval mode): deconv/BN/ReLU x2, final conv; or the simple head."""
    if prefix + "deconv_layers.0.weight" not in sd:
        x = F.interpolate(F.relu(x), scale_factor=4, mode="bilinear", align_corners=False)
        return F.conv2d(x, sd[prefix + "final_layer.weight"], sd[prefix + "final_layer.bias"], padding=1)
    for i in (0, 3):
        x = F.conv_transpose2d(x, sd[f"{prefix}deconv_layers.{i}.weight"], stride=2, padding=1)
        bn = f"{prefix}deconv_layers.{i + 1}."
        x = F.batch_norm(
            x, sd[bn + "running_mean"], sd[bn + "running_var"], sd[bn + "weight"], sd[bn + "bias"], eps=1e-5
        )
        x = F.relu(x)
    return F.conv2d(x, sd[prefix + "final_layer.weight"], sd[prefix + "final_layer.bias"])


def randomise(model: torch.nn.Module) -> None:
    """Random weights and BN statistics so that every parameter matters in a comparison."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.dtype.is_floating_point:
                r = torch.randn(t.shape, generator=g) * 0.2
                if name.endswith("running_var"):
                    r = r.abs() + 0.5
                t.copy_(r)
