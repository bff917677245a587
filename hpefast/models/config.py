"""Typed configuration of a ViTPose model, and the published variants.

``ViTPoseConfig`` is the single source of truth for the architecture: the json written next to a
checkpoint is ``cfg.to_dict()`` and ``ViTPoseConfig.from_dict`` refuses unknown keys (with a
did-you-mean), so a typo never silently falls back to a default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, model_validator

from hpefast._config import config_error
from hpefast._config import did_you_mean as _did_you_mean
from hpefast.codec import HeatmapCodec

DECODERS = ("classic", "simple")


@dataclass(frozen=True)
class VariantSpec:
    """Published ViTPose backbone hyper-parameters (Xu et al., 2022, Table 1 and the official configs).

    ``drop_path_rate`` and ``layer_decay`` are the values of the official 256x192 COCO recipes
    (``configs/body/2d_kpt_sview_rgb_img/topdown_heatmap/coco/ViTPose_{small,base,large,huge}_coco_256x192.py``):
    S 0.1 / 0.8, B 0.3 / 0.75, L 0.5 / 0.8, H 0.55 / 0.85. These are the only copy of those numbers: the
    model config and the training config's ``optim.layer_decay`` resolve unset values from here.
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


class ViTPoseConfig(BaseModel):
    """Architecture and heatmap codec of a ViTPose model (frozen pydantic model; unknown keys refused).

    Sizes are (W, H). Values left unset (``None``) take the published value of ``variant`` (see
    :data:`VARIANTS`): ``ViTPoseConfig(variant="s")`` has ViTPose-S's width, depth, heads and drop path 0.1.
    This is the one place where variant defaults are resolved; the training config's ``model`` section is
    this class.

    Attributes:
        layout: keypoint schema name the output channels follow ("coco", "union21", ...).
        num_keypoints: output channels K; None takes K of the layout's schema.
        image_size: input crop (W, H) in pixels; both divisible by ``patch_size``.
        variant: "tiny", "s", "b", "l", "h" (published sizes) or "custom" (every size given).
        embed_dim, depth, num_heads, mlp_ratio, qkv_bias: ViT backbone.
        patch_size: patch-embedding kernel and stride (16 in ViTPose; a power of two >= 4).
        patch_padding: zero padding of the patch-embedding conv; None -> ``patch_size // 8``
            (ViTPose's 2 for patch 16, which gives an (H/16, W/16) token grid).
        drop_path_rate: stochastic depth at the last block (linear from 0).
        decoder: the head: "classic" (deconv 4x4 s2 + BN + ReLU, repeated to stride 4, then 1x1 conv) or
            "simple" (ReLU, bilinear upsampling to stride 4, 3x3 conv).
        deconv_channels: channels of the classic decoder's deconvolutions.
        num_datasets: datasets the model is trained on (dataset ids 0..num_datasets-1).
        per_dataset_heads: one decoder per dataset, picked by dataset id (else one shared union head).
        num_experts: ViTPose+ mixture of experts in every MLP (0 = plain MLP). Expert e serves dataset e.
        part_features: output features of each expert; the shared fc2 gives embed_dim - part_features.
            0 -> embed_dim // 4 (ViTPose+).
        fused_attention: F.scaled_dot_product_attention (True) or an explicit matmul/softmax path
            (False; friendlier to some exporters).
        codec: the :class:`~hpefast.codec.HeatmapCodec` of the model's heatmaps. Give ``method``,
            ``sigma``, ``decoder``, ``blur_kernel``; its ``input_size`` / ``heatmap_size`` are filled from
            the architecture (and must agree with it when given).
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", coerce_numbers_to_str=True, protected_namespaces=()
    )

    layout: str = "coco"
    num_keypoints: int | None = None
    image_size: tuple[int, int] = (192, 256)
    variant: str = "b"
    embed_dim: int | None = None
    depth: int | None = None
    num_heads: int | None = None
    mlp_ratio: float = 4.0
    qkv_bias: StrictBool = True
    patch_size: int | None = None
    patch_padding: int | None = None
    drop_path_rate: float | None = None
    decoder: str = "classic"
    deconv_channels: int | None = None
    num_datasets: int = 1
    per_dataset_heads: StrictBool = False
    num_experts: int = 0
    part_features: int = 0
    fused_attention: StrictBool = True
    codec: HeatmapCodec | None = None
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any) -> Any:
        """Fill unset sizes from the variant, K from the layout, the codec's sizes from the architecture."""
        if not isinstance(data, dict):
            return data
        d = dict(data)
        variant = d.get("variant", "b")
        if not isinstance(variant, str):
            raise ValueError(f"variant must be a string, got {variant!r}")
        d["variant"] = variant = variant.lower()
        spec = VARIANTS.get(variant)
        if spec is None and variant != "custom":
            raise ValueError(
                f"variant {variant!r} is not one of {[*VARIANTS, 'custom']}"
                + _did_you_mean(variant, [*VARIANTS, "custom"])
            )
        for name in _VARIANT_FIELDS:
            if d.get(name) is None:
                if spec is None:
                    raise ValueError(f"variant 'custom' needs {name} to be given")
                d[name] = getattr(spec, _VARIANT_FIELDS[name])
        if d.get("num_keypoints") is None:
            k = _layout_keypoints(d.get("layout", "coco"))
            if k is None:
                raise ValueError(
                    f"layout {d.get('layout')!r} is not a registered keypoint schema: give num_keypoints"
                )
            d["num_keypoints"] = k
        codec = d.get("codec")
        if codec is None or isinstance(codec, dict):
            sizes = _codec_sizes(d)
            if sizes is not None:
                d["codec"] = {**sizes, **(codec or {})}
        return d

    @model_validator(mode="after")
    def _check(self) -> ViTPoseConfig:
        def positive(name: str, lo: int) -> None:
            v = getattr(self, name)
            if v < lo:
                raise ValueError(f"{name} must be >= {lo}, got {v}")

        if not self.layout:
            raise ValueError("layout must be a non-empty schema name")
        k_layout = _layout_keypoints(self.layout)
        if k_layout is not None and k_layout != self.num_keypoints:
            raise ValueError(
                f"num_keypoints={self.num_keypoints} does not match layout {self.layout!r} "
                f"({k_layout} keypoints)"
            )
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
            positive(name, lo)
        if self.image_size[0] <= 0 or self.image_size[1] <= 0:
            raise ValueError(f"image_size must be (W, H) positive ints, got {self.image_size}")
        p = self.patch_size
        if p < 4 or p & (p - 1):
            raise ValueError(f"patch_size must be a power of two >= 4, got {p}")
        w, h = self.image_size
        if w % p or h % p:
            raise ValueError(f"image_size {self.image_size} must be divisible by patch_size {p}")
        if self.patch_padding is None:
            object.__setattr__(self, "patch_padding", p // 8)
        positive("patch_padding", 0)
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim ({self.embed_dim}) must be divisible by num_heads ({self.num_heads})"
            )
        if self.decoder not in DECODERS:
            raise ValueError(
                f"decoder must be one of {DECODERS}, got {self.decoder!r}"
                + _did_you_mean(str(self.decoder), DECODERS)
            )
        if not 0.0 <= float(self.drop_path_rate) < 1.0:
            raise ValueError(f"drop_path_rate must be in [0, 1), got {self.drop_path_rate}")
        if float(self.mlp_ratio) <= 0:
            raise ValueError(f"mlp_ratio must be > 0, got {self.mlp_ratio}")
        if self.num_experts:
            if self.part_features == 0:
                object.__setattr__(self, "part_features", self.embed_dim // 4)
            if not 0 < self.part_features < self.embed_dim:
                raise ValueError(
                    f"part_features must be in (0, embed_dim={self.embed_dim}), got {self.part_features}"
                )
            if self.num_experts < self.num_datasets:
                raise ValueError(
                    f"num_experts ({self.num_experts}) must be >= num_datasets "
                    f"({self.num_datasets}): expert e serves dataset id e"
                )
        elif self.part_features:
            raise ValueError("part_features is only meaningful with num_experts > 0")
        # The codec's sizes come from the architecture; given ones must agree.
        sizes = {"input_size": tuple(self.image_size), "heatmap_size": self.heatmap_size}
        codec = self.codec
        if codec is None:
            object.__setattr__(self, "codec", HeatmapCodec(**sizes))
        else:
            for name, want in sizes.items():
                if tuple(getattr(codec, name)) != want:
                    raise ValueError(
                        f"codec.{name} {tuple(getattr(codec, name))} does not match the model's {want} "
                        "(leave it unset: it follows the architecture)"
                    )
        return self

    # --- derived sizes -------------------------------------------------------------------------
    @property
    def patch_grid(self) -> tuple[int, int]:
        """Token grid (gw, gh) of the patch embedding."""
        return _grid(self.image_size, self.patch_size, self.patch_padding)

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
        """Plain json-able dict with every value resolved (what model files and checkpoints store)."""
        d = self.model_dump(mode="json")
        d["codec"] = self.codec.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ViTPoseConfig:
        """Build from a dict, refusing unknown keys (ConfigError, a ValueError, with a did-you-mean).

        Model files written before the codec was part of the config have no ``codec``: they get the
        default (udp / dark_udp, sigma 2), which is what every earlier hpefast model was trained and read
        with."""
        if not isinstance(d, dict):
            raise TypeError(f"model config must be a dict, got {type(d).__name__}")
        try:
            return cls.model_validate(d)
        except ValidationError as exc:
            raise config_error(exc, cls) from None

    def replace(self, **changes: Any) -> ViTPoseConfig:
        """A copy with ``changes`` applied (validated; unknown keys refused). Sizes derived from a changed
        field (patch padding, part features, the codec's sizes) follow it unless given explicitly."""
        d = self.to_dict()
        if "patch_size" in changes and "patch_padding" not in changes:
            d["patch_padding"] = None
        if ("num_experts" in changes or "embed_dim" in changes) and "part_features" not in changes:
            d["part_features"] = 0
        codec = changes.get("codec", d.get("codec"))
        if isinstance(codec, HeatmapCodec):
            codec = codec.to_dict()
        if isinstance(codec, dict) and "codec" not in changes:
            codec = {k: v for k, v in codec.items() if k not in ("input_size", "heatmap_size")}
        d["codec"] = codec
        return ViTPoseConfig.from_dict({**d, **{k: v for k, v in changes.items() if k != "codec"}})


_VARIANT_FIELDS = {
    "embed_dim": "embed_dim",
    "depth": "depth",
    "num_heads": "num_heads",
    "patch_size": "patch_size",
    "drop_path_rate": "drop_path_rate",
    "deconv_channels": "deconv_channels",
}


def _grid(image_size: Any, patch: int, pad: int | None) -> tuple[int, int]:
    pad = patch // 8 if pad is None else pad
    w, h = image_size
    return ((w + 2 * pad - patch) // patch + 1, (h + 2 * pad - patch) // patch + 1)


def _codec_sizes(d: dict[str, Any]) -> dict[str, tuple[int, int]] | None:
    """The codec's input / heatmap sizes from a (resolved) config dict; None when the sizes are invalid
    (the field checks then report them)."""
    try:
        w, h = (int(v) for v in d.get("image_size", (192, 256)))
        patch = int(d["patch_size"])
        pad = d.get("patch_padding")
        gw, gh = _grid((w, h), patch, None if pad is None else int(pad))
        up = patch // 4
    except (TypeError, ValueError, KeyError, ZeroDivisionError):
        return None
    if w <= 0 or h <= 0 or patch < 4 or gw <= 0 or gh <= 0 or up <= 0:
        return None
    return {"input_size": (w, h), "heatmap_size": (gw * up, gh * up)}


def _layout_keypoints(layout: Any) -> int | None:
    """K of a registered schema, or None when the keypoints module does not know the name."""
    if not isinstance(layout, str):
        return None
    from hpefast.keypoints import get_schema

    try:
        return int(get_schema(layout).num_keypoints)
    except (LookupError, ValueError):
        return None
