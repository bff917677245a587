"""Synthetic Human3.6M: articulated 3D motion written in VideoPose3D's npz layout, projected through the
real Human3.6M cameras, with rendered frames and a COCO-format file for them.

Nothing can be downloaded here, so the lifting pipeline (2D model -> lifter -> MPJPE) runs on this data.
The body is the H36M-17 skeleton with Human3.6M-like bone lengths (about subject S1's, scaled per subject
by 0.93-1.07), driven by joint angles (hip flexion/abduction, knee, torso lean and twist, shoulder
flexion/abduction, elbow, head pitch) that are clamped to human joint limits and move smoothly (sums of
sinusoids at 0.2-1.2 Hz). Each of the 15 protocol actions has its own posture and motion: walking gaits
that travel around the room, seated actions, hand-to-face actions (phoning, eating, smoking, photo),
gestures. The pelvis sits so that the lower foot touches the floor (z up, metres, world frame of the
Human3.6M cameras, person within ~1.5 m of the room centre so all four cameras see them).

Files written under ``root`` (a pure function of the arguments):

* ``data_3d_h36m.npz``: ``positions_3d[subject][action]`` [T, 17, 3] world metres (50 fps).
* ``data_2d_h36m_gt.npz``: ``positions_2d[subject][action]`` = 4 x [T, 17, 2] pixels of the full
  1000 x 1000 (1002) frames, projected with :func:`hpefast.lifting.cameras.project_to_2d`; ``metadata``.
* with ``render_frames > 0``: ``images/<S>/<S>_<action>.<camera id>/<...>_<frame>.jpg`` (the real layout),
  frames drawn at ``image_scale`` of the real size in the style of :mod:`hpefast.data.synthetic` (muted
  background, the body as limbs, each joint a coloured disc; left joints warm, right joints cool, since
  people are seen from every side), and ``annotations/h36m_{train,test}.json``: COCO files in the
  ``h36m`` keypoint schema (keypoints in the rendered image's pixels, pixel centres at integers:
  ``x_img = (x + 0.5) * image_scale - 0.5``), each image with ``subject``, ``action``, ``camera``,
  ``frame`` fields to join it back to the npz data.
"""

from __future__ import annotations

import colorsys
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from hpefast._io import atomic_write_bytes
from hpefast.errors import InputError
from hpefast.keypoints.h36m import H36M_NAMES, H36M_PARENTS
from hpefast.lifting.cameras import H36M_CAMERAS, project_to_2d, world_to_camera
from hpefast.lifting.dataset import H36M_2D_METADATA, save_positions_2d, save_positions_3d
from hpefast.lifting.h36m import H36M_ACTIONS, TEST_SUBJECTS, TRAIN_SUBJECTS

__all__ = ["write_h36m", "sample_motion", "BONE_LENGTHS"]

FPS = 50
# bone lengths (metres) child joint -> length, about Human3.6M subject S1's
BONE_LENGTHS = {
    1: 0.133, 2: 0.442, 3: 0.454, 4: 0.133, 5: 0.442, 6: 0.454, 7: 0.233, 8: 0.257, 9: 0.121, 10: 0.115,
    11: 0.151, 12: 0.278, 13: 0.252, 14: 0.151, 15: 0.278, 16: 0.252,
}  # fmt: skip
# joint limits in degrees
LIMITS = {
    "hip_flex": (-30, 120), "hip_abd": (0, 45), "knee": (0, 150), "lean": (-20, 60), "twist": (-45, 45),
    "sh_flex": (-40, 170), "sh_abd": (0, 160), "elbow": (0, 150), "head": (-30, 45),
}  # fmt: skip

# per action: base angles and oscillation amplitudes (deg), and kind: "walk", "sit", "sitdown", "stand"
_ACTIONS: dict[str, dict[str, Any]] = {
    "Directions": {
        "kind": "stand",
        "base": {"sh_flex": 40, "elbow": 30},
        "amp": {"sh_flex": 40, "sh_abd": 30, "twist": 25},
    },
    "Discussion": {
        "kind": "stand",
        "base": {"sh_flex": 20, "elbow": 60},
        "amp": {"sh_flex": 25, "elbow": 35, "twist": 15},
    },
    "Eating": {
        "kind": "sit",
        "base": {"sh_flex": 35, "elbow": 110, "lean": 15},
        "amp": {"elbow": 30, "sh_flex": 15},
    },
    "Greeting": {
        "kind": "stand",
        "base": {"sh_abd": 40, "elbow": 40},
        "amp": {"sh_abd": 50, "sh_flex": 30, "lean": 10},
    },
    "Phoning": {
        "kind": "stand",
        "base": {"sh_flex": 30, "sh_abd": 50, "elbow": 140},
        "amp": {"twist": 20, "lean": 8},
    },
    "Photo": {
        "kind": "stand",
        "base": {"sh_flex": 80, "elbow": 110, "lean": 10},
        "amp": {"twist": 30, "head": 10},
    },
    "Posing": {
        "kind": "stand",
        "base": {"sh_abd": 70, "hip_abd": 15},
        "amp": {"sh_abd": 40, "sh_flex": 40, "twist": 20},
    },
    "Purchases": {
        "kind": "stand",
        "base": {"sh_flex": 50, "elbow": 70, "lean": 20},
        "amp": {"lean": 15, "sh_flex": 30},
    },
    "Sitting": {
        "kind": "sit",
        "base": {"sh_flex": 20, "elbow": 50},
        "amp": {"lean": 15, "sh_flex": 20, "twist": 15},
    },
    "SittingDown": {
        "kind": "sitdown",
        "base": {"sh_flex": 30, "elbow": 40},
        "amp": {"sh_flex": 20},
    },
    "Smoking": {
        "kind": "stand",
        "base": {"sh_flex": 40, "elbow": 120},
        "amp": {"elbow": 25, "sh_flex": 20},
    },
    "Waiting": {
        "kind": "stand",
        "base": {"elbow": 20},
        "amp": {"lean": 8, "twist": 20, "head": 15},
    },
    "WalkDog": {
        "kind": "walk",
        "base": {"sh_flex": 30, "elbow": 40, "lean": 10},
        "amp": {"sh_flex": 15},
    },
    "Walking": {
        "kind": "walk",
        "base": {"elbow": 20},
        "amp": {"sh_flex": 30},
    },
    "WalkTogether": {
        "kind": "walk",
        "base": {"elbow": 25, "head": 5},
        "amp": {"sh_flex": 20, "twist": 10},
    },
}


def _rx(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _ry(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rz(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def _apply(r: np.ndarray, v) -> np.ndarray:
    return np.einsum("tij,tj->ti", r, np.broadcast_to(np.asarray(v, np.float64), r.shape[:-1]))


def _smooth(
    rng: np.random.Generator, t: np.ndarray, amp: float, fmin: float = 0.2, fmax: float = 1.2
) -> np.ndarray:
    """A smooth random signal: three sinusoids with random frequencies and phases, peak about ``amp``."""
    out = np.zeros_like(t)
    for _ in range(3):
        out += np.sin(2 * np.pi * rng.uniform(fmin, fmax) * t + rng.uniform(0, 2 * np.pi))
    return amp * out / 3


def _clip(name: str, deg: np.ndarray) -> np.ndarray:
    lo, hi = LIMITS[name]
    return np.radians(np.clip(deg, lo, hi))


def sample_motion(action: str, num_frames: int, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """[T, 17, 3] world joints (metres, z up) of one synthetic sequence of ``action`` (a protocol name)."""
    if action not in _ACTIONS:
        raise InputError(f"sample_motion: unknown action {action!r}; actions: {list(H36M_ACTIONS)}")
    spec = _ACTIONS[action]
    kind, base, amp = spec["kind"], spec["base"], spec["amp"]
    t = np.arange(num_frames) / FPS
    bone = {k: v * scale for k, v in BONE_LENGTHS.items()}

    def angle(name: str, side: float = 0.0, extra: np.ndarray | float = 0.0) -> np.ndarray:
        b = base.get(name, 0.0) + rng.uniform(-8, 8)
        return _clip(name, b + _smooth(rng, t, amp.get(name, 5.0)) + extra)

    zero = np.zeros_like(t)
    if kind == "walk":
        f = rng.uniform(0.8, 1.1)
        phase = 2 * np.pi * f * t
        hip = {s: 10 + 28 * np.sin(phase + (0 if s > 0 else np.pi)) for s in (1, -1)}
        knee = {s: 15 + 45 * np.clip(np.sin(phase + (0 if s > 0 else np.pi) - 1.2), 0, None) for s in (1, -1)}
        swing = {s: -25 * np.sin(phase + (0 if s > 0 else np.pi)) for s in (1, -1)}  # arms opposite the legs
    elif kind in ("sit", "sitdown"):
        down = np.ones_like(t)
        if kind == "sitdown":
            t0 = rng.uniform(0.3, 0.6) * t[-1] if len(t) > 1 else 0.0
            down = 1 / (1 + np.exp(-(t - t0) * 4))
        hip = {s: 85 * down + _smooth(rng, t, 5) for s in (1, -1)}
        knee = {s: 90 * down + _smooth(rng, t, 8) for s in (1, -1)}
        swing = {s: zero for s in (1, -1)}
    else:
        hip = {s: _smooth(rng, t, 6) + 3 for s in (1, -1)}
        knee = {s: np.abs(_smooth(rng, t, 8)) + 3 for s in (1, -1)}
        swing = {s: zero for s in (1, -1)}

    lean, twist, head = angle("lean"), angle("twist"), angle("head")
    local = np.zeros((len(t), 17, 3))
    down = np.array([0.0, 0.0, -1.0])
    # legs: hips lateral (+x = the person's right), flexion swings forward (+y), knees bend backwards
    for side, (h, k, f) in {1: (1, 2, 3), -1: (4, 5, 6)}.items():
        local[:, h] = [side * bone[h], 0.0, 0.0]
        flex, kn = _clip("hip_flex", hip[side]), _clip("knee", knee[side])
        abd = _clip("hip_abd", base.get("hip_abd", 4.0) + _smooth(rng, t, 4))
        r_abd = _ry(-side * abd)
        local[:, k] = local[:, h] + bone[k] * _apply(r_abd @ _rx(flex), down)
        local[:, f] = local[:, k] + bone[f] * _apply(r_abd @ _rx(flex - kn), down)
    # torso: lean forward, twist about the vertical
    torso = _rx(-lean) @ _rz(twist)
    up = np.array([0.0, 0.0, 1.0])
    local[:, 7] = bone[7] * _apply(torso, up)
    local[:, 8] = local[:, 7] + bone[8] * _apply(torso, up)
    local[:, 9] = local[:, 8] + bone[9] * _apply(torso @ _rx(-head * 0.5), up)
    local[:, 10] = local[:, 9] + bone[10] * _apply(torso @ _rx(-head), up)
    for side, (s, e, w) in {1: (14, 15, 16), -1: (11, 12, 13)}.items():
        local[:, s] = local[:, 8] + _apply(torso, [side * bone[s], 0.0, -0.02])
        sf = angle("sh_flex", extra=swing[side])
        sa = angle("sh_abd")
        el = angle("elbow")
        arm = torso @ _ry(-side * sa)
        local[:, e] = local[:, s] + bone[e] * _apply(arm @ _rx(sf), down)
        local[:, w] = local[:, e] + bone[w] * _apply(arm @ _rx(sf + el), down)
    # place in the room: heading, position, the lower foot on the floor (ankle 8 cm high)
    yaw0 = rng.uniform(0, 2 * np.pi)
    if kind == "walk":
        radius, speed = rng.uniform(0.8, 1.4), rng.uniform(0.9, 1.3)
        ang = yaw0 + speed / radius * t
        pos = np.stack([radius * np.cos(ang), radius * np.sin(ang)], -1)
        yaw = ang + np.pi  # facing along the circle (forward is +y in the body frame)
    else:
        centre = rng.uniform(-0.8, 0.8, size=2)
        pos = centre + np.stack([_smooth(rng, t, 0.1, 0.05, 0.3), _smooth(rng, t, 0.1, 0.05, 0.3)], -1)
        yaw = yaw0 + np.radians(_smooth(rng, t, 20, 0.05, 0.3))
    world = np.einsum("tij,tkj->tki", _rz(yaw), local)
    height = 0.08 - np.minimum(world[:, 3, 2], world[:, 6, 2])
    world[:, :, :2] += pos[:, None, :]
    world[:, :, 2] += height[:, None]
    return world


# ------------------------------------------------------------------------------------------ rendering
def _bgr(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb((h % 360) / 360.0, s, v)
    return int(b * 255), int(g * 255), int(r * 255)


_HUE = {0: 260, 7: 155, 8: 155, 9: 90, 10: 330}  # centre joints
_LEFT_HUES = {4: 10, 5: 30, 6: 50, 11: 0, 12: 20, 13: 45}  # warm
_RIGHT_HUES = {1: 190, 2: 210, 3: 230, 14: 180, 15: 200, 16: 240}  # cool
_HUE.update(_LEFT_HUES)
_HUE.update(_RIGHT_HUES)
_SHIFT, _ONE = 4, 16


def _pt(xy: np.ndarray) -> tuple[int, int]:
    return int(round(xy[0] * _ONE)), int(round(xy[1] * _ONE))


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    def muted() -> tuple[int, int, int]:
        return _bgr(rng.uniform(0, 360), rng.uniform(0.05, 0.3), rng.uniform(0.25, 0.85))

    top, bottom = np.array(muted(), np.float32), np.array(muted(), np.float32)
    a = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    img = np.broadcast_to(top * (1 - a) + bottom * a, (h, w, 3)).copy()
    for _ in range(int(rng.integers(2, 6))):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        cv2.rectangle(
            img, (x, y), (x + int(rng.integers(5, w // 3)), y + int(rng.integers(5, h // 3))), muted(), -1
        )
    img += rng.normal(0.0, 3.0, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def render_frame(
    rng: np.random.Generator, joints_px: np.ndarray, depth: np.ndarray, size: tuple[int, int], focal: float
) -> np.ndarray:
    """Draw one figure: joints_px [17, 2] image pixels, depth [17] metres, size (W, H). BGR uint8."""
    w, h = size
    img = _background(rng, w, h)
    body = _bgr(rng.uniform(0, 360), rng.uniform(0.1, 0.3), rng.uniform(0.35, 0.7))
    px_per_m = focal / max(float(np.mean(depth)), 1e-3)
    limbs = [(p, c) for c, p in enumerate(H36M_PARENTS) if p >= 0]
    for p, c in sorted(limbs, key=lambda pc: -(depth[pc[0]] + depth[pc[1]])):  # far limbs first
        thick = max(1, int(round((0.07 if c in (7, 8) else 0.05) * px_per_m)))
        cv2.line(img, _pt(joints_px[p]), _pt(joints_px[c]), body, thick, cv2.LINE_AA, _SHIFT)
    head_r = int(round(0.09 * px_per_m * _ONE))
    cv2.circle(img, _pt(joints_px[10]), head_r, _bgr(25, 0.35, 0.75), -1, cv2.LINE_AA, _SHIFT)
    radius = max(1.5, 0.03 * px_per_m)
    for j in np.argsort(-depth):
        cv2.circle(
            img, _pt(joints_px[j]), int(round((radius + 1) * _ONE)), (20, 20, 20), -1, cv2.LINE_AA, _SHIFT
        )
        cv2.circle(
            img,
            _pt(joints_px[j]),
            int(round(radius * _ONE)),
            _bgr(_HUE[int(j)], 1.0, 1.0),
            -1,
            cv2.LINE_AA,
            _SHIFT,
        )
    return img


# ------------------------------------------------------------------------------------------ writer
def write_h36m(
    root: str | os.PathLike,
    subjects: Iterable[str] = TRAIN_SUBJECTS + TEST_SUBJECTS,
    actions: Iterable[str] = H36M_ACTIONS,
    num_frames: int = 100,
    sequences_per_action: int = 1,
    seed: int = 0,
    render_frames: int = 0,
    image_scale: float = 0.25,
) -> dict[str, Path]:
    """Write a synthetic Human3.6M in VideoPose3D's layout (see the module docstring).

    Args:
        root: output folder.
        subjects: subjects to generate (each needs Human3.6M cameras: S1, S5, S6, S7, S8, S9, S11).
        actions: protocol actions; sequence names are "Walking", "Walking 1", ... (``sequences_per_action``).
        num_frames: frames per sequence (50 fps).
        seed: the data is a pure function of the arguments.
        render_frames: frames per (sequence, camera) to render as images (evenly spaced); 0 = none.
        image_scale: rendered size relative to the real 1000 x 1000 frames.
    Returns:
        {"3d": path, "2d": path, and when rendering "images": folder, "train": json, "test": json}.
    """
    subjects, actions = list(subjects), list(actions)
    for s in subjects:
        if s not in H36M_CAMERAS:
            raise InputError(
                f"write_h36m: subject {s!r} has no Human3.6M cameras; use {sorted(H36M_CAMERAS)}"
            )
    for a in actions:
        if a not in _ACTIONS:
            raise InputError(f"write_h36m: unknown action {a!r}; actions: {list(H36M_ACTIONS)}")
    if int(num_frames) < 1 or int(sequences_per_action) < 1 or int(render_frames) < 0:
        raise InputError("write_h36m: num_frames and sequences_per_action must be >= 1, render_frames >= 0")
    if not 0.05 <= float(image_scale) <= 1.0:
        raise InputError(f"write_h36m: image_scale must be in [0.05, 1], got {image_scale}")
    root = Path(root)
    p3: dict[str, dict[str, np.ndarray]] = {}
    p2: dict[str, dict[str, list[np.ndarray]]] = {}
    coco: dict[str, dict[str, list]] = {
        "train": {"images": [], "annotations": []},
        "test": {"images": [], "annotations": []},
    }
    for si, subject in enumerate(subjects):
        srng = np.random.default_rng([int(seed), 7919, int(subject[1:])])
        scale = srng.uniform(0.93, 1.07)
        p3[subject], p2[subject] = {}, {}
        for ai, action in enumerate(actions):
            for k in range(int(sequences_per_action)):
                name = action if k == 0 else f"{action} {k}"
                rng = np.random.default_rng([int(seed), si, ai, k])
                world = sample_motion(action, int(num_frames), rng, scale)
                p3[subject][name] = world.astype(np.float32)
                cams = []
                for cam in H36M_CAMERAS[subject]:
                    pc = world_to_camera(world, cam.orientation, cam.translation)
                    cams.append(project_to_2d(pc, cam.intrinsic()).astype(np.float32))
                    if render_frames:
                        _render(
                            root, coco, subject, name, cam, pc, cams[-1], int(render_frames), image_scale, rng
                        )
                p2[subject][name] = cams
    out = {
        "3d": save_positions_3d(root / "data_3d_h36m.npz", p3),
        "2d": save_positions_2d(root / "data_2d_h36m_gt.npz", p2, H36M_2D_METADATA),
    }
    if render_frames:
        out["images"] = root / "images"
        for split, doc in coco.items():
            doc.update(
                {
                    "info": {"description": "hpefast synthetic Human3.6M", "seed": int(seed)},
                    "categories": [
                        {
                            "id": 1,
                            "name": "person",
                            "supercategory": "person",
                            "keypoints": list(H36M_NAMES),
                            "skeleton": [[p + 1, c + 1] for c, p in enumerate(H36M_PARENTS) if p >= 0],
                        }
                    ],
                }
            )
            path = root / "annotations" / f"h36m_{split}.json"
            atomic_write_bytes(path, json.dumps(doc).encode("utf-8"))
            out[split] = path
    return out


def _render(
    root: Path,
    coco: dict[str, dict[str, list]],
    subject: str,
    action: str,
    cam: Any,
    points_cam: np.ndarray,
    px: np.ndarray,
    count: int,
    image_scale: float,
    rng: np.random.Generator,
) -> None:
    split = "test" if subject in TEST_SUBJECTS else "train"
    w, h = int(round(cam.res_w * image_scale)), int(round(cam.res_h * image_scale))
    seq = f"{subject}_{action.replace(' ', '_')}.{cam.id}"
    frames = np.unique(np.linspace(0, len(px) - 1, count).round().astype(int))
    doc = coco[split]
    for f in frames:
        kp = (px[f].astype(np.float64) + 0.5) * image_scale - 0.5
        img = render_frame(rng, kp, points_cam[f, :, 2], (w, h), float(cam.focal_length[0]) * image_scale)
        rel = Path(subject) / seq / f"{seq}_{f + 1:06d}.jpg"
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise RuntimeError(f"write_h36m: JPEG encoding failed for {rel}")
        atomic_write_bytes(root / "images" / rel, buf.tobytes())
        image_id = len(doc["images"]) + 1
        inside = (kp[:, 0] >= 0) & (kp[:, 0] <= w - 1) & (kp[:, 1] >= 0) & (kp[:, 1] <= h - 1)
        lo, hi = kp.min(0), kp.max(0)
        pad = 0.1 * (hi - lo) + 2
        x1, y1 = max(0.0, lo[0] - pad[0]), max(0.0, lo[1] - pad[1])
        x2, y2 = min(w - 1.0, hi[0] + pad[0]), min(h - 1.0, hi[1] + pad[1])
        doc["images"].append(
            {
                "id": image_id,
                "file_name": rel.as_posix(),
                "width": w,
                "height": h,
                "subject": subject,
                "action": action,
                "camera": int(cam.index),
                "frame": int(f),
            }
        )
        vis = np.where(inside, 2, 0)
        kps = [
            v
            for j in range(17)
            for v in (
                (round(float(kp[j, 0]), 2), round(float(kp[j, 1]), 2), int(vis[j]))
                if inside[j]
                else (0.0, 0.0, 0)
            )
        ]
        doc["annotations"].append(
            {
                "id": image_id,
                "image_id": image_id,
                "category_id": 1,
                "iscrowd": 0,
                "num_keypoints": int(inside.sum()),
                "keypoints": kps,
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "area": float((x2 - x1) * (y2 - y1)),
            }
        )
