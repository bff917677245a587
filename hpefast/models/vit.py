"""The ViTPose backbone: a plain ViT (no class token) in plain torch.

Follows ViTPose's ``mmpose/models/backbones/vit.py`` (and ``vit_moe.py`` for ViTPose+) so that the
official state dicts load with the same parameter names:
``patch_embed.proj``, ``pos_embed`` [1, 1 + N, C] (slot 0 is the pre-training class token's
embedding, *added* to every patch token), ``blocks.i.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1,
mlp.fc2, mlp.experts.e}``, ``last_norm``. LayerNorm eps is 1e-6 as in the official code.

Nothing in ``forward`` reads a tensor value on the host, so the module exports to ONNX and runs
under CUDA graphs; ``dataset_id`` selects experts with ``gather``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hpefast.models.config import ViTPoseConfig


class DropPath(nn.Module):
    """Stochastic depth (Huang et al., 2016): drop the residual branch per sample while training."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class PatchEmbed(nn.Module):
    """Conv patch embedding. ViTPose uses kernel = stride = 16 with padding 2 (``4 + 2 * (ratio // 2 - 1)``
    at ratio 1), which yields an (H/16, W/16) grid whose receptive fields overlap by 2 pixels."""

    def __init__(self, patch_size: int, padding: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size, padding=padding)

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        x = self.proj(x)  # [B, C, gh, gw]
        gh, gw = x.shape[2], x.shape[3]
        return x.flatten(2).transpose(1, 2), (gh, gw)


class Attention(nn.Module):
    """Multi-head self-attention with a fused (SDPA) and an explicit matmul path (same weights)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, fused: bool = True) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.fused = fused
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # [B, h, N, d]
        if self.fused:
            x = F.scaled_dot_product_attention(q, k, v)
        else:
            attn = (q * self.scale) @ k.transpose(-2, -1)
            x = attn.softmax(dim=-1) @ v
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    """The transformer MLP: ``fc2(GELU(fc1(x)))``, ``dim -> hidden -> dim``.

    ``forward(x [B, N, dim], dataset_id=None) -> [B, N, dim]``; ``dataset_id`` is ignored (it is there so
    that a block calls this and :class:`MoEMlp` alike).
    """

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor, dataset_id: Tensor | None = None) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class MoEMlp(nn.Module):
    """ViTPose+ MLP (``vit_moe.py``): fc1 is shared; the output is ``cat([fc2(h), expert_e(h)])`` where
    fc2 gives ``dim - part`` shared features and expert ``e = dataset_id`` the last ``part`` features.

    All experts are evaluated in one matmul and the sample's own slice is gathered, which has the same
    value and gradient as the official masked sum and needs no host-side indexing.
    """

    def __init__(self, dim: int, hidden: int, num_experts: int, part_features: int) -> None:
        super().__init__()
        self.part_features = part_features
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim - part_features)
        self.experts = nn.ModuleList(nn.Linear(hidden, part_features) for _ in range(num_experts))

    def forward(self, x: Tensor, dataset_id: Tensor | None = None) -> Tensor:
        h = self.act(self.fc1(x))
        shared = self.fc2(h)
        b, n, _ = h.shape
        e, p = len(self.experts), self.part_features
        weight = torch.cat([m.weight for m in self.experts], 0)  # [E * P, hidden]
        bias = torch.cat([m.bias for m in self.experts], 0)
        all_out = F.linear(h, weight, bias).view(b, n, e, p)
        if dataset_id is None:
            expert = all_out[:, :, 0]
        else:
            idx = dataset_id.view(b, 1, 1, 1).expand(b, n, 1, p)
            expert = all_out.gather(2, idx).squeeze(2)
        return torch.cat([shared, expert], dim=-1)


class Block(nn.Module):
    """Pre-norm transformer block: ``x + DropPath(Attn(LN(x)))``, then ``x + DropPath(MLP(LN(x)))``
    (LayerNorm eps 1e-6, as ViTPose). The MLP is :class:`MoEMlp` when ``cfg.num_experts`` (ViTPose+),
    else :class:`Mlp`; ``drop_path`` is this block's stochastic-depth rate (0 disables it).

    ``forward(x [B, N, C] tokens, dataset_id [B] int64 | None) -> [B, N, C]`` (C = ``cfg.embed_dim``).
    """

    def __init__(self, cfg: ViTPoseConfig, drop_path: float) -> None:
        super().__init__()
        dim = cfg.embed_dim
        hidden = int(dim * cfg.mlp_ratio)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, cfg.num_heads, cfg.qkv_bias, cfg.fused_attention)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        if cfg.num_experts:
            self.mlp: nn.Module = MoEMlp(dim, hidden, cfg.num_experts, cfg.part_features)
        else:
            self.mlp = Mlp(dim, hidden)

    def forward(self, x: Tensor, dataset_id: Tensor | None = None) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x), dataset_id))


class ViT(nn.Module):
    """ViTPose backbone. ``forward(images [B,3,H,W], dataset_id [B] | None) -> features [B,C,gh,gw]``."""

    def __init__(self, cfg: ViTPoseConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg.patch_size, int(cfg.patch_padding or 0), 3, cfg.embed_dim)
        gw, gh = cfg.patch_grid
        self.grid = (gh, gw)
        # Slot 0 holds the pre-training class token's embedding; ViTPose adds it to every token.
        self.pos_embed = nn.Parameter(torch.zeros(1, gh * gw + 1, cfg.embed_dim))
        n = cfg.depth
        dpr = [cfg.drop_path_rate * i / (n - 1) if n > 1 else 0.0 for i in range(n)]  # linear from 0
        self.blocks = nn.ModuleList(Block(cfg, dpr[i]) for i in range(cfg.depth))
        self.last_norm = nn.LayerNorm(cfg.embed_dim, eps=1e-6)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The official initialisation: truncated normal (std 0.02) linears and position embedding."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        # The patch conv keeps torch's default (kaiming-uniform) init, as in the official code.

    def set_fused_attention(self, fused: bool) -> None:
        """Use ``F.scaled_dot_product_attention`` (True) or the plain matmul path (False) in every block."""
        for blk in self.blocks:
            blk.attn.fused = bool(fused)

    def _embed(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        x, grid = self.patch_embed(x)
        return x + self.pos_embed[:, 1:] + self.pos_embed[:, :1], grid

    def forward(self, x: Tensor, dataset_id: Tensor | None = None) -> Tensor:
        b = x.shape[0]
        x, (gh, gw) = self._embed(x)
        for blk in self.blocks:
            x = blk(x, dataset_id)
        x = self.last_norm(x)
        return x.transpose(1, 2).reshape(b, -1, gh, gw)

    def get_intermediate_layers(
        self, x: Tensor, indices: Sequence[int], dataset_id: Tensor | None = None, norm: bool = False
    ) -> list[Tensor]:
        """Token features [B, C, gh, gw] after the blocks in ``indices`` (negative ints count from the end);
        ``norm`` applies ``last_norm`` to each."""
        depth = len(self.blocks)
        want = sorted({i % depth for i in indices})
        b = x.shape[0]
        x, (gh, gw) = self._embed(x)
        out: dict[int, Tensor] = {}
        for i, blk in enumerate(self.blocks):
            x = blk(x, dataset_id)
            if i in want:
                y = self.last_norm(x) if norm else x
                out[i] = y.transpose(1, 2).reshape(b, -1, gh, gw)
            if i >= want[-1]:
                break
        return [out[i % depth] for i in indices]


def resize_pos_embed(
    pos_embed: Tensor, grid: tuple[int, int], src_grid: tuple[int, int] | None = None
) -> Tensor:
    """Resize a [1, 1 + n, C] position embedding (slot 0 = class token) to ``grid`` = (gh, gw) with
    bicubic interpolation (align_corners=False), as ViTPose does when it loads MAE weights.

    ``src_grid`` (gh, gw) defaults to a square grid (MAE pre-training: 14 x 14 at 224 px).
    """
    if pos_embed.dim() != 3 or pos_embed.shape[0] != 1:
        raise ValueError(f"pos_embed must have shape [1, 1 + N, C], got {list(pos_embed.shape)}")
    n = pos_embed.shape[1] - 1
    if src_grid is None:
        side = math.isqrt(n)
        if side * side != n:
            raise ValueError(f"pos_embed has {n} patch tokens, not a square grid: pass src_grid=(gh, gw)")
        src_grid = (side, side)
    if src_grid[0] * src_grid[1] != n:
        raise ValueError(f"src_grid {src_grid} does not hold the {n} patch tokens of pos_embed")
    cls_tok, tokens = pos_embed[:, :1], pos_embed[:, 1:]
    if tuple(src_grid) == tuple(grid):
        return pos_embed.clone()
    c = pos_embed.shape[2]
    t = tokens.reshape(1, src_grid[0], src_grid[1], c).permute(0, 3, 1, 2).float()
    t = F.interpolate(t, size=tuple(grid), mode="bicubic", align_corners=False)
    t = t.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], c).to(pos_embed.dtype)
    return torch.cat([cls_tok, t], dim=1)
