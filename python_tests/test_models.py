"""ViTPose models: published hyper-parameters, the official forward semantics, experts, heads,
layer-decay groups and export-friendliness."""

from __future__ import annotations

import math

import pytest
import torch
from _vitpose_official import official_head_forward, official_vit_forward, randomise

from hpefast.models import VARIANTS, ViTPose, ViTPoseConfig, build_model


def small_cfg(**kw) -> ViTPoseConfig:
    base = dict(
        layout="five",  # not a registered schema: K is free
        num_keypoints=5,
        image_size=(48, 64),
        variant="tiny",
        embed_dim=32,
        depth=2,
        num_heads=4,
        patch_size=16,
        drop_path_rate=0.0,
        deconv_channels=8,
    )
    base.update(kw)
    return ViTPoseConfig(**base)


# --- published variants -----------------------------------------------------------------------
# Xu et al. 2022, Table 1 / the official configs: (embed, depth, heads).
PUBLISHED = {"s": (384, 12, 12), "b": (768, 12, 12), "l": (1024, 24, 16), "h": (1280, 32, 16)}


def _expected_backbone_params(c: int, depth: int, tokens: int, patch: int = 16) -> int:
    patch_embed = 3 * patch * patch * c + c
    block = (c * 3 * c + 3 * c) + (c * c + c) + (c * 4 * c + 4 * c) + (4 * c * c + c) + 4 * c
    return patch_embed + (tokens + 1) * c + depth * block + 2 * c


@pytest.mark.parametrize("variant", sorted(PUBLISHED))
def test_published_variants(variant):
    c, depth, heads = PUBLISHED[variant]
    with torch.device("meta"):
        model = build_model(variant, num_keypoints=17)
    cfg = model.cfg
    assert (cfg.embed_dim, cfg.depth, cfg.num_heads, cfg.patch_size, cfg.patch_padding) == (
        c,
        depth,
        heads,
        16,
        2,
    )
    assert cfg.image_size == (192, 256) and cfg.heatmap_size == (48, 64)
    assert model.backbone.pos_embed.shape == (1, 16 * 12 + 1, c)
    proj = model.backbone.patch_embed.proj
    assert (proj.kernel_size, proj.stride, proj.padding) == ((16, 16), (16, 16), (2, 2))
    n_backbone = sum(p.numel() for p in model.backbone.parameters())
    assert n_backbone == _expected_backbone_params(c, depth, 192)
    # classic decoder: two deconvs of 256 channels, then 1x1 to K
    dec = model.head.decoders[0]
    assert dec.deconv_layers[0].weight.shape == (c, 256, 4, 4)
    assert dec.deconv_layers[3].weight.shape == (256, 256, 4, 4)
    assert dec.final_layer.weight.shape == (17, 256, 1, 1)
    # drop path: linear from 0 at block 0 to the published rate at the last block
    dp = [getattr(b.drop_path, "p", 0.0) for b in model.backbone.blocks]
    assert dp[0] == 0.0 and dp[-1] == pytest.approx(VARIANTS[variant].drop_path_rate)


@pytest.mark.parametrize("head", ["classic", "simple"])
@pytest.mark.parametrize("patch,size", [(16, (64, 128)), (8, (48, 64)), (8, (32, 32))])
def test_heatmap_stride_4(head, patch, size):
    model = build_model(
        "tiny", num_keypoints=3, layout="x", head=head, image_size=size, patch_size=patch
    ).eval()
    y = model(torch.randn(2, 3, size[1], size[0]))
    assert y.shape == (2, 3, size[1] // 4, size[0] // 4)
    assert model.cfg.heatmap_size == (size[0] // 4, size[1] // 4)


# --- the official forward ---------------------------------------------------------------------
@pytest.mark.parametrize("decoder", ["classic", "simple"])
@pytest.mark.parametrize("fused", [True, False])
def test_forward_matches_official_formula(decoder, fused):
    cfg = small_cfg(decoder=decoder, fused_attention=fused)
    model = ViTPose(cfg).eval()
    randomise(model)
    x = torch.randn(2, 3, 64, 48)
    sd = {k[len("backbone.") :]: v for k, v in model.state_dict().items() if k.startswith("backbone.")}
    head = {k[len("head.decoders.0.") :]: v for k, v in model.state_dict().items() if k.startswith("head.")}
    with torch.no_grad():
        ref = official_head_forward(head, official_vit_forward(sd, x, cfg.num_heads))
        out = model(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_fused_and_plain_attention_agree_with_gradients():
    model = ViTPose(small_cfg()).eval()
    randomise(model)
    x = torch.randn(2, 3, 64, 48)
    model.set_fused_attention(True)
    y1 = model(x)
    g1 = torch.autograd.grad(y1.square().sum(), model.backbone.blocks[0].attn.qkv.weight)[0]
    model.set_fused_attention(False)
    assert not model.cfg.fused_attention and not model.backbone.blocks[1].attn.fused
    y2 = model(x)
    g2 = torch.autograd.grad(y2.square().sum(), model.backbone.blocks[0].attn.qkv.weight)[0]
    torch.testing.assert_close(y1, y2, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(g1, g2, rtol=1e-3, atol=1e-5)


def test_intermediate_layers():
    model = ViTPose(small_cfg(depth=3)).eval()
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        feats = model.backbone.get_intermediate_layers(x, [0, -1], norm=True)
        assert feats[0].shape == (1, 32, 4, 3)
        torch.testing.assert_close(feats[1], model.backbone(x))


# --- ViTPose+ experts and per-dataset heads ---------------------------------------------------------
def test_moe_mlp_matches_official_masked_sum():
    """vit_moe.py: expert_x = sum_i experts[i](h) * (indices == i); out = cat([fc2(h), expert_x])."""
    cfg = small_cfg(num_datasets=3, num_experts=3)
    assert cfg.part_features == 8  # embed_dim // 4
    model = ViTPose(cfg).train()
    randomise(model)
    mlp = model.backbone.blocks[0].mlp
    x = torch.randn(4, 7, 32, requires_grad=True)
    ids = torch.tensor([2, 0, 1, 2])
    out = mlp(x, ids)

    h = mlp.act(mlp.fc1(x))
    expert_x = torch.zeros(4, 7, 8)
    for i, e in enumerate(mlp.experts):
        expert_x = expert_x + e(h) * (ids.view(-1, 1, 1) == i)
    ref = torch.cat([mlp.fc2(h), expert_x], dim=-1)
    torch.testing.assert_close(out, ref)
    go = torch.randn_like(out)
    g = torch.autograd.grad(out, [x, mlp.experts[1].weight], go)
    gr = torch.autograd.grad(ref, [x, mlp.experts[1].weight], go)
    for a, b in zip(g, gr):
        torch.testing.assert_close(a, b)


def test_per_dataset_heads_pick_by_dataset_id():
    cfg = small_cfg(num_datasets=3, per_dataset_heads=True, num_experts=3)
    model = ViTPose(cfg).eval()
    randomise(model)
    x = torch.randn(3, 3, 64, 48)
    ids = torch.tensor([1, 2, 0])
    with torch.no_grad():
        out = model(x, ids)
        for i in range(3):
            alone = model(x[i : i + 1], ids[i : i + 1])
            torch.testing.assert_close(out[i : i + 1], alone, rtol=1e-4, atol=1e-5)
            feats = model.backbone(x[i : i + 1], ids[i : i + 1])
            ref = model.head.decoders[int(ids[i])](feats)
            torch.testing.assert_close(out[i : i + 1], ref, rtol=1e-4, atol=1e-5)
        # an int applies to the whole batch; None means dataset 0
        torch.testing.assert_close(model(x, 2), model(x, torch.tensor([2, 2, 2])))
        torch.testing.assert_close(model(x), model(x, 0))
    # the other datasets' heads and experts get no gradient from a dataset-0 batch
    model.train()
    model(x, torch.zeros(3, dtype=torch.long)).sum().backward()
    assert model.head.decoders[1].final_layer.weight.grad.abs().sum() == 0
    assert model.head.decoders[0].final_layer.weight.grad.abs().sum() > 0
    assert model.backbone.blocks[0].mlp.experts[2].weight.grad.abs().sum() == 0


def test_dataset_id_errors():
    model = ViTPose(small_cfg(num_datasets=2, per_dataset_heads=True)).eval()
    x = torch.randn(2, 3, 64, 48)
    with pytest.raises(ValueError, match=r"dataset_id must have shape \[B=2\]"):
        model(x, torch.tensor([0]))
    with pytest.raises(TypeError, match="dataset_id must be an integer"):
        model(x, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"dataset_id values must be in \[0, 2\)"):
        model(x, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="out of range"):
        model(x, 5)
    with pytest.raises(ValueError, match=r"images must have shape \[B, 3, 64, 48\]"):
        model(torch.randn(2, 3, 48, 64))


# --- drop path ---------------------------------------------------------------------------------------
def test_drop_path_statistics():
    from hpefast.models.vit import DropPath

    dp = DropPath(0.25)
    x = torch.ones(20000, 3)
    dp.eval()
    assert torch.equal(dp(x), x)
    dp.train()
    y = dp(x)
    kept = (y[:, 0] != 0).float()
    assert abs(kept.mean().item() - 0.75) < 0.02  # per-sample Bernoulli(0.75)
    assert torch.all((y == 0) | torch.isclose(y, torch.tensor(1 / 0.75)))
    assert torch.all(y == y[:, :1])  # whole sample dropped or kept
    assert abs(y.mean().item() - 1.0) < 0.03  # unbiased


# --- optimisation helpers -------------------------------------------------------------------------
def test_layer_ids_and_param_groups():
    model = ViTPose(small_cfg(depth=3))
    assert model.num_layers == 5
    assert model.layer_id("backbone.pos_embed") == 0
    assert model.layer_id("backbone.patch_embed.proj.weight") == 0
    assert model.layer_id("backbone.blocks.0.attn.qkv.weight") == 1
    assert model.layer_id("backbone.blocks.2.mlp.fc2.bias") == 3
    assert model.layer_id("backbone.last_norm.weight") == 4
    assert model.layer_id("head.decoders.0.final_layer.weight") == 4
    assert "backbone.pos_embed" in model.no_weight_decay()

    groups = model.param_groups(lr=1e-3, weight_decay=0.1, layer_decay=0.75)
    names = [n for g in groups for n in g["param_names"]]
    assert sorted(names) == sorted(n for n, _ in model.named_parameters())  # each exactly once
    by_name = {n: g for g in groups for n in g["param_names"]}
    assert by_name["backbone.pos_embed"]["weight_decay"] == 0.0
    assert by_name["backbone.blocks.1.norm1.weight"]["weight_decay"] == 0.0
    assert by_name["backbone.blocks.1.attn.qkv.bias"]["weight_decay"] == 0.0
    assert by_name["backbone.blocks.1.attn.qkv.weight"]["weight_decay"] == 0.1
    assert by_name["head.decoders.0.final_layer.weight"]["lr"] == pytest.approx(1e-3)
    assert by_name["backbone.blocks.1.attn.qkv.weight"]["lr"] == pytest.approx(1e-3 * 0.75**2)
    assert by_name["backbone.patch_embed.proj.weight"]["lr"] == pytest.approx(1e-3 * 0.75**4)
    opt = torch.optim.AdamW(groups)  # groups are accepted by torch optimizers as they are
    assert len(opt.param_groups) == len(groups)
    with pytest.raises(ValueError, match="layer_decay"):
        model.param_groups(1e-3, 0.1, layer_decay=1.5)


# --- building and configs -------------------------------------------------------------------------
def test_build_model_errors_and_config_roundtrip():
    with pytest.raises(ValueError, match="did you mean 'tiny'"):
        build_model("tinny", num_keypoints=17)
    with pytest.raises(ValueError, match="unknown config key 'drop_path'.*drop_path_rate"):
        build_model("tiny", num_keypoints=17, drop_path=0.1)
    with pytest.raises(ValueError, match="decoder"):
        build_model("tiny", num_keypoints=17, head="deconv")
    with pytest.raises(ValueError, match="divisible by patch_size"):
        build_model("tiny", num_keypoints=17, image_size=(100, 128))
    with pytest.raises(ValueError, match="num_experts"):
        build_model("tiny", num_keypoints=17, num_datasets=3, num_experts=2)
    cfg = small_cfg(num_datasets=2, num_experts=2, per_dataset_heads=True)
    assert ViTPoseConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.replace(patch_size=8).patch_padding == 1
    assert cfg.replace(num_experts=0, per_dataset_heads=False).part_features == 0


def test_build_model_layout_keypoints():
    model = build_model("tiny", layout="union21", image_size=(64, 64))
    assert model.cfg.num_keypoints == 21 and model.cfg.layout == "union21"
    with pytest.raises(ValueError, match="does not match layout 'coco'"):
        build_model("tiny", num_keypoints=21, layout="coco")


# --- export friendliness: no host round trip in forward -----------------------------------------
def test_torch_export_multi_dataset_model():
    cfg = small_cfg(num_datasets=2, per_dataset_heads=True, num_experts=2, fused_attention=False)
    model = ViTPose(cfg).eval()
    x = torch.randn(2, 3, 64, 48)
    ids = torch.tensor([1, 0])
    ep = torch.export.export(model, (x, ids))
    torch.testing.assert_close(ep.module()(x, ids), model(x, ids))


def test_tiny_is_small():
    model = build_model("tiny", num_keypoints=21, layout="union21", image_size=(96, 128))
    n = sum(p.numel() for p in model.parameters())
    assert n < 1.5e6
    gw, gh = model.cfg.patch_grid
    assert (gw, gh) == (12, 16) and math.prod(model.cfg.heatmap_size) == 24 * 32
