"""Bad input to the heatmap codecs: typed errors that name the argument, empty batches that return
correctly shaped empty outputs, and the C++ backstop raising ValueError instead of crashing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hpefast
from hpefast._ext import lib
from hpefast.ops import decode_heatmaps, encode_heatmaps, flip_heatmaps

KP = torch.rand(2, 3, 2) * 100
VIS = torch.ones(2, 3)
HM = torch.rand(2, 3, 16, 12)


def enc(**kw):
    args = dict(keypoints=KP, visible=VIS, input_size=(48, 64), heatmap_size=(12, 16))
    args.update(kw)
    return encode_heatmaps(**args)


def dec(**kw):
    args = dict(heatmaps=HM, input_size=(48, 64))
    args.update(kw)
    return decode_heatmaps(**args)


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        (dict(keypoints=KP.double()), TypeError, "keypoints"),
        (dict(keypoints=KP.numpy()), TypeError, "keypoints"),
        (dict(keypoints=KP[..., :1].contiguous()), ValueError, "keypoints"),
        (dict(keypoints=KP[0]), ValueError, "keypoints"),
        (dict(keypoints=KP.transpose(0, 1).contiguous()), ValueError, "visible"),
        (dict(keypoints=torch.rand(2, 2, 3).transpose(1, 2)), ValueError, "contiguous"),
        (dict(visible=VIS.long()), TypeError, "visible"),
        (dict(visible=VIS[:, :2]), ValueError, "visible"),
        (dict(visible=VIS.t().contiguous().t()), ValueError, "visible"),
        (dict(input_size=(48,)), TypeError, "input_size"),
        (dict(input_size=(48.5, 64)), TypeError, "input_size"),
        (dict(input_size=(0, 64)), ValueError, "input_size"),
        (dict(heatmap_size=(12, -16)), ValueError, "heatmap_size"),
        (dict(heatmap_size=None), TypeError, "heatmap_size"),
        (dict(heatmap_size=(1, 16)), ValueError, "udp"),
        (dict(sigma=0.0), ValueError, "sigma"),
        (dict(sigma=float("nan")), ValueError, "sigma"),
        (dict(sigma="2"), TypeError, "sigma"),
        (dict(method="gauss"), ValueError, "method"),
        (dict(method=1), TypeError, "method"),
        (dict(joint_weights=[1.0, 2.0]), ValueError, "joint_weights"),
        (dict(joint_weights=torch.ones(3, dtype=torch.long)), TypeError, "joint_weights"),
        (dict(joint_weights="abc"), TypeError, "joint_weights"),
        (dict(joint_weights=[float("nan"), 1.0, 1.0]), ValueError, "joint_weights"),
        (dict(joint_weights=torch.tensor([-1.0, 1.0, 1.0])), ValueError, "joint_weights"),
        (dict(input_size=("a", "b")), TypeError, "input_size"),
        (dict(input_size=(10**12, 10**12)), ValueError, "input_size"),
    ],
)
def test_encode_bad_input(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        enc(**kwargs)


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        (dict(heatmaps=HM.long()), TypeError, "heatmaps"),
        (dict(heatmaps=HM[0]), ValueError, "heatmaps"),
        (dict(heatmaps=HM.transpose(2, 3)), ValueError, "contiguous"),
        (dict(heatmaps=torch.rand(2, 3, 0, 12)), ValueError, "heatmaps"),
        (dict(heatmaps=torch.rand(2, 3, 1, 12), method="dark_udp"), ValueError, "dark_udp"),
        (dict(input_size=(48, 0)), ValueError, "input_size"),
        (dict(input_size="48x64"), TypeError, "input_size"),
        (dict(method="soft_argmax"), ValueError, "method"),
        (dict(blur_kernel=10), ValueError, "blur_kernel"),
        (dict(blur_kernel=0), ValueError, "blur_kernel"),
        (dict(blur_kernel=-3), ValueError, "blur_kernel"),
        (dict(blur_kernel=101), ValueError, "blur_kernel"),
        (dict(blur_kernel=11.0), TypeError, "blur_kernel"),
    ],
)
def test_decode_bad_input(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        dec(**kwargs)


@pytest.mark.parametrize(
    "args, exc, name",
    [
        ((HM.long(), [0, 2, 1]), TypeError, "heatmaps"),
        ((HM[0], [0, 2, 1]), ValueError, "heatmaps"),
        ((HM, [0, 2]), ValueError, "flip_index"),
        ((HM, [0, 2, 2]), ValueError, "flip_index"),
        ((HM, [0, 1, 3]), ValueError, "flip_index"),
        ((HM, [0, 1.5, 2]), TypeError, "flip_index"),
        ((HM, None), TypeError, "flip_index"),
    ],
)
def test_flip_bad_input(args, exc, name):
    with pytest.raises(exc, match=name):
        flip_heatmaps(*args)


def test_flip_index_forms():
    for index in ([0, 2, 1], (0, 2, 1), np.array([0, 2, 1]), torch.tensor([0, 2, 1])):
        assert torch.equal(flip_heatmaps(HM, index), flip_heatmaps(HM, [0, 2, 1]))


@pytest.mark.parametrize("B, K", [(0, 3), (2, 0), (0, 0)])
def test_empty_batches(device, B, K):
    kp = torch.zeros(B, K, 2, device=device)
    hm, w = encode_heatmaps(kp, torch.zeros(B, K, device=device), (48, 64), (12, 16))
    assert hm.shape == (B, K, 16, 12) and w.shape == (B, K)
    out, s = decode_heatmaps(torch.zeros(B, K, 16, 12, device=device), (48, 64))
    assert out.shape == (B, K, 2) and s.shape == (B, K)
    assert flip_heatmaps(hm, list(range(K))).shape == hm.shape


def test_half_precision_heatmaps_are_accepted():
    out16, s16 = dec(heatmaps=HM.half())
    out32, s32 = dec(heatmaps=HM.half().float())
    assert torch.equal(out16, out32) and torch.equal(s16, s32)


@pytest.mark.skipif(
    not torch.cuda.is_available() or hpefast.cuda_available(), reason="needs a GPU and no kernels"
)
def test_cuda_tensor_without_cuda_kernels():
    with pytest.raises(ValueError, match="without CUDA"):
        enc(keypoints=KP.cuda(), visible=VIS.cuda())


@pytest.mark.cuda
@pytest.mark.skipif(not hpefast.cuda_available(), reason="needs CUDA")
def test_mixed_devices():
    with pytest.raises(ValueError, match="visible"):
        enc(keypoints=KP.cuda())


def test_cpp_backstop_raises_value_error():
    """The compiled entry points re-check their parameters (ValueError, not a crash)."""
    C = lib()
    with pytest.raises(ValueError, match="heatmap_size"):
        C.encode_heatmaps(False, 0, 0, 0, 0, 0, 0, 1, 1, 48, 64, 0, 16, 2.0, 1)
    with pytest.raises(ValueError, match="sigma"):
        C.encode_heatmaps(False, 0, 0, 0, 0, 0, 0, 1, 1, 48, 64, 12, 16, -1.0, 1)
    with pytest.raises(ValueError, match="null pointer"):
        C.encode_heatmaps(False, 0, 0, 0, 0, 0, 0, 1, 1, 48, 64, 12, 16, 2.0, 1)
    with pytest.raises(ValueError, match="method"):
        C.encode_heatmaps(False, 0, 0, 0, 0, 0, 0, 0, 1, 48, 64, 12, 16, 2.0, 7)
    with pytest.raises(ValueError, match="blur_kernel"):
        C.decode_heatmaps(False, 0, 0, 0, 0, 1, 12, 16, 48, 64, 3, 4)
    with pytest.raises(ValueError, match="null pointer"):
        C.decode_heatmaps(False, 0, 0, 0, 0, 1, 12, 16, 48, 64, 3, 11)
    if not C.cuda_compiled():
        with pytest.raises(ValueError, match="without CUDA"):
            C.decode_heatmaps(True, 0, 0, 0, 0, 1, 12, 16, 48, 64, 3, 11)
