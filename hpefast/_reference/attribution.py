"""Reference of :mod:`hpefast.attribution`: PoseIG written the way its released template does it.

Source: QY-H00/PoseIG-Template, ``lib/poseig_tools/ig.py`` (``compute_poseig``, ``detection_back_func``),
``path.py`` (``isotropic_gaussian_kernel``, ``get_gaussian_kernel``, ``torch_filter``,
``batch_gaussian_path``), ``data_util.py`` (``regress25d``, ``check_J2J``) and ``index.py`` (``gini``,
``compute_DI``, ``torch_dilation``, ``compute_FI``, ``compute_LI``, ``compute_RI``, ``compute_EPE``).
One backward pass per joint per path step, numpy loops over maps: slow on purpose, the executable spec
the batched implementation is tested against (and the benchmark's baseline).

Differences from the template, all outside the formulas: no CUDA hard-coding (everything runs on the
images' device); the ground truth is given as keypoints (the template reads it out of the ground-truth
heatmaps with the same soft-argmax); unlabelled joints get zero maps (``visible``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from hpefast.attribution.ig import heatmap_stride

__all__ = [
    "isotropic_gaussian_kernel",
    "get_gaussian_kernel",
    "torch_filter",
    "batch_gaussian_path",
    "batch_linear_path",
    "regress25d",
    "poseig_loop",
    "gini",
    "compute_DI",
    "torch_dilation",
    "compute_FI",
    "compute_LI",
    "compute_RI",
    "compute_EPE",
    "check_J2J",
]


# --- path.py ------------------------------------------------------------------------------------------
def isotropic_gaussian_kernel(l, sigma, epsilon=1e-5):  # noqa: E741 - the template's name
    """[l, l] numpy Gaussian kernel summing to 1 (PoseIG path.py)."""
    ax = np.arange(-l // 2 + 1.0, l // 2 + 1.0)
    xx, yy = np.meshgrid(ax, ax)
    kernel = np.exp(-(xx**2 + yy**2) / (2.0 * (sigma + epsilon) ** 2))
    return kernel / np.sum(kernel)


def get_gaussian_kernel(kernel_size=25, sigma=9, channels=3, dtype=torch.float32):
    """[channels, 1, l, l] depthwise weight (PoseIG path.py; float32 there, ``dtype`` here)."""
    k = torch.from_numpy(isotropic_gaussian_kernel(kernel_size, sigma)).to(dtype)
    return k.view(1, 1, kernel_size, kernel_size).repeat(channels, 1, 1, 1)


def torch_filter(kernel_weight, device="cpu"):
    """Depthwise conv with reflect padding holding ``kernel_weight`` (PoseIG path.py)."""
    channels = kernel_weight.shape[0]
    kernel_size = kernel_weight.shape[3]
    padding = (kernel_size - 1) // 2
    filt = nn.Conv2d(
        channels,
        channels,
        kernel_size=kernel_size,
        groups=channels,
        bias=False,
        padding=padding,
        padding_mode="reflect",
    )
    filt = filt.to(device=device, dtype=kernel_weight.dtype)
    filt.weight.data = kernel_weight.to(device)
    filt.weight.requires_grad = False
    return filt


def batch_gaussian_path(batch_tensor_image, l=31, fold=50, sigma=19):  # noqa: E741
    """(images [fold, B, C, H, W], lambda derivative [fold, B, C, H, W]) of PoseIG's blur path: point i
    blurred with sigma linspace(sigma, 0, fold + 1)[i]; derivative = filter with (k[i+1] - k[i]) * fold."""
    device = batch_tensor_image.device
    bs, c, h, w = batch_tensor_image.shape
    dtype = batch_tensor_image.dtype
    kernel_interpolation = torch.zeros((fold + 1, 3, 1, l, l), device=device, dtype=dtype)
    image_interpolation = torch.zeros((fold, bs, c, h, w), device=device, dtype=dtype)
    lambda_derivative_interpolation = torch.zeros((fold, bs, c, h, w), device=device, dtype=dtype)
    sigma_interpolation = np.linspace(sigma, 0, fold + 1)
    for i in range(fold + 1):
        kernel_interpolation[i] = get_gaussian_kernel(
            sigma=sigma_interpolation[i], kernel_size=l, dtype=dtype
        )
    with torch.no_grad():
        for i in range(fold):
            image_interpolation[i] = torch_filter(kernel_interpolation[i], device)(batch_tensor_image)
            lambda_derivative_interpolation[i] = torch_filter(
                (kernel_interpolation[i + 1] - kernel_interpolation[i]) * fold, device
            )(batch_tensor_image)
    return image_interpolation, lambda_derivative_interpolation


def batch_linear_path(batch_tensor_image, baseline=None, fold=50):
    """The straight line in the template's convention: points b + i/fold (x - b), derivative
    (x - b) (= fold times the step, like the blur path's)."""
    x = batch_tensor_image
    base = torch.zeros_like(x) if baseline is None else baseline.expand_as(x)
    ts = torch.arange(fold, dtype=batch_tensor_image.dtype, device=batch_tensor_image.device) / fold
    imgs = base + ts.view(-1, 1, 1, 1, 1) * (batch_tensor_image - base)
    return imgs, (batch_tensor_image - base).expand(fold, *batch_tensor_image.shape)


# --- data_util.py / ig.py -------------------------------------------------------------------------------
def regress25d(heatmaps, beta_weight=10):
    """Soft-argmax (kornia spatial_softmax_2d + spatial_softargmax_2d, unnormalised) -> [B, J, 2]."""
    bs, joints, h, w = heatmaps.shape
    uv = F.softmax(heatmaps.reshape(bs, joints, -1) * beta_weight, dim=-1).reshape(bs, joints, h, w)
    xs = torch.linspace(0, w - 1, w, dtype=heatmaps.dtype, device=heatmaps.device)
    ys = torch.linspace(0, h - 1, h, dtype=heatmaps.dtype, device=heatmaps.device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    ex = (uv * grid_x).sum(dim=(-1, -2))
    ey = (uv * grid_y).sum(dim=(-1, -2))
    return torch.stack([ex, ey], -1)


def detection_back_func(model, img, info):
    """Target (B, J) = exp(-0.3 * ||regress25d(model(img)) - gt||), gt in heatmap pixels."""
    pred_kp = regress25d(model(img))
    return torch.exp(-0.3 * torch.linalg.norm(pred_kp - info["gt_kp"], axis=-1))


def regression_back_func(model, img, info):
    """Target (B, J) = exp(-0.3 * ||readout(model(img)) - gt||), keypoints in input pixels."""
    pred_kp = info["readout"](model(img))
    return torch.exp(-0.3 * torch.linalg.norm(pred_kp - info["gt_kp"], axis=-1))


def compute_poseig(img, model, back_func, back_info, path, raw=False):
    """PoseIG's compute_poseig (p = 1, no noise): per step one forward, then one backward per joint
    (``retain_graph``), and the template's final backward of all targets. Returns the normalised maps
    [B, J, H, W], or with ``raw`` the signed sum [B, J, C, H, W] (divided by the path's fold)."""
    interpolated_imgs, interpolated_derivate_lambda = path(img)
    fold, bs, c, h, w = interpolated_imgs.shape
    test_target = back_func(model, img, back_info)
    bs, js = test_target.shape
    ig = torch.zeros([bs, js, c, h, w], dtype=img.dtype, device=img.device)
    for i in range(fold):
        iimg = interpolated_imgs[i].clone().detach()
        iimg.requires_grad_(True)
        target = back_func(model, iimg, back_info)
        for j in range(js):
            target[:, j].backward(torch.ones_like(target[:, j]), retain_graph=True)
            igrad = iimg.grad
            if torch.any(torch.isnan(igrad)):
                igrad[torch.isnan(igrad)] = 0.0
            ig[:, j] += igrad.reshape(bs, c, h, w) * interpolated_derivate_lambda[i]
            iimg.grad.data.zero_()
        target.backward(torch.ones_like(target))
    if raw:
        return ig / fold
    ig = torch.sum(ig, axis=-3)
    ig_abs = torch.abs(ig)
    ig_max = torch.amax(ig_abs, axis=(-1, -2), keepdim=True)
    return ig_abs / ig_max


def poseig_loop(
    model_fn,
    images,
    gt_keypoints,
    *,
    steps=50,
    path="blur",
    baseline=None,
    readout=None,
    raw=False,
    visible=None,
    codec="udp",
):
    """:func:`hpefast.attribution.integrated_gradients` computed the template's way (same arguments).

    Heatmap models: ground truth divided by the codec's stride (heatmap pixels), ``detection_back_func``;
    ``readout``: ``regression_back_func`` in input pixels.
    """
    b, _, h, w = images.shape
    if readout is None:
        with torch.no_grad():
            hm = model_fn(images[:1])
        stride = heatmap_stride(codec, (w, h), (hm.shape[3], hm.shape[2])).to(images)
        info = {"gt_kp": gt_keypoints.to(images) / stride}
        back_func = detection_back_func
    else:
        fn = (lambda o: o) if readout == "keypoints" else readout
        info = {"gt_kp": gt_keypoints.to(images), "readout": fn}
        back_func = regression_back_func
    if path == "blur":

        def path_fn(x):
            return batch_gaussian_path(x, fold=steps)
    else:

        def path_fn(x):
            return batch_linear_path(x, baseline, fold=steps)

    ig = compute_poseig(images, model_fn, back_func, info, path_fn, raw=raw)
    if visible is not None:
        shape = (b, -1) + (1,) * (ig.dim() - 2)
        ig = ig * (visible > 0).to(ig).view(shape)
    return ig


# --- index.py -------------------------------------------------------------------------------------------
def compute_EPE(pr_kps, gt_kps):  # noqa: N802 - the template's name
    """Euclidean distance per joint, (B, J)."""
    return torch.linalg.norm(pr_kps - gt_kps, axis=-1)


def gini(array):
    """Gini coefficient of a numpy array (statsdirect formula), as PoseIG index.py."""
    array = array.flatten()
    if np.amin(array) < 0:
        array -= np.amin(array)
    array += 0.0000001
    array = np.sort(array)
    index = np.arange(1, array.shape[0] + 1)
    n = array.shape[0]
    return (np.sum((2 * index - n - 1) * array)) / (n * np.sum(array))


def compute_DI(ig):  # noqa: N802
    """Dispersion (diffusion) index (1 - gini) * 100 per map, numpy (B, J)."""
    bs, js = ig.shape[0], ig.shape[1]
    grad = ig.reshape(bs, js, -1)
    diffusions = np.ones((bs, js))
    for b in range(bs):
        for j in range(js):
            gini_index = gini(grad[b, j].cpu().detach().numpy())
            diffusions[b, j] = (1 - gini_index) * 100
    return np.nan_to_num(diffusions)


def torch_dilation(mask, size=5):
    """Max-pool dilation of a (B, 1, H, W) mask."""
    return nn.MaxPool2d(size, padding=(size - 1) // 2, stride=1)(mask)


def compute_FI(ig, mask):  # noqa: N802
    """Foreground index (B, J): share of the map inside the dilated mask over the mask's share of pixels."""
    grad_sum = torch.sum(ig, axis=(-1, -2), keepdim=True)
    ig = ig / grad_sum
    mask = torch_dilation(mask)
    pixels_count = mask.shape[-1] * mask.shape[-2]
    mask_sum = torch.sum(mask, axis=(-1, -2))
    fi = torch.sum(ig * mask, axis=(-1, -2))
    fi = fi * pixels_count / mask_sum
    return torch.nan_to_num(fi).detach().cpu().numpy()


def compute_LI(ig, hm):  # noqa: N802
    """Localization index (B, J) with heatmaps already at the map size."""
    grad_sum = torch.sum(ig, axis=(-1, -2), keepdim=True)
    ig = ig / grad_sum
    pixels_count = hm.shape[-1] * hm.shape[-2]
    hm_sum = torch.sum(hm, axis=(-1, -2))
    li = torch.sum(ig * hm, axis=(-1, -2))
    li = li * pixels_count / hm_sum
    return torch.nan_to_num(li).detach().cpu().numpy()


def compute_RI(ig, hm, jt_1, jt_2):  # noqa: N802
    """Relation index of one sample: LI of joint jt_1's map against joint jt_2's heatmap."""
    ig_1 = ig[jt_1].unsqueeze(0).unsqueeze(0)
    hm_2 = hm[jt_2].unsqueeze(0).unsqueeze(0)
    return compute_LI(ig_1, hm_2)[0, 0]


def check_J2J(pr_kp, gt_kp, target_weight, epsilon=10):  # noqa: N802
    """Joint-to-joint inversions of one sample (data_util.py): pairs [jt1, jt2] whose prediction of jt1
    is farther than epsilon from its own ground truth and nearer than epsilon to jt2's; count, and swaps
    (both directions of a pair). ``target_weight`` (J, 1)."""
    pairs = []
    count = 0
    swap_count = 0
    for jt1_idx in range(len(pr_kp)):
        for jt2_idx in range(jt1_idx + 1, len(pr_kp)):
            flag = False
            if target_weight[jt1_idx, 0] * target_weight[jt2_idx, 0] == 0:
                continue
            if (
                torch.linalg.norm(pr_kp[jt1_idx] - gt_kp[jt1_idx]) > epsilon
                and torch.linalg.norm(pr_kp[jt1_idx] - gt_kp[jt2_idx]) < epsilon
            ):
                pairs.append([jt1_idx, jt2_idx])
                count += 1
                flag = True
            if (
                torch.linalg.norm(pr_kp[jt2_idx] - gt_kp[jt2_idx]) > epsilon
                and torch.linalg.norm(pr_kp[jt2_idx] - gt_kp[jt1_idx]) < epsilon
            ):
                pairs.append([jt2_idx, jt1_idx])
                count += 1
                if flag:
                    swap_count += 1
    return pairs, count, swap_count
