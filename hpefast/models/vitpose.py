"""ViTPose (Xu et al., NeurIPS 2022) and ViTPose+ (Xu et al., TPAMI 2023): a plain ViT and a light
heatmap decoder. ``build_model`` makes the published S/B/L/H variants and a tiny one for CPU work."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from hpefast.models.config import VARIANTS, ViTPoseConfig, _did_you_mean
from hpefast.models.heads import HeatmapHead
from hpefast.models.vit import ViT


class ViTPose(nn.Module):
    """Top-down pose model: ``forward(images, dataset_id=None) -> heatmaps``.

    Args (forward):
        images: [B, 3, H, W] float, ImageNet-normalised RGB crops, (W, H) == ``cfg.image_size``.
        dataset_id: [B] integer tensor (or a Python int for the whole batch) choosing the ViTPose+
            expert and the per-dataset head of each sample; ignored by single-dataset models;
            None means dataset 0.
    Returns:
        heatmaps [B, K, h, w] with (w, h) == ``cfg.heatmap_size`` == (W/4, H/4), K == ``cfg.num_keypoints``.
    """

    def __init__(self, cfg: ViTPoseConfig) -> None:
        super().__init__()
        if not isinstance(cfg, ViTPoseConfig):
            raise TypeError(f"cfg must be a ViTPoseConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        self.backbone = ViT(cfg)
        self.head = HeatmapHead(cfg)

    # --- forward -------------------------------------------------------------------------------
    @property
    def uses_dataset_id(self) -> bool:
        """Whether ``dataset_id`` changes the output (ViTPose+ experts or per-dataset heads)."""
        return self.cfg.num_experts > 0 or self.cfg.num_decoders > 1

    def _dataset_ids(self, dataset_id: Tensor | int | None, images: Tensor) -> Tensor | None:
        if dataset_id is None or not self.uses_dataset_id:
            return None
        b = images.shape[0]
        n = self.cfg.num_experts if self.cfg.num_experts else self.cfg.num_datasets
        if isinstance(dataset_id, bool) or not isinstance(dataset_id, (int, Tensor)):
            raise TypeError(
                f"dataset_id must be an int tensor [B] or an int, got {type(dataset_id).__name__}"
            )
        if isinstance(dataset_id, int):
            if not 0 <= dataset_id < n:
                raise ValueError(f"dataset_id {dataset_id} out of range [0, {n})")
            return torch.full((b,), dataset_id, dtype=torch.long, device=images.device)
        if dataset_id.dtype.is_floating_point or dataset_id.dtype == torch.bool:
            raise TypeError(f"dataset_id must be an integer tensor, got {dataset_id.dtype}")
        if dataset_id.dim() != 1 or dataset_id.shape[0] != b:
            raise ValueError(f"dataset_id must have shape [B={b}], got {list(dataset_id.shape)}")
        if dataset_id.device != images.device:
            raise ValueError(f"dataset_id is on {dataset_id.device} but images is on {images.device}")
        # A range check reads values: only where that costs no device synchronisation.
        if (
            dataset_id.device.type == "cpu"
            and not torch.compiler.is_compiling()
            and not torch.jit.is_tracing()
            and not torch.onnx.is_in_onnx_export()
            and dataset_id.numel()
            and (int(dataset_id.min()) < 0 or int(dataset_id.max()) >= n)
        ):
            raise ValueError(f"dataset_id values must be in [0, {n}), got {dataset_id.tolist()}")
        return dataset_id.long()

    def forward(self, images: Tensor, dataset_id: Tensor | int | None = None) -> Tensor:
        """Crops ``[B, 3, H, W]`` (+ ``dataset_id [B]``) -> heatmaps ``[B, K, H/4, W/4]``; see the class."""
        if not isinstance(images, Tensor):
            raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
        w, h = self.cfg.image_size
        if images.dim() != 4 or images.shape[1] != 3 or images.shape[2] != h or images.shape[3] != w:
            raise ValueError(
                f"images must have shape [B, 3, {h}, {w}] (cfg.image_size={w}x{h}), got {list(images.shape)}"
            )
        ids = self._dataset_ids(dataset_id, images)
        return self.head(self.backbone(images, ids), ids)

    def set_fused_attention(self, fused: bool) -> ViTPose:
        """Switch attention between ``F.scaled_dot_product_attention`` and the plain matmul path."""
        self.backbone.set_fused_attention(fused)
        self.cfg = self.cfg.replace(fused_attention=bool(fused))
        return self

    # --- optimisation helpers ---------------------------------------------------------------
    def no_weight_decay(self) -> set[str]:
        """Parameter names that take no weight decay by name (besides all biases and 1-D params)."""
        return {"backbone.pos_embed"}

    @property
    def num_layers(self) -> int:
        """Layer ids run 0 (embeddings) .. depth + 1 (last norm and head)."""
        return self.cfg.depth + 2

    def layer_id(self, name: str) -> int:
        """Layer of parameter ``name`` for layer-wise lr decay, as ViTPose's ``get_num_layer_for_vit``:
        0 for the patch and position embeddings, i + 1 for block i, depth + 1 for the rest."""
        if name.startswith(("backbone.pos_embed", "backbone.patch_embed")):
            return 0
        if name.startswith("backbone.blocks."):
            return int(name.split(".")[2]) + 1
        return self.num_layers - 1

    def param_groups(
        self, lr: float, weight_decay: float, layer_decay: float | None = None
    ) -> list[dict[str, Any]]:
        """Optimizer parameter groups with ViTPose's LayerDecayOptimizerConstructor rules.

        Each trainable parameter gets ``lr * layer_decay ** (num_layers - 1 - layer_id)``; biases, 1-D
        parameters (norms) and ``no_weight_decay()`` names get weight decay 0. Groups carry ``lr_scale``
        (multiply a scheduled base lr by it), ``layer_id`` and ``param_names``.
        ``layer_decay=None`` means 1 (no decay).
        """
        decay_rate = 1.0 if layer_decay is None else float(layer_decay)
        if not 0.0 < decay_rate <= 1.0:
            raise ValueError(f"layer_decay must be in (0, 1], got {layer_decay}")
        skip = self.no_weight_decay()
        groups: dict[str, dict[str, Any]] = {}
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            no_decay = p.ndim == 1 or name.endswith(".bias") or name in skip
            lid = self.layer_id(name)
            key = f"layer_{lid}_{'no_decay' if no_decay else 'decay'}"
            if key not in groups:
                scale = decay_rate ** (self.num_layers - 1 - lid)
                groups[key] = {
                    "params": [],
                    "param_names": [],
                    "lr": lr * scale,
                    "lr_scale": scale,
                    "weight_decay": 0.0 if no_decay else weight_decay,
                    "layer_id": lid,
                    "group_name": key,
                }
            groups[key]["params"].append(p)
            groups[key]["param_names"].append(name)
        return list(groups.values())


def build_model(
    variant: str = "b",
    num_keypoints: int | None = None,
    layout: str = "coco",
    head: str = "classic",
    image_size: tuple[int, int] = (192, 256),
    *,
    num_datasets: int = 1,
    per_dataset_heads: bool = False,
    num_experts: int = 0,
    **overrides: Any,
) -> ViTPose:
    """Build a ViTPose model.

    Args:
        variant: "tiny" (CPU tests, demo), "s", "b", "l" or "h" (published hyper-parameters).
        num_keypoints: output channels; None takes K of ``layout``'s schema. When both are given they
            must agree.
        layout: keypoint schema name of the outputs (e.g. "coco", "union21").
        head: "classic" (two deconvs) or "simple" (bilinear x4 + 3x3 conv).
        image_size: input (W, H), e.g. (192, 256).
        num_datasets, per_dataset_heads, num_experts: multi-dataset options (see ``ViTPoseConfig``);
            ViTPose+ uses ``num_experts=num_datasets``.
        overrides: any other ``ViTPoseConfig`` field (``drop_path_rate``, ``patch_size``,
            ``fused_attention``, ...). Unknown names raise ValueError.

    Example:
        >>> model = build_model("tiny", layout="union21", image_size=(96, 128))
        >>> model(torch.zeros(2, 3, 128, 96)).shape
        torch.Size([2, 21, 32, 24])
    """
    if not isinstance(variant, str) or variant.lower() not in VARIANTS:
        raise ValueError(
            f"unknown variant {variant!r}; choose from {list(VARIANTS)}"
            + _did_you_mean(str(variant), VARIANTS)
        )
    fields = dict(
        layout=layout,
        num_keypoints=num_keypoints,
        image_size=tuple(image_size),
        variant=variant.lower(),
        decoder=head,
        num_datasets=num_datasets,
        per_dataset_heads=per_dataset_heads,
        num_experts=num_experts,
    )
    fields.update(overrides)
    return ViTPose(ViTPoseConfig.from_dict(fields))
