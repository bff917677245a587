"""Seeded generator of COCO keypoint ground truth and results, for tests and benchmarks.

The generated data exercise everything that makes keypoint evaluation subtle: crowd regions, people
with no labelled joint, invisible joints, objects of every area range, duplicate detections, false
positives, tied scores, images with more than 20 detections, and results with or without ``bbox``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

COCO_SIGMAS = (
    np.array(
        [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89]
    )
    / 10.0
)


def make_coco_keypoints(
    num_images: int,
    seed: int = 0,
    num_keypoints: int = 17,
    people_per_image: float = 2.2,
    with_bbox: bool = False,
    categories: int = 1,
    crowd_rate: float = 0.02,
    empty_rate: float = 0.08,
    first_ann_id: int = 1,
    score_decimals: int | None = 2,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Generate a COCO keypoint ground-truth dataset and a list of results for it.

    Args:
        num_images: number of images (ids 1..num_images, listed in shuffled order).
        seed: seed of the numpy generator; the output is a pure function of the arguments.
        num_keypoints: K joints per instance.
        people_per_image: mean of the Poisson number of annotations per image.
        with_bbox: give every result a ``bbox`` (pycocotools then takes area = w*h from it).
        categories: number of categories (ids 1..categories), each with the same K.
        crowd_rate: fraction of annotations that are crowd regions (iscrowd=1, no keypoints).
        empty_rate: fraction of non-crowd annotations with no labelled joint (num_keypoints=0).
        first_ann_id: id of the first annotation (0 reproduces the ground-truth-id-0 quirk).
        score_decimals: round scores to this many decimals (ties); None keeps full precision.

    Returns:
        (ground truth dict with images/annotations/categories, results list of dicts with image_id,
        category_id, keypoints [3K] (x, y, score), score and optionally bbox).
    """
    rng = np.random.default_rng(seed)
    k = num_keypoints
    sigmas = COCO_SIGMAS if k == 17 else np.full(k, 0.05)
    images, anns, results = [], [], []
    image_ids = rng.permutation(num_images) + 1
    ann_id = first_ann_id
    for img_id in image_ids.tolist():
        width, height = int(rng.integers(320, 1024)), int(rng.integers(240, 800))
        images.append({"id": img_id, "file_name": f"{img_id:012d}.jpg", "width": width, "height": height})
        n = int(rng.poisson(people_per_image))
        for _ in range(n):
            cat = int(rng.integers(1, categories + 1))
            # box side spread over the small / medium / large area ranges (32^2, 96^2)
            side = float(np.exp(rng.uniform(np.log(12), np.log(400))))
            w = side * rng.uniform(0.5, 1.0)
            h = side * rng.uniform(1.0, 2.0)
            x = float(rng.uniform(0, width))
            y = float(rng.uniform(0, height))
            area = float(w * h * rng.uniform(0.4, 0.8))
            crowd = rng.random() < crowd_rate
            kx = x + rng.random(k) * w
            ky = y + rng.random(k) * h
            v = rng.choice([0, 1, 2], size=k, p=[0.3, 0.1, 0.6])
            if crowd or rng.random() < empty_rate:
                v[:] = 0
            kpts = np.stack([np.where(v > 0, kx, 0.0), np.where(v > 0, ky, 0.0), v], 1)
            kpts[:, :2] = np.round(kpts[:, :2], 2)
            anns.append(
                {
                    "id": ann_id,
                    "image_id": img_id,
                    "category_id": cat,
                    "keypoints": [float(a) if i % 3 != 2 else int(a) for i, a in enumerate(kpts.ravel())],
                    "num_keypoints": int(np.count_nonzero(v > 0)),
                    "area": round(area, 3),
                    "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
                    "iscrowd": int(crowd),
                }
            )
            ann_id += 1
            if crowd:
                # detections inside a crowd region
                for _ in range(int(rng.integers(0, 4))):
                    xs, ys = x + rng.random(k) * w, y + rng.random(k) * h
                    results.append(_result(rng, img_id, cat, xs, ys, rng.uniform(0.0, 1.0)))
                continue
            # true detections with noise relative to the object scale, sometimes duplicated
            scale = np.sqrt(max(area, 1.0)) * sigmas * 2
            for _ in range(int(rng.choice([0, 1, 1, 1, 1, 1, 1, 2, 2, 3]))):
                u = rng.uniform(0.05, 1.3)
                noise = rng.normal(size=(k, 2)) * scale[:, None] * u / 2
                rx = np.where(v > 0, kx, x + w / 2) + noise[:, 0]
                ry = np.where(v > 0, ky, y + h / 2) + noise[:, 1]
                quality = float(np.exp(-u * u) + rng.normal(0.0, 0.15))
                results.append(_result(rng, img_id, cat, rx, ry, quality))
        # false positives, and now and then a flood of more than 20 detections
        fp = int(rng.poisson(0.7)) + (int(rng.integers(15, 30)) if rng.random() < 0.03 else 0)
        for _ in range(fp):
            cat = int(rng.integers(1, categories + 1))
            side = float(np.exp(rng.uniform(np.log(12), np.log(300))))
            x, y = float(rng.uniform(0, width)), float(rng.uniform(0, height))
            xs, ys = x + rng.random(k) * side, y + rng.random(k) * side * 1.5
            results.append(_result(rng, img_id, cat, xs, ys, rng.uniform(0.0, 0.7)))
    for r in results:
        if score_decimals is not None:
            r["score"] = round(r["score"], score_decimals)
        if with_bbox:
            kp = np.asarray(r["keypoints"]).reshape(-1, 3)
            x0, y0 = kp[:, 0].min(), kp[:, 1].min()
            pad = rng.uniform(0.0, 10.0)
            r["bbox"] = [
                float(x0 - pad),
                float(y0 - pad),
                float(np.ptp(kp[:, 0]) + 2 * pad),
                float(np.ptp(kp[:, 1]) + 2 * pad),
            ]
    cats = [
        {
            "id": c,
            "name": "person" if c == 1 else f"class{c}",
            "supercategory": "person",
            "keypoints": [f"kp{j}" for j in range(k)],
            "skeleton": [],
        }
        for c in range(1, categories + 1)
    ]
    return {"images": images, "annotations": anns, "categories": cats}, results


def _result(
    rng: np.random.Generator, img_id: int, cat: int, xs: np.ndarray, ys: np.ndarray, score: float
) -> dict[str, Any]:
    conf = rng.uniform(0.05, 1.0, size=xs.shape)
    kp = np.stack([np.round(xs, 3), np.round(ys, 3), np.round(conf, 3)], 1).ravel()
    return {
        "image_id": img_id,
        "category_id": cat,
        "keypoints": kp.tolist(),
        "score": float(np.clip(score, 0.0, 1.0)),
    }
