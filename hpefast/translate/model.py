"""``KeypointTranslator``: a small network that turns keypoints in one dataset's representation into
another's.

Coordinates are normalised by the person box (centre at the box centre, unit = the longer box side), so the
network sees a pose, not an image position. The prediction for destination joint ``j`` is

    anchor_j + MLP(source joints, scores)_j

where ``anchor_j`` is the source joint of the same name when the two schemas share it (the plain mapping of
``hpefast.keypoints.map_keypoints``), and otherwise a learned linear combination of all source joints plus a
bias (initialised by least squares on the training pairs: e.g. MPII's pelvis starts near the mean of COCO's
hips). The MLP's last layer starts at zero, so an untrained translator *is* the plain mapping, and training
learns only the correction: where one dataset puts a joint relative to the other (hip conventions differ
between COCO and MPII), and the joints one of them lacks (MPII head_top from COCO's face, COCO's face from
MPII's head).

Destination joints that are not labelled (v == 0) carry no loss: their targets are never read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hpefast._io import atomic_path, atomic_write_text, tensors_sha256
from hpefast.errors import InputError
from hpefast.translate._schema import get_schema, index_map

FORMAT = "hpefast.translate.KeypointTranslator/1"
WEIGHTS_FILE = "translator.safetensors"
CONFIG_FILE = "translator.json"


def normalise(keypoints: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Box-normalise ``keypoints [N, K, >=2]`` with ``boxes [N, 4]`` (COCO x, y, w, h).

    Returns ``(xy [N, K, 2], centre [N, 2], unit [N])``: ``xy = (keypoints - centre) / unit`` with the box
    centre and ``unit = max(w, h)`` pixels (aspect kept, so a pose is not distorted by its box).
    """
    centre = boxes[:, :2] + 0.5 * boxes[:, 2:4]
    unit = np.maximum(boxes[:, 2], boxes[:, 3])
    xy = (keypoints[..., :2] - centre[:, None, :]) / unit[:, None, None]
    return xy, centre, unit


class _Net(nn.Module):
    """anchor (mapped or learned linear combination of source joints) + zero-initialised MLP residual."""

    def __init__(self, idx: np.ndarray, num_src: int, hidden: int, layers: int, use_scores: bool):
        super().__init__()
        num_dst = len(idx)
        self.num_src, self.num_dst, self.use_scores = num_src, num_dst, use_scores
        self.register_buffer("shared_idx", torch.as_tensor(np.maximum(idx, 0), dtype=torch.long))
        self.register_buffer("shared", torch.as_tensor(idx >= 0))
        free = int((idx < 0).sum())
        self.register_buffer("free_idx", torch.as_tensor(np.flatnonzero(idx < 0), dtype=torch.long))
        # Joints with no source counterpart start from the mean of the source joints (replaced by least
        # squares in fit()); the bias is in box-normalised units.
        self.anchor_weight = nn.Parameter(torch.full((free, num_src), 1.0 / num_src))
        self.anchor_bias = nn.Parameter(torch.zeros(free, 2))
        dims = [num_src * (3 if use_scores else 2)] + [hidden] * layers
        blocks: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            blocks += [nn.Linear(a, b), nn.GELU()]
        out = nn.Linear(dims[-1], num_dst * 2)
        nn.init.zeros_(out.weight)
        nn.init.zeros_(out.bias)
        self.mlp = nn.Sequential(*blocks, out)

    def anchor(self, xy: torch.Tensor) -> torch.Tensor:
        """``xy [B, Ks, 2]`` -> anchors ``[B, Kd, 2]``."""
        anchor = xy[:, self.shared_idx, :].clone()
        if len(self.free_idx):
            free = torch.einsum("fk,bkc->bfc", self.anchor_weight, xy) + self.anchor_bias
            anchor[:, self.free_idx, :] = free
        return anchor

    def forward(self, xy: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """``xy [B, Ks, 2]`` box-normalised, ``scores [B, Ks]`` in [0, 1] -> ``[B, Kd, 2]`` box-normalised."""
        feats = [xy.flatten(1)] + ([scores] if self.use_scores else [])
        residual = self.mlp(torch.cat(feats, dim=1)).view(-1, self.num_dst, 2)
        return self.anchor(xy) + residual


class KeypointTranslator:
    """Translate keypoints from schema ``src`` to schema ``dst`` (any two registered schemas).

    Args:
        src, dst: schema names (``hpefast.keypoints.get_schema``), e.g. ``"coco"`` and ``"mpii"``.
        hidden: width of the MLP's hidden layers.
        layers: number of hidden layers.
        use_scores: feed the source scores (or visibilities, clipped to [0, 1]) to the MLP.
        flip_augment: during ``fit``, mirror half of each batch (joints permuted with the schemas' flip
            index), which doubles the data and makes the translator left/right consistent.
        seed: seeds initialisation and batch sampling, so ``fit`` is reproducible.
        device: torch device for training and prediction.

    Example::

        t = KeypointTranslator("coco", "mpii").fit(coco_kpts, mpii_kpts, boxes)   # [N,17,3], [N,16,3], [N,4]
        mpii_pred = t.predict(coco_kpts_new, boxes_new)                              # [M,16,3] image pixels
    """

    def __init__(
        self,
        src: str = "coco",
        dst: str = "mpii",
        hidden: int = 256,
        layers: int = 2,
        use_scores: bool = True,
        flip_augment: bool = True,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ):
        if not isinstance(hidden, int) or hidden <= 0:
            raise InputError(f"hidden must be a positive int, got {hidden!r}")
        if not isinstance(layers, int) or layers < 0:
            raise InputError(f"layers must be a non-negative int, got {layers!r}")
        self.src, self.dst = src, dst
        self.src_schema, self.dst_schema = get_schema(src), get_schema(dst)
        self.hidden, self.layers = hidden, layers
        self.use_scores, self.flip_augment, self.seed = bool(use_scores), bool(flip_augment), int(seed)
        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError):
            raise InputError(f"unknown device {device!r}: use cpu, cuda or cuda:N") from None
        self.index_map = index_map(src, dst)
        torch_state = torch.random.get_rng_state()
        torch.manual_seed(self.seed)
        self.net = _Net(self.index_map, self.num_src, hidden, layers, self.use_scores).to(self.device)
        torch.random.set_rng_state(torch_state)
        self.fitted = False
        self.history: list[tuple[int, float]] = []
        # free-form facts saved with the model, e.g. how the boxes were made ("box_mode") and fit statistics
        self.meta: dict[str, Any] = {}

    # -- shapes ---------------------------------------------------------------------------------------------
    @property
    def num_src(self) -> int:
        return self.src_schema.num_keypoints

    @property
    def num_dst(self) -> int:
        return self.dst_schema.num_keypoints

    def __repr__(self) -> str:
        shared = int((self.index_map >= 0).sum())
        return (
            f"KeypointTranslator(src={self.src!r}, dst={self.dst!r}, hidden={self.hidden}, "
            f"layers={self.layers}, "
            f"shared joints={shared}/{self.num_dst}, fitted={self.fitted})"
        )

    # -- validation -----------------------------------------------------------------------------------------
    def _check_src(self, src_keypoints: Any, boxes: Any) -> tuple[np.ndarray, np.ndarray]:
        kp = _as_array(src_keypoints, "src_keypoints")
        if kp.ndim != 3 or kp.shape[1:] != (self.num_src, 3):
            raise InputError(
                f"src_keypoints must have shape [N, {self.num_src}, 3] (x, y, score) for schema "
                f"{self.src!r}, "
                f"got {list(kp.shape)}"
            )
        if not np.isfinite(kp).all():
            raise InputError("src_keypoints contains NaN or inf")
        bx = _as_array(boxes, "boxes")
        if bx.ndim != 2 or bx.shape != (kp.shape[0], 4):
            raise InputError(
                f"boxes must have shape [N, 4] (x, y, w, h) with N={kp.shape[0]}, got {list(bx.shape)}"
            )
        if not np.isfinite(bx).all():
            raise InputError("boxes contains NaN or inf")
        bad = np.flatnonzero(np.maximum(bx[:, 2], bx[:, 3]) <= 0)
        if len(bad):
            raise InputError(
                f"boxes must have a positive width or height; box {int(bad[0])} is {bx[bad[0]].tolist()}"
            )
        return kp, bx

    def _features(
        self, kp: np.ndarray, bx: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
        xy, centre, unit = normalise(kp, bx)
        scores = np.clip(kp[..., 2], 0.0, 1.0)
        xy = np.where(scores[..., None] > 0, xy, 0.0)  # unlabelled source joints carry no position
        to = dict(dtype=torch.float32, device=self.device)
        return torch.as_tensor(xy, **to), torch.as_tensor(scores, **to), centre, unit

    # -- training -------------------------------------------------------------------------------------------
    def fit(
        self,
        src_keypoints: Any,
        dst_keypoints: Any,
        boxes: Any,
        *,
        steps: int = 2000,
        batch_size: int = 256,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        verbose: bool = False,
    ) -> KeypointTranslator:
        """Fit on pairs of the same people seen in both representations.

        Args:
            src_keypoints: ``[N, Ks, 3]`` image pixels (x, y) + score (a model's confidence, or a
                visibility flag: anything > 0 counts as present, clipped to [0, 1] as a feature).
            dst_keypoints: ``[N, Kd, 3]`` image pixels (x, y) + visibility; joints with v == 0 are not
                labelled and are ignored (their coordinates may be anything, NaN included).
            boxes: ``[N, 4]`` person boxes (x, y, w, h) in image pixels, the same kind of box that will
                be given to ``predict`` (e.g. the box that came with each source prediction).
            steps: optimiser steps (AdamW, cosine learning-rate decay).
        Returns ``self``; ``self.history`` holds the training loss (mean distance in box units). Calling
        ``fit`` again re-estimates the anchors and continues training the MLP from its current weights.
        """
        kp, bx = self._check_src(src_keypoints, boxes)
        dst = _as_array(dst_keypoints, "dst_keypoints")
        if dst.ndim != 3 or dst.shape != (kp.shape[0], self.num_dst, 3):
            raise InputError(
                f"dst_keypoints must have shape [N, {self.num_dst}, 3] (x, y, visibility) for schema "
                f"{self.dst!r} "
                f"with N={kp.shape[0]} (the number of source poses), got {list(dst.shape)}"
            )
        vis = dst[..., 2]
        if np.isnan(vis).any():
            raise InputError("dst_keypoints visibility (column 2) contains NaN")
        labelled = vis > 0
        if not np.isfinite(dst[..., :2][labelled]).all():
            raise InputError("dst_keypoints has NaN or inf coordinates on labelled joints (v > 0)")
        if not labelled.any():
            raise InputError("dst_keypoints has no labelled joint (every v == 0): nothing to fit")
        if steps < 0 or batch_size <= 0:
            raise InputError(
                f"steps must be >= 0 and batch_size > 0, got steps={steps}, batch_size={batch_size}"
            )

        xy, scores, centre, unit = self._features(kp, bx)
        # Targets: never read where unlabelled (replaced by 0 before anything touches them).
        with np.errstate(all="ignore"):  # garbage under v == 0 may overflow; it is discarded right here
            target_np = np.where(
                labelled[..., None], (dst[..., :2] - centre[:, None]) / unit[:, None, None], 0.0
            )
        target = torch.as_tensor(target_np, dtype=torch.float32, device=self.device)
        mask = torch.as_tensor(labelled, dtype=torch.float32, device=self.device)

        self._init_anchors(xy, target, mask)
        flip_src = torch.as_tensor(self.src_schema.flip_index, dtype=torch.long, device=self.device)
        flip_dst = torch.as_tensor(self.dst_schema.flip_index, dtype=torch.long, device=self.device)

        gen = torch.Generator(device="cpu").manual_seed(self.seed)
        opt = torch.optim.AdamW(self.net.parameters(), lr=lr, weight_decay=weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / max(steps, 1)))
        )
        n = xy.shape[0]
        with _cpu_threads(self.device, 1):
            self._train(
                xy, scores, target, mask, flip_src, flip_dst, gen, opt, sched, n, steps, batch_size, verbose
            )
        self.net.eval()
        self.fitted = True
        return self

    def _train(
        self, xy, scores, target, mask, flip_src, flip_dst, gen, opt, sched, n, steps, batch_size, verbose
    ):
        self.net.train()
        history: list[tuple[int, float]] = []
        t0, running = time.perf_counter(), 0.0
        for step in range(steps):
            b = torch.randint(0, n, (min(batch_size, n),), generator=gen).to(self.device)
            x, s, y, m = xy[b], scores[b], target[b], mask[b]
            if self.flip_augment:
                flip = (torch.rand(len(b), generator=gen) < 0.5).to(self.device)
                x = torch.where(flip[:, None, None], _mirror(x[:, flip_src]), x)
                s = torch.where(flip[:, None], s[:, flip_src], s)
                y = torch.where(flip[:, None, None], _mirror(y[:, flip_dst]), y)
                m = torch.where(flip[:, None], m[:, flip_dst], m)
            loss = _masked_distance(self.net(x, s), y, m)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += loss.item()
            if (step + 1) % 100 == 0 or step + 1 == steps:
                k = (step % 100) + 1
                history.append((step + 1, running / k))
                if verbose:
                    logging.getLogger("hpefast.translate").info(
                        "step %d/%d  loss %.5f  (%.1fs)",
                        step + 1,
                        steps,
                        running / k,
                        time.perf_counter() - t0,
                    )
                running = 0.0
        self.history = history

    @torch.no_grad()
    def _init_anchors(self, xy: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> None:
        """Least-squares anchors for destination joints with no source counterpart: one weight per source
        joint, shared by x and y (a combination of points, not of coordinates), plus a bias per axis."""
        free = self.net.free_idx
        ks = self.num_src
        for row, j in enumerate(free.tolist()):
            m = mask[:, j] > 0
            if int(m.sum()) < 2:
                continue
            x = xy[m].double()  # [M, Ks, 2]
            y = target[m, j].double()  # [M, 2]
            mm = x.shape[0]
            a = torch.zeros(2 * mm, ks + 2, dtype=torch.float64, device=x.device)
            a[:mm, :ks], a[mm:, :ks] = x[..., 0], x[..., 1]
            a[:mm, ks], a[mm:, ks + 1] = 1.0, 1.0
            rhs = torch.cat([y[:, 0], y[:, 1]])
            ata = a.T @ a
            # a whisper of ridge on the weights: keeps the system solvable when source joints coincide
            # (unlabelled ones all sit at the box centre) without pulling an exact fit off
            ridge = torch.zeros(ks + 2, dtype=torch.float64, device=x.device)
            ridge[:ks] = 1e-8 * float(torch.diagonal(ata)[:ks].mean()) + 1e-12
            sol = torch.linalg.solve(ata + torch.diag(ridge), a.T @ rhs)
            self.net.anchor_weight[row] = sol[:ks].float()
            self.net.anchor_bias[row] = sol[ks:].float()

    # -- inference ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, src_keypoints: Any, boxes: Any, batch_size: int = 8192) -> np.ndarray:
        """Translate ``src_keypoints [N, Ks, 3]`` (image pixels + score) with their ``boxes [N, 4]``.

        Returns ``[N, Kd, 3]`` float64: image pixels (x, y) in the destination schema and a score per joint:
        the source joint's score for shared joints, otherwise the mean of the source scores weighted by
        the magnitude of each source joint's share in the learned anchor.
        """
        kp, bx = self._check_src(src_keypoints, boxes)
        n = kp.shape[0]
        out = np.zeros((n, self.num_dst, 3), dtype=np.float64)
        if n == 0:
            return out
        self.net.eval()
        xy, scores, centre, unit = self._features(kp, bx)
        pred = torch.cat(
            [self.net(xy[i : i + batch_size], scores[i : i + batch_size]) for i in range(0, n, batch_size)]
        )
        out[..., :2] = pred.double().cpu().numpy() * unit[:, None, None] + centre[:, None]
        out[..., 2] = self._scores(np.clip(kp[..., 2], 0.0, None))
        return out

    def _scores(self, src_scores: np.ndarray) -> np.ndarray:
        idx = self.index_map
        out = np.zeros((src_scores.shape[0], len(idx)), dtype=np.float64)
        out[:, idx >= 0] = src_scores[:, idx[idx >= 0]]
        w = np.abs(self.net.anchor_weight.detach().double().cpu().numpy())
        if len(w):
            w = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
            out[:, idx < 0] = src_scores @ w.T
        return out

    # -- persistence ----------------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The json-serialisable description of this translator that ``save`` writes to
        ``translator.json`` and ``load`` rebuilds it from: format tag, ``src`` / ``dst`` schemas and their
        joint names, network sizes, options, seed, whether it is fitted, ``index_map`` (``[Kd]``: the
        source joint of each destination joint, -1 where none), the fitting history and ``meta``."""
        return dict(
            format=FORMAT,
            src=self.src,
            dst=self.dst,
            hidden=self.hidden,
            layers=self.layers,
            use_scores=self.use_scores,
            flip_augment=self.flip_augment,
            seed=self.seed,
            fitted=self.fitted,
            src_names=list(self.src_schema.names),
            dst_names=list(self.dst_schema.names),
            index_map=self.index_map.tolist(),
            history=[list(h) for h in self.history],
            meta=self.meta,
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``path/translator.safetensors`` (weights) and ``path/translator.json`` (config), each
        atomically (temporary file in the same folder, then ``os.replace``). Returns the folder."""
        from safetensors.torch import save_file

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        with atomic_path(folder / WEIGHTS_FILE) as tmp:
            # the weights' checksum travels in the header: a flipped byte is refused on load
            save_file(state, tmp, metadata={"format": FORMAT, "hpefast_sha256": tensors_sha256(state)})
        text = json.dumps(self.config(), indent=2)
        atomic_write_text(folder / CONFIG_FILE, text)
        return folder

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> KeypointTranslator:
        """Rebuild a translator written by ``save`` (``path`` is the folder)."""
        from safetensors.torch import load_file

        folder = Path(path)
        cfg_file, weights_file = folder / CONFIG_FILE, folder / WEIGHTS_FILE
        for f in (cfg_file, weights_file):
            if not f.is_file():
                raise FileNotFoundError(
                    f"{f} not found (a translator folder holds {CONFIG_FILE} and {WEIGHTS_FILE})"
                )
        try:
            cfg = json.loads(cfg_file.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"{cfg_file} is not valid JSON: {exc}") from exc
        if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
            raise InputError(f"{cfg_file} is not a KeypointTranslator config (format {FORMAT!r} expected)")
        self = cls(
            cfg["src"],
            cfg["dst"],
            hidden=int(cfg["hidden"]),
            layers=int(cfg["layers"]),
            use_scores=bool(cfg["use_scores"]),
            flip_augment=bool(cfg["flip_augment"]),
            seed=int(cfg["seed"]),
            device=device,
        )
        for key, schema in (("src_names", self.src_schema), ("dst_names", self.dst_schema)):
            if list(schema.names) != list(cfg[key]):
                raise InputError(
                    f"{cfg_file}: the joints of schema {schema.name!r} changed since this translator "
                    "was saved"
                )
        from safetensors import safe_open

        from hpefast.errors import CheckpointError

        try:
            with safe_open(str(weights_file), framework="pt") as f:
                want = (f.metadata() or {}).get("hpefast_sha256")
            state = load_file(str(weights_file), device=str(self.device))
        except Exception as exc:  # SafetensorError: truncated or not safetensors
            raise CheckpointError(f"{weights_file}: not a readable safetensors file ({exc})") from None
        if want is not None and tensors_sha256(state) != want:
            raise CheckpointError(f"{weights_file}: checksum mismatch, the weights are corrupt")
        try:
            self.net.load_state_dict(state)
        except RuntimeError as exc:
            raise InputError(f"{weights_file} does not match {cfg_file}: {exc}") from exc
        self.net.eval()
        self.fitted = bool(cfg.get("fitted", True))
        self.history = [tuple(h) for h in cfg.get("history", [])]
        self.meta = dict(cfg.get("meta", {}))
        return self


@contextlib.contextmanager
def _cpu_threads(device: torch.device, threads: int):
    """Train the small MLP single-threaded on CPU: its matrices are too small to gain from more threads, and
    on a busy machine thread contention makes multi-threaded steps an order of magnitude slower."""
    if device.type != "cpu":
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _mirror(xy: torch.Tensor) -> torch.Tensor:
    """Mirror box-normalised coordinates about the box centre (x -> -x)."""
    return torch.stack([-xy[..., 0], xy[..., 1]], dim=-1)


def _masked_distance(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean distance over labelled joints (``mask`` 1), in box units."""
    d = torch.sqrt(((pred - target) ** 2).sum(-1) + 1e-8)
    return (d * mask).sum() / mask.sum().clamp_min(1.0)


def _as_array(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array or tensor, got {type(x).__name__}") from exc
    return arr
