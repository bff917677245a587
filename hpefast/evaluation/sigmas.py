"""OKS sigmas by dataset name, taken from the keypoint schemas (``hpefast.keypoints``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# pycocotools' default (Params.setKpParams), the COCO-17 person sigmas.
COCO_SIGMAS = (
    np.array(
        [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89]
    )
    / 10.0
)

# Used only when hpefast.keypoints cannot be imported: the two sets the evaluation tools themselves fix
# (pycocotools' COCO default; CrowdPose's, as xtcocotools' CrowdPose examples pass them).
_FALLBACK = {
    "coco": COCO_SIGMAS,
    "crowdpose": np.array(
        [0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089, 0.079, 0.079]
    ),
}


def resolve_sigmas(sigmas: str | Sequence[float] | np.ndarray | None) -> np.ndarray:
    """Return OKS sigmas as a float64 array [K].

    Args:
        sigmas: a schema name (``"coco"``, ``"aic"``, ``"mpii"``, ``"crowdpose"``, ``"ap10k"``, ... any name
            known to :func:`hpefast.keypoints.get_schema`), a sequence of K positive numbers, or None (COCO).
            ``"coco"`` and None give pycocotools' array exactly (``np.array([.26, ...]) / 10``).

    Raises:
        ValueError: unknown name, or values that are not finite and positive.
    """
    if sigmas is None:
        return COCO_SIGMAS.copy()
    if isinstance(sigmas, str):
        name = sigmas.lower()
        if name == "coco":
            # pycocotools' own expression (/10.0), one ulp away from the decimal literals in places
            return COCO_SIGMAS.copy()
        try:
            from hpefast.keypoints import get_schema
        except ImportError:  # pragma: no cover - the keypoints package is part of hpefast
            if name in _FALLBACK:
                return _FALLBACK[name].copy()
            raise ValueError(f"sigmas: unknown keypoint schema {sigmas!r}") from None
        try:
            schema = get_schema(name)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"sigmas: unknown keypoint schema {sigmas!r} ({exc})") from None
        return np.array(schema.sigmas, dtype=np.float64)
    arr = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"sigmas must be a non-empty sequence of finite positive numbers, got {sigmas!r}")
    return arr
