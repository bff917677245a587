"""Load weights from other sources: official ViTPose / ViTPose+ checkpoints, the union21 / union23
checkpoints of the original research, and MAE pre-trained backbones.

Official ViTPose checkpoints are mmcv files ``{"state_dict": {...}, "meta": ...}`` with keys
``backbone.patch_embed.proj.*``, ``backbone.pos_embed`` [1, 1 + N, C], ``backbone.blocks.i.*``,
``backbone.last_norm.*``, ``keypoint_head.deconv_layers.{0,1,3,4}.*`` and ``keypoint_head.final_layer.*``.
hpefast keeps the backbone names and maps ``keypoint_head.`` to ``head.decoders.0.``.

ViTPose+ checkpoints add, in every block, ``mlp.experts.e.*`` (the last ``part_features`` outputs of the
MLP for dataset e; fc2 holds the shared rest) and ``associate_keypoint_heads.j.*`` (the head of dataset
j + 1). Dataset order: coco, aic, mpii, ap10k, apt36k, wholebody. Picking one dataset follows the
official ``tools/model_split.py``: ``fc2 = cat([fc2, experts.e])`` and the head of that dataset.

Files written by that script load too. Its ``coco.pth`` keeps every expert and associate head but has
fc2 already merged with expert 0 (embed_dim rows): any expert is picked from it by replacing fc2's last
``part_features`` rows. Its other files (``aic.pth`` ... ``wholebody.pth``) are plain ViTPose checkpoints
whose head layout the weights cannot tell (AP-10K's 17 joints look like COCO's): pass ``layout``.

mmcv checkpoints carry a ``meta`` dict that often holds numpy scalars (``best_score``, ``epoch``); they are
read with ``torch.load(weights_only=True)`` and only numpy's scalar / dtype / array reconstructors allowed
(:data:`NUMPY_SAFE_GLOBALS`), so no code in the file runs. ``trusted=True`` unpickles fully (for files
whose extras need more; only for files you trust).

Union checkpoints have the ViTPose keys with 21 or 23 output channels and load as they are.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from hpefast.errors import CheckpointError
from hpefast.models.config import VARIANTS, ViTPoseConfig
from hpefast.models.vit import resize_pos_embed
from hpefast.models.vitpose import ViTPose

VITPOSE_PLUS_DATASETS = ("coco", "aic", "mpii", "ap10k", "apt36k", "wholebody")
VITPOSE_PLUS_KEYPOINTS = (17, 14, 16, 17, 17, 133)
# Layout assumed for an official head of K channels when the caller names none.
DEFAULT_LAYOUT_BY_K = {17: "coco", 16: "mpii", 14: "aic", 21: "union21", 23: "union23"}
# Known (H, W) token grids of official input sizes, by token count (gh * gw).
_GRIDS = {192: (16, 12), 432: (24, 18), 256: (16, 16), 768: (32, 24)}

_EXPERT = re.compile(r"\.mlp\.experts\.(\d+)\.")


def _numpy_safe_globals() -> list[Any]:
    """numpy's pickling entry points that rebuild plain scalars / arrays, under both names they are pickled
    with (numpy 1.x ``numpy.core.multiarray``, numpy 2.x ``numpy._core.multiarray``), plus every dtype class.
    None of them runs code from the file: they rebuild numeric values from bytes and dtype descriptors."""
    import numpy as np

    try:
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray  # type: ignore[no-redef]
    out: list[Any] = [np.dtype, np.ndarray]
    for name in ("scalar", "_reconstruct"):
        fn = getattr(multiarray, name)
        out += [(fn, f"numpy.core.multiarray.{name}"), (fn, f"numpy._core.multiarray.{name}")]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        out += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType")]
    return out


NUMPY_SAFE_GLOBALS = _numpy_safe_globals()
_ASSOC = re.compile(r"^associate_keypoint_heads\.(\d+)\.")


class ExpertRequired(CheckpointError):
    """A ViTPose+ checkpoint was given without ``expert``: which dataset's expert and head to use is not
    in the weights. ``experts`` lists the expert indices the checkpoint has."""

    def __init__(self, experts: list[int]) -> None:
        self.experts = experts
        super().__init__(
            f"this is a ViTPose+ checkpoint: pass expert= one of {VITPOSE_PLUS_DATASETS} or an index "
            f"(the checkpoint has experts {experts})"
        )


# --- reading ----------------------------------------------------------------------------------
def read_state_dict(
    source: str | os.PathLike | Mapping[str, Any], *, trusted: bool = False
) -> dict[str, Tensor]:
    """The tensor state dict of a checkpoint file or dict: unwraps ``state_dict`` / ``model`` / ``module``
    and strips a ``module.`` (DataParallel) prefix.

    Files are read with ``torch.load(weights_only=True)``, numpy scalars and arrays (an mmcv ``meta``)
    allowed (:data:`NUMPY_SAFE_GLOBALS`); ``trusted=True`` allows full unpickling for files that need more
    (only for files you trust; the CLI's ``--trusted``).
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} not found")
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(path))
        else:
            try:
                if trusted:
                    obj = torch.load(path, map_location="cpu", weights_only=False)
                else:
                    with torch.serialization.safe_globals(NUMPY_SAFE_GLOBALS):
                        obj = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # unpickling of non-tensor objects refused, or not a torch file
                if trusted:
                    raise CheckpointError(f"{path}: not a readable torch checkpoint ({exc})") from None
                reason = next((ln.strip() for ln in str(exc).splitlines() if "GLOBAL" in ln), "")
                raise CheckpointError(
                    f"{path}: cannot be read with torch.load(weights_only=True) "
                    f"({reason or type(exc).__name__}); if you trust this file, pass trusted=True "
                    "(the CLI's --trusted), which lets it run code while unpickling"
                ) from None
    elif isinstance(source, Mapping):
        obj = source
    else:
        raise TypeError(f"checkpoint must be a path or a state dict, got {type(source).__name__}")
    for key in ("state_dict", "model", "module"):
        if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError("checkpoint holds no state dict")
    sd = {k: v for k, v in obj.items() if isinstance(v, Tensor)}
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    return sd


# --- ViTPose+ ------------------------------------------------------------------------------------
def is_vitpose_plus(state_dict: Mapping[str, Tensor]) -> bool:
    """Whether an official state dict is a ViTPose+ one (mixture-of-experts MLPs, one head per dataset)."""
    return any(_EXPERT.search(k) for k in state_dict)


def _expert_index(expert: int | str) -> int:
    if isinstance(expert, str):
        if expert not in VITPOSE_PLUS_DATASETS:
            raise CheckpointError(
                f"expert must be one of {VITPOSE_PLUS_DATASETS} or an index, got {expert!r}"
            )
        return VITPOSE_PLUS_DATASETS.index(expert)
    if isinstance(expert, bool) or not isinstance(expert, int) or expert < 0:
        raise TypeError(f"expert must be a dataset name or a non-negative int, got {expert!r}")
    return expert


def select_vitpose_plus_expert(state_dict: Mapping[str, Tensor], expert: int | str) -> dict[str, Tensor]:
    """Turn a ViTPose+ state dict (official names) into a plain ViTPose one for dataset ``expert``
    (0 coco, 1 aic, 2 mpii, 3 ap10k, 4 apt36k, 5 wholebody): each block's fc2 gets expert e's rows
    appended, and the head is ``keypoint_head`` (e = 0) or ``associate_keypoint_heads.{e-1}``."""
    e = _expert_index(expert)
    experts = {int(m.group(1)) for k in state_dict if (m := _EXPERT.search(k))}
    if e not in experts:
        raise CheckpointError(
            f"checkpoint has experts {sorted(experts)}; expert {expert!r} (index {e}) is not there"
        )
    out: dict[str, Tensor] = {}
    for k, v in state_dict.items():
        if _EXPERT.search(k) or _ASSOC.match(k) or k.startswith("keypoint_head."):
            continue
        if ".mlp.fc2." in k:
            part = state_dict[k.replace(".mlp.fc2.", f".mlp.experts.{e}.")]
            v = torch.cat([_shared_fc2(state_dict, k, v, part.shape[0]), part], dim=0)
        out[k] = v
    prefix = "keypoint_head." if e == 0 else f"associate_keypoint_heads.{e - 1}."
    head = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
    if not head:
        raise CheckpointError(f"checkpoint has no head {prefix}* for expert {expert!r}")
    out.update({"keypoint_head." + k: v for k, v in head.items()})
    return out


def _shared_fc2(state_dict: Mapping[str, Tensor], key: str, fc2: Tensor, part: int) -> Tensor:
    """The shared rows (embed_dim - part) of a ViTPose+ block's fc2 weight or bias ``key``. An fc2 that
    already has embed_dim rows was merged with an expert by ``tools/model_split.py`` (its ``coco.pth``:
    ``cat([fc2, experts.0])``): its last ``part`` rows are that expert's and are dropped."""
    fc1 = key.replace(".mlp.fc2.", ".mlp.fc1.").rsplit(".", 1)[0] + ".weight"
    dim = int(state_dict[fc1].shape[1]) if fc1 in state_dict else None
    if dim is not None and fc2.shape[0] == dim:
        return fc2[: dim - part]
    if dim is not None and fc2.shape[0] + part != dim:
        raise CheckpointError(
            f"{key}: {fc2.shape[0]} rows fit neither a ViTPose+ fc2 ({dim - part}) nor a merged one ({dim})"
        )
    return fc2


# --- official names -> hpefast names --------------------------------------------------------------
def convert_official_state_dict(
    state_dict: Mapping[str, Tensor], *, expert: int | str | None = None
) -> dict[str, Tensor]:
    """Official ViTPose(+) state dict -> hpefast ``ViTPose`` state dict (single head).

    ViTPose+ dicts need ``expert`` (see ``select_vitpose_plus_expert``). Keys outside the backbone and
    the keypoint head (e.g. a loss's buffers) are dropped.
    """
    sd = dict(state_dict)
    if is_vitpose_plus(sd):
        if expert is None:
            raise ExpertRequired(sorted({int(m.group(1)) for k in sd if (m := _EXPERT.search(k))}))
        sd = select_vitpose_plus_expert(sd, expert)
    elif expert is not None and _expert_index(expert) != 0:
        raise CheckpointError(f"expert={expert!r} given but the checkpoint has no ViTPose+ experts")
    out: dict[str, Tensor] = {}
    for k, v in sd.items():
        if k.startswith("backbone."):
            out[k] = v
        elif k.startswith("keypoint_head."):
            out["head.decoders.0." + k[len("keypoint_head.") :]] = v
    if "backbone.pos_embed" not in out or "head.decoders.0.final_layer.weight" not in out:
        raise CheckpointError(
            "not a ViTPose checkpoint: expected backbone.pos_embed and keypoint_head.final_layer.weight "
            f"(found e.g. {sorted(sd)[:5]})"
        )
    return out


def infer_config(
    state_dict: Mapping[str, Tensor],
    *,
    layout: str | None = None,
    image_size: tuple[int, int] | None = None,
    num_heads: int | None = None,
) -> ViTPoseConfig:
    """The ``ViTPoseConfig`` of an hpefast-named state dict with one head.

    Read from the weights: embed dim, depth, MLP ratio, qkv bias, patch size, decoder type and width,
    K. Not in the weights: the head count (taken from the published variant of that width unless
    given), the input size (256x192 for the official 192-token grid; else pass ``image_size`` (W, H)),
    and the layout (by K: 17 coco, 16 mpii, 14 aic, 21 union21, 23 union23, unless given).
    """
    pe = state_dict["backbone.pos_embed"]
    c = int(pe.shape[-1])
    n_tokens = int(pe.shape[1]) - 1
    depth = 1 + max(int(k.split(".")[2]) for k in state_dict if k.startswith("backbone.blocks."))
    patch = int(state_dict["backbone.patch_embed.proj.weight"].shape[-1])
    hidden = int(state_dict["backbone.blocks.0.mlp.fc1.weight"].shape[0])
    final = state_dict["head.decoders.0.final_layer.weight"]
    k = int(final.shape[0])
    variant = next((name for name, s in VARIANTS.items() if s.embed_dim == c and s.depth == depth), "custom")
    if num_heads is None:
        spec = next((s for s in VARIANTS.values() if s.embed_dim == c), None)
        if spec is None:
            raise CheckpointError(f"embed dim {c} matches no published variant: pass num_heads")
        num_heads = spec.num_heads
    if image_size is None:
        if n_tokens not in _GRIDS:
            raise CheckpointError(
                f"cannot tell the input size from {n_tokens} position tokens: pass image_size=(W, H)"
            )
        gh, gw = _GRIDS[n_tokens]
        image_size = (gw * patch, gh * patch)
    if layout is None:
        if k not in DEFAULT_LAYOUT_BY_K:
            raise CheckpointError(f"no default layout for a {k}-channel head: pass layout=")
        layout = DEFAULT_LAYOUT_BY_K[k]
    deconv = "head.decoders.0.deconv_layers.0.weight"
    decoder = "classic" if deconv in state_dict else "simple"
    cfg = ViTPoseConfig(
        layout=layout,
        num_keypoints=k,
        image_size=tuple(image_size),
        variant=variant,
        embed_dim=c,
        depth=depth,
        num_heads=num_heads,
        mlp_ratio=hidden / c,
        qkv_bias="backbone.blocks.0.attn.qkv.bias" in state_dict,
        patch_size=patch,
        drop_path_rate=0.0,
        decoder=decoder,
        deconv_channels=int(state_dict[deconv].shape[1]) if decoder == "classic" else 256,
    )
    gw, gh = cfg.patch_grid
    if gw * gh != n_tokens:
        raise CheckpointError(
            f"image_size {cfg.image_size} gives a {gh}x{gw} token grid but the checkpoint has "
            f"{n_tokens} tokens"
        )
    if decoder == "simple" and final.shape[-1] != 3:
        raise CheckpointError(
            f"head without deconvolutions expects a 3x3 final conv, got {list(final.shape)}"
        )
    return cfg


def load_official(
    source: str | os.PathLike | Mapping[str, Any],
    *,
    layout: str | None = None,
    expert: int | str | None = None,
    image_size: tuple[int, int] | None = None,
    num_heads: int | None = None,
    trusted: bool = False,
) -> ViTPose:
    """Build an hpefast model from an official ViTPose / ViTPose+ / union checkpoint (path or dict).

    For ViTPose+ pass ``expert`` (dataset name or index); the layout then defaults to that dataset.
    A ``layout`` whose keypoint count differs from the checkpoint's head raises ValueError.
    """
    sd = convert_official_state_dict(read_state_dict(source, trusted=trusted), expert=expert)
    if layout is None and expert is not None:
        e = _expert_index(expert)
        if e < len(VITPOSE_PLUS_DATASETS):
            layout = VITPOSE_PLUS_DATASETS[e]
    if layout == "apt36k":
        layout = "ap10k"  # APT-36K uses the AP-10K keypoints
    if layout is not None:
        from hpefast.models.config import _layout_keypoints

        k_layout = _layout_keypoints(layout)
        k = int(sd["head.decoders.0.final_layer.weight"].shape[0])
        if k_layout is not None and k_layout != k:
            raise CheckpointError(
                f"checkpoint head has {k} keypoints but layout {layout!r} has {k_layout}: "
                "it is a checkpoint of another layout"
            )
    cfg = infer_config(sd, layout=layout, image_size=image_size, num_heads=num_heads)
    model = ViTPose(cfg)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [m for m in missing if not m.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint does not match the inferred model: missing {missing}, unexpected {unexpected}"
        )
    return model.eval()


# --- MAE backbone init ------------------------------------------------------------------------------
def init_backbone_from_mae(
    model: ViTPose, source: str | os.PathLike | Mapping[str, Any], *, trusted: bool = False
) -> dict[str, list[str]]:
    """Initialise ``model.backbone`` from an MAE (or any timm-named ViT) checkpoint, as ViTPose does.

    - ``pos_embed`` [1, 1 + n, C]: the class slot is kept, the square patch grid is resized bicubically
      (align_corners=False) to the model's (gh, gw) grid.
    - a smaller patch kernel is zero-padded symmetrically to the model's (ViTPose's ``patch_padding='pad'``).
    - ViTPose+ models: fc2's last ``part_features`` rows seed every expert, the rest stays in fc2.
    - ``norm.*`` / ``fc_norm.*``, ``cls_token``, ``mask_token`` and the MAE decoder are not used
      (ViTPose leaves ``last_norm`` at its initialisation too).

    Returns ``{"loaded": [...], "missing": [...], "unexpected": [...]}`` (backbone parameter names).
    Raises ValueError when shapes differ (e.g. a ViT of another width).
    """
    sd = read_state_dict(source, trusted=trusted)
    for prefix in ("encoder.", "backbone."):
        if any(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)}
    bb = model.backbone
    target = bb.state_dict()
    src: dict[str, Tensor] = {}
    unexpected: list[str] = []
    for k, v in sd.items():
        if k.startswith(("blocks.", "patch_embed.")) or k == "pos_embed":
            src[k] = v
        else:
            unexpected.append(k)
    if "pos_embed" in src:
        gw, gh = model.cfg.patch_grid
        src["pos_embed"] = resize_pos_embed(src["pos_embed"], (gh, gw))
    w = src.get("patch_embed.proj.weight")
    if w is not None:
        cur = target["patch_embed.proj.weight"].shape[-1]
        if w.shape[-1] < cur:
            pad = cur - w.shape[-1]
            left = pad // 2
            src["patch_embed.proj.weight"] = F.pad(w, (left, pad - left, left, pad - left))
    part = model.cfg.part_features if model.cfg.num_experts else 0
    if part:
        for k in list(src):
            if ".mlp.fc2." in k and src[k].shape[0] == model.cfg.embed_dim:
                full = src.pop(k)
                src[k] = full[:-part]
                for e in range(model.cfg.num_experts):
                    src[k.replace(".mlp.fc2.", f".mlp.experts.{e}.")] = full[-part:]
    bad = [
        f"{k}: checkpoint {list(v.shape)} vs model {list(target[k].shape)}"
        for k, v in src.items()
        if k in target and v.shape != target[k].shape
    ]
    if bad:
        raise CheckpointError("MAE checkpoint does not fit the backbone: " + "; ".join(bad[:5]))
    unexpected += [k for k in src if k not in target]
    loaded = [k for k in src if k in target]
    bb.load_state_dict({k: src[k] for k in loaded}, strict=False)
    missing = [k for k in target if k not in src]
    return {"loaded": loaded, "missing": missing, "unexpected": unexpected}


# --- pretrained weights into an existing model -----------------------------------------------------
def _src_grid(n_tokens: int) -> tuple[int, int] | None:
    if n_tokens in _GRIDS:
        return _GRIDS[n_tokens]
    side = int(round(n_tokens**0.5))
    return (side, side) if side * side == n_tokens else None


def load_pretrained(
    model: ViTPose,
    source: str | os.PathLike | Mapping[str, Any],
    *,
    expert: int | str | None = None,
    backbone_only: bool = False,
    trusted: bool = False,
) -> dict[str, list[str]]:
    """Initialise ``model`` from a foreign checkpoint: an official ViTPose / ViTPose+ / union checkpoint
    (backbone and head), or a backbone-only one (MAE: see ``init_backbone_from_mae``).

    - The head is loaded only when its keypoint count equals the model's; otherwise ValueError (a
      checkpoint of another layout), unless ``backbone_only=True``. With per-dataset heads every head
      starts from the checkpoint's head.
    - ViTPose+ into a model with experts: experts and associate heads load as they are (expert e ->
      dataset e, associate head j -> head j + 1, heads only where K matches); into a plain model:
      pass ``expert`` to merge that dataset's expert into fc2 (``select_vitpose_plus_expert``).
    - Plain fc2 into a model with experts: fc2's last ``part_features`` rows seed every expert.
    - A position embedding of another grid is resized bicubically.

    Returns ``{"loaded", "missing", "unexpected"}`` (model parameter names / unused checkpoint keys).
    """
    sd = read_state_dict(source, trusted=trusted)
    if not any(k.startswith("keypoint_head.") for k in sd):
        return init_backbone_from_mae(model, sd)
    cfg = model.cfg
    target = model.state_dict()
    src: dict[str, Tensor] = {}
    heads: dict[int, dict[str, Tensor]] = {}  # decoder index -> its weights (official names stripped)
    if is_vitpose_plus(sd) and cfg.num_experts and expert is None:
        for k, v in sd.items():
            m = _EXPERT.search(k)
            if m and int(m.group(1)) >= cfg.num_experts:
                continue
            if k.startswith("backbone."):
                src[k] = v
            elif k.startswith("keypoint_head."):
                heads.setdefault(0, {})[k[len("keypoint_head.") :]] = v
            elif a := _ASSOC.match(k):
                heads.setdefault(int(a.group(1)) + 1, {})[k[a.end() :]] = v
    else:
        conv = convert_official_state_dict(sd, expert=expert)
        src = {k: v for k, v in conv.items() if k.startswith("backbone.")}
        heads[0] = {k[len("head.decoders.0.") :]: v for k, v in conv.items() if k.startswith("head.")}
        if cfg.per_dataset_heads:
            heads = {d: heads[0] for d in range(cfg.num_decoders)}
    # backbone adaptations: position grid, experts from a plain fc2
    pe = src.get("backbone.pos_embed")
    if pe is not None and pe.shape != target["backbone.pos_embed"].shape and pe.shape[-1] == cfg.embed_dim:
        grid = _src_grid(pe.shape[1] - 1)
        if grid is None:
            raise CheckpointError(f"cannot resize a position embedding of {pe.shape[1] - 1} tokens")
        gw, gh = cfg.patch_grid
        src["backbone.pos_embed"] = resize_pos_embed(pe, (gh, gw), grid)
    if cfg.num_experts:
        # A plain fc2 (embed_dim rows) seeds the experts the checkpoint lacks; a model_split.py coco.pth
        # (fc2 merged with expert 0, experts kept) keeps its own experts and the shared rows of fc2.
        part = cfg.part_features
        for k in [k for k in src if ".mlp.fc2." in k and src[k].shape[0] == cfg.embed_dim]:
            full = src.pop(k)
            src[k] = full[:-part]
            for e in range(cfg.num_experts):
                src.setdefault(k.replace(".mlp.fc2.", f".mlp.experts.{e}."), full[-part:])
    unexpected: list[str] = []
    for d, h in sorted(heads.items()):
        k_ckpt = int(h["final_layer.weight"].shape[0])
        if d >= cfg.num_decoders:
            unexpected += [f"head {d}"]
            continue
        if k_ckpt != cfg.num_keypoints:
            if backbone_only or d > 0:
                unexpected += [f"head {d} ({k_ckpt} keypoints)"]
                continue
            raise CheckpointError(
                f"checkpoint head has {k_ckpt} keypoints but the model has {cfg.num_keypoints} (layout "
                f"{cfg.layout!r}): it is a checkpoint of another layout; pass backbone_only=True to load "
                "only the backbone"
            )
        if not backbone_only:
            src.update({f"head.decoders.{d}.{k}": v for k, v in h.items()})
    bad = [
        f"{k}: checkpoint {list(v.shape)} vs model {list(target[k].shape)}"
        for k, v in src.items()
        if k in target and v.shape != target[k].shape
    ]
    if bad:
        raise CheckpointError("checkpoint does not fit the model: " + "; ".join(bad[:5]))
    unexpected += [k for k in src if k not in target]
    loaded = [k for k in src if k in target]
    model.load_state_dict({k: src[k] for k in loaded}, strict=False)
    missing = [k for k in target if k not in src and not k.endswith("num_batches_tracked")]
    return {"loaded": loaded, "missing": missing, "unexpected": unexpected}
