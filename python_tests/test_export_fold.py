"""BatchNorm folding (hpefast.export.fold_batchnorm): exact against the eval-mode unfolded network, for
convolutions and transposed convolutions (groups, with and without bias), ViTPose's ClassicDecoder
included, and ONNX exports without a BatchNormalization node."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hpefast.export import count_batchnorm, export_onnx_model, fold_batchnorm
from hpefast.models import build_model


def _randomise_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial running statistics and affine parameters (a fresh BN is the identity in eval)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(c, generator=g) * 2 + 0.1)
                m.weight.copy_(torch.randn(c, generator=g))
                m.bias.copy_(torch.randn(c, generator=g))
    return model


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("bias", [False, True])
def test_fold_conv_and_deconv_equal_eval_batchnorm(groups, bias):
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(4, 6, 3, padding=1, groups=groups, bias=bias),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.ConvTranspose2d(6, 8, 4, stride=2, padding=1, groups=groups, bias=bias),
        nn.BatchNorm2d(8),
        nn.Sequential(nn.ConvTranspose2d(8, 4, 2, stride=2), nn.BatchNorm2d(4)),
    ).double()
    _randomise_bn(net)
    x = torch.randn(3, 4, 5, 7, dtype=torch.float64)
    ref = net.eval()(x)
    folded = fold_batchnorm(net)
    assert count_batchnorm(folded) == 0 and count_batchnorm(net) == 3  # the caller's model is untouched
    torch.testing.assert_close(folded(x), ref, rtol=1e-12, atol=1e-12)


def test_a_batchnorm_not_after_a_convolution_is_kept():
    net = nn.Sequential(nn.ReLU(), nn.BatchNorm2d(3), nn.Conv2d(3, 3, 1))
    _randomise_bn(net)
    folded = fold_batchnorm(net)
    assert count_batchnorm(folded) == 1
    x = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(folded(x), net.eval()(x))


@pytest.mark.parametrize("per_dataset_heads", [False, True])
def test_fold_vitpose_classic_decoder_to_1e5(per_dataset_heads):
    torch.manual_seed(0)
    model = build_model(
        "tiny",
        image_size=(64, 64),
        patch_size=16,  # two deconv + BN blocks
        num_datasets=2,
        per_dataset_heads=per_dataset_heads,
    )
    with torch.no_grad():  # mmpose's N(0, 0.001) init gives near-zero maps; make them lively
        for m in model.modules():
            if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d)):
                m.weight.normal_(0, 0.05)
    _randomise_bn(model)
    n_bn = count_batchnorm(model)
    assert n_bn == 2 * (2 if per_dataset_heads else 1)
    x = torch.randn(2, 3, 64, 64)
    ids = torch.tensor([0, 1])
    with torch.no_grad():
        ref = model.eval()(x, ids)
        out = fold_batchnorm(model)(x, ids)
    assert 0.5 < ref.abs().max() < 10  # a real signal through the BNs, heatmap-sized
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)


def test_onnx_export_folds_by_default_and_matches_the_unfolded_model():
    import onnxruntime as ort

    torch.manual_seed(0)
    model = _randomise_bn(build_model("tiny", image_size=(32, 32), depth=1))
    proto = export_onnx_model(model, batch=1)
    ops = {n.op_type for n in proto.graph.node}
    assert "BatchNormalization" not in ops and "ConvTranspose" in ops
    x = torch.randn(1, 3, 32, 32)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, {"images": x.numpy()})
    with torch.no_grad():
        ref = model.eval()(x)
    torch.testing.assert_close(torch.from_numpy(out), ref, rtol=0, atol=1e-5)


def test_fold_bad_input():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        fold_batchnorm("not a model")
    net = nn.Sequential(nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2, track_running_stats=False))
    with pytest.raises(ValueError, match="running statistics"):
        fold_batchnorm(net)
