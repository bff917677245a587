"""Synthetic people and synthetic "dataset conventions", for testing translators and the analysis tools.

Two datasets that label the same person disagree in known ways: MPII puts the hips lower and wider than
COCO, has a thorax, an upper neck and a head top where COCO has a nose, eyes and ears. This module writes
such conventions down as explicit functions, in each person's own torso frame (so they rotate and scale
with the person), which gives test data whose answer is known:

- :func:`random_poses` draws COCO-17 people (articulated limbs, head yaw, rotation, scale, position);
- :func:`coco_to_mpii` and :func:`mpii_to_coco` are the conventions: where an MPII annotator would put the
  16 MPII joints of a person given its COCO joints, and the reverse;
- :func:`convert` applies them for any pair of schemas that share the needed joints (union layouts included);
- :func:`simulate_predictions` turns a dataset's ground truth into the predictions a model trained on
  another dataset would make on it (the other convention, plus noise, plus scores) as a COCO results list.

The functions are deterministic; all randomness comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hpefast.translate._schema import get_schema, index_map

# Convention offsets in units of the torso length (mid-hip to mid-shoulder), along the torso frame:
# ``up`` (mid-hip -> mid-shoulder) and ``left`` (the person's left as seen from the front).
HIP_DOWN, HIP_OUT = 0.12, 0.07  # MPII hips: lower and wider than COCO's
SHOULDER_UP, SHOULDER_OUT = 0.03, 0.03  # MPII shoulders: a little higher and wider
THORAX_UP = 0.04  # MPII thorax: just above the mid-shoulder
PELVIS_UP = 0.05  # MPII pelvis: just above the mid-(MPII-)hip


def _torso_frame(lsh: np.ndarray, rsh: np.ndarray, lhip: np.ndarray, rhip: np.ndarray):
    """(up [N,2] unit, left [N,2] unit, length [N]) of the torso from shoulders and hips [N, 2]."""
    axis = 0.5 * (lsh + rsh) - 0.5 * (lhip + rhip)
    length = np.linalg.norm(axis, axis=-1)
    up = axis / np.maximum(length, 1e-9)[:, None]
    left = np.stack([-up[:, 1], up[:, 0]], axis=-1)  # upright person (up = (0, -1)): left = +x
    return up, left, length


def _convert_torso(
    joints: dict[str, np.ndarray], to_mpii: bool
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Hips and shoulders moved into the other convention (COCO -> MPII, or back with the opposite signs),
    their visibilities capped by the torso's, plus the torso frame's up and left vectors scaled by the
    torso length ``[N, 2]`` each."""
    up, left, length = _torso_frame(
        joints["left_shoulder"][:, :2],
        joints["right_shoulder"][:, :2],
        joints["left_hip"][:, :2],
        joints["right_hip"][:, :2],
    )
    u, l = up * length[:, None], left * length[:, None]
    torso_v = np.minimum.reduce(
        [joints[n][:, 2] for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")]
    )
    sign = 1.0 if to_mpii else -1.0
    offsets = {  # (up, left) in torso lengths, COCO -> MPII
        "right_hip": (-HIP_DOWN, -HIP_OUT),
        "left_hip": (-HIP_DOWN, HIP_OUT),
        "right_shoulder": (SHOULDER_UP, -SHOULDER_OUT),
        "left_shoulder": (SHOULDER_UP, SHOULDER_OUT),
    }
    moved = {}
    for name, (d_up, d_left) in offsets.items():
        out = joints[name].copy()
        out[:, :2] += sign * (d_up * u + d_left * l)
        out[:, 2] = np.minimum(out[:, 2], torso_v)
        moved[name] = out
    return moved, u, l


def coco_to_mpii(coco: np.ndarray) -> np.ndarray:
    """The MPII annotation ``[N, 16, 3]`` of people labelled COCO-style ``coco [N, 17, 3]``.

    Shared limb joints move by the hip/shoulder convention offsets; thorax, pelvis, upper neck and head top
    are built from the shoulders, the MPII hips and the face (ears, eyes, nose). The third column is the
    minimum of the visibilities (scores) of the joints each output depends on.
    """
    coco = np.asarray(coco, dtype=np.float64)
    c = {n: coco[:, i] for i, n in enumerate(get_schema("coco").names)}
    m, u, l = _convert_torso(c, to_mpii=True)
    for name in (
        "right_ankle",
        "right_knee",
        "left_knee",
        "left_ankle",
        "right_wrist",
        "right_elbow",
        "left_elbow",
        "left_wrist",
    ):
        m[name] = c[name].copy()
    mid_sh = 0.5 * (c["left_shoulder"] + c["right_shoulder"])
    m["thorax"] = mid_sh.copy()
    m["thorax"][:, :2] += THORAX_UP * u
    m["pelvis"] = 0.5 * (m["left_hip"] + m["right_hip"])
    m["pelvis"][:, :2] += PELVIS_UP * u
    ears = 0.5 * (c["left_ear"] + c["right_ear"])
    eyes = 0.5 * (c["left_eye"] + c["right_eye"])
    face_v = np.minimum.reduce([ears[:, 2], eyes[:, 2], c["nose"][:, 2], mid_sh[:, 2]])
    neck = mid_sh[:, :2] + 0.55 * (ears[:, :2] - mid_sh[:, :2])
    top = ears[:, :2] + 0.8 * (ears[:, :2] - neck) + 1.0 * (eyes[:, :2] - c["nose"][:, :2])
    m["upper_neck"] = np.concatenate([neck, face_v[:, None]], axis=1)
    m["head_top"] = np.concatenate([top, face_v[:, None]], axis=1)
    return np.stack([m[n] for n in get_schema("mpii").names], axis=1)


def mpii_to_coco(mpii: np.ndarray) -> np.ndarray:
    """The COCO annotation ``[N, 17, 3]`` of people labelled MPII-style ``mpii [N, 16, 3]``.

    Hips and shoulders move by the opposite convention offsets; the face is placed rigidly in the head frame
    spanned by upper neck -> head top (nose, eyes, ears at fixed fractions along and across it).
    """
    mpii = np.asarray(mpii, dtype=np.float64)
    p = {n: mpii[:, i] for i, n in enumerate(get_schema("mpii").names)}
    c, u, l = _convert_torso(p, to_mpii=False)
    for name in (
        "right_ankle",
        "right_knee",
        "left_knee",
        "left_ankle",
        "right_wrist",
        "right_elbow",
        "left_elbow",
        "left_wrist",
    ):
        c[name] = p[name].copy()
    neck, top = p["upper_neck"], p["head_top"]
    a = top[:, :2] - neck[:, :2]
    side = np.stack([-a[:, 1], a[:, 0]], axis=-1)  # the person's left for an upright head
    head_v = np.minimum(neck[:, 2], top[:, 2])[:, None]

    def face(along: float, across: float) -> np.ndarray:
        return np.concatenate([neck[:, :2] + along * a + across * side, head_v], axis=1)

    c["nose"] = face(0.40, 0.0)
    c["left_eye"], c["right_eye"] = face(0.52, 0.10), face(0.52, -0.10)
    c["left_ear"], c["right_ear"] = face(0.45, 0.22), face(0.45, -0.22)
    return np.stack([c[n] for n in get_schema("coco").names], axis=1)


_CONVENTIONS = {("coco", "mpii"): coco_to_mpii, ("mpii", "coco"): mpii_to_coco}


def convert(keypoints: np.ndarray, src: str, dst: str) -> np.ndarray:
    """How a ``dst`` annotator would label people labelled ``keypoints [N, Ks, 3]`` in schema ``src``.

    Goes through COCO and MPII: the ``src`` joints are gathered into the COCO (or MPII) schema, converted
    with :func:`coco_to_mpii` / :func:`mpii_to_coco` when the convention changes, and mapped into ``dst``.
    Joints of an intermediate schema that ``src`` lacks come from the other convention when ``src`` has
    them (union21 = COCO + MPII extras). Raises ValueError when a ``dst`` joint cannot be made.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    n = keypoints.shape[0]
    out = np.zeros((n, get_schema(dst).num_keypoints, 3))
    made = np.zeros(get_schema(dst).num_keypoints, dtype=bool)
    # 1) joints present in src under the same key keep their src labelling only when src and dst agree on
    #    conventions (same base dataset); 2) otherwise go through the conventions.
    for base in ("coco", "mpii"):
        to_base = index_map(src, base)
        if (to_base < 0).any():
            continue
        base_kp = keypoints[:, to_base]
        for target in ("coco", "mpii"):
            conv = base_kp if target == base else _CONVENTIONS[(base, target)](base_kp)
            idx = index_map(target, dst)
            fill = (idx >= 0) & ~made & _convention_ok(src, dst, target)
            out[:, fill] = conv[:, idx[fill]]
            made |= fill
    if not made.all():
        missing = [get_schema(dst).names[i] for i in np.flatnonzero(~made)]
        raise ValueError(f"no synthetic convention makes {dst!r} joints {missing} from schema {src!r}")
    return out


def _convention_ok(src: str, dst: str, target: str) -> bool:
    """Whether joints labelled in convention ``target`` are what ``dst`` means: a dataset's own schema takes
    its own convention; union layouts hold COCO joints (0..16) in COCO's and MPII extras in MPII's."""
    if dst in ("coco", "mpii"):
        return target == dst
    return True


def random_poses(
    n: int, rng: np.random.Generator, image_size: tuple[int, int] = (640, 480), occlusion: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` COCO-17 people: ``(keypoints [n, 17, 3] image pixels + visibility 2 (1 when occluded),
    boxes [n, 4] x, y, w, h)`` — the box is the keypoints' extent padded by 10 %.

    Limb angles, torso lean, shoulder/hip width (body turn), head yaw and tilt, in-plane rotation
    (+-25 degrees), scale (person height 35..90 % of the image height) and position are random.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    w_img, h_img = image_size

    def rot(v: np.ndarray, ang: np.ndarray) -> np.ndarray:
        c, s = np.cos(ang), np.sin(ang)
        return np.stack([c * v[..., 0] - s * v[..., 1], s * v[..., 0] + c * v[..., 1]], axis=-1)

    def unit(ang):  # direction at angle ang from straight down (image y down), positive = towards +x
        return np.stack([np.sin(ang), np.cos(ang)], axis=-1)

    u = lambda lo, hi: rng.uniform(lo, hi, n)  # noqa: E731
    turn = np.cos(u(-1.0, 1.0))  # body turn squeezes widths
    lean = u(-0.25, 0.25)
    hip_c = np.zeros((n, 2))
    sh_c = hip_c + rot(np.array([0.0, -0.30]), lean)
    hip_w, sh_w = 0.09 * turn, 0.14 * turn
    across = rot(np.array([1.0, 0.0]), lean)
    j = {}
    j["left_hip"], j["right_hip"] = hip_c + hip_w[:, None] * across, hip_c - hip_w[:, None] * across
    j["left_shoulder"], j["right_shoulder"] = sh_c + sh_w[:, None] * across, sh_c - sh_w[:, None] * across
    for side, sgn in (("left", 1.0), ("right", -1.0)):
        a1 = sgn * u(0.05, 1.6)
        j[f"{side}_elbow"] = j[f"{side}_shoulder"] + 0.16 * unit(a1)
        j[f"{side}_wrist"] = j[f"{side}_elbow"] + 0.14 * unit(a1 + sgn * u(-0.3, 1.8))
        t1 = sgn * u(-0.3, 0.6)
        j[f"{side}_knee"] = j[f"{side}_hip"] + 0.24 * unit(t1)
        j[f"{side}_ankle"] = j[f"{side}_knee"] + 0.23 * unit(t1 - sgn * u(0.0, 1.2))
    yaw, tilt = u(-0.8, 0.8), lean + u(-0.3, 0.3)
    head = sh_c + rot(np.array([0.0, -0.13]), tilt)
    fwd = np.sin(yaw)[:, None] * rot(np.array([1.0, 0.0]), tilt)  # the face turns sideways with yaw

    def on_head(dx: float, dy: float, depth: float) -> np.ndarray:
        # points on a head of radius ~0.06 seen from the front; ``depth`` says how far a point moves sideways
        # with yaw, ``dx`` is narrowed by the yaw (foreshortening)
        return head + rot(np.stack([dx * np.cos(yaw), np.full(n, dy)], -1), tilt) + depth * 0.06 * fwd

    j["nose"] = on_head(0.0, 0.01, 1.0)
    j["left_eye"], j["right_eye"] = on_head(0.025, -0.01, 0.8), on_head(-0.025, -0.01, 0.8)
    j["left_ear"], j["right_ear"] = on_head(0.06, 0.0, -0.3), on_head(-0.06, 0.0, -0.3)
    names = get_schema("coco").names
    xy = np.stack([j[k] for k in names], axis=1)  # [n, 17, 2], roughly 0.95 tall
    # in-plane rotation, scale and position
    xy = rot(xy, u(-0.44, 0.44)[:, None])
    height = u(0.35, 0.9) * h_img
    xy = xy * height[:, None, None]
    lo, hi = xy.min(axis=1), xy.max(axis=1)
    x0 = rng.uniform(0, 1, n) * np.maximum(w_img - (hi[:, 0] - lo[:, 0]), 1.0) - lo[:, 0]
    y0 = rng.uniform(0, 1, n) * np.maximum(h_img - (hi[:, 1] - lo[:, 1]), 1.0) - lo[:, 1]
    xy = xy + np.stack([x0, y0], axis=-1)[:, None]
    vis = np.where(rng.uniform(size=(n, 17)) < occlusion, 1.0, 2.0)
    keypoints = np.concatenate([xy, vis[..., None]], axis=-1)
    return keypoints, boxes_from_keypoints(keypoints, pad=0.1)


def boxes_from_keypoints(keypoints: np.ndarray, pad: float = 0.0) -> np.ndarray:
    """``[N, 4]`` (x, y, w, h): the extent of the joints with v/score > 0 (all joints when none), each side
    widened by ``pad`` times the extent."""
    keypoints = np.asarray(keypoints, dtype=np.float64)
    xy = keypoints[..., :2]
    present = keypoints[..., 2] > 0
    present = np.where(present.any(axis=1, keepdims=True), present, True)
    big = np.where(present[..., None], xy, np.inf)
    small = np.where(present[..., None], xy, -np.inf)
    lo, hi = big.min(axis=1), small.max(axis=1)
    size = hi - lo
    lo, size = lo - pad * size, size * (1 + 2 * pad)
    return np.concatenate([lo, size], axis=1)


def mpii_headboxes(mpii: np.ndarray) -> np.ndarray:
    """Head boxes ``[N, 2, 2]`` ((x1, y1), (x2, y2)) for MPII-labelled people: the axis-aligned square
    around the upper neck -> head top segment, its side the segment's length (MPII head sizes,
    0.6 x the box diagonal, then come out at 0.85 x the head length)."""
    mpii = np.asarray(mpii, dtype=np.float64)
    names = get_schema("mpii").names
    neck, top = mpii[:, names.index("upper_neck"), :2], mpii[:, names.index("head_top"), :2]
    centre, side = 0.5 * (neck + top), np.linalg.norm(top - neck, axis=-1)
    half = 0.5 * side[:, None]
    return np.stack([centre - half, centre + half], axis=1)


def simulate_predictions(
    keypoints: np.ndarray,
    image_ids: np.ndarray,
    gt_schema: str,
    model_schema: str,
    rng: np.random.Generator,
    noise: float = 0.03,
    boxes: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """COCO results of a hypothetical model that labels people in ``model_schema``'s convention, run on
    people labelled ``keypoints [N, Kg, 3]`` in ``gt_schema`` (one prediction per person).

    Each joint is the convention's position plus Gaussian noise of ``noise`` x the person's size
    (sqrt of the keypoint-extent area); joints derived from unlabelled ground truth get a random position
    inside the box and a low score. Scores are ``0.95 - 2 x`` the joint's normalised error, clipped to
    [0.05, 1]. ``boxes [N, 4]`` (defaults to the keypoint extent) become each result's ``bbox``.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    n = keypoints.shape[0]
    if boxes is None:
        boxes = boxes_from_keypoints(keypoints, pad=0.1)
    conv = convert(keypoints, gt_schema, model_schema)
    size = np.sqrt(np.maximum(boxes[:, 2] * boxes[:, 3], 1.0))
    err = rng.normal(0.0, noise, size=conv.shape[:2] + (2,))
    xy = conv[..., :2] + err * size[:, None, None]
    known = conv[..., 2] > 0
    rand_xy = boxes[:, None, :2] + rng.uniform(size=conv.shape[:2] + (2,)) * boxes[:, None, 2:]
    xy = np.where(known[..., None], xy, rand_xy)
    score = np.where(known, np.clip(0.95 - 2.0 * np.linalg.norm(err, axis=-1), 0.05, 1.0), 0.05)
    results = []
    for i in range(n):
        kp = np.concatenate([xy[i], score[i, :, None]], axis=1)
        results.append(
            dict(
                image_id=int(image_ids[i]),
                category_id=1,
                keypoints=[round(float(v), 3) for v in kp.reshape(-1)],
                score=round(float(score[i][known[i]].mean()) if known[i].any() else 0.05, 5),
                bbox=[round(float(v), 3) for v in boxes[i]],
            )
        )
    return results
