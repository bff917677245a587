"""What a deployed model file must carry so a predictor can use it without the Python model.

An exported ONNX file stores these fields in its ``metadata_props`` (keys ``hpefast.*``); a TensorRT engine
(which has no free-form metadata) stores them in a json file next to it (``<engine>.json``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PREFIX = "hpefast."
INPUT_NAME = "images"
OUTPUT_NAME = "heatmaps"
PRECISIONS = ("fp32", "fp16")


@dataclass(frozen=True)
class ExportInfo:
    """Geometry and identity of an exported heatmap model.

    Attributes:
        layout: keypoint schema name of the output channels ("coco", "union21", ...); None when unknown
            (an ONNX file not written by hpefast).
        num_keypoints: K, the heatmap channels.
        image_size: input crop (W, H) in pixels.
        heatmap_size: output heatmap (w, h).
        precision: "fp32" or "fp16" (weights and arithmetic; inputs and outputs stay float32).
        batch: fixed batch size, or None for a dynamic batch dimension.
        dataset_id: the dataset head / expert baked into the graph (multi-dataset models), else None.
        config: the model's configuration dict (``ViTPoseConfig.to_dict()``), for reference.
    """

    layout: str | None
    num_keypoints: int
    image_size: tuple[int, int]
    heatmap_size: tuple[int, int]
    precision: str = "fp32"
    batch: int | None = None
    dataset_id: int | None = None
    config: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        object.__setattr__(self, "image_size", (int(self.image_size[0]), int(self.image_size[1])))
        object.__setattr__(self, "heatmap_size", (int(self.heatmap_size[0]), int(self.heatmap_size[1])))

    @classmethod
    def from_model(
        cls, model: Any, *, precision: str = "fp32", batch: int | None = None, dataset_id: int | None = None
    ) -> ExportInfo:
        """Read the geometry from a hpefast model's ``cfg`` (TypeError when it has none)."""
        cfg = getattr(model, "cfg", None)
        needed = ("layout", "num_keypoints", "image_size", "heatmap_size")
        if cfg is None or any(not hasattr(cfg, n) for n in needed):
            raise TypeError(
                f"model must be a hpefast model with a cfg giving {', '.join(needed)} "
                f"(e.g. hpefast.models.build_model(...)), got {type(model).__name__}"
            )
        to_dict = getattr(cfg, "to_dict", None)
        return cls(
            layout=str(cfg.layout),
            num_keypoints=int(cfg.num_keypoints),
            image_size=tuple(cfg.image_size),
            heatmap_size=tuple(cfg.heatmap_size),
            precision=precision,
            batch=batch,
            dataset_id=dataset_id,
            config=to_dict() if callable(to_dict) else None,
        )

    # --- ONNX metadata_props (str -> str) -------------------------------------------------------
    def to_metadata(self) -> dict[str, str]:
        d = asdict(self)
        return {PREFIX + k: json.dumps(v) for k, v in d.items()}

    @classmethod
    def from_metadata(cls, props: dict[str, str], source: str = "model") -> ExportInfo | None:
        """Parse ``hpefast.*`` metadata; None when the file carries none (not written by hpefast)."""
        ours = {k[len(PREFIX) :]: v for k, v in props.items() if k.startswith(PREFIX)}
        if not ours:
            return None
        try:
            d = {k: json.loads(v) for k, v in ours.items()}
            known = {f for f in cls.__dataclass_fields__}
            return cls(**{k: v for k, v in d.items() if k in known})
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"{source}: unreadable hpefast metadata ({exc})") from None

    # --- json sidecar (TensorRT engines) ----------------------------------------------------------
    def to_json(self, **extra: Any) -> str:
        return json.dumps({**asdict(self), **extra}, indent=2)

    @classmethod
    def from_json_file(cls, path: str | Path) -> ExportInfo:
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(
                f"{path}: metadata file not found (written next to the engine by export)"
            ) from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid json ({exc})") from None
        known = {f for f in cls.__dataclass_fields__}
        try:
            return cls(**{k: v for k, v in d.items() if k in known})
        except TypeError as exc:
            raise ValueError(f"{path}: incomplete engine metadata ({exc})") from None


def engine_info_path(engine_path: str | Path) -> Path:
    """The json file that carries an engine's :class:`ExportInfo`: ``<engine>.json``."""
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + ".json")
