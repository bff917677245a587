"""Checkpoints: hpefast's own format, and converters from official ViTPose / ViTPose+ / union / MAE
state dicts built here with the official key names and shapes."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from _vitpose_official import official_head_forward, official_vit_forward, randomise

import hpefast
from hpefast.models import ViTPose, ViTPoseConfig, build_model, convert
from hpefast.models import checkpoint as ckpt


def tiny(layout="coco", k=17, **kw) -> ViTPose:
    cfg = ViTPoseConfig(
        layout=layout,
        num_keypoints=k,
        image_size=(32, 64),
        variant="tiny",
        embed_dim=32,
        depth=2,
        num_heads=4,
        patch_size=8,
        drop_path_rate=0.0,
        deconv_channels=8,
        **kw,
    )
    model = ViTPose(cfg).eval()
    randomise(model)
    return model


# --- own format --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ckpt_dir", "model.safetensors"])
def test_save_load_roundtrip(tmp_path, name):
    model = tiny(num_datasets=2, num_experts=2, per_dataset_heads=True)
    path = tmp_path / name
    weights = ckpt.save_model(model, path, metadata={"step": 12, "coco_AP": 0.5})
    assert weights.is_file()
    _, config = ckpt.checkpoint_paths(path)
    doc = json.loads(config.read_text())
    assert doc["format"] == "hpefast.vitpose" and doc["metadata"]["step"] == 12
    assert not [p for p in weights.parent.iterdir() if p.name.endswith(".tmp")]  # atomic: no leftovers

    loaded = hpefast.load_model(str(path))
    assert loaded.cfg == model.cfg and not loaded.training
    x = torch.randn(2, 3, 64, 32)
    ids = torch.tensor([1, 0])
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, ids), model(x, ids), rtol=0, atol=0)
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    cfg, meta = ckpt.read_checkpoint_config(path)
    assert cfg == model.cfg and meta["coco_AP"] == 0.5


def test_safetensors_alone_is_enough_and_overwrite(tmp_path):
    model = tiny()
    path = tmp_path / "m.safetensors"
    ckpt.save_model(model, path)
    ckpt.save_model(model, path)  # overwriting an existing checkpoint works
    path.with_suffix(".json").unlink()
    loaded = ckpt.load_model(path)
    assert loaded.cfg == model.cfg


def test_wrapped_models_are_unwrapped(tmp_path):
    class Wrapper(torch.nn.Module):  # stands in for DistributedDataParallel
        def __init__(self, m):
            super().__init__()
            self.module = m

    model = tiny()
    ckpt.save_model(Wrapper(model), tmp_path / "w")
    assert ckpt.load_model(tmp_path / "w").cfg == model.cfg
    with pytest.raises(TypeError, match="must be a hpefast ViTPose"):
        ckpt.save_model(torch.nn.Linear(2, 2), tmp_path / "x")


def test_layout_mismatch_is_a_clear_error(tmp_path):
    union = tiny(layout="union21", k=21)
    ckpt.save_model(union, tmp_path / "u")
    coco = tiny(layout="coco", k=17)
    with pytest.raises(
        ValueError, match=r"layout 'union21' \(21 keypoints\).*layout 'coco' \(17 keypoints\)"
    ):
        ckpt.load_weights(coco, tmp_path / "u")
    with pytest.raises(ValueError, match="trained for layout 'union21'"):
        ckpt.load_model(tmp_path / "u", layout="coco")
    # same layout, other architecture: named field
    other = ViTPose(union.cfg.replace(depth=3))
    with pytest.raises(ValueError, match="depth: model 3 vs checkpoint 2"):
        ckpt.load_weights(other, tmp_path / "u")
    fresh = tiny(layout="union21", k=21)
    randomise(fresh)
    ckpt.load_weights(fresh, tmp_path / "u")
    assert torch.equal(fresh.head.decoders[0].final_layer.weight, union.head.decoders[0].final_layer.weight)


def test_bad_checkpoint_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no hpefast checkpoint"):
        ckpt.load_model(tmp_path / "missing")
    model = tiny()
    ckpt.save_model(model, tmp_path / "c")
    cfg_file = tmp_path / "c" / "config.json"
    doc = json.loads(cfg_file.read_text())
    doc["config"]["deconv_channel"] = 8  # typo of deconv_channels
    cfg_file.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="unknown config key 'deconv_channel'.*deconv_channels"):
        ckpt.load_model(tmp_path / "c")
    cfg_file.write_text("{not json")
    with pytest.raises(ValueError, match="not valid json"):
        ckpt.load_model(tmp_path / "c")
    cfg_file.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="not an hpefast model config"):
        ckpt.load_model(tmp_path / "c")


# --- official ViTPose state dicts -----------------------------------------------------------------
def official_state_dict(
    c=32, depth=2, k=17, deconv=8, grid=(16, 12), experts=0, part=0, assoc_k=(), simple=False, seed=0
) -> dict[str, torch.Tensor]:
    """A state dict with the key names and shapes of ViTPose's mmcv checkpoints (random values)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=0.1):
        return torch.randn(*shape, generator=g) * scale

    sd: dict[str, torch.Tensor] = {
        "backbone.pos_embed": r(1, grid[0] * grid[1] + 1, c),
        "backbone.patch_embed.proj.weight": r(c, 3, 16, 16, scale=0.02),
        "backbone.patch_embed.proj.bias": r(c),
    }
    for i in range(depth):
        p = f"backbone.blocks.{i}."
        sd |= {
            p + "norm1.weight": 1 + r(c),
            p + "norm1.bias": r(c),
            p + "attn.qkv.weight": r(3 * c, c),
            p + "attn.qkv.bias": r(3 * c),
            p + "attn.proj.weight": r(c, c),
            p + "attn.proj.bias": r(c),
            p + "norm2.weight": 1 + r(c),
            p + "norm2.bias": r(c),
            p + "mlp.fc1.weight": r(4 * c, c),
            p + "mlp.fc1.bias": r(4 * c),
            p + "mlp.fc2.weight": r(c - part, 4 * c),
            p + "mlp.fc2.bias": r(c - part),
        }
        for e in range(experts):
            sd[p + f"mlp.experts.{e}.weight"] = r(part, 4 * c)
            sd[p + f"mlp.experts.{e}.bias"] = r(part)
    sd |= {"backbone.last_norm.weight": 1 + r(c), "backbone.last_norm.bias": r(c)}

    def head(prefix, kk):
        out = {}
        if simple:
            out[prefix + "final_layer.weight"] = r(kk, c, 3, 3)
        else:
            cin = c
            for i in (0, 3):
                out[f"{prefix}deconv_layers.{i}.weight"] = r(cin, deconv, 4, 4)
                bn = f"{prefix}deconv_layers.{i + 1}."
                out[bn + "weight"] = 1 + r(deconv)
                out[bn + "bias"] = r(deconv)
                out[bn + "running_mean"] = r(deconv)
                out[bn + "running_var"] = 0.5 + r(deconv).abs()
                out[bn + "num_batches_tracked"] = torch.tensor(1000, dtype=torch.int64)
                cin = deconv
            out[prefix + "final_layer.weight"] = r(kk, deconv, 1, 1)
        out[prefix + "final_layer.bias"] = r(kk)
        return out

    sd |= head("keypoint_head.", k)
    for j, kk in enumerate(assoc_k):
        sd |= head(f"associate_keypoint_heads.{j}.", kk)
    return sd


def _official_forward(sd, x, heads=4, head_prefix="keypoint_head."):
    bb = {k[len("backbone.") :]: v for k, v in sd.items() if k.startswith("backbone.")}
    return official_head_forward(sd, official_vit_forward(bb, x, heads), head_prefix)


@pytest.mark.parametrize("simple", [False, True])
def test_official_vitpose_checkpoint(tmp_path, simple):
    sd = official_state_dict(simple=simple)
    path = tmp_path / "vitpose.pth"
    torch.save({"meta": {"epoch": 210}, "state_dict": sd}, path)
    model = ckpt.load_model(path, num_heads=4)  # .pth goes through the converter
    cfg = model.cfg
    assert (cfg.layout, cfg.num_keypoints, cfg.image_size, cfg.patch_padding) == ("coco", 17, (192, 256), 2)
    assert cfg.decoder == ("simple" if simple else "classic")
    x = torch.randn(1, 3, 256, 192)
    with torch.no_grad():
        torch.testing.assert_close(model(x), _official_forward(sd, x), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_official_vitpose_b_full_shapes():
    """ViTPose-B with the real shapes (86M backbone parameters): every key maps and loads."""
    sd = official_state_dict(c=768, depth=12, deconv=256)
    model = convert.load_official({"state_dict": sd})
    assert model.cfg.variant == "b" and model.cfg.num_heads == 12
    assert torch.equal(
        model.head.decoders[0].deconv_layers[4].running_var, sd["keypoint_head.deconv_layers.4.running_var"]
    )
    assert torch.equal(model.backbone.blocks[11].mlp.fc2.weight, sd["backbone.blocks.11.mlp.fc2.weight"])


@pytest.mark.parametrize("k,layout", [(21, "union21"), (23, "union23")])
def test_union_checkpoints(k, layout):
    sd = {"state_dict": official_state_dict(k=k)}
    model = convert.load_official(sd, num_heads=4)
    assert model.cfg.layout == layout and model.cfg.num_keypoints == k
    with pytest.raises(ValueError, match=f"{k} keypoints but layout 'coco' has 17"):
        convert.load_official(sd, layout="coco", num_heads=4)


def test_module_prefix_and_bad_dicts():
    sd = {"module." + k: v for k, v in official_state_dict().items()}
    model = convert.load_official({"state_dict": sd}, num_heads=4)
    assert model.cfg.num_keypoints == 17
    with pytest.raises(ValueError, match="not a ViTPose checkpoint"):
        convert.load_official({"state_dict": {"foo.weight": torch.zeros(2)}}, num_heads=4)
    with pytest.raises(ValueError, match="cannot tell the input size"):
        convert.load_official({"state_dict": official_state_dict(grid=(10, 10))}, num_heads=4)
    m = convert.load_official(
        {"state_dict": official_state_dict(grid=(10, 10))}, image_size=(160, 160), num_heads=4
    )
    assert m.cfg.patch_grid == (10, 10)


# --- ViTPose+ --------------------------------------------------------------------------------------
def official_moe_forward(sd, x, dataset, heads=4, part=8):
    """vit_moe.py's forward for dataset index ``dataset`` with its head (associate head dataset - 1)."""
    b = x.shape[0]
    plain = {}
    for k, v in sd.items():
        if ".mlp.experts." in k:
            continue
        plain[k] = v
    # run the MoE MLP exactly as the official masked sum, block by block
    bb = {k[len("backbone.") :]: v for k, v in plain.items() if k.startswith("backbone.")}
    w = bb["patch_embed.proj.weight"]
    h = F.conv2d(x, w, bb["patch_embed.proj.bias"], stride=16, padding=2)
    _, c, hp, wp = h.shape
    t = h.flatten(2).transpose(1, 2) + bb["pos_embed"][:, 1:] + bb["pos_embed"][:, :1]
    indices = torch.full((b,), dataset).view(-1, 1, 1)
    i = 0
    while f"blocks.{i}.norm1.weight" in bb:
        p = f"blocks.{i}."
        y = F.layer_norm(t, (c,), bb[p + "norm1.weight"], bb[p + "norm1.bias"], eps=1e-6)
        qkv = F.linear(y, bb[p + "attn.qkv.weight"], bb[p + "attn.qkv.bias"]).reshape(
            b, -1, 3, heads, c // heads
        )
        q, kk, v = qkv.permute(2, 0, 3, 1, 4)
        a = ((q * (c // heads) ** -0.5) @ kk.transpose(-2, -1)).softmax(-1)
        t = t + F.linear(
            (a @ v).transpose(1, 2).reshape(b, -1, c), bb[p + "attn.proj.weight"], bb[p + "attn.proj.bias"]
        )
        y = F.layer_norm(t, (c,), bb[p + "norm2.weight"], bb[p + "norm2.bias"], eps=1e-6)
        y = F.gelu(F.linear(y, bb[p + "mlp.fc1.weight"], bb[p + "mlp.fc1.bias"]))
        shared = F.linear(y, bb[p + "mlp.fc2.weight"], bb[p + "mlp.fc2.bias"])
        expert_x = torch.zeros(b, y.shape[1], part)
        e = 0
        while f"backbone.{p}mlp.experts.{e}.weight" in sd:
            we, be = sd[f"backbone.{p}mlp.experts.{e}.weight"], sd[f"backbone.{p}mlp.experts.{e}.bias"]
            expert_x = expert_x + F.linear(y, we, be) * (indices == e)
            e += 1
        t = t + torch.cat([shared, expert_x], dim=-1)
        i += 1
    t = F.layer_norm(t, (c,), bb["last_norm.weight"], bb["last_norm.bias"], eps=1e-6)
    feats = t.permute(0, 2, 1).reshape(b, -1, hp, wp)
    prefix = "keypoint_head." if dataset == 0 else f"associate_keypoint_heads.{dataset - 1}."
    return official_head_forward(sd, feats, prefix)


@pytest.mark.parametrize("expert,layout,k", [("coco", "coco", 17), ("mpii", "mpii", 16), (1, "aic", 14)])
def test_vitpose_plus_expert_selection(expert, layout, k):
    sd = official_state_dict(experts=6, part=8, assoc_k=(14, 16, 17, 17, 20), seed=3)
    with pytest.raises(ValueError, match="ViTPose\\+ checkpoint: pass expert="):
        convert.load_official({"state_dict": sd}, num_heads=4)
    model = convert.load_official({"state_dict": sd}, expert=expert, num_heads=4)
    assert model.cfg.layout == layout and model.cfg.num_keypoints == k and model.cfg.num_experts == 0
    idx = convert.VITPOSE_PLUS_DATASETS.index(expert) if isinstance(expert, str) else expert
    x = torch.randn(1, 3, 256, 192)
    with torch.no_grad():
        ref = official_moe_forward(sd, x, idx)
        torch.testing.assert_close(model(x), ref, rtol=1e-4, atol=1e-5)
    # the merge itself, as tools/model_split.py: fc2 rows followed by expert rows
    merged = convert.select_vitpose_plus_expert(sd, idx)
    w = merged["backbone.blocks.1.mlp.fc2.weight"]
    assert torch.equal(w[:24], sd["backbone.blocks.1.mlp.fc2.weight"])
    assert torch.equal(w[24:], sd[f"backbone.blocks.1.mlp.experts.{idx}.weight"])


def test_vitpose_plus_moe_model_matches_official_moe_forward():
    """hpefast's own MoE model with the official weights (heads of equal K) reproduces vit_moe.py."""
    sd = official_state_dict(experts=3, part=8, assoc_k=(17, 17), seed=4)
    cfg = convert.infer_config(convert.convert_official_state_dict(sd, expert=0), num_heads=4)
    model = ViTPose(cfg.replace(num_datasets=3, num_experts=3, per_dataset_heads=True)).eval()
    mapped = {}
    for k, v in sd.items():
        if k.startswith("backbone."):
            mapped[k] = v
        elif k.startswith("keypoint_head."):
            mapped["head.decoders.0." + k[len("keypoint_head.") :]] = v
        else:
            j = int(k.split(".")[1])
            mapped[f"head.decoders.{j + 1}." + k.split(".", 2)[2]] = v
    model.load_state_dict(mapped)
    x = torch.randn(3, 3, 256, 192)
    ids = torch.tensor([2, 0, 1])
    with torch.no_grad():
        out = model(x, ids)
        for i in range(3):
            ref = official_moe_forward(sd, x[i : i + 1], int(ids[i]))
            torch.testing.assert_close(out[i : i + 1], ref, rtol=1e-4, atol=1e-5)


# --- MAE ---------------------------------------------------------------------------------------------
def mae_checkpoint(c=32, depth=2, seed=5):
    g = torch.Generator().manual_seed(seed)
    sd = official_state_dict(c=c, depth=depth, seed=seed)
    model = {k[len("backbone.") :]: v for k, v in sd.items() if k.startswith("backbone.blocks.")}
    model |= {
        "cls_token": torch.randn(1, 1, c, generator=g),
        "pos_embed": torch.randn(1, 14 * 14 + 1, c, generator=g),
        "patch_embed.proj.weight": torch.randn(c, 3, 16, 16, generator=g),
        "patch_embed.proj.bias": torch.randn(c, generator=g),
        "norm.weight": torch.randn(c, generator=g),
        "norm.bias": torch.randn(c, generator=g),
        "mask_token": torch.randn(1, 1, 16, generator=g),
        "decoder_embed.weight": torch.randn(16, c, generator=g),
        "decoder_pos_embed": torch.randn(1, 197, 16, generator=g),
    }
    return {"model": model}


def test_mae_init_resizes_position_embedding():
    mae = mae_checkpoint()
    model = build_model("tiny", num_keypoints=17, embed_dim=32, depth=2, num_heads=4, patch_size=16)
    report = convert.init_backbone_from_mae(model, mae)
    pe_src = mae["model"]["pos_embed"]
    pe = model.backbone.pos_embed.detach()
    # ViTPose's mmcv_custom/checkpoint.py: reshape to the 14x14 grid, bicubic to (H/16, W/16)
    tokens = pe_src[:, 1:].reshape(-1, 14, 14, 32).permute(0, 3, 1, 2)
    tokens = F.interpolate(tokens, size=(16, 12), mode="bicubic", align_corners=False)
    ref = torch.cat([pe_src[:, :1], tokens.permute(0, 2, 3, 1).flatten(1, 2)], dim=1)
    torch.testing.assert_close(pe, ref)
    assert torch.equal(pe[:, 0], pe_src[:, 0])  # class slot kept (it is folded into every token)
    assert torch.equal(model.backbone.blocks[1].attn.qkv.weight, mae["model"]["blocks.1.attn.qkv.weight"])
    assert "backbone.pos_embed" not in report["missing"] and "pos_embed" in report["loaded"]
    assert "last_norm.weight" in report["missing"]  # as ViTPose: MAE's norm is not used
    assert {"cls_token", "mask_token", "norm.weight", "decoder_embed.weight"} <= set(report["unexpected"])


def test_mae_init_pads_small_patch_and_splits_experts():
    mae = mae_checkpoint()
    mae["model"]["patch_embed.proj.weight"] = torch.randn(32, 3, 14, 14)
    model = build_model(
        "tiny",
        num_keypoints=17,
        embed_dim=32,
        depth=2,
        num_heads=4,
        patch_size=16,
        num_datasets=2,
        num_experts=2,
    )
    convert.init_backbone_from_mae(model, mae)
    w = model.backbone.patch_embed.proj.weight
    assert torch.equal(w[:, :, 1:15, 1:15], mae["model"]["patch_embed.proj.weight"])
    assert w[:, :, 0].abs().sum() == 0 and w[:, :, :, 15].abs().sum() == 0
    fc2 = mae["model"]["blocks.0.mlp.fc2.weight"]
    mlp = model.backbone.blocks[0].mlp
    assert torch.equal(mlp.fc2.weight, fc2[:-8])
    assert torch.equal(mlp.experts[1].weight, fc2[-8:]) and torch.equal(mlp.experts[0].weight, fc2[-8:])
    wide = build_model("tiny", num_keypoints=17, embed_dim=64, depth=2, num_heads=4, patch_size=16)
    with pytest.raises(ValueError, match="does not fit the backbone"):
        convert.init_backbone_from_mae(wide, mae)


# --- load_pretrained: foreign checkpoints into a configured model --------------------------------------
def _model_like(sd, **changes):
    cfg = convert.infer_config(convert.convert_official_state_dict(sd, expert=0), num_heads=4)
    return ViTPose(cfg.replace(**changes) if changes else cfg).eval()


def test_load_pretrained_official_into_model(tmp_path):
    sd = official_state_dict(seed=7)
    model = _model_like(sd)
    path = tmp_path / "vitpose.pth"
    torch.save({"state_dict": sd}, path)
    report = convert.load_pretrained(model, path)
    assert not report["missing"] and not report["unexpected"]
    x = torch.randn(1, 3, 256, 192)
    with torch.no_grad():
        torch.testing.assert_close(model(x), _official_forward(sd, x), rtol=1e-4, atol=1e-5)


def test_load_pretrained_other_layout(tmp_path):
    sd = official_state_dict(k=17, seed=8)
    union = _model_like(sd, layout="union21", num_keypoints=21)
    head_before = union.head.decoders[0].final_layer.weight.clone()
    with pytest.raises(ValueError, match="17 keypoints but the model has 21.*another layout"):
        convert.load_pretrained(union, {"state_dict": sd})
    report = convert.load_pretrained(union, {"state_dict": sd}, backbone_only=True)
    assert torch.equal(union.head.decoders[0].final_layer.weight, head_before)
    assert torch.equal(union.backbone.blocks[0].attn.qkv.weight, sd["backbone.blocks.0.attn.qkv.weight"])
    assert "head.decoders.0.final_layer.weight" in report["missing"]


def test_load_pretrained_multi_dataset_and_experts():
    sd = official_state_dict(seed=9)
    model = _model_like(sd, num_datasets=3, per_dataset_heads=True, num_experts=3)
    convert.load_pretrained(model, {"state_dict": sd})
    for d in range(3):  # every dataset head starts from the checkpoint's head
        assert torch.equal(model.head.decoders[d].final_layer.weight, sd["keypoint_head.final_layer.weight"])
    fc2 = sd["backbone.blocks.1.mlp.fc2.weight"]  # plain fc2 seeds the experts, as ViTPose+ does from MAE
    assert torch.equal(model.backbone.blocks[1].mlp.fc2.weight, fc2[:-8])
    assert torch.equal(model.backbone.blocks[1].mlp.experts[2].weight, fc2[-8:])

    plus = official_state_dict(experts=3, part=8, assoc_k=(17, 14), seed=10)
    moe = _model_like(plus, num_datasets=3, per_dataset_heads=True, num_experts=3)
    report = convert.load_pretrained(moe, {"state_dict": plus})
    assert torch.equal(
        moe.backbone.blocks[0].mlp.experts[1].weight, plus["backbone.blocks.0.mlp.experts.1.weight"]
    )
    assert torch.equal(
        moe.head.decoders[1].final_layer.weight, plus["associate_keypoint_heads.0.final_layer.weight"]
    )
    assert "head 2 (14 keypoints)" in report["unexpected"]  # the AIC head does not fit a 17-joint layout
    x = torch.randn(1, 3, 256, 192)
    with torch.no_grad():
        ref = official_moe_forward(plus, x, 1)
        torch.testing.assert_close(moe(x, 1), ref, rtol=1e-4, atol=1e-5)


def test_load_pretrained_resizes_position_embedding():
    sd = official_state_dict(seed=11)
    model = _model_like(sd, image_size=(288, 384))
    convert.load_pretrained(model, {"state_dict": sd})
    from hpefast.models.vit import resize_pos_embed

    ref = resize_pos_embed(sd["backbone.pos_embed"], (24, 18), (16, 12))
    torch.testing.assert_close(model.backbone.pos_embed.detach(), ref)


def test_load_pretrained_backbone_only_checkpoint_is_mae():
    model = build_model("tiny", num_keypoints=17, embed_dim=32, depth=2, num_heads=4, patch_size=16)
    report = convert.load_pretrained(model, mae_checkpoint())
    assert "pos_embed" in report["loaded"] and "cls_token" in report["unexpected"]
