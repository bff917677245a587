"""Synthetic pose datasets written in the real annotation formats (COCO json, AIC json, MPII json).

Nothing can be downloaded here, so the loaders, the evaluation and the end-to-end demo run on data that
this module draws: frontal stick figures ("people") on varied, muted backgrounds, each joint marked by a
solid disc whose colour names the joint type (shoulder red, elbow orange, wrist yellow, ...). Left and
right joints share a colour and are told apart by side, exactly as with real frontal people: every figure
faces the camera, so its left joints lie on the image's right. That keeps horizontal-flip augmentation and
flip testing valid, and makes the joints learnable by a tiny model in minutes.

Realism that exercises the pipeline: several people per image (boxes overlapping by at most 30% of the
smaller one), some joints hidden by an occluder or another person (v=1), some outside the image (v=0,
stored as 0, 0), some small people, and in COCO-style layouts an occasional crowd region (iscrowd=1,
RLE segmentation, no keypoints). Everything is deterministic for a seed: image ``i`` uses
``np.random.default_rng([seed, i])``.

Files (under ``root``):
    images/<id>.jpg          JPEG, quality 92, 4:4:4 chroma
    <layout>.json            COCO json for "coco" / "aic" (id, image_id, category_id, bbox, area, iscrowd,
                             num_keypoints, keypoints, segmentation; categories with keypoints + 1-based
                             skeleton). MPII json for "mpii": a list of {image, center, scale, joints,
                             joints_vis, headbox}, 1-based MATLAB coordinates like the real files, scale =
                             box side / 200, centre raised by 15 * scale (the loaders undo both), and the
                             head box [[x1, y1], [x2, y2]] (for PCKh only its diagonal matters).
"""

from __future__ import annotations

import colorsys
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from hpefast._io import atomic_write_bytes
from hpefast.keypoints import get_schema

__all__ = ["write_dataset", "LAYOUTS", "render_image"]

LAYOUTS = ("coco", "mpii", "aic")

# Every joint the three layouts use, in one "universal" body (COCO-17 first).
_U = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle", "head_top", "upper_neck", "thorax", "pelvis", "neck",
)  # fmt: skip
_UI = {n: i for i, n in enumerate(_U)}

# Joint type -> hue (degrees) or a fixed BGR; types never collide within one layout.
_TYPE_OF = {
    "nose": "nose", "left_eye": "eye", "right_eye": "eye", "left_ear": "ear", "right_ear": "ear",
    "left_shoulder": "shoulder", "right_shoulder": "shoulder", "left_elbow": "elbow",
    "right_elbow": "elbow", "left_wrist": "wrist", "right_wrist": "wrist", "left_hip": "hip",
    "right_hip": "hip", "left_knee": "knee", "right_knee": "knee", "left_ankle": "ankle",
    "right_ankle": "ankle", "head_top": "head_top", "upper_neck": "neck", "neck": "neck",
    "thorax": "thorax", "pelvis": "pelvis",
}  # fmt: skip
_HUE = {
    "shoulder": 0, "elbow": 28, "wrist": 56, "hip": 120, "knee": 180, "ankle": 225, "nose": 300,
    "ear": 270, "head_top": 330, "neck": 90, "thorax": 155, "pelvis": 260,
}  # fmt: skip


def _bgr(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb((h % 360) / 360.0, s, v)
    return int(b * 255), int(g * 255), int(r * 255)


_MARKER = {t: _bgr(h, 1.0, 1.0) for t, h in _HUE.items()}
_MARKER["eye"] = (255, 255, 255)


def _layout_joints(layout: str) -> list[int]:
    """Universal index of each joint of ``layout`` (AIC's neck is its own joint)."""
    names = get_schema(layout).names
    return [_UI[n] for n in names]


# ---------------------------------------------------------------------------------------------- poses
def _rot(deg: float) -> np.ndarray:
    r = math.radians(deg)
    return np.array([[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]])


def _sample_pose(rng: np.random.Generator) -> np.ndarray:
    """[22, 2] universal joints of a frontal figure of unit height, pelvis at the origin, y down.

    The figure faces the camera: its left side has x > 0 (the image's right)."""
    p = np.zeros((len(_U), 2))
    width = rng.uniform(0.85, 1.15)
    p[_UI["thorax"]] = (0, -0.29)
    p[_UI["neck"]] = (0, -0.315)
    p[_UI["upper_neck"]] = (0, -0.345)
    head = np.array([0.0, -0.42])
    p[_UI["head_top"]] = head + (0, -0.075)
    p[_UI["nose"]] = head + (0, 0.018)
    for side, sgn in (("left", 1.0), ("right", -1.0)):
        p[_UI[f"{side}_eye"]] = head + (sgn * 0.034, -0.02)
        p[_UI[f"{side}_ear"]] = head + (sgn * 0.074, -0.004)
        sh = np.array([sgn * 0.125 * width, -0.29])
        p[_UI[f"{side}_shoulder"]] = sh
        a1 = math.radians(rng.uniform(-15, 165))
        a2 = a1 + math.radians(rng.uniform(-40, 110))
        a2 = min(max(a2, math.radians(-30)), math.radians(175))
        elbow = sh + 0.16 * rng.uniform(0.8, 1.0) * np.array([sgn * math.sin(a1), math.cos(a1)])
        wrist = elbow + 0.15 * rng.uniform(0.8, 1.0) * np.array([sgn * math.sin(a2), math.cos(a2)])
        p[_UI[f"{side}_elbow"]], p[_UI[f"{side}_wrist"]] = elbow, wrist
        hip = np.array([sgn * 0.085 * width, 0.0])
        p[_UI[f"{side}_hip"]] = hip
        b1 = math.radians(rng.uniform(-8, 35))
        b2 = b1 + math.radians(rng.uniform(-25, 20))
        knee = hip + 0.235 * rng.uniform(0.8, 1.0) * np.array([sgn * math.sin(b1), math.cos(b1)])
        ankle = knee + 0.235 * rng.uniform(0.8, 1.0) * np.array([sgn * math.sin(b2), math.cos(b2)])
        p[_UI[f"{side}_knee"]], p[_UI[f"{side}_ankle"]] = knee, ankle
    # pelvis: the middle of the hips (MPII convention), a touch below the hip line
    p[_UI["pelvis"]] = (0.0, 0.01)
    return p @ _rot(rng.uniform(-12, 12)).T


# ------------------------------------------------------------------------------------------ drawing
_SHIFT = 4  # cv2 fixed-point bits: markers are drawn at 1/16 px precision
_ONE = 1 << _SHIFT


def _pt(xy: np.ndarray) -> tuple[int, int]:
    return int(round(xy[0] * _ONE)), int(round(xy[1] * _ONE))


def _muted(rng: np.random.Generator, v: tuple[float, float] = (0.25, 0.85)) -> tuple[int, int, int]:
    return _bgr(rng.uniform(0, 360), rng.uniform(0.05, 0.3), rng.uniform(*v))


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    top, bottom = np.array(_muted(rng), np.float32), np.array(_muted(rng), np.float32)
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    img = np.broadcast_to(top * (1 - t) + bottom * t, (h, w, 3)).copy()
    for _ in range(int(rng.integers(3, 9))):
        color = _muted(rng)
        kind = rng.integers(3)
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        if kind == 0:
            x2, y2 = x + int(rng.integers(10, w // 2)), y + int(rng.integers(10, h // 2))
            cv2.rectangle(img, (x, y), (x2, y2), color, -1)
        elif kind == 1:
            axes = (int(rng.integers(5, w // 4)), int(rng.integers(5, h // 4)))
            cv2.ellipse(img, (x, y), axes, float(rng.uniform(0, 180)), 0, 360, color, -1)
        else:
            x2, y2 = int(rng.integers(0, w)), int(rng.integers(0, h))
            cv2.line(img, (x, y), (x2, y2), color, int(rng.integers(1, 5)))
    img += rng.normal(0.0, 3.0, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


_LIMBS = (
    ("left_shoulder", "left_elbow", 0.06), ("left_elbow", "left_wrist", 0.055),
    ("right_shoulder", "right_elbow", 0.06), ("right_elbow", "right_wrist", 0.055),
    ("left_hip", "left_knee", 0.078), ("left_knee", "left_ankle", 0.066),
    ("right_hip", "right_knee", 0.078), ("right_knee", "right_ankle", 0.066),
    ("thorax", "upper_neck", 0.06),
)  # fmt: skip


_DRAW_ORDER = (
    "hip", "pelvis", "thorax", "neck", "shoulder", "head_top", "ear", "eye", "nose", "knee", "elbow", "ankle",
    "wrist",
)  # fmt: skip


def _draw_figure(
    img: np.ndarray,
    owner: np.ndarray,
    pid: int,
    joints: np.ndarray,
    height: float,
    layout_joints: list[int],
    rng: np.random.Generator,
    markers: np.ndarray | None = None,
) -> None:
    """Draw one figure (body, head, joint markers) into img, its id into the owner map and, when given,
    ``pid * 64 + joint`` into the marker map (so a marker hidden under another marker is known)."""
    body = _muted(rng, (0.3, 0.75))
    skin = _bgr(rng.uniform(15, 35), rng.uniform(0.2, 0.45), rng.uniform(0.45, 0.85))

    def j(name: str) -> np.ndarray:
        return joints[_UI[name]]

    torso = np.array(
        [_pt(j("left_shoulder")), _pt(j("right_shoulder")), _pt(j("right_hip")), _pt(j("left_hip"))],
        np.int32,
    )
    for target, color in ((img, body), (owner, pid)):
        lt = cv2.LINE_AA if target is img else cv2.LINE_8
        cv2.fillConvexPoly(target, torso, color, lt, _SHIFT)
        for a, b, thick in _LIMBS:
            cv2.line(target, _pt(j(a)), _pt(j(b)), color, max(1, int(round(thick * height))), lt, _SHIFT)
        head = 0.5 * (j("head_top") + j("upper_neck")) + (0, -0.01 * height)
        head_colour = skin if target is img else pid
        cv2.circle(target, _pt(head), int(round(0.075 * height * _ONE)), head_colour, -1, lt, _SHIFT)
    # Limb ends last: a hand in front of the hip shows the wrist marker, as a real hand would be seen.
    for u in sorted(layout_joints, key=lambda u: _DRAW_ORDER.index(_TYPE_OF[_U[u]])):
        kind = _TYPE_OF[_U[u]]
        face = kind in ("nose", "eye", "ear")
        radius = max(1.5, (0.02 if face else 0.03) * height)
        center = _pt(joints[u])
        cv2.circle(img, center, int(round((radius + 1.0) * _ONE)), (20, 20, 20), -1, cv2.LINE_AA, _SHIFT)
        cv2.circle(img, center, int(round(radius * _ONE)), _MARKER[kind], -1, cv2.LINE_AA, _SHIFT)
        cv2.circle(owner, center, int(round((radius + 1.0) * _ONE)), pid, -1, cv2.LINE_8, _SHIFT)
        if markers is not None:
            cv2.circle(
                markers, center, int(round((radius + 1.0) * _ONE)), pid * 64 + u, -1, cv2.LINE_8, _SHIFT
            )


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller box (0: apart, 1: one inside the other)."""
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    smaller = min(a[2] * a[3], b[2] * b[3])
    return inter / smaller if smaller > 0 else 0.0


def _extent(joints: np.ndarray, height: float) -> np.ndarray:
    """Amodal (x, y, w, h) of a figure: its joints plus the body thickness."""
    pad = 0.06 * height
    lo, hi = joints.min(axis=0) - pad, joints.max(axis=0) + pad
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])


def render_image(
    rng: np.random.Generator,
    image_size: Sequence[int] = (320, 240),
    layout: str = "coco",
    max_people: int = 4,
    small_prob: float = 0.1,
    occlusion_prob: float = 0.25,
    truncation_prob: float = 0.15,
    crowd_prob: float = 0.1,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Draw one image. Returns (BGR uint8 [H, W, 3], people), each person a dict with ``joints`` [K, 2]
    and ``visibility`` [K] in ``layout`` order (v: 2 visible, 1 occluded, 0 outside the image), the
    ``mask`` [H, W] bool (its silhouette inside the image), ``head`` (x1, y1, x2, y2), ``extent`` (amodal
    box) and ``crowd`` (True for a crowd region)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    w, h = int(image_size[0]), int(image_size[1])
    if w < 32 or h < 32:
        raise ValueError(f"image_size must be at least 32x32, got {tuple(image_size)}")
    lj = _layout_joints(layout)
    img = _background(rng, w, h)
    owner = np.full((h, w), -1, np.int32)
    markers = np.full((h, w), -1, np.int32)
    figures: list[dict[str, Any]] = []
    n_people = int(rng.choice(np.arange(1, max_people + 1), p=_people_probs(max_people)))
    boxes: list[np.ndarray] = []
    for _ in range(n_people):
        for _attempt in range(20):
            small = rng.random() < small_prob
            height = rng.uniform(26, 44) if small else rng.uniform(0.45, 0.95) * h
            pose = _sample_pose(rng) * height
            ext0 = _extent(pose, height)
            if rng.random() < truncation_prob:  # let part of the figure leave the image
                ox = rng.uniform(-ext0[0] - 0.4 * ext0[2], w - ext0[0] - 0.6 * ext0[2])
                oy = rng.uniform(-ext0[1] - 0.3 * ext0[3], h - ext0[1] - 0.7 * ext0[3])
            else:
                ox = rng.uniform(-ext0[0], max(-ext0[0] + 1, w - ext0[0] - ext0[2]))
                oy = rng.uniform(-ext0[1], max(-ext0[1] + 1, h - ext0[1] - ext0[3]))
            joints = pose + (ox, oy)
            ext = _extent(joints, height)
            if all(_overlap(ext, b) <= 0.3 for b in boxes):
                boxes.append(ext)
                figures.append({"joints": joints, "height": height, "extent": ext, "crowd": False})
                break
    crowd = None
    if layout != "mpii" and rng.random() < crowd_prob:
        region = _crowd_region(rng, w, h, boxes)
        if region is not None:  # drawn first: it stands behind the annotated people
            crowd = _draw_crowd(rng, img, owner, region, lj, -3)
    figures.sort(key=lambda f: f["height"])  # small (far) figures first
    for pid, fig in enumerate(figures):
        _draw_figure(img, owner, pid, fig["joints"], fig["height"], lj, rng, markers)
        if rng.random() < occlusion_prob:
            _occlude(rng, img, owner, fig)
    people = []
    for pid, fig in enumerate(figures):
        joints = fig["joints"][lj]
        inside = (joints[:, 0] >= 0) & (joints[:, 0] <= w - 1) & (joints[:, 1] >= 0) & (joints[:, 1] <= h - 1)
        vis = np.zeros(len(lj), np.int64)
        for k in np.flatnonzero(inside):  # visible: this figure's own marker is on top at the joint
            x, y = int(round(joints[k, 0])), int(round(joints[k, 1]))
            vis[k] = 2 if owner[y, x] == pid and markers[y, x] == pid * 64 + lj[k] else 1
        joints = np.where(inside[:, None], joints, 0.0)
        hx = fig["joints"][_UI["head_top"]]
        hn = fig["joints"][_UI["upper_neck"]]
        r = 0.075 * fig["height"]
        people.append(
            {
                "joints": joints,
                "visibility": vis,
                "mask": _silhouette(fig, lj, w, h),
                "head": (hx[0] - r, hx[1], hx[0] + r, hn[1]),
                "extent": fig["extent"],
                "crowd": False,
            }
        )
    if crowd is not None:
        people.append(crowd)
    return img, people


def _people_probs(max_people: int) -> np.ndarray:
    p = np.array([1.0, 1.3, 1.0, 0.6, 0.3, 0.2][:max_people] + [0.1] * max(0, max_people - 6))
    return p / p.sum()


def _silhouette(fig: dict[str, Any], lj: list[int], w: int, h: int) -> np.ndarray:
    mask = np.zeros((h, w), np.int32)
    _draw_figure_mask(mask, fig["joints"], fig["height"], lj)
    return mask > 0


def _draw_figure_mask(mask: np.ndarray, joints: np.ndarray, height: float, lj: list[int]) -> None:
    scratch = np.zeros(mask.shape + (3,), np.uint8)
    _draw_figure(scratch, mask, 1, joints, height, lj, np.random.default_rng(0))


_OCCLUDABLE = tuple(f"{s}_{j}" for j in ("wrist", "elbow", "knee", "ankle") for s in ("left", "right"))


def _occlude(rng: np.random.Generator, img: np.ndarray, owner: np.ndarray, fig: dict[str, Any]) -> None:
    """A muted block over one limb joint (wrist, elbow, knee or ankle) of the figure."""
    name = str(rng.choice(_OCCLUDABLE))
    c = fig["joints"][_UI[name]]
    half = 0.07 * fig["height"] * rng.uniform(0.8, 1.3)
    x1, y1 = int(round(c[0] - half)), int(round(c[1] - half))
    x2, y2 = int(round(c[0] + half)), int(round(c[1] + half))
    cv2.rectangle(img, (x1, y1), (x2, y2), _muted(rng), -1)
    cv2.rectangle(owner, (x1, y1), (x2, y2), -2, -1)


def _crowd_region(rng: np.random.Generator, w: int, h: int, boxes: list[np.ndarray]) -> np.ndarray | None:
    for _ in range(10):
        cw, ch = rng.uniform(0.25, 0.45) * w, rng.uniform(0.18, 0.3) * h
        box = np.array([rng.uniform(0, w - cw), rng.uniform(0, h - ch), cw, ch])
        if all(_overlap(box, b) < 0.05 for b in boxes):
            return box
    return None


def _draw_crowd(
    rng: np.random.Generator, img: np.ndarray, owner: np.ndarray, region: np.ndarray, lj: list[int], pid: int
) -> dict[str, Any]:
    """Many small overlapping figures in ``region``; annotated as one iscrowd=1 region without keypoints."""
    mask = np.zeros(owner.shape, np.int32)
    x, y, cw, ch = region
    for _ in range(int(rng.integers(6, 13))):
        height = rng.uniform(0.6, 0.8) * ch
        pose = _sample_pose(rng) * height
        ext = _extent(pose, height)
        ox = rng.uniform(x - ext[0], max(x - ext[0], x + cw - ext[0] - ext[2]) + 1e-6)
        oy = rng.uniform(y - ext[1], max(y - ext[1], y + ch - ext[1] - ext[3]) + 1e-6)
        joints = pose + (ox, oy)
        _draw_figure(img, owner, pid, joints, height, lj, rng)
        _draw_figure_mask(mask, joints, height, lj)
    crowd = {"joints": None, "visibility": None, "head": None, "crowd": True}
    return {**crowd, "mask": mask > 0, "extent": region}


# ------------------------------------------------------------------------------------------ writing
def _mask_box(mask: np.ndarray) -> list[float] | None:
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    return [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]


def _polygons(mask: np.ndarray) -> list[list[float]]:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c in contours:
        c = cv2.approxPolyDP(c, 1.0, True).reshape(-1, 2)
        if len(c) >= 3:
            polys.append([float(v) for v in c.reshape(-1)])
    return polys


def _rle(mask: np.ndarray) -> dict[str, Any]:
    """Uncompressed COCO RLE (column-major run lengths, starting with a run of zeros)."""
    flat = mask.astype(np.uint8).reshape(-1, order="F")
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat[0] == 1:
        runs = [0] + runs
    return {"counts": runs, "size": [int(mask.shape[0]), int(mask.shape[1])]}


def write_dataset(
    root: str | os.PathLike,
    layout: str = "coco",
    num_images: int = 100,
    seed: int = 0,
    image_size: Sequence[int] = (320, 240),
    max_people: int = 4,
    small_prob: float = 0.1,
    occlusion_prob: float = 0.25,
    truncation_prob: float = 0.15,
    crowd_prob: float = 0.1,
    jpeg_quality: int = 92,
) -> Path:
    """Render ``num_images`` images into ``root/images`` and write the annotation file; return its path.

    Args:
        root: output folder (created).
        layout: "coco" (COCO-17 json), "aic" (AIC-14 COCO-style json) or "mpii" (mmpose MPII json).
        num_images: images to draw.
        seed: the dataset is a pure function of (seed, image index, options).
        image_size: (W, H) of the images.
        max_people: most figures per image (1..max_people, 2 most likely).
        small_prob: chance that a figure is small (26-44 px tall: COCO "small"/"medium" area).
        occlusion_prob: chance per figure of an occluder over one limb joint (-> v=1).
        truncation_prob: chance per figure of leaving the image partly (-> v=0 joints).
        crowd_prob: chance per image of a crowd region (iscrowd=1), not for "mpii".
        jpeg_quality: JPEG quality.
    Returns:
        Path of ``root/<layout>.json``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"write_dataset: layout must be one of {LAYOUTS}, got {layout!r}")
    if int(num_images) < 1:
        raise ValueError(f"write_dataset: num_images must be >= 1, got {num_images}")
    if int(max_people) < 1:
        raise ValueError(f"write_dataset: max_people must be >= 1, got {max_people}")
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    schema = get_schema(layout)
    images, annotations, entries = [], [], []
    ann_id = 1
    for i in range(int(num_images)):
        rng = np.random.default_rng([int(seed), i])
        img, people = render_image(
            rng, image_size, layout, int(max_people), small_prob, occlusion_prob, truncation_prob, crowd_prob
        )
        image_id = i + 1
        name = f"{image_id:09d}.jpg" if layout == "mpii" else f"{image_id:012d}.jpg"
        # 4:4:4 chroma keeps the small saturated markers crisp (4:2:0 would halve their colour resolution)
        params = [
            cv2.IMWRITE_JPEG_QUALITY,
            int(jpeg_quality),
            cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
            cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
        ]
        ok, buf = cv2.imencode(".jpg", img, params)
        if not ok:
            raise RuntimeError(f"write_dataset: JPEG encoding failed for image {name}")
        atomic_write_bytes(root / "images" / name, buf.tobytes())
        height, width = img.shape[:2]
        images.append({"id": image_id, "file_name": name, "width": int(width), "height": int(height)})
        for person in people:
            box = _mask_box(person["mask"])
            if box is None:
                continue
            if layout == "mpii":
                entry = _mpii_entry(name, person)
                if entry is not None:
                    entries.append(entry)
                continue
            if person["crowd"]:
                ann = {
                    "iscrowd": 1,
                    "num_keypoints": 0,
                    "keypoints": [0] * (3 * schema.num_keypoints),
                    "segmentation": _rle(person["mask"]),
                }
            else:
                vis = person["visibility"]
                kps = np.concatenate([np.round(person["joints"], 2), vis[:, None]], axis=1)
                ann = {
                    "iscrowd": 0,
                    "num_keypoints": int(np.sum(vis > 0)),
                    "keypoints": [float(v) if c < 2 else int(v) for row in kps for c, v in enumerate(row)],
                    "segmentation": _polygons(person["mask"]),
                }
            ann.update(
                {
                    "id": ann_id,
                    "image_id": image_id,
                    "category_id": 1,
                    "bbox": box,
                    "area": float(person["mask"].sum()),
                }
            )
            annotations.append(ann)
            ann_id += 1
    out = root / f"{layout}.json"
    if layout == "mpii":
        payload: Any = entries
    else:
        payload = {
            "info": {"description": f"hpefast synthetic {layout} dataset", "seed": int(seed), "version": "1"},
            "licenses": [],
            "images": images,
            "annotations": annotations,
            "categories": [
                {
                    "id": 1,
                    "name": "person",
                    "supercategory": "person",
                    "keypoints": list(schema.names),
                    "skeleton": [[a + 1, b + 1] for a, b in schema.skeleton],
                }
            ],
        }
    atomic_write_bytes(out, json.dumps(payload).encode("utf-8"))
    return out


def _mpii_entry(name: str, person: dict[str, Any]) -> dict[str, Any] | None:
    """mmpose/HRNet MPII entry: 1-based coordinates, scale = box side / 200, centre raised by 15 * scale."""
    vis = person["visibility"]
    if int(np.sum(vis > 0)) < 4 or person["head"] is None:
        return None
    joints = person["joints"]
    x, y, bw, bh = person["extent"]
    s = max(bw, bh) / 200.0
    cx, cy = x + 0.5 * bw, y + 0.5 * bh - 15.0 * s
    hx1, hy1, hx2, hy2 = person["head"]
    return {
        "image": name,
        "center": [round(cx + 1.0, 3), round(cy + 1.0, 3)],
        "scale": round(s, 6),
        "joints": [
            [round(float(px) + 1.0, 3), round(float(py) + 1.0, 3)] if v > 0 else [-1.0, -1.0]
            for (px, py), v in zip(joints, vis, strict=True)
        ],
        "joints_vis": [int(v > 0) for v in vis],
        "headbox": [[round(hx1 + 1.0, 3), round(hy1 + 1.0, 3)], [round(hx2 + 1.0, 3), round(hy2 + 1.0, 3)]],
    }
