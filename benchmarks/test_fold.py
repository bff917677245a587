"""BatchNorm folding (hpefast.export.fold_batchnorm): CPU inference latency of the folded vs the unfolded
eval-mode model, in one run. Two groups: ViTPose-B's classic decoder alone (768 -> 2 x [deconv 256 + BN +
ReLU] -> 17 maps, from 16x12 tokens, batch 8), where the BatchNorms are, and the whole tiny model (batch 8,
256x192). Under ``--benchmark-disable`` (CI) the batch shrinks to 1 and the check is that both agree.
"""

from __future__ import annotations

import pytest
import torch

from hpefast.export import fold_batchnorm
from hpefast.models import build_model
from hpefast.models.heads import ClassicDecoder


def _randomise_bn(model: torch.nn.Module) -> torch.nn.Module:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.5, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
    return model.eval()


def _cases(small: bool) -> dict[str, tuple[torch.nn.Module, torch.Tensor]]:
    b = 1 if small else 8
    torch.manual_seed(0)
    return {
        "decoder_b": (_randomise_bn(ClassicDecoder(768, 17, 256, 2)), torch.randn(b, 768, 16, 12)),
        "tiny_model": (
            _randomise_bn(build_model("tiny", image_size=(192, 256))),
            torch.randn(b, 3, 256, 192),
        ),
    }


@pytest.mark.parametrize("case", ["decoder_b", "tiny_model"])
@pytest.mark.parametrize("folded", [False, True], ids=["unfolded", "folded"])
def test_fold_latency(benchmark, request, case, folded):
    small = bool(request.config.getoption("benchmark_disable"))
    model, x = _cases(small)[case]
    net = fold_batchnorm(model) if folded else model
    benchmark.group = f"fold {case} B={x.shape[0]}"
    with torch.inference_mode():
        out = benchmark(net, x)
        torch.testing.assert_close(out, model(x), rtol=0, atol=1e-4)
