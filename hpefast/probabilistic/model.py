"""A probabilistic top-down pose model: ViTPose + a latent bottleneck + a covariance head (TIC-TAC).

```
images -> ViT backbone -> features F [B, C, gh, gw]
   latent  z = encode(F)                         [B, Z]   (1x1 conv to 16 channels, flatten, linear)
   heatmaps = head(F + upscale(z))               [B, K, h, w]   (ViTPose's decoder, unchanged)
   mean     = soft_argmax(heatmaps)              [B, K, 2] heatmap pixels
   covariance head on z -> L [B, 2K, 2K] (Cholesky factor), eps [B] (TIC's gradient scale)
```

The bottleneck follows TIC-TAC's ViTPose variant (a 64-d pose encoding added back to the features
before the keypoint head), so the keypoint means are a function of a small latent and their Jacobian
``J = d mean / d z`` [B, 2K, Z] is cheap (``torch.func.vjp`` + ``vmap``). TIC's covariance is
``eps J J^T + L L^T``. Training is joint: the heatmap loss (``hpefast.ops.union_heatmap_loss``) plus one
of the losses of :mod:`hpefast.probabilistic.losses` on the soft-argmax means (:meth:`loss`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hpefast.probabilistic.covariance import num_tril_params, scale_tril_from_params
from hpefast.probabilistic.losses import (
    beta_nll_loss,
    diagonal_nll_loss,
    faithful_nll_loss,
    nll_loss,
    tic_covariance,
    tic_loss,
)
from hpefast.probabilistic.softargmax import soft_argmax, soft_argmax_unchecked

__all__ = ["LOSS_KINDS", "CovarianceHead", "ProbabilisticOutput", "ProbabilisticPoseModel"]

LOSS_KINDS = ("nll", "diagonal", "beta_nll", "faithful", "tic", "mse")


class CovarianceHead(nn.Module):
    """Auxiliary MLP on the latent ``z [B, Z]`` -> Cholesky factor ``L [B, 2K, 2K]`` and TIC's ``eps [B]``.

    Args:
        latent_dim: Z.
        num_keypoints: K.
        hidden: widths of the hidden layers (ReLU).
        diagonal: predict only the diagonal of L (for the diagonal and beta-NLL losses).
        min_diag: lower bound of L's diagonal (keypoint units).
        init_std: L's diagonal at initialisation (the last layer starts at zero weights).
    """

    def __init__(
        self,
        latent_dim: int,
        num_keypoints: int,
        hidden: tuple[int, ...] = (256,),
        diagonal: bool = False,
        min_diag: float = 1e-2,
        init_std: float = 1.0,
    ) -> None:
        super().__init__()
        if num_keypoints < 1 or latent_dim < 1:
            raise ValueError(f"num_keypoints and latent_dim must be >= 1, got {num_keypoints}, {latent_dim}")
        if not init_std > min_diag:
            raise ValueError(f"init_std must be > min_diag={min_diag}, got {init_std}")
        self.dim = 2 * num_keypoints
        self.diagonal = diagonal
        self.min_diag = min_diag
        n = self.dim if diagonal else num_tril_params(self.dim)
        layers: list[nn.Module] = []
        c = latent_dim
        for h in hidden:
            layers += [nn.Linear(c, h), nn.ReLU(inplace=True)]
            c = h
        self.mlp = nn.Sequential(*layers)
        self.out = nn.Linear(c, n + 1)  # + 1: eps of TIC
        nn.init.zeros_(self.out.weight)
        with torch.no_grad():
            self.out.bias.zero_()
            raw = torch.log(torch.expm1(torch.tensor(init_std - min_diag)))  # softplus^-1
            if diagonal:
                self.out.bias[:n] = raw
            else:
                rows, cols = torch.tril_indices(self.dim, self.dim)
                self.out.bias[:n][rows == cols] = raw
            self.out.bias[n] = 0.1  # eps = 0.01 at the start

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """``z [B, Z]`` -> (``scale_tril [B, 2K, 2K]``, ``eps [B]`` >= 0)."""
        out = self.out(self.mlp(z))
        tril = scale_tril_from_params(out[:, :-1], self.dim, self.min_diag, diagonal=self.diagonal)
        return tril, out[:, -1].square()


@dataclass
class ProbabilisticOutput:
    """What :class:`ProbabilisticPoseModel` returns. Keypoint units are heatmap pixels."""

    heatmaps: Tensor  # [B, K, h, w]
    keypoints: Tensor  # [B, K, 2] soft-argmax means
    scale_tril: Tensor  # [B, 2K, 2K] Cholesky factor of the learned covariance part
    eps: Tensor  # [B] TIC gradient-term scale
    latent: Tensor  # [B, Z]
    features: Tensor  # [B, C, gh, gw] backbone features (for the TIC Jacobian)

    def covariance(self, jacobian: Tensor | None = None) -> Tensor:
        """[B, 2K, 2K]: ``L L^T``, or TIC's ``eps J J^T + L L^T`` when ``jacobian`` [B, 2K, Z] is given."""
        if jacobian is None:
            return self.scale_tril @ self.scale_tril.mT
        return tic_covariance(jacobian, self.eps, self.scale_tril)


class ProbabilisticPoseModel(nn.Module):
    """ViTPose with a latent bottleneck and a covariance head; see the module docstring.

    Args:
        pose: a :class:`hpefast.models.ViTPose` (its backbone and heatmap head are used as they are).
        latent_dim: Z (TIC-TAC uses 64).
        beta: soft-argmax inverse temperature.
        diagonal: the covariance head predicts a diagonal L only.
        hidden: covariance-head hidden widths.
    """

    def __init__(
        self,
        pose: nn.Module,
        latent_dim: int = 64,
        beta: float = 1.0,
        diagonal: bool = False,
        hidden: tuple[int, ...] = (256,),
        init_std: float = 1.0,
    ) -> None:
        super().__init__()
        from hpefast.models.vitpose import ViTPose

        if not isinstance(pose, ViTPose):
            raise TypeError(f"pose must be a hpefast.models.ViTPose, got {type(pose).__name__}")
        self.pose = pose
        cfg = pose.cfg
        gw, gh = cfg.patch_grid
        self.grid = (gh, gw)
        self.beta = float(beta)
        self.num_keypoints = cfg.num_keypoints
        self.latent_dim = latent_dim
        c0 = 16
        self.encode = nn.Sequential(
            nn.Conv2d(cfg.embed_dim, c0, 1), nn.Flatten(), nn.Linear(c0 * gh * gw, latent_dim)
        )
        self.upscale_fc = nn.Linear(latent_dim, c0 * gh * gw)
        self.upscale_conv = nn.Conv2d(c0, cfg.embed_dim, 1)
        self.cov_head = CovarianceHead(
            latent_dim, cfg.num_keypoints, hidden, diagonal=diagonal, init_std=init_std
        )

    def _upscale(self, z: Tensor) -> Tensor:
        gh, gw = self.grid
        return self.upscale_conv(self.upscale_fc(z).reshape(z.shape[0], -1, gh, gw))

    def _heatmaps(self, features: Tensor, z: Tensor, dataset_id: Tensor | None = None) -> Tensor:
        return self.pose.head(features + self._upscale(z), dataset_id)

    def forward(self, images: Tensor, dataset_id: Tensor | int | None = None) -> ProbabilisticOutput:
        """``images [B, 3, H, W]`` (as ViTPose) -> :class:`ProbabilisticOutput`."""
        w, h = self.pose.cfg.image_size
        if not isinstance(images, Tensor):
            raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
        if images.dim() != 4 or tuple(images.shape[1:]) != (3, h, w):
            raise ValueError(f"images must have shape [B, 3, {h}, {w}], got {list(images.shape)}")
        ids = self.pose._dataset_ids(dataset_id, images)
        features = self.pose.backbone(images, ids)
        z = self.encode(features)
        heatmaps = self._heatmaps(features, z, ids)
        keypoints = soft_argmax(heatmaps, self.beta)
        tril, eps = self.cov_head(z)
        return ProbabilisticOutput(heatmaps, keypoints, tril, eps, z, features)

    def keypoint_jacobian(self, out: ProbabilisticOutput) -> Tensor:
        """Detached Jacobian ``d mean / d z`` [B, 2K, Z] at ``out.latent`` (features held fixed).

        With the head in eval mode (BatchNorm running statistics, as TIC-TAC computes it) the samples of a
        batch are independent, so one ``torch.func.vjp`` of the whole batch, ``torch.func.vmap``-ed over
        the 2K unit cotangents, gives every sample's Jacobian (2K batched backward passes; 5-8x faster on
        CPU than ``vmap(jacrev(...))`` over single samples). The train/eval mode is restored afterwards.
        With per-dataset heads the Jacobian is that of dataset 0's head (the output does not record the ids).
        """
        from torch.func import vjp, vmap

        features = out.features.detach()
        z = out.latent.detach()
        was_training = self.training
        self.eval()
        try:

            def means(z_: Tensor) -> Tensor:
                return soft_argmax_unchecked(self._heatmaps(features, z_), self.beta).reshape(z_.shape[0], -1)

            with torch.enable_grad():
                kp, pullback = vjp(means, z)
                b, d = kp.shape
                eye = torch.eye(d, dtype=kp.dtype, device=kp.device)[:, None, :].expand(d, b, d)
                (rows,) = vmap(pullback)(eye)  # [2K, B, Z]: row i of every sample's Jacobian
        finally:
            self.train(was_training)
        return rows.permute(1, 0, 2).detach()

    def loss(
        self,
        out: ProbabilisticOutput,
        target_heatmaps: Tensor,
        target_weights: Tensor,
        gt: Tensor,
        visible: Tensor | None = None,
        kind: str = "nll",
        heatmap_weight: float = 1.0,
        prob_weight: float = 1e-3,
        beta: float = 0.5,
    ) -> tuple[Tensor, dict[str, float]]:
        """Joint loss ``heatmap_weight * union_heatmap_loss + prob_weight * <kind>`` on the soft-argmax.

        Args:
            out: this model's output.
            target_heatmaps, target_weights: [B, K, h, w], [B, K] (``encode_heatmaps``).
            gt: [B, K, 2] ground-truth keypoints in heatmap pixels.
            visible: [B, K] labelled mask (None = all).
            kind: "nll" | "diagonal" | "beta_nll" | "faithful" | "tic" | "mse" (no covariance).
            beta: beta of beta-NLL.
        Returns:
            (scalar loss, {"heatmap": ..., kind: ...} as floats).
        """
        from hpefast.ops import union_heatmap_loss

        if kind not in LOSS_KINDS:
            raise ValueError(f"kind must be one of {LOSS_KINDS}, got {kind!r}")
        hm = union_heatmap_loss(out.heatmaps, target_heatmaps, target_weights)
        mean = out.keypoints
        if kind == "nll":
            prob = nll_loss(mean, out.scale_tril, gt, visible)
        elif kind == "faithful":
            prob = faithful_nll_loss(mean, out.scale_tril, gt, visible)
        elif kind in ("diagonal", "beta_nll"):
            var = torch.diagonal(out.scale_tril, dim1=-2, dim2=-1).square().reshape(mean.shape)
            if kind == "diagonal":
                prob = diagonal_nll_loss(mean, var, gt, visible)
            else:
                prob = beta_nll_loss(mean, var, gt, beta, visible)
        elif kind == "tic":
            prob = tic_loss(mean, self.keypoint_jacobian(out), out.eps, out.scale_tril, gt, visible)
        else:
            r = (gt - mean).square().sum(-1)
            if visible is not None:
                r = torch.where(
                    visible > 0.5 if visible.dtype != torch.bool else visible, r, torch.zeros_like(r)
                )
            prob = r.sum(-1).mean()
        total = heatmap_weight * hm + prob_weight * prob
        return total, {"heatmap": float(hm.detach()), kind: float(prob.detach())}
