"""HeatmapCodec: one object owns targets, decoding and flip-back; mismatched pairs cannot be built; the
codec travels with the model (config json, checkpoints, ONNX metadata) and each method trains and decodes
end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hpefast import HeatmapCodec
from hpefast._reference.heatmap import decode_heatmaps as decode_reference
from hpefast._reference.heatmap import encode_heatmaps as encode_reference
from hpefast.codec import DECODERS_FOR_METHOD
from hpefast.errors import ConfigError
from hpefast.models import ViTPoseConfig, build_model
from hpefast.models.checkpoint import load_model, save_model

INPUT, HEAT = (192, 256), (48, 64)


def _keypoints(n: int = 40, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    # inside the crop, away from the edge so no Gaussian window is clipped
    xy = rng.uniform([24, 24], [INPUT[0] - 25, INPUT[1] - 25], size=(1, n, 2))
    return torch.tensor(xy, dtype=torch.float32)


def test_udp_pair_recovers_keypoints_to_a_thousandth_of_a_pixel():
    codec = HeatmapCodec(input_size=INPUT, heatmap_size=HEAT)
    assert (codec.method, codec.decoder, codec.flip_shift) == ("udp", "dark_udp", False)
    kp = _keypoints()
    maps, weights = codec.encode(kp, torch.ones(kp.shape[:2]))
    assert torch.equal(weights, torch.ones_like(weights))
    decoded, scores = codec.decode(maps)
    assert float((decoded - kp).abs().max()) < 2e-3
    torch.testing.assert_close(scores, maps.amax(dim=(-2, -1)), atol=0, rtol=0)  # the map maxima
    assert float(scores.min()) > 0.9  # a Gaussian sampled within half a pixel of its centre


@pytest.mark.parametrize("decoder", DECODERS_FOR_METHOD["msra"])
def test_msra_pairs_recover_the_quantised_centre(decoder):
    """MSRA puts the Gaussian at int(x / stride + 0.5) (HRNet): its decoders recover that centre (argmax
    exactly; shift a quarter pixel toward the higher neighbour at most; DARK to ~0.05 heatmap px)."""
    codec = HeatmapCodec(method="msra", input_size=INPUT, heatmap_size=HEAT, decoder=decoder)
    kp = _keypoints(seed=1)
    maps, _ = codec.encode(kp, torch.ones(kp.shape[:2]))
    stride = INPUT[0] / HEAT[0]
    centre = torch.floor(kp / stride + 0.5) * stride
    decoded, _ = codec.decode(maps)
    tol = {"argmax": 1e-5, "shift": 0.25 * stride + 1e-5, "dark": 0.05 * stride}[decoder]
    assert float((decoded - centre).abs().max()) <= tol
    # the compiled kernel agrees with the numpy reference of the same method
    ref_maps, _ = encode_reference(kp.numpy(), np.ones(kp.shape[:2]), INPUT, HEAT, 2.0, "msra")
    np.testing.assert_allclose(maps.numpy(), ref_maps, atol=1e-6)
    ref_kp, _ = decode_reference(ref_maps, INPUT, method=decoder, blur_kernel=11)
    np.testing.assert_allclose(decoded.numpy(), ref_kp, atol=1e-4)


def test_a_mismatched_pair_cannot_be_built():
    # MSRA targets read as UDP are off by up to a stride: the codec refuses the pair.
    with pytest.raises(ValueError, match="decoder 'dark_udp' does not read 'msra' targets"):
        HeatmapCodec(method="msra", input_size=INPUT, heatmap_size=HEAT, decoder="dark_udp")
    for decoder in ("dark", "shift", "argmax"):
        with pytest.raises(ValueError, match=f"decoder '{decoder}' does not read 'udp' targets"):
            HeatmapCodec(method="udp", input_size=INPUT, heatmap_size=HEAT, decoder=decoder)
    with pytest.raises(ValueError, match="blur_kernel must be odd"):
        HeatmapCodec(input_size=INPUT, heatmap_size=HEAT, blur_kernel=10)
    with pytest.raises(ValueError, match="sigma must be a positive"):
        HeatmapCodec(input_size=INPUT, heatmap_size=HEAT, sigma=0)
    with pytest.raises(ValueError, match="extra"):
        HeatmapCodec(input_size=INPUT, heatmap_size=HEAT, shift=True)
    codec = HeatmapCodec(input_size=INPUT, heatmap_size=HEAT)
    with pytest.raises(Exception, match="frozen"):
        codec.sigma = 3.0
    with pytest.raises(ValueError, match="do not match the codec's heatmap_size"):
        codec.decode(torch.zeros(1, 2, 32, 24))


def test_mismatch_would_have_been_wrong():
    """Why the codec refuses: MSRA targets decoded with the UDP decoder are off by pixels, the matched
    pair is not (the bug this object exists to prevent)."""
    kp = _keypoints(seed=2)
    msra = HeatmapCodec(method="msra", input_size=INPUT, heatmap_size=HEAT, decoder="dark")
    maps, _ = msra.encode(kp, torch.ones(kp.shape[:2]))
    from hpefast.ops import decode_heatmaps

    wrong, _ = decode_heatmaps(maps, INPUT, method="dark_udp")
    right, _ = msra.decode(maps)
    stride = INPUT[0] / HEAT[0]
    centre = torch.floor(kp / stride + 0.5) * stride
    assert float((wrong - centre).norm(dim=-1).mean()) > 1.0
    assert float((right - centre).norm(dim=-1).mean()) < 0.2


@pytest.mark.parametrize("method", ["udp", "msra"])
def test_flip_back_mirrors_a_flipped_target(method):
    """Encoding the mirrored keypoints of a flipped crop and flipping the maps back gives the maps of the
    original keypoints (UDP exactly; MSRA up to its integer centre, so we compare decoded positions)."""
    codec = HeatmapCodec(method=method, input_size=INPUT, heatmap_size=HEAT)
    kp = _keypoints(4, seed=3)
    flip_index = [1, 0, 3, 2]
    mirrored = kp.clone()
    mirrored[..., 0] = INPUT[0] - 1 - kp[..., 0]
    mirrored = mirrored[:, flip_index]
    maps_f, _ = codec.encode(mirrored, torch.ones(1, 4))
    back = codec.flip_back(maps_f, flip_index)
    direct, _ = codec.encode(kp, torch.ones(1, 4))
    if method == "udp":
        torch.testing.assert_close(back, direct, atol=1e-5, rtol=0)
    else:  # the shift puts the mirrored integer centre back within a heatmap pixel of the original
        a, _ = codec.decode(back)
        b, _ = codec.decode(direct)
        assert float((a - b).abs().max()) <= INPUT[0] / HEAT[0] + 1e-4


def test_codec_travels_with_the_model(tmp_path):
    model = build_model("tiny", layout="coco", image_size=(48, 64), codec={"method": "msra", "sigma": 1.5})
    codec = model.cfg.codec
    assert (codec.method, codec.decoder, codec.sigma) == ("msra", "dark", 1.5)
    assert codec.input_size == (48, 64) and codec.heatmap_size == model.cfg.heatmap_size == (12, 16)
    save_model(model, tmp_path / "m")
    written = json.loads((tmp_path / "m" / "config.json").read_text())
    assert written["config"]["codec"]["method"] == "msra"
    assert load_model(str(tmp_path / "m")).cfg.codec == codec
    from hpefast.export.metadata import ExportInfo

    info = ExportInfo.from_model(model)
    assert ExportInfo.from_metadata(info.to_metadata()).heatmap_codec() == codec
    # model files written before the codec was recorded read as the udp default
    d = model.cfg.to_dict()
    d.pop("codec")
    d.pop("variant")
    assert ViTPoseConfig.from_dict({**d, "variant": "tiny"}).codec.method == "udp"
    with pytest.raises(ConfigError, match=r"codec.heatmap_size \(10, 10\) does not match"):
        ViTPoseConfig.from_dict({**d, "codec": {"input_size": [48, 64], "heatmap_size": [10, 10]}})


def _overfit(method: str, steps: int = 100) -> float:
    """Train a tiny model on 8 fixed crops with the codec's targets; mean decode error (crop px)."""
    torch.manual_seed(0)
    model = build_model("tiny", layout="coco", image_size=(48, 64), codec={"method": method})
    codec = model.cfg.codec
    g = torch.Generator().manual_seed(0)
    images = torch.randn(8, 3, 64, 48, generator=g)
    kp = torch.rand(8, 17, 2, generator=g) * torch.tensor([30.0, 46.0]) + torch.tensor([9.0, 9.0])
    vis = torch.ones(8, 17)
    target, weight = codec.encode(kp, vis)
    from hpefast.ops import union_heatmap_loss

    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(steps):
        loss = union_heatmap_loss(model(images), target, weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred, _ = codec.decode(model(images))
    return float((pred - kp).norm(dim=-1).mean())


@pytest.mark.slow
@pytest.mark.parametrize("method", ["udp", "msra"])
def test_each_method_trains_and_decodes_end_to_end(method):
    """A tiny model trained on each method's targets and read by the same codec learns the keypoints
    (an untrained one is off by ~15 px on these 48x64 crops)."""
    err = _overfit(method)
    assert err < 3.0, err
