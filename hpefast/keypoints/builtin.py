"""The built-in schemas.

Names, sigmas and skeletons are those of mmpose's dataset metainfo (``configs/_base_/datasets/{coco,mpii,
aic,crowdpose,ap10k}.py``); skeletons are 0-based. Two deliberate departures, both about loss weights only
(never about evaluation):

* ``crowdpose``: mmpose's ``joint_weights`` ([0.2, 0.2, 0.2, 1.3, 1.5, 0.2, 1.3, 1.5, 0.2, 0.2, 0.5, 0.2,
  0.2, 0.5]) weight the left and right wrist 1.5 and 0.2; we use COCO's rule (1.0 trunk and head, 1.2
  elbows/knees, 1.5 wrists/ankles), which is flip-symmetric.
* ``ap10k``: mmpose reuses COCO's weights in COCO order (front paws 1.2 and 1.5); we apply the same
  rule by joint meaning (paws 1.5, elbows/knees 1.2, the rest 1.0).

The OKS sigmas are kept exactly as published because they define each dataset's evaluation protocol,
including AIC's asymmetric set (measured per joint by the AI Challenger evaluation script). AP-10K's are
COCO's values assigned by joint meaning in AP-10K's order (shoulder 0.079, elbow 0.072, front paw 0.062,
hip 0.107, knee 0.087, back paw 0.089), as in mmpose's ``ap10k.py``.

Union layouts (DESIGN.md): ``union21`` = COCO-17 + MPII head_top, upper_neck, thorax, pelvis (17..20);
``union23`` = union21 + AIC head_top, neck (21, 22). The extra joints keep the sigma of their source dataset.
"""

from __future__ import annotations

from hpefast.keypoints.schema import KeypointSchema, flip_pairs, register_schema

COCO_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
COCO_SIGMAS = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107,
    0.087, 0.087, 0.089, 0.089,
)  # fmt: skip
COCO_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5)
COCO_SKELETON = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
    (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)  # fmt: skip

MPII_NAMES = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "thorax",
    "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder",
    "left_elbow", "left_wrist",
)  # fmt: skip
MPII_SIGMAS = (
    0.089, 0.083, 0.107, 0.107, 0.083, 0.089, 0.026, 0.026, 0.026, 0.026, 0.062, 0.072, 0.179, 0.179,
    0.072, 0.062,
)  # fmt: skip
MPII_WEIGHTS = (1.5, 1.2, 1.0, 1.0, 1.2, 1.5, 1.0, 1.0, 1.0, 1.0, 1.5, 1.2, 1.0, 1.0, 1.2, 1.5)
MPII_SKELETON = (
    (0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (8, 12), (12, 11),
    (11, 10), (8, 13), (13, 14), (14, 15),
)  # fmt: skip

AIC_NAMES = (
    "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "head_top", "neck",
)  # fmt: skip
AIC_SIGMAS = (
    0.01388152, 0.01515228, 0.01057665, 0.01417709, 0.01497891, 0.01402144, 0.03909642, 0.03686941,
    0.01981803, 0.03843971, 0.03412318, 0.02415081, 0.01291456, 0.01236173,
)  # fmt: skip
AIC_WEIGHTS = (1.0, 1.2, 1.5, 1.0, 1.2, 1.5, 1.0, 1.2, 1.5, 1.0, 1.2, 1.5, 1.0, 1.0)
AIC_SKELETON = (
    (2, 1), (1, 0), (0, 13), (13, 3), (3, 4), (4, 5), (8, 7), (7, 6), (6, 9), (9, 10), (10, 11),
    (12, 13), (0, 6), (3, 9),
)  # fmt: skip

CROWDPOSE_NAMES = (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "top_head", "neck",
)  # fmt: skip
CROWDPOSE_SIGMAS = (
    0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089, 0.079, 0.079,
)  # fmt: skip
CROWDPOSE_WEIGHTS = (1.0, 1.0, 1.2, 1.2, 1.5, 1.5, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5, 1.0, 1.0)
CROWDPOSE_SKELETON = (
    (10, 8), (8, 6), (11, 9), (9, 7), (6, 7), (0, 6), (1, 7), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5),
    (12, 13), (1, 13), (0, 13),
)  # fmt: skip

AP10K_NAMES = (
    "left_eye", "right_eye", "nose", "neck", "root_of_tail", "left_shoulder", "left_elbow",
    "left_front_paw", "right_shoulder", "right_elbow", "right_front_paw", "left_hip", "left_knee",
    "left_back_paw", "right_hip", "right_knee", "right_back_paw",
)  # fmt: skip
AP10K_SIGMAS = (
    0.025, 0.025, 0.026, 0.035, 0.035, 0.079, 0.072, 0.062, 0.079, 0.072, 0.062, 0.107, 0.087,
    0.089, 0.107, 0.087, 0.089,
)  # fmt: skip
AP10K_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.2, 1.5, 1.0, 1.2, 1.5, 1.0, 1.2, 1.5, 1.0, 1.2, 1.5)
AP10K_SKELETON = (
    (0, 1), (0, 2), (1, 2), (2, 3), (3, 4), (3, 5), (5, 6), (6, 7), (3, 8), (8, 9), (9, 10), (4, 11),
    (11, 12), (12, 13), (4, 14), (14, 15), (15, 16),
)  # fmt: skip

# The four MPII joints and two AIC joints that COCO lacks (DESIGN.md, "Union layouts").
_MPII_EXTRA = ("head_top", "upper_neck", "thorax", "pelvis")  # union21 joints 17..20
_AIC_EXTRA = ("head_top", "neck")  # union23 joints 21, 22


def _prefixed(names: tuple[str, ...], prefix: str, own: tuple[str, ...]) -> tuple[str, ...]:
    """Keys: limb joints keep their name (shared by human datasets); dataset-specific ones get a prefix."""
    return tuple(f"{prefix}/{n}" if n in own else n for n in names)


def _build() -> list[KeypointSchema]:
    coco = KeypointSchema(
        name="coco",
        names=COCO_NAMES,
        sigmas=COCO_SIGMAS,
        flip_index=flip_pairs(COCO_NAMES),
        skeleton=COCO_SKELETON,
        joint_weights=COCO_WEIGHTS,
        upper_body=tuple(range(11)),
    )
    mpii = KeypointSchema(
        name="mpii",
        names=MPII_NAMES,
        sigmas=MPII_SIGMAS,
        flip_index=flip_pairs(MPII_NAMES),
        skeleton=MPII_SKELETON,
        joint_weights=MPII_WEIGHTS,
        keys=_prefixed(MPII_NAMES, "mpii", _MPII_EXTRA),
        upper_body=(7, 8, 9, 10, 11, 12, 13, 14, 15),
    )
    aic = KeypointSchema(
        name="aic",
        names=AIC_NAMES,
        sigmas=AIC_SIGMAS,
        flip_index=flip_pairs(AIC_NAMES),
        skeleton=AIC_SKELETON,
        joint_weights=AIC_WEIGHTS,
        keys=_prefixed(AIC_NAMES, "aic", _AIC_EXTRA),
        upper_body=(0, 1, 2, 3, 4, 5, 12, 13),
    )
    crowdpose = KeypointSchema(
        name="crowdpose",
        names=CROWDPOSE_NAMES,
        sigmas=CROWDPOSE_SIGMAS,
        flip_index=flip_pairs(CROWDPOSE_NAMES),
        skeleton=CROWDPOSE_SKELETON,
        joint_weights=CROWDPOSE_WEIGHTS,
        keys=_prefixed(CROWDPOSE_NAMES, "crowdpose", ("top_head", "neck")),
        upper_body=(0, 1, 2, 3, 4, 5, 12, 13),
    )
    ap10k = KeypointSchema(
        name="ap10k",
        names=AP10K_NAMES,
        sigmas=AP10K_SIGMAS,
        flip_index=flip_pairs(AP10K_NAMES),
        skeleton=AP10K_SKELETON,
        joint_weights=AP10K_WEIGHTS,
        keys=tuple(f"ap10k/{n}" for n in AP10K_NAMES),  # animal joints never map to human ones
        upper_body=(0, 1, 2, 3, 5, 6, 7, 8, 9, 10),
    )
    mpii_sig = {n: s for n, s in zip(MPII_NAMES, MPII_SIGMAS, strict=True)}
    aic_sig = {n: s for n, s in zip(AIC_NAMES, AIC_SIGMAS, strict=True)}
    u21_names = COCO_NAMES + ("head_top", "upper_neck", "thorax", "pelvis")
    union21 = KeypointSchema(
        name="union21",
        names=u21_names,
        sigmas=COCO_SIGMAS + tuple(mpii_sig[n] for n in _MPII_EXTRA),
        flip_index=flip_pairs(u21_names),
        skeleton=COCO_SKELETON + ((17, 18), (18, 19), (19, 20)),
        joint_weights=COCO_WEIGHTS + (1.0,) * 4,
        keys=COCO_NAMES + tuple(f"mpii/{n}" for n in _MPII_EXTRA),
        upper_body=tuple(range(11)) + (17, 18, 19),
    )
    u23_names = u21_names + ("aic_head_top", "aic_neck")
    union23 = KeypointSchema(
        name="union23",
        names=u23_names,
        sigmas=union21.sigmas.tolist() + [aic_sig[n] for n in _AIC_EXTRA],
        flip_index=flip_pairs(u23_names),
        skeleton=union21.skeleton + ((21, 22),),
        joint_weights=union21.joint_weights.tolist() + [1.0, 1.0],
        keys=union21.keys + tuple(f"aic/{n}" for n in _AIC_EXTRA),
        upper_body=union21.upper_body + (21, 22),
    )
    return [coco, mpii, aic, crowdpose, ap10k, union21, union23]


for _schema in _build():
    register_schema(_schema)
