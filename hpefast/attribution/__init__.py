"""Attribution of pose models: PoseIG's integrated gradients and indices, batched, for any torch model.

- :func:`integrated_gradients` (ig.py): one map per joint ``[B, J, H, W]``, PoseIG's blur path or a
  straight line, all joints from one batched backward per step.
- indices.py: :func:`dispersion_index` (DI), :func:`foreground_index` (FI), :func:`localization_index`
  (LI), :func:`relation_index` (RI), :func:`epe`, :func:`joint_inversions`.
- masks.py: person masks from COCO segmentations for FI.
- report.py: the ``idx.json`` / ``epe.json`` files in PoseIG's layout, CSV summaries and plots
  (``hpefast attribute``).

The template-style loops these equal are in :mod:`hpefast._reference.attribution`.
"""

from hpefast.attribution.ig import (
    POSEIG_BETA,
    POSEIG_DECAY,
    heatmap_stride,
    integrated_gradients,
    soft_argmax,
)
from hpefast.attribution.indices import (
    dilate_mask,
    dispersion_index,
    epe,
    foreground_index,
    joint_inversions,
    localization_index,
    relation_index,
)
from hpefast.attribution.masks import crop_mask, instance_mask, segmentation_mask

__all__ = [
    "POSEIG_BETA",
    "POSEIG_DECAY",
    "integrated_gradients",
    "soft_argmax",
    "heatmap_stride",
    "dispersion_index",
    "foreground_index",
    "localization_index",
    "relation_index",
    "epe",
    "joint_inversions",
    "dilate_mask",
    "segmentation_mask",
    "instance_mask",
    "crop_mask",
]
