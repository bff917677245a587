"""The heatmap codec: the one object that decides how a model's heatmaps are made and read.

A :class:`HeatmapCodec` owns the target method (``msra`` / ``udp``), the input and heatmap sizes, the
Gaussian sigma, the decoder, the DARK blur kernel and the flip-test shift. It travels inside the model's
config (``ViTPoseConfig.codec``), hence inside checkpoints, model files and ONNX/TensorRT export metadata;
the trainer (targets), validation, ``TopDownPredictor`` and the export check all take it from the model.

The decoder is tied to the method, so that a mismatched pair cannot be built:

============  ==============================  ===================  ======================
method        target centre                   decoders             flip-back shift
============  ==============================  ===================  ======================
``udp``       float, stride (W-1)/(w-1)       ``dark_udp``         none (exact mirror)
``msra``      int(x/stride + 0.5), W/w        ``dark`` (default),  one pixel (mmpose
                                              ``shift``,           ``shift_heatmap``)
                                              ``argmax``
============  ==============================  ===================  ======================

Mixing them is wrong by construction: MSRA targets decoded as UDP are off by up to a stride (2.6 px mean
on clean 64x48 maps at sigma 2, against 7e-4 px for the matched pair), so the codec refuses it.

Example::

    codec = HeatmapCodec(input_size=(192, 256), heatmap_size=(48, 64))   # udp + dark_udp, sigma 2
    targets, weights = codec.encode(keypoints, visible)    # [B,K,64,48], [B,K]
    keypoints, scores = codec.decode(model(images))        # [B,K,2] crop pixels, [B,K]
    merged = 0.5 * (heat + codec.flip_back(model(images.flip(3)), schema.flip_index))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

__all__ = ["HeatmapCodec", "METHODS", "DECODERS", "DECODERS_FOR_METHOD"]

METHODS: tuple[str, ...] = ("udp", "msra")
DECODERS: tuple[str, ...] = ("dark_udp", "dark", "shift", "argmax")
# The decoders consistent with each target method; the first is the default.
DECODERS_FOR_METHOD: dict[str, tuple[str, ...]] = {
    "udp": ("dark_udp",),
    "msra": ("dark", "shift", "argmax"),
}
_MAX_BLUR_KERNEL = 99  # csrc/heatmap/heatmap_math.h kMaxBlurKernel


class HeatmapCodec(BaseModel):
    """Heatmap targets, decoding and flip-back of one model (frozen; compare with ``==``).

    Attributes:
        method: ``"udp"`` (Unbiased Data Processing, ViTPose's) or ``"msra"`` (HRNet's).
        input_size: (W, H) of the network input crop, pixels.
        heatmap_size: (w, h) of the output heatmaps.
        sigma: Gaussian standard deviation of the targets, heatmap pixels.
        decoder: how keypoints are read from heatmaps; ``None`` picks the method's default
            (``dark_udp`` for udp, ``dark`` for msra). Must be one of ``DECODERS_FOR_METHOD[method]``.
        blur_kernel: odd size of the DARK decoders' Gaussian blur (11 suits sigma 2; DarkPose uses 17 for
            sigma 3).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["udp", "msra"] = "udp"
    input_size: tuple[int, int]
    heatmap_size: tuple[int, int]
    sigma: float = 2.0
    decoder: Literal["dark_udp", "dark", "shift", "argmax"] | None = None
    blur_kernel: int = 11

    @field_validator("input_size", "heatmap_size")
    @classmethod
    def _positive_size(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[0] <= 0 or v[1] <= 0:
            raise ValueError(f"sizes are (W, H) in pixels and must be positive, got {v}")
        return v

    @field_validator("sigma")
    @classmethod
    def _positive_sigma(cls, v: float) -> float:
        if not v > 0 or v != v or v == float("inf"):
            raise ValueError(f"sigma must be a positive, finite number of heatmap pixels, got {v}")
        return v

    @field_validator("blur_kernel")
    @classmethod
    def _odd_kernel(cls, v: int) -> int:
        if v < 1 or v % 2 == 0 or v > _MAX_BLUR_KERNEL:
            raise ValueError(f"blur_kernel must be odd and in [1, {_MAX_BLUR_KERNEL}], got {v}")
        return v

    @model_validator(mode="after")
    def _matched_pair(self) -> HeatmapCodec:
        allowed = DECODERS_FOR_METHOD[self.method]
        if self.decoder is None:
            object.__setattr__(self, "decoder", allowed[0])
        elif self.decoder not in allowed:
            raise ValueError(
                f"decoder {self.decoder!r} does not read {self.method!r} targets: use one of {list(allowed)} "
                f"(udp targets need dark_udp; msra targets need dark, shift or argmax)"
            )
        if self.method == "udp" and (self.heatmap_size[0] < 2 or self.heatmap_size[1] < 2):
            raise ValueError(f"udp heatmaps must be at least 2 x 2, got {self.heatmap_size}")
        return self

    # ------------------------------------------------------------------------------------------
    @property
    def flip_shift(self) -> bool:
        """Whether flipped-back heatmaps move one pixel right (msra: mmpose ``shift_heatmap=True``).
        UDP maps are exact mirrors (crop x -> W-1-x is heatmap x -> w-1-x), so no shift."""
        return self.method == "msra"

    @property
    def stride(self) -> tuple[float, float]:
        """Input pixels per heatmap pixel (x, y): (W-1)/(w-1) for udp, W/w for msra."""
        (W, H), (w, h) = self.input_size, self.heatmap_size
        if self.method == "udp":
            return ((W - 1) / (w - 1), (H - 1) / (h - 1))
        return (W / w, H / h)

    def encode(
        self,
        keypoints: torch.Tensor,
        visible: torch.Tensor,
        joint_weights: torch.Tensor | Sequence[float] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Gaussian targets on the keypoints' device.

        Args:
            keypoints: [B, K, 2] float32, (x, y) input-crop pixels.
            visible: [B, K] (bool or float): 1 where the joint is labelled.
            joint_weights: optional [K] per-joint loss weights.
        Returns:
            heatmaps [B, K, h, w] float32 and weights [B, K] float32 (0 for unlabelled joints and joints
            whose Gaussian window falls outside the map).
        """
        from hpefast.ops import encode_heatmaps

        return encode_heatmaps(
            keypoints,
            visible,
            input_size=self.input_size,
            heatmap_size=self.heatmap_size,
            sigma=self.sigma,
            method=self.method,
            joint_weights=joint_weights,
        )

    def decode(self, heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keypoints [B, K, 2] (x, y input-crop pixels) and scores [B, K] (map maxima) from heatmaps
        [B, K, h, w] with this codec's decoder, on the heatmaps' device. ValueError when the maps are not
        of ``heatmap_size``."""
        from hpefast.ops import decode_heatmaps

        if heatmaps.dim() == 4 and tuple(heatmaps.shape[-2:]) != (self.heatmap_size[1], self.heatmap_size[0]):
            raise ValueError(
                f"heatmaps of shape {list(heatmaps.shape)} do not match the codec's heatmap_size "
                f"(w, h) = {self.heatmap_size}"
            )
        return decode_heatmaps(
            heatmaps.contiguous(), self.input_size, method=self.decoder, blur_kernel=self.blur_kernel
        )

    def flip_back(self, heatmaps: torch.Tensor, flip_index: Sequence[int]) -> torch.Tensor:
        """Heatmaps [B, K, h, w] predicted on horizontally flipped crops, mapped back to the original frame
        (joints swapped by ``flip_index``, mirrored, shifted when :attr:`flip_shift`). Differentiable."""
        from hpefast.ops import flip_heatmaps

        return flip_heatmaps(heatmaps, flip_index, shift=self.flip_shift)

    # ------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain json-able dict (sizes as lists, the resolved decoder) that :meth:`from_dict` reads back."""
        d = self.model_dump()
        d["input_size"] = list(self.input_size)
        d["heatmap_size"] = list(self.heatmap_size)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeatmapCodec:
        """Build from :meth:`to_dict` output (unknown keys refused)."""
        return cls.model_validate(d)
