"""hpefast's model checkpoint format: safetensors weights + a json config.

A checkpoint is either a directory ``DIR/model.safetensors`` + ``DIR/config.json``, or a file pair
``NAME.safetensors`` + ``NAME.json``. The json holds ``{"format", "version", "config", "metadata"}``;
the config is also stored in the safetensors header, so the weights file alone is enough to rebuild
the model. Both files are written atomically (temporary file in the same folder, then ``os.replace``).

Official ViTPose / ViTPose+ ``.pth`` files go through ``hpefast.models.convert`` (``load_model`` does
that for ``.pth`` / ``.pt`` paths).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from hpefast._io import atomic_path, atomic_write_text, tensors_sha256
from hpefast.errors import CheckpointError
from hpefast.models.config import ViTPoseConfig
from hpefast.models.vitpose import ViTPose

FORMAT = "hpefast.vitpose"
VERSION = 1
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
_HEADER_KEY = "hpefast_config"
_DIGEST_KEY = "hpefast_sha256"  # tensors_sha256 of the weights, in the safetensors header and the json
_OFFICIAL_SUFFIXES = (".pth", ".pt", ".tar", ".bin")
# Fields that change behaviour but not the weights: never a reason to refuse a checkpoint.
_RUNTIME_FIELDS = ("fused_attention", "drop_path_rate", "extra", "variant")


def checkpoint_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """(weights, config) paths of a checkpoint given as a directory, ``.safetensors`` or ``.json``."""
    p = Path(path)
    if p.suffix == ".safetensors":
        return p, p.with_suffix(".json")
    if p.suffix == ".json":
        return p.with_suffix(".safetensors"), p
    return p / WEIGHTS_NAME, p / CONFIG_NAME


def unwrap_model(model: nn.Module) -> ViTPose:
    """The ViTPose inside DDP (``.module``) and ``torch.compile`` (``._orig_mod``) wrappers."""
    seen = 0
    while not isinstance(model, ViTPose) and seen < 4:
        model = getattr(model, "module", None) or getattr(model, "_orig_mod", None) or model
        seen += 1
    if not isinstance(model, ViTPose):
        raise TypeError(
            f"model must be a hpefast ViTPose (or a DDP/compiled wrapper of one), got {type(model).__name__}"
        )
    return model


def save_model(model: nn.Module, path: str | os.PathLike, *, metadata: dict[str, Any] | None = None) -> Path:
    """Save ``model``'s weights and config to ``path`` (a directory, or ``NAME.safetensors``).

    ``metadata``: json-serialisable extras (training step, metrics...) stored in the json.
    Returns the weights path.
    """
    from safetensors.torch import save_file

    vp = unwrap_model(model)
    weights, config = checkpoint_paths(path)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in vp.state_dict().items()}
    digest = tensors_sha256(tensors)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "config": vp.cfg.to_dict(),
        "metadata": metadata or {},
        "sha256": digest,
    }
    text = json.dumps(doc, indent=2, sort_keys=True)
    header = {_HEADER_KEY: json.dumps(doc["config"], sort_keys=True), "format": FORMAT, _DIGEST_KEY: digest}
    with atomic_path(weights) as tmp:
        save_file(tensors, tmp, metadata=header)
    atomic_write_text(config, text + "\n")
    return weights


def read_checkpoint_config(path: str | os.PathLike) -> tuple[ViTPoseConfig, dict[str, Any]]:
    """(config, metadata) of a saved checkpoint, from the json or else from the safetensors header."""
    weights, config = checkpoint_paths(path)
    if config.is_file():
        try:
            doc = json.loads(config.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{config}: not valid json ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or "config" not in doc:
            raise CheckpointError(f"{config}: not an hpefast model config (expected format {FORMAT!r})")
        if int(doc.get("version", 0)) > VERSION:
            raise CheckpointError(
                f"{config}: format version {doc['version']} is newer than this hpefast ({VERSION})"
            )
        return _config_from(doc["config"], config), dict(doc.get("metadata") or {})
    if weights.is_file():
        header = _header(weights)
        if _HEADER_KEY not in header:
            raise CheckpointError(
                f"{weights}: no hpefast config in the safetensors header and no {config.name} beside it"
            )
        return _config_from(json.loads(header[_HEADER_KEY]), weights), {}
    raise FileNotFoundError(f"no hpefast checkpoint at {path} (looked for {weights} and {config})")


def _config_from(d: dict[str, Any], where: Path) -> ViTPoseConfig:
    try:
        return ViTPoseConfig.from_dict(d)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: bad model config: {exc}") from None


def _header(weights: Path) -> dict[str, str]:
    """The safetensors header metadata; CheckpointError naming the file when it is not safetensors."""
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as exc:  # SafetensorError (bad header, truncated), OSError
        raise CheckpointError(f"{weights}: not a readable safetensors file ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def weight_shapes(weights: Path) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor of a safetensors file, from its header (no tensor is read)."""
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as exc:
        raise CheckpointError(f"{weights}: not a readable safetensors file ({_first_line(exc)})") from None


def check_weights_fit_config(cfg: ViTPoseConfig, weights: Path) -> None:
    """Refuse, before any memory is allocated for the model, a config that contradicts the weights' shapes
    (the model is built on the ``meta`` device to read the shapes the config implies)."""
    try:
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in ViTPose(cfg).state_dict().items()}
    except Exception as exc:
        raise CheckpointError(f"{weights}: its config cannot build a model ({_first_line(exc)})") from None
    stored = weight_shapes(weights)
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    wrong = [k for k in expected if k in stored and stored[k] != expected[k]]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            k = wrong[0]
            parts.append(
                f"{k} has shape {list(stored[k])} in the weights, the config implies {list(expected[k])}"
            )
        if missing:
            parts.append(f"missing {missing[:3]}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:3]}")
        raise CheckpointError(
            f"{weights}: the config contradicts the weights (layout {cfg.layout!r}, {cfg.num_keypoints} "
            f"keypoints): " + "; ".join(parts)
        )


def _read_weights(weights: Path, map_location: str | torch.device) -> dict[str, torch.Tensor]:
    """Load the tensors and check them against the checksum in the header (CheckpointError naming the
    file when a byte changed; files without a checksum, from older versions, load unchecked)."""
    from safetensors.torch import load_file

    if not weights.is_file():
        raise FileNotFoundError(f"checkpoint weights {weights} not found")
    header = _header(weights)
    dev = str(map_location) if map_location is not None else "cpu"
    try:
        state = load_file(str(weights), device=dev)
    except Exception as exc:
        raise CheckpointError(f"{weights}: not a readable safetensors file ({_first_line(exc)})") from None
    want = header.get(_DIGEST_KEY)
    if want is not None and tensors_sha256(state) != want:
        raise CheckpointError(
            f"{weights}: checksum mismatch, the weights are corrupt (changed since they were written)"
        )
    return state


def check_compatible(model_cfg: ViTPoseConfig, ckpt_cfg: ViTPoseConfig, source: str = "checkpoint") -> None:
    """Raise ValueError when a checkpoint's architecture differs from the model's; layout first."""
    if model_cfg.layout != ckpt_cfg.layout or model_cfg.num_keypoints != ckpt_cfg.num_keypoints:
        raise CheckpointError(
            f"{source} was trained for layout {ckpt_cfg.layout!r} ({ckpt_cfg.num_keypoints} keypoints) "
            f"but the model uses layout {model_cfg.layout!r} ({model_cfg.num_keypoints} keypoints); "
            f"build the model with layout={ckpt_cfg.layout!r} or convert the checkpoint"
        )
    a, b = model_cfg.to_dict(), ckpt_cfg.to_dict()
    diff = [
        f"{k}: model {a[k]!r} vs checkpoint {b[k]!r}" for k in a if k not in _RUNTIME_FIELDS and a[k] != b[k]
    ]
    if diff:
        raise CheckpointError(f"{source} does not fit the model: " + "; ".join(diff))


def load_weights(
    model: nn.Module, path: str | os.PathLike, map_location: str | torch.device = "cpu", strict: bool = True
) -> dict[str, Any]:
    """Load a saved checkpoint into an existing model after checking layout and architecture.

    Returns the checkpoint's metadata. Raises ValueError for a checkpoint of another layout.
    """
    vp = unwrap_model(model)
    cfg, meta = read_checkpoint_config(path)
    check_compatible(vp.cfg, cfg, source=f"checkpoint {path}")
    weights, _ = checkpoint_paths(path)
    state = _read_weights(weights, map_location)
    vp.load_state_dict(state, strict=strict)
    return meta


def load_model(
    path: str | os.PathLike,
    map_location: str | torch.device = "cpu",
    *,
    layout: str | None = None,
    **convert_kwargs: Any,
) -> ViTPose:
    """Rebuild a model from a checkpoint: hpefast's own (directory, ``.safetensors`` or ``.json``), a
    training run's ``checkpoints/last.pt`` (its EMA weights when it has them), or an official ViTPose
    ``.pth`` (converted by ``hpefast.models.convert.load_official``; ``convert_kwargs`` go there).
    ``layout``: refuse (CheckpointError, a ValueError) a checkpoint whose layout differs. The model is in
    eval mode.
    """
    p = Path(path)
    if p.suffix in (".pt", ".pth") and p.is_file():
        from hpefast.engine.state import is_training_checkpoint, load_training_checkpoint

        if is_training_checkpoint(p):  # a training run's checkpoints/last.pt (its EMA weights if any)
            if convert_kwargs:
                raise TypeError(f"unexpected arguments for a training checkpoint: {sorted(convert_kwargs)}")
            model = load_training_checkpoint(p, map_location=map_location)
            if layout is not None and layout != model.cfg.layout:
                raise CheckpointError(
                    f"checkpoint {path} was trained for layout {model.cfg.layout!r}, not {layout!r}"
                )
            return model
    if p.suffix in _OFFICIAL_SUFFIXES and p.is_file():
        from hpefast.models.convert import load_official

        model = load_official(p, layout=layout, **convert_kwargs)
        return model.to(map_location).eval()
    if convert_kwargs:
        raise TypeError(f"unexpected arguments for an hpefast checkpoint: {sorted(convert_kwargs)}")
    cfg, _ = read_checkpoint_config(p)
    if layout is not None and layout != cfg.layout:
        raise CheckpointError(
            f"checkpoint {path} was trained for layout {cfg.layout!r} ({cfg.num_keypoints} keypoints), "
            f"not {layout!r}"
        )
    weights, _ = checkpoint_paths(p)
    if weights.is_file():
        check_weights_fit_config(cfg, weights)
    state = _read_weights(weights, map_location)
    model = ViTPose(cfg)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path}: weights do not match its config: {exc}") from None
    return model.to(map_location).eval()
