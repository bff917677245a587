"""The 17-joint Human3.6M skeleton (VideoPose3D / mmpose ``h36m`` order), registered as schema ``"h36m"``.

Joint order: 0 pelvis (root), 1 right_hip, 2 right_knee, 3 right_foot, 4 left_hip, 5 left_knee,
6 left_foot, 7 spine, 8 thorax, 9 neck_base (VideoPose3D's "neck/nose"), 10 head, 11 left_shoulder,
12 left_elbow, 13 left_wrist, 14 right_shoulder, 15 right_elbow, 16 right_wrist. Right is the person's
right (checked on real frames, see ``shared/data/h36m/README.md``).

These are motion-capture joint centres, not image annotations: their keys carry an ``h36m/`` prefix so
that :func:`hpefast.keypoints.map_keypoints` never equates them with COCO's annotated hips or shoulders;
:func:`hpefast.lifting.h36m.to_h36m` builds H36M-17 from COCO-17 / union21 detections instead. The OKS
sigmas are COCO's by joint meaning (0.079 for the centre joints): Human3.6M has no OKS protocol, they only
let OKS-based tools run on the schema.
"""

from __future__ import annotations

from hpefast.keypoints.schema import KeypointSchema, flip_pairs, register_schema

H36M_NAMES = (
    "pelvis", "right_hip", "right_knee", "right_foot", "left_hip", "left_knee", "left_foot", "spine",
    "thorax", "neck_base", "head", "left_shoulder", "left_elbow", "left_wrist", "right_shoulder",
    "right_elbow", "right_wrist",
)  # fmt: skip
# parent of each joint in the kinematic tree (VideoPose3D's 17-joint skeleton after remove_static_joints)
H36M_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
H36M_LEFT = (4, 5, 6, 11, 12, 13)
H36M_RIGHT = (1, 2, 3, 14, 15, 16)
_SIGMAS = (
    0.079, 0.107, 0.087, 0.089, 0.107, 0.087, 0.089, 0.079, 0.079, 0.079, 0.079, 0.079, 0.072, 0.062,
    0.079, 0.072, 0.062,
)  # fmt: skip
_WEIGHTS = (1.0, 1.0, 1.2, 1.5, 1.0, 1.2, 1.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.2, 1.5, 1.0, 1.2, 1.5)

H36M_SCHEMA = KeypointSchema(
    name="h36m",
    names=H36M_NAMES,
    sigmas=_SIGMAS,
    flip_index=flip_pairs(H36M_NAMES),
    skeleton=tuple((p, c) for c, p in enumerate(H36M_PARENTS) if p >= 0),
    joint_weights=_WEIGHTS,
    keys=tuple(f"h36m/{n}" for n in H36M_NAMES),
    upper_body=(7, 8, 9, 10, 11, 12, 13, 14, 15, 16),
)
register_schema(H36M_SCHEMA)
