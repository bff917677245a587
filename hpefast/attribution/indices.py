"""PoseIG's indices of attribution maps, batched in torch on the maps' device.

Formulas exactly as ``lib/poseig_tools/index.py`` (and ``check_J2J`` in ``data_util.py``) of
QY-H00/PoseIG-Template; the per-map loops of that file are :mod:`hpefast._reference.attribution`.

- DI, dispersion index: ``(1 - gini(map)) * 100``, the Gini coefficient of the map's values (shifted to
  be non-negative, plus 1e-7). High: the model looks everywhere; low: at a few pixels.
- FI, foreground index: the map's share inside the person mask (dilated by a 5x5 max-pool) divided by
  the mask's share of the image. > 1: attention on the person.
- LI, localization index: ``sum(map / sum(map) * heatmap) * H * W / sum(heatmap)`` with the joint's
  ground-truth heatmap resized (bilinear) to the map. > 1: attention around the joint.
- RI, relation index: LI of joint a's map against joint b's heatmap, a J x J matrix per sample.
- EPE: Euclidean distance of predicted and ground-truth keypoints.
- Joint inversions: predicted joint a is farther than epsilon from its ground truth and nearer than
  epsilon to joint b's.

NaN from empty maps / masks / heatmaps become 0 (the template's ``nan_to_num``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "FI_DILATION",
    "dispersion_index",
    "foreground_index",
    "localization_index",
    "relation_index",
    "epe",
    "joint_inversions",
    "dilate_mask",
]

FI_DILATION = 5  # index.py torch_dilation size (max-pool 5x5, stride 1, padding 2)


def _check_maps(ig: Tensor, name: str = "ig") -> None:
    if not isinstance(ig, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor [B, J, H, W], got {type(ig).__name__}")
    if ig.dim() != 4:
        raise ValueError(f"{name} must have shape [B, J, H, W], got {list(ig.shape)}")
    if not ig.dtype.is_floating_point:
        raise TypeError(f"{name} must be floating point, got {ig.dtype}")


def _nan_to_num(x: Tensor) -> Tensor:
    """numpy / torch nan_to_num: NaN -> 0, +-inf -> the dtype's extremes."""
    return torch.nan_to_num(x)


def dispersion_index(ig: Tensor) -> Tensor:
    """DI ``(1 - gini) * 100`` of each map.

    Args:
        ig: [B, J, H, W] attribution maps.
    Returns:
        [B, J] float64 in [0, 100] (100: uniform map).
    """
    _check_maps(ig)
    b, j = ig.shape[:2]
    a = ig.detach().reshape(b, j, -1).to(torch.float64)
    n = a.shape[-1]
    low = a.amin(-1, keepdim=True)
    a = torch.where(low < 0, a - low, a) + 1e-7
    a, _ = torch.sort(a, dim=-1)
    index = torch.arange(1, n + 1, dtype=a.dtype, device=a.device)
    g = ((2 * index - n - 1) * a).sum(-1) / (n * a.sum(-1))
    return _nan_to_num((1 - g) * 100)


def dilate_mask(mask: Tensor, size: int = FI_DILATION) -> Tensor:
    """Binary dilation by a ``size x size`` max-pool (stride 1, same size): [B, 1, H, W] -> same."""
    return F.max_pool2d(mask, size, stride=1, padding=(size - 1) // 2)


def _normalise(ig: Tensor) -> Tensor:
    return ig / ig.sum(dim=(-1, -2), keepdim=True)


def foreground_index(ig: Tensor, mask: Tensor, dilation: int = FI_DILATION) -> Tensor:
    """FI of each map against its sample's person mask.

    Args:
        ig: [B, J, H, W] attribution maps (non-negative, as ``integrated_gradients`` gives).
        mask: [B, 1, H, W] or [B, H, W] person mask (1 inside), at the maps' size.
        dilation: max-pool size of the mask dilation (PoseIG: 5).
    Returns:
        [B, J]: 1 = as much attribution on the (dilated) person as on the average pixel.
    """
    _check_maps(ig)
    if not isinstance(mask, Tensor):
        raise TypeError(f"mask must be a torch.Tensor [B, 1, H, W], got {type(mask).__name__}")
    if mask.dim() == 3:
        mask = mask[:, None]
    b = ig.shape[0]
    if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[0] != b or mask.shape[2:] != ig.shape[2:]:
        raise ValueError(
            f"mask must have shape [B={ig.shape[0]}, 1, {ig.shape[2]}, {ig.shape[3]}] (the maps' size), got "
            f"{list(mask.shape)}"
        )
    m = dilate_mask(mask.to(device=ig.device, dtype=ig.dtype), dilation)
    pixels = m.shape[-1] * m.shape[-2]
    fi = (_normalise(ig) * m).sum(dim=(-1, -2)) * pixels / m.sum(dim=(-1, -2))
    return _nan_to_num(fi)


def _heatmaps_at(hm: Tensor, size: tuple[int, int], b: int) -> Tensor:
    if not isinstance(hm, Tensor):
        raise TypeError(f"gt_heatmaps must be a torch.Tensor [B, J, h, w], got {type(hm).__name__}")
    if hm.dim() != 4 or hm.shape[0] != b:
        raise ValueError(f"gt_heatmaps must have shape [B={b}, J, h, w], got {list(hm.shape)}")
    if tuple(hm.shape[2:]) != size:
        # PoseIG: torchvision Resize((H, W)) of the target heatmaps (bilinear; upsampling)
        hm = F.interpolate(hm, size=size, mode="bilinear", align_corners=False)
    return hm


def localization_index(ig: Tensor, gt_heatmaps: Tensor) -> Tensor:
    """LI of each joint's map against the same joint's ground-truth heatmap.

    Args:
        ig: [B, J, H, W] attribution maps.
        gt_heatmaps: [B, J, h, w] target heatmaps (e.g. ``encode_heatmaps`` of the ground truth),
            resized bilinearly to (H, W) when smaller, as PoseIG does.
    Returns:
        [B, J]: 1 = no more attribution near the joint than elsewhere.
    """
    _check_maps(ig)
    hm = _heatmaps_at(gt_heatmaps, tuple(ig.shape[2:]), ig.shape[0]).to(ig)
    if hm.shape[1] != ig.shape[1]:
        raise ValueError(f"gt_heatmaps has {hm.shape[1]} joints but ig has {ig.shape[1]}")
    pixels = hm.shape[-1] * hm.shape[-2]
    li = (_normalise(ig) * hm).sum(dim=(-1, -2)) * pixels / hm.sum(dim=(-1, -2))
    return _nan_to_num(li)


def relation_index(ig: Tensor, gt_heatmaps: Tensor) -> Tensor:
    """RI: ``RI[b, a, c]`` = LI of joint a's map against joint c's ground-truth heatmap.

    Args:
        ig: [B, J, H, W]; gt_heatmaps: [B, K, h, w] (resized like :func:`localization_index`).
    Returns:
        [B, J, K]; the diagonal (J == K) is :func:`localization_index`.
    """
    _check_maps(ig)
    hm = _heatmaps_at(gt_heatmaps, tuple(ig.shape[2:]), ig.shape[0]).to(ig)
    pixels = hm.shape[-1] * hm.shape[-2]
    ri = torch.einsum("bjhw,bkhw->bjk", _normalise(ig), hm) * pixels / hm.sum(dim=(-1, -2))[:, None, :]
    return _nan_to_num(ri)


def epe(pred: Tensor, gt: Tensor) -> Tensor:
    """End-point error ``||pred - gt||``: [..., J, 2] x2 -> [..., J] (units of the inputs)."""
    if not isinstance(pred, Tensor) or not isinstance(gt, Tensor):
        raise TypeError("pred and gt must be torch.Tensors [..., J, 2]")
    if pred.shape != gt.shape or pred.shape[-1] not in (2, 3):
        raise ValueError(f"pred {list(pred.shape)} and gt {list(gt.shape)} must both be [..., J, 2]")
    return torch.linalg.vector_norm(pred - gt, dim=-1)


def joint_inversions(
    pred: Tensor, gt: Tensor, visible: Tensor | None = None, epsilon: float = 10.0
) -> tuple[Tensor, Tensor, Tensor]:
    """PoseIG's joint-to-joint check (``check_J2J``), batched.

    Args:
        pred, gt: [B, J, 2] keypoints (PoseIG: input pixels, heatmap soft-argmax times 4).
        visible: [B, J]; pairs need both joints labelled.
        epsilon: distance threshold (PoseIG: 10).
    Returns:
        inverted [B, J, J] bool: ``inverted[b, a, c]`` when prediction a is farther than epsilon from
        ground truth a and nearer than epsilon to ground truth c (a != c); count [B] (inverted pairs) and
        swaps [B] (pairs inverted both ways).
    """
    if pred.dim() != 3 or pred.shape != gt.shape or pred.shape[-1] != 2:
        raise ValueError(f"pred {list(pred.shape)} and gt {list(gt.shape)} must both be [B, J, 2]")
    b, j, _ = pred.shape
    vis = torch.ones(b, j, dtype=torch.bool, device=pred.device) if visible is None else visible > 0
    own = torch.linalg.vector_norm(pred - gt, dim=-1)  # [B, J]
    cross = torch.linalg.vector_norm(pred[:, :, None] - gt[:, None], dim=-1)  # [B, J(pred), J(gt)]
    pair = vis[:, :, None] & vis[:, None, :] & ~torch.eye(j, dtype=torch.bool, device=pred.device)
    inverted = pair & (own[:, :, None] > epsilon) & (cross < epsilon)
    count = inverted.sum(dim=(1, 2))
    swaps = (inverted & inverted.transpose(1, 2)).sum(dim=(1, 2)) // 2
    return inverted, count, swaps
