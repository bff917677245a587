"""PoseIG integrated gradients (hpefast.attribution.integrated_gradients) against the template-style
per-joint loop (hpefast._reference.attribution), completeness, any torch model, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hpefast._reference import attribution as ref
from hpefast.attribution import heatmap_stride, integrated_gradients, soft_argmax

J = 5


def _tiny_vitpose(j: int = 17) -> nn.Module:
    from hpefast.models import build_model

    torch.manual_seed(0)
    m = build_model("tiny", num_keypoints=j, layout="custom", image_size=(24, 32))
    for p in m.head.parameters():  # the head's init (std 0.001) gives flat heatmaps: make them peaky
        nn.init.normal_(p, std=0.2)
    return m.eval()


class ConvHeatmaps(nn.Module):
    """A plain torch heatmap model (stride 4), smooth (tanh) so IG sums converge fast."""

    def __init__(self, j: int = J) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.net = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.Tanh(), nn.AvgPool2d(4), nn.Conv2d(8, j, 3, padding=1)
        )
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * 3.0


class ConvKeypoints(nn.Module):
    """A regression model giving keypoints [N, J, 2] in input pixels directly."""

    def __init__(self, j: int = J, size: tuple[int, int] = (24, 32)) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.j = j
        self.conv = nn.Conv2d(3, 4, 5, stride=4)
        self.fc = nn.Linear(4 * 7 * 5, j * 2)
        self.scale = torch.tensor([float(size[0]), float(size[1])])
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.conv(x)).flatten(1)
        return torch.sigmoid(self.fc(h)).view(-1, self.j, 2) * self.scale


def _data(b: int = 2, j: int = J, w: int = 24, h: int = 32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(b, 3, h, w, generator=g)
    gt = torch.rand(b, j, 2, generator=g) * torch.tensor([w - 1.0, h - 1.0])
    return images, gt


def _target(model, x, gt, readout=None):
    """The PoseIG target of each joint at images x, written out independently: [B, J]."""
    out = model(x)
    if readout is None:
        stride = heatmap_stride("udp", (x.shape[3], x.shape[2]), (out.shape[3], out.shape[2])).to(x)
        d = soft_argmax(out) - gt / stride
    else:
        d = out - gt
    return torch.exp(-0.3 * torch.linalg.vector_norm(d, dim=-1))


# --- equality with the template-style loop ----------------------------------------------------------------
@pytest.mark.parametrize("path", ["blur", "linear"])
def test_vitpose_batched_equals_per_joint_loop(path):
    model = _tiny_vitpose(j=6)
    images, gt = _data(j=6)
    got = integrated_gradients(model, images, gt, steps=3, path=path, batched=True)
    joint_loop = integrated_gradients(model, images, gt, steps=3, path=path, batched=False)
    torch.testing.assert_close(got, joint_loop, atol=1e-5, rtol=0)
    # the model's parameter gradients are not touched (input gradients only)
    assert all(p.grad is None for p in model.parameters())
    want = ref.poseig_loop(model, images, gt, steps=3, path=path)
    assert got.shape == (2, 6, 32, 24)
    # float32: the blur path's points are made differently (separable vs 2-D conv), and the signed sum
    # over steps and colours cancels, so its rounding shows at ~1e-5; the straight line matches to 1e-5
    torch.testing.assert_close(got, want, atol=1e-5 if path == "linear" else 5e-5, rtol=0)
    assert float(got.amax(dim=(-1, -2)).min()) == 1.0  # max-normalised per joint
    model, images = model.double(), images.double()
    got = integrated_gradients(model, images, gt, steps=3, path=path, batched=True)
    want = ref.poseig_loop(model, images, gt, steps=3, path=path)
    torch.testing.assert_close(got, want, atol=1e-10, rtol=0)
    raw = integrated_gradients(model, images, gt, steps=3, path=path, raw=True, batched=True)
    raw_ref = ref.poseig_loop(model, images, gt, steps=3, path=path, raw=True)
    assert raw.shape == (2, 6, 3, 32, 24)
    torch.testing.assert_close(raw, raw_ref, atol=1e-12 * float(raw_ref.abs().max()), rtol=0)


def test_plain_torch_model_float64_chunks_and_visible():
    model = ConvHeatmaps().double()
    images, gt = _data(b=3)
    images = images.double()
    want = ref.poseig_loop(model, images, gt, steps=5, path="blur")
    for chunk, batched in ((1, True), (2, True), (5, True), (2, False)):  # any grouping: the same maps
        got = integrated_gradients(model, images, gt, steps=5, chunk_size=chunk, batched=batched)
        torch.testing.assert_close(got, want, atol=1e-10, rtol=0)
    visible = torch.ones(3, J)
    visible[1, 2] = 0
    gt_nan = gt.clone()
    gt_nan[1, 2] = float("nan")  # an unlabelled joint's ground truth is not read
    got = integrated_gradients(model, images, gt_nan, steps=5, visible=visible)
    assert float(got[1, 2].abs().max()) == 0.0
    keep = visible.bool()
    torch.testing.assert_close(got[keep], want[keep], atol=1e-10, rtol=0)


def test_keypoint_model_through_readout():
    model = ConvKeypoints()
    images, gt = _data()
    got = integrated_gradients(model, images, gt, steps=6, path="linear", readout="keypoints")
    want = ref.poseig_loop(model, images, gt, steps=6, path="linear", readout="keypoints")
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    halves = integrated_gradients(
        lambda x: model(x) * 0.5, images, gt, steps=6, path="linear", readout=lambda k: k * 2.0
    )  # a read-out callable composes with any model function
    torch.testing.assert_close(halves, got, atol=1e-5, rtol=0)


# --- completeness ---------------------------------------------------------------------------------------
def test_linear_path_completeness():
    """sum of raw attributions -> target(x) - target(baseline) as the step count grows."""
    model = ConvHeatmaps().double()
    images, gt = _data()
    images = images.double()
    baseline = torch.full_like(images, -0.5)
    with torch.no_grad():
        delta = _target(model, images, gt) - _target(model, baseline, gt)
    assert float(delta.abs().min()) > 1e-4  # a non-trivial check
    errors = []
    for steps in (8, 64, 256):
        raw = integrated_gradients(model, images, gt, steps=steps, path="linear", baseline=baseline, raw=True)
        errors.append(float((raw.sum(dim=(2, 3, 4)) - delta).abs().max()))
    assert errors[1] < errors[0] / 4 and errors[2] < errors[1] / 2.5  # left Riemann sum: O(1 / steps)
    assert errors[2] < 5e-3 * float(delta.abs().max())


def test_blur_path_completeness_against_template_blur():
    """The blur path starts at the image blurred by PoseIG's 31x31, sigma 19 kernel (reflect padding)."""
    model = ConvHeatmaps().double()
    images, gt = _data()
    images = images.double()
    kernel = ref.get_gaussian_kernel(31, 19.0, dtype=torch.float64)
    with torch.no_grad():
        start = ref.torch_filter(kernel)(images)
        delta = _target(model, images, gt) - _target(model, start, gt)
    errors = []
    for steps in (100, 400):  # converging to 0 (not to an offset): the path starts where PoseIG's does
        raw = integrated_gradients(model, images, gt, steps=steps, path="blur", raw=True, chunk_size=100)
        errors.append(float((raw.sum(dim=(2, 3, 4)) - delta).abs().max()))
    assert errors[1] < errors[0] / 3
    assert errors[1] < 0.015 * float(delta.abs().max())


# --- bad input -------------------------------------------------------------------------------------------
def test_bad_input_errors():
    model = ConvHeatmaps()
    images, gt = _data()
    with pytest.raises(ValueError, match="batch"):
        integrated_gradients(model, images, gt[:1])
    far = gt.clone()
    far[0, 3] = torch.tensor([30.0, 5.0])  # x beyond the 24-pixel width
    with pytest.raises(ValueError, match=r"outside the 24x32 image at \(sample, joint\) \[\[0, 3\]\]"):
        integrated_gradients(model, images, far)
    nan_images = images.clone()
    nan_images[1, 0, 2, 2] = float("nan")
    with pytest.raises(ValueError, match="images contains NaN"):
        integrated_gradients(model, nan_images, gt)
    nan_gt = gt.clone()
    nan_gt[0, 1, 0] = float("nan")
    with pytest.raises(ValueError, match="gt_keypoints has NaN"):
        integrated_gradients(model, images, nan_gt)
    with pytest.raises(ValueError, match="model gives 5 joints but gt_keypoints has J=4"):
        integrated_gradients(model, images, gt[:, :4], steps=2)
    with pytest.raises(ValueError, match="steps"):
        integrated_gradients(model, images, gt, steps=0)
    with pytest.raises(ValueError, match="path"):
        integrated_gradients(model, images, gt, path="zigzag")
    with pytest.raises(ValueError, match="baseline is only used by path='linear'"):
        integrated_gradients(model, images, gt, baseline=torch.zeros_like(images))
    with pytest.raises(ValueError, match="needs images of at least 16 pixels"):
        integrated_gradients(ConvHeatmaps(), torch.zeros(1, 3, 12, 12), torch.zeros(1, J, 2))
    with pytest.raises(TypeError, match="images must be a torch.Tensor"):
        integrated_gradients(model, images.numpy(), gt)
    with pytest.raises(ValueError, match="training mode"):
        integrated_gradients(ConvHeatmaps().train(), images, gt)


def test_non_differentiable_models_are_refused():
    model = ConvHeatmaps()
    images, gt = _data()

    def no_grad_model(x):
        with torch.no_grad():
            return model(x)

    with pytest.raises(ValueError, match="does not depend differentiably on the images"):
        integrated_gradients(no_grad_model, images, gt, steps=2)
    with pytest.raises(ValueError, match="does not depend differentiably"):
        integrated_gradients(lambda x: model(x).detach(), images, gt, steps=2)
    with pytest.raises(TypeError, match="must return a torch.Tensor"):
        integrated_gradients(lambda x: model(x).detach().numpy(), images, gt, steps=2)
    const = torch.randn(1, J, 8, 6, requires_grad=True)
    with pytest.raises(ValueError, match="does not depend on the images"):
        integrated_gradients(lambda x: const.expand(x.shape[0], -1, -1, -1) * 1.0, images, gt, steps=2)
    with pytest.raises(ValueError, match="NaN/inf outputs"):
        integrated_gradients(lambda x: model(x) * float("nan"), images, gt, steps=2)


def test_op_without_batching_rule_falls_back_to_a_joint_loop():
    class Square(torch.autograd.Function):  # no vmap rule: the batched backward cannot run it
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * torch.from_numpy(g.numpy())  # a batched (vmap) g has no .numpy()

    model = ConvHeatmaps()
    images, gt = _data()
    fn = lambda x: model(Square.apply(x))  # noqa: E731
    with pytest.warns(RuntimeWarning, match="falling back to one backward per joint"):
        got = integrated_gradients(fn, images, gt, steps=3, path="linear", batched=True)
    want = ref.poseig_loop(fn, images, gt, steps=3, path="linear")
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_soft_argmax_is_posig_regress25d():
    g = torch.Generator().manual_seed(3)
    hm = torch.randn(2, 4, 8, 6, generator=g)
    torch.testing.assert_close(soft_argmax(hm), ref.regress25d(hm))
    peak = torch.full((1, 1, 8, 6), -50.0)
    peak[0, 0, 5, 2] = 50.0  # a single sharp peak: the soft-argmax is its position (x, y)
    np.testing.assert_allclose(soft_argmax(peak)[0, 0].numpy(), [2.0, 5.0], atol=1e-6)
