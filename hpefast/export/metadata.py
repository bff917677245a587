"""What a deployed model file must carry so a predictor can use it without the Python model.

An exported ONNX file stores these fields in its ``metadata_props`` (keys ``hpefast.*``); a TensorRT engine
(which has no free-form metadata) stores them in a json file next to it (``<engine>.json``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PREFIX = "hpefast."
INPUT_NAME = "images"
OUTPUT_NAME = "heatmaps"
PRECISIONS = ("fp32", "fp16")
# SHA-256 of the ONNX file (with this value read as 64 zeros) and of its external-data file, if any.
CHECKSUM_KEY = PREFIX + "sha256"
DATA_CHECKSUM_KEY = PREFIX + "data_sha256"


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
        codec: the model's heatmap codec (``HeatmapCodec.to_dict()``): how the predictor decodes and flips
            the engine's heatmaps. None for files written before it was recorded (read as the default
            udp / dark_udp codec of the sizes).
    """

    layout: str | None
    num_keypoints: int
    image_size: tuple[int, int]
    heatmap_size: tuple[int, int]
    precision: str = "fp32"
    batch: int | None = None
    dataset_id: int | None = None
    config: dict[str, Any] | None = None
    codec: dict[str, Any] | None = None

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
            codec=cfg.codec.to_dict() if getattr(cfg, "codec", None) is not None else None,
        )

    def heatmap_codec(self) -> Any:
        """The :class:`~hpefast.codec.HeatmapCodec` of the exported model (the recorded one, else the
        default udp / dark_udp codec of ``image_size`` / ``heatmap_size``)."""
        from hpefast.codec import HeatmapCodec

        if self.codec is not None:
            return HeatmapCodec.from_dict(self.codec)
        return HeatmapCodec(input_size=self.image_size, heatmap_size=self.heatmap_size)

    # --- ONNX metadata_props (str -> str) -------------------------------------------------------
    def to_metadata(self) -> dict[str, str]:
        d = asdict(self)
        return {PREFIX + k: json.dumps(v) for k, v in d.items()}

    @classmethod
    def from_metadata(cls, props: dict[str, str], source: str = "model") -> ExportInfo | None:
        """Parse ``hpefast.*`` metadata; None when the file carries none (not written by hpefast)."""
        checksums = (CHECKSUM_KEY, DATA_CHECKSUM_KEY)  # plain hex, not json; checked by verify_onnx_checksum
        ours = {k[len(PREFIX) :]: v for k, v in props.items() if k.startswith(PREFIX) and k not in checksums}
        if not ours:
            return None
        try:
            known = {f for f in cls.__dataclass_fields__}
            d = {k: json.loads(v) for k, v in ours.items() if k in known}  # checksums are not json
            return cls(**d)
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


# --- checksums of exported files ------------------------------------------------------------------------
def _entry_marker(key: str) -> bytes:
    """Serialized start of a ``StringStringEntryProto`` whose key is ``key`` and value 64 bytes long."""
    k = key.encode()
    return b"\x0a" + bytes([len(k)]) + k + b"\x12\x40"


def serialize_onnx_with_checksum(proto: Any, data_sha256: str | None = None) -> bytes:
    """``proto`` serialized with ``hpefast.sha256`` (the SHA-256 of these very bytes, read with the value
    as 64 ASCII zeros) and, for a model with external data, ``hpefast.data_sha256`` in its metadata.

    ``metadata_props`` is serialized after the graph (field 14 > 7), so the checksum entry is the last
    occurrence of its marker. ``proto`` is modified (its metadata)."""
    keep = [(p.key, p.value) for p in proto.metadata_props if p.key not in (CHECKSUM_KEY, DATA_CHECKSUM_KEY)]
    del proto.metadata_props[:]
    for k, v in keep:
        proto.metadata_props.add(key=k, value=v)
    if data_sha256 is not None:
        proto.metadata_props.add(key=DATA_CHECKSUM_KEY, value=data_sha256)
    proto.metadata_props.add(key=CHECKSUM_KEY, value="0" * 64)
    data = bytearray(proto.SerializeToString())
    marker = _entry_marker(CHECKSUM_KEY)
    at = data.rfind(marker) + len(marker)
    data[at : at + 64] = hashlib.sha256(data).hexdigest().encode()
    return bytes(data)


def verify_onnx_checksum(path: str | Path) -> bool:
    """Check an ONNX file (and its external-data file) against the checksums hpefast wrote into it.

    Returns False for a file without them (not written by this hpefast, nothing to check), True when they
    match; raises :class:`hpefast.errors.CheckpointError` naming the path when a byte changed.
    """
    from hpefast._io import sha256_file
    from hpefast.errors import CheckpointError

    path = Path(path)
    data = bytearray(path.read_bytes())
    marker = _entry_marker(CHECKSUM_KEY)
    i = data.rfind(marker)
    if i < 0:
        return False
    at = i + len(marker)
    stored = bytes(data[at : at + 64]).decode("ascii", "replace")
    data[at : at + 64] = b"0" * 64
    if hashlib.sha256(data).hexdigest() != stored:
        raise CheckpointError(
            f"{path}: checksum mismatch, the file is corrupt (changed since it was written); export it again"
        )
    dmarker = _entry_marker(DATA_CHECKSUM_KEY)
    j = data.rfind(dmarker)
    if j >= 0:
        want = bytes(data[j + len(dmarker) : j + len(dmarker) + 64]).decode("ascii", "replace")
        ext = path.with_name(path.name + ".data")
        if not ext.is_file():
            raise CheckpointError(f"{path}: its external-data file {ext} is missing")
        if sha256_file(ext) != want:
            raise CheckpointError(
                f"{ext}: checksum mismatch, the external-data file of {path} is corrupt; export it again"
            )
    return True


def verify_engine_checksum(engine_path: str | Path, sidecar: dict[str, Any]) -> bool:
    """Check a TensorRT engine against the ``sha256`` in its json sidecar (False when there is none)."""
    from hpefast._io import sha256_file
    from hpefast.errors import CheckpointError

    want = sidecar.get("sha256")
    if not want:
        return False
    if sha256_file(engine_path) != want:
        raise CheckpointError(
            f"{engine_path}: checksum mismatch with {engine_info_path(engine_path).name}, the engine file is "
            "corrupt; build it again"
        )
    return True
