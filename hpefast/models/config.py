"""Typed configuration of a ViTPose model, and the published variants.

``ViTPoseConfig`` is the single source of truth for the architecture: the json written next to a
checkpoint is ``cfg.to_dict()`` and ``ViTPoseConfig.from_dict`` refuses unknown keys (with a
did-you-mean), so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any

DECODERS = ("classic", "simple")


@dataclass(frozen=True)
class VariantSpec:
    """Published ViTPose backbone hyper-parameters (Xu et al., 2022, Table 1 and the official configs).

    ``drop_path_rate`` and ``layer_decay`` are the values of the official 256x192 COCO recipes.
    """

    embed_dim: int
    depth: int
    num_heads: int
    drop_path_rate: float
    layer_decay: float
    patch_size: int = 16
    deconv_channels: int = 256


VARIANTS: dict[str, VariantSpec] = {
    # Not a published model: a small ViT for CPU tests and the demo. Patch 8 keeps a useful token
    # grid on small crops (e.g. 96x128 -> 12x16 tokens), one deconv brings stride 8 to stride 4.
    "tiny": VariantSpec(128, 4, 4, 0.0, 0.9, patch_size=8, deconv_channels=64),
    "s": VariantSpec(384, 12, 12, 0.1, 0.8),
    "b": VariantSpec(768, 12, 12, 0.3, 0.75),
    "l": VariantSpec(1024, 24, 16, 0.5, 0.8),
    "h": VariantSpec(1280, 32, 16, 0.55, 0.85),
}


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True)
class ViTPoseConfig:
    """Architecture of a ViTPose model.

    Sizes are (W, H). The heatmap stride is always 4: ``heatmap_size == (W // 4, H // 4)``.

    Attributes:
        layout: keypoint schema name the output channels follow ("coco", "union21", ...).
        num_keypoints: output channels K.
        image_size: input crop (W, H) in pixels; both divisible by ``patch_size``.
        embed_dim, depth, num_heads, mlp_ratio, qkv_bias: ViT backbone.
        patch_size: patch-embedding kernel and stride (16 in ViTPose; a power of two >= 4).
        patch_padding: zero padding of the patch-embedding conv; None -> ``patch_size // 8``
            (ViTPose's 2 for patch 16, which gives an (H/16, W/16) token grid).
        drop_path_rate: stochastic depth at the last block (linear from 0).
        decoder: "classic" (deconv 4x4 s2 + BN + ReLU, repeated to stride 4, then 1x1 conv) or
            "simple" (ReLU, bilinear upsampling to stride 4, 3x3 conv).
        deconv_channels: channels of the classic decoder's deconvolutions.
        num_datasets: datasets the model is trained on (dataset ids 0..num_datasets-1).
        per_dataset_heads: one decoder per dataset, picked by dataset id (else one shared union head).
        num_experts: ViTPose+ mixture of experts in every MLP (0 = plain MLP). Expert e serves dataset e.
        part_features: output features of each expert; the shared fc2 gives embed_dim - part_features.
            0 -> embed_dim // 4 (ViTPose+).
        fused_attention: F.scaled_dot_product_attention (True) or an explicit matmul/softmax path
            (False; friendlier to some exporters).
    """

    layout: str = "coco"
    num_keypoints: int = 17
    image_size: tuple[int, int] = (192, 256)
    variant: str = "b"
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    patch_size: int = 16
    patch_padding: int | None = None
    drop_path_rate: float = 0.3
    decoder: str = "classic"
    deconv_channels: int = 256
    num_datasets: int = 1
    per_dataset_heads: bool = False
    num_experts: int = 0
    part_features: int = 0
    fused_attention: bool = True
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        def _int(name: str, lo: int) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"ViTPoseConfig.{name} must be an int, got {v!r}")
            if v < lo:
                raise ValueError(f"ViTPoseConfig.{name} must be >= {lo}, got {v}")

        if not isinstance(self.layout, str) or not self.layout:
            raise TypeError(f"ViTPoseConfig.layout must be a non-empty str, got {self.layout!r}")
        for name, lo in (
            ("num_keypoints", 1),
            ("embed_dim", 1),
            ("depth", 1),
            ("num_heads", 1),
            ("patch_size", 1),
            ("deconv_channels", 1),
            ("num_datasets", 1),
            ("num_experts", 0),
            ("part_features", 0),
        ):
            _int(name, lo)
        size = self.image_size
        if (
            not isinstance(size, (tuple, list))
            or len(size) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in size)
        ):
            raise TypeError(f"ViTPoseConfig.image_size must be (W, H) positive ints, got {size!r}")
        object.__setattr__(self, "image_size", (int(size[0]), int(size[1])))
        p = self.patch_size
        if p < 4 or p & (p - 1):
            raise ValueError(f"ViTPoseConfig.patch_size must be a power of two >= 4, got {p}")
        w, h = self.image_size
        if w % p or h % p:
            raise ValueError(
                f"ViTPoseConfig.image_size {self.image_size} must be divisible by patch_size {p}"
            )
        if self.patch_padding is None:
            object.__setattr__(self, "patch_padding", p // 8)
        _int("patch_padding", 0)
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"ViTPoseConfig.embed_dim ({self.embed_dim}) must be divisible by "
                f"num_heads ({self.num_heads})"
            )
        if self.decoder not in DECODERS:
            raise ValueError(
                f"ViTPoseConfig.decoder must be one of {DECODERS}, got {self.decoder!r}"
                + _did_you_mean(str(self.decoder), DECODERS)
            )
        if not 0.0 <= float(self.drop_path_rate) < 1.0:
            raise ValueError(f"ViTPoseConfig.drop_path_rate must be in [0, 1), got {self.drop_path_rate}")
        if float(self.mlp_ratio) <= 0:
            raise ValueError(f"ViTPoseConfig.mlp_ratio must be > 0, got {self.mlp_ratio}")
        if self.num_experts:
            if self.part_features == 0:
                object.__setattr__(self, "part_features", self.embed_dim // 4)
            if not 0 < self.part_features < self.embed_dim:
                raise ValueError(
                    f"ViTPoseConfig.part_features must be in (0, embed_dim={self.embed_dim}), "
                    f"got {self.part_features}"
                )
            if self.num_experts < self.num_datasets:
                raise ValueError(
                    f"ViTPoseConfig.num_experts ({self.num_experts}) must be >= num_datasets "
                    f"({self.num_datasets}): expert e serves dataset id e"
                )
        elif self.part_features:
            raise ValueError("ViTPoseConfig.part_features is only meaningful with num_experts > 0")

    # --- derived sizes -------------------------------------------------------------------------
    @property
    def patch_grid(self) -> tuple[int, int]:
        """Token grid (gw, gh) of the patch embedding."""
        p, pad = self.patch_size, self.patch_padding
        w, h = self.image_size
        return ((w + 2 * pad - p) // p + 1, (h + 2 * pad - p) // p + 1)

    @property
    def heatmap_size(self) -> tuple[int, int]:
        """Output heatmap (w, h): the token grid upsampled to stride 4."""
        gw, gh = self.patch_grid
        up = self.patch_size // 4
        return (gw * up, gh * up)

    @property
    def num_decoders(self) -> int:
        return self.num_datasets if self.per_dataset_heads else 1

    # --- (de)serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["image_size"] = list(self.image_size)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ViTPoseConfig:
        """Build from a dict, refusing unknown keys (ValueError with a did-you-mean)."""
        if not isinstance(d, dict):
            raise TypeError(f"model config must be a dict, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = [k for k in d if k not in names]
        if unknown:
            k = unknown[0]
            raise ValueError(f"unknown model config key {k!r}" + _did_you_mean(k, names))
        d = dict(d)
        if "image_size" in d and isinstance(d["image_size"], list):
            d["image_size"] = tuple(d["image_size"])
        return cls(**d)

    def replace(self, **changes: Any) -> ViTPoseConfig:
        """A copy with ``changes`` applied (validated; unknown keys refused)."""
        d = self.to_dict()
        # Derived defaults follow the fields they derive from unless given explicitly.
        if "patch_size" in changes and "patch_padding" not in changes:
            d["patch_padding"] = None
        if ("num_experts" in changes or "embed_dim" in changes) and "part_features" not in changes:
            d["part_features"] = 0
        return ViTPoseConfig.from_dict({**d, **changes})
