"""ONNX export (checker, ONNX Runtime == torch, fp16, fixed batch, metadata, CLI) and the TensorRT engine
builder (its TensorRT 10 / 11 logic with a stand-in ``tensorrt`` module; a real engine where TensorRT and
a GPU exist)."""

from __future__ import annotations

import enum
import json
import types

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from deploy_helpers import INPUT_SIZE, lively_model, well_posed

from hpefast.export import ExportInfo, batch_profile, build_engine, to_onnx, verify_onnx
from hpefast.export.metadata import engine_info_path
from hpefast.models import build_model
from hpefast.ops import decode_heatmaps


def _session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _images(b: int, seed: int = 1) -> torch.Tensor:
    w, h = INPUT_SIZE
    return torch.randn(b, 3, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return lively_model()


@pytest.fixture(scope="module")
def onnx_fp32(model, tmp_path_factory):
    return to_onnx(model, tmp_path_factory.mktemp("onnx") / "tiny.onnx")


# --------------------------------------------------------------------------------------------------
# ONNX


def test_onnx_passes_checker_and_has_dynamic_batch(onnx_fp32, model):
    proto = onnx.load(str(onnx_fp32))
    onnx.checker.check_model(proto, full_check=True)
    assert {o.domain: o.version for o in proto.opset_import}[""] == 17
    (inp,), (out,) = proto.graph.input, proto.graph.output
    assert inp.name == "images" and out.name == "heatmaps"
    in_dims = inp.type.tensor_type.shape.dim
    assert in_dims[0].dim_param and not in_dims[0].HasField("dim_value")  # symbolic batch
    assert [d.dim_value for d in in_dims[1:]] == [3, 128, 96]
    assert [d.dim_value for d in out.type.tensor_type.shape.dim[1:]] == [17, 32, 24]
    # Weights embedded: no external data references.
    assert all(not init.external_data for init in proto.graph.initializer)
    # Plain attention path: explicit MatMul + Softmax, no fused Attention op.
    ops = {n.op_type for n in proto.graph.node}
    assert {"MatMul", "Softmax"} <= ops and "Attention" not in ops


@pytest.mark.parametrize("batch", [1, 3])
def test_onnxruntime_equals_torch_fp32(onnx_fp32, model, batch):
    x = _images(batch)
    with torch.no_grad():
        ref = model(x)
    assert ref.abs().max() > 0.3  # heatmaps of a realistic magnitude, so 1e-4 means something
    (out,) = _session(onnx_fp32).run(None, {"images": x.numpy()})
    assert out.shape == tuple(ref.shape) and out.dtype == np.float32
    np.testing.assert_allclose(out, ref.numpy(), rtol=0, atol=1e-4)


def test_onnxruntime_decoded_keypoints_agree(onnx_fp32, model):
    x = _images(3, seed=2)
    with torch.no_grad():
        ref = model(x)
    (out,) = _session(onnx_fp32).run(None, {"images": x.numpy()})
    out = torch.from_numpy(out)
    kp_t, s_t = decode_heatmaps(ref.contiguous(), INPUT_SIZE, method="dark_udp")
    kp_o, s_o = decode_heatmaps(out, INPUT_SIZE, method="dark_udp")
    ok = torch.from_numpy(well_posed(ref))
    assert ok.float().mean() > 0.1
    assert (kp_t - kp_o).abs().amax(-1)[ok].max() <= 0.05
    assert torch.equal(ref.flatten(2).argmax(-1), out.flatten(2).argmax(-1))
    assert (s_t - s_o).abs().max() <= 1e-4
    for method in ("shift", "argmax"):  # no Newton step: every joint agrees
        a, _ = decode_heatmaps(ref.contiguous(), INPUT_SIZE, method=method)
        b, _ = decode_heatmaps(out, INPUT_SIZE, method=method)
        assert (a - b).abs().max() <= 1e-4


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(model, crops [N, 3, H, W], GT keypoints [N, K, 2] crop pixels) of a tiny ViTPose whose head was
    fitted to Gaussian targets of synthetic people (all 17 joints labelled)."""
    from hpefast.data import CocoKeypointDataset, collate
    from hpefast.data.synthetic import write_dataset
    from hpefast.ops import encode_heatmaps

    root = tmp_path_factory.mktemp("synthetic")
    ann = write_dataset(
        root, "coco", num_images=2, seed=0, small_prob=0, occlusion_prob=0, truncation_prob=0, crowd_prob=0
    )
    ds = CocoKeypointDataset(ann, ann.parent / "images", input_size=INPUT_SIZE)
    batch = collate([item for item in (ds[i] for i in range(len(ds))) if item["labelled"].all()])
    assert len(batch["image"]) >= 3
    torch.manual_seed(0)
    model = build_model("tiny", image_size=INPUT_SIZE).eval()  # eval: BatchNorm as exported (affine)
    target, _ = encode_heatmaps(batch["keypoints"], batch["labelled"], INPUT_SIZE, model.cfg.heatmap_size)
    with torch.no_grad():
        features = model.backbone(batch["image"], None)
    opt = torch.optim.Adam(model.head.parameters(), lr=3e-3)
    # one thread: 400 small steps on a busy machine otherwise spend most of their time in OpenMP waits
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(400):
            loss = ((model.head(features, None) - target) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval(), batch["image"], batch["keypoints"]


def test_onnxruntime_keypoints_agree_on_all_joints_of_a_trained_model(trained, tmp_path):
    """The 0.05 px requirement on EVERY joint, for a model with trained (peaked) heatmaps.

    Random weights give ridges and plateaus on which DARK's Newton step amplifies float noise (hence the
    well-posedness mask of the tests above), so this uses a trained model. Training the whole tiny ViTPose
    until its maps are peaked takes minutes on a 2-core CPU, so the backbone keeps its random weights and
    only the head (deconv + BatchNorm affine + final conv, all exported) is fitted, 400 Adam steps on the
    cached backbone features of synthetic crops (~2 s): its maps are Gaussian peaks near the labelled
    joints, which the test checks first, then exports the whole network (fp32, dynamic batch) and compares
    ONNX Runtime with torch at batch 1 and 3 on those crops: heatmaps to 1e-4, DARK-UDP keypoints to 0.05 px
    on all joints (measured ~1e-5 px).
    """
    model, crops, gt = trained
    with torch.no_grad():
        ref = model(crops).contiguous()
    kp_ref, _ = decode_heatmaps(ref, INPUT_SIZE, method="dark_udp")
    # trained: a clear peak in every map, at the labelled joint (UDP stride (96-1)/(24-1) ~ 4.1 px)
    assert ref.amax((2, 3)).min() > 0.6
    err = (kp_ref - gt).norm(dim=-1)
    assert err.mean() < 1.0 and err.max() < 4.0
    path = to_onnx(model, tmp_path / "trained.onnx")
    sess = _session(path)
    for batch in (1, 3):
        for start in range(0, len(crops) - batch + 1, batch):
            x = crops[start : start + batch]
            (out,) = sess.run(None, {"images": x.numpy()})
            np.testing.assert_allclose(out, ref[start : start + batch].numpy(), rtol=0, atol=1e-4)
            kp, _ = decode_heatmaps(torch.from_numpy(out), INPUT_SIZE, method="dark_udp")
            assert (kp - kp_ref[start : start + batch]).abs().max() <= 0.05
    # verify_onnx (what `hpefast demo` records) reports the same, and sees a wrong model
    v = verify_onnx(model, path, crops)
    assert v["batch"] == len(crops) and v["max_abs_diff"] <= 1e-4 and v["max_kpt_diff_px"] <= 0.05
    wrong = verify_onnx(lively_model(), path, crops)
    assert wrong["max_abs_diff"] > 0.1 and wrong["max_kpt_diff_px"] > 1.0
    with pytest.raises(ValueError, match=r"images must be .*\[B, 3, 128, 96\]"):
        verify_onnx(model, path, crops[:, :, :64])


def test_export_leaves_the_model_unchanged(tmp_path):
    m = lively_model(seed=3)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    assert m.cfg.fused_attention
    to_onnx(m, tmp_path / "m.onnx", batch=1)
    assert m.cfg.fused_attention and all(b.fused for b in (blk.attn for blk in m.backbone.blocks))
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    assert all(p.dtype == torch.float32 for p in m.parameters())


def test_onnx_metadata_round_trip(onnx_fp32, model):
    proto = onnx.load(str(onnx_fp32))
    info = ExportInfo.from_metadata({p.key: p.value for p in proto.metadata_props})
    assert info.layout == "coco" and info.num_keypoints == 17
    assert info.image_size == INPUT_SIZE and info.heatmap_size == (24, 32)
    assert info.precision == "fp32" and info.batch is None and info.dataset_id is None
    assert info.config == model.cfg.to_dict()


def test_onnx_fixed_batch(tmp_path, model):
    path = to_onnx(model, tmp_path / "b2.onnx", batch=2)
    proto = onnx.load(str(path))
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 2
    sess = _session(path)
    x = _images(2, seed=4)
    with torch.no_grad():
        ref = model(x).numpy()
    np.testing.assert_allclose(sess.run(None, {"images": x.numpy()})[0], ref, rtol=0, atol=1e-4)
    with pytest.raises(Exception, match="(?i)dimension|shape"):
        sess.run(None, {"images": _images(3).numpy()})


def test_onnx_fp16_runs_in_onnxruntime(tmp_path, model, onnx_fp32):
    path = to_onnx(model, tmp_path / "fp16.onnx", fp16=True)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    # Half-precision weights, float32 interface.
    float_inits = [
        i
        for i in proto.graph.initializer
        if i.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)
    ]
    big = [i for i in float_inits if np.prod(i.dims) >= 1024]
    assert big and all(i.data_type == onnx.TensorProto.FLOAT16 for i in big)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert path.stat().st_size < 0.6 * onnx_fp32.stat().st_size  # about half of fp32
    x = _images(3, seed=5)
    with torch.no_grad():
        ref = model(x)
    (out,) = _session(path).run(None, {"images": x.numpy()})
    scale = float(ref.abs().max())
    assert np.abs(out - ref.numpy()).max() <= 2e-2 * scale  # fp16: ~3 decimal digits through 4 blocks
    # fp16 moves values by ~1e-3: compare the joints whose peak is clear (top two cells differ by more).
    kp_t, _ = decode_heatmaps(ref.contiguous(), INPUT_SIZE, method="shift")
    kp_o, _ = decode_heatmaps(torch.from_numpy(out), INPUT_SIZE, method="shift")
    top2 = ref.flatten(2).topk(2, dim=-1).values
    clear = (top2[..., 0] - top2[..., 1]) > 4e-2 * scale
    assert clear.float().mean() > 0.2
    assert (kp_t - kp_o).abs().amax(-1)[clear].max() <= 1e-3


def test_onnx_multi_dataset_head_is_baked_in(tmp_path):
    m = lively_model(seed=6, num_datasets=2, per_dataset_heads=True)
    x = _images(2, seed=7)
    with torch.no_grad():
        ref1 = m(x, 1).numpy()
        ref0 = m(x, 0).numpy()
    assert np.abs(ref1 - ref0).max() > 1e-2
    path = to_onnx(m, tmp_path / "head1.onnx", dataset_id=1)
    (out,) = _session(path).run(None, {"images": x.numpy()})
    np.testing.assert_allclose(out, ref1, rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match="dataset_id"):
        to_onnx(m, tmp_path / "bad.onnx", dataset_id=2)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(opset=11), ValueError, "opset"),
        (dict(opset="17"), TypeError, "opset"),
        (dict(batch=0), ValueError, "batch"),
        (dict(batch="many"), ValueError, "batch"),
        (dict(dataset_id=1.5), TypeError, "dataset_id"),
    ],
)
def test_to_onnx_bad_arguments(tmp_path, model, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        to_onnx(model, tmp_path / "x.onnx", **kwargs)
    assert not (tmp_path / "x.onnx").exists()


def test_to_onnx_refuses_a_plain_module(tmp_path):
    with pytest.raises(TypeError, match="hpefast model"):
        to_onnx(torch.nn.Conv2d(3, 17, 1), tmp_path / "x.onnx")


# --------------------------------------------------------------------------------------------------
# CLI


@pytest.fixture(scope="module")
def checkpoint(model, tmp_path_factory):
    from hpefast.models import save_model

    return save_model(model, tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def test_cli_export_onnx(checkpoint, model, tmp_path, capsys):
    from hpefast.cli import main

    out = tmp_path / "cli.onnx"
    assert (
        main(
            [
                "export",
                str(checkpoint),
                "--format",
                "onnx",
                "--output",
                str(out),
                "--batch",
                "3",
                "--opset",
                "18",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "ONNX Runtime vs torch" in printed
    proto = onnx.load(str(out))
    assert {o.domain: o.version for o in proto.opset_import}[""] == 18
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 3
    x = _images(3, seed=8)
    with torch.no_grad():
        ref = model(x).numpy()
    np.testing.assert_allclose(_session(out).run(None, {"images": x.numpy()})[0], ref, rtol=0, atol=1e-4)


def test_cli_export_errors(checkpoint, tmp_path, capsys):
    from hpefast.cli import main

    assert main(["export", str(tmp_path / "missing"), "--output", str(tmp_path / "a.onnx")]) == 2
    assert "missing" in capsys.readouterr().err
    assert main(["export", str(checkpoint), "--output", str(tmp_path / "a.onnx"), "--batch", "-1"]) == 2
    assert "batch" in capsys.readouterr().err
    assert (
        main(["export", str(checkpoint), "--format", "tensorrt", "--output", str(tmp_path / "a.onnx")]) == 2
    )
    assert "suffix" in capsys.readouterr().err
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        assert (
            main(["export", str(checkpoint), "--format", "tensorrt", "--output", str(tmp_path / "a.engine")])
            == 2
        )
        assert "TensorRT is not installed" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# TensorRT builder logic, with a stand-in tensorrt module


def test_batch_profile():
    assert batch_profile(None) == batch_profile(None, 32, 8)
    p = batch_profile(None, max_batch=64, opt_batch=16)
    assert (p.min, p.opt, p.max) == (1, 16, 64)
    assert p.shapes((3, 256, 192)) == ((1, 3, 256, 192), (16, 3, 256, 192), (64, 3, 256, 192))
    assert batch_profile(None, max_batch=4) == batch_profile(None, 4, 4)  # opt clipped to max
    assert (batch_profile(5).min, batch_profile(5).opt, batch_profile(5).max) == (5, 5, 5)
    with pytest.raises(ValueError, match="opt_batch"):
        batch_profile(None, max_batch=4, opt_batch=8)
    with pytest.raises(ValueError, match="conflicts"):
        batch_profile(5, opt_batch=3)
    with pytest.raises(ValueError, match="max_batch"):
        batch_profile(None, max_batch=0)


def fake_tensorrt(version: str, parse_ok: bool = True, build_ok: bool = True) -> types.ModuleType:
    """A stand-in for the parts of the tensorrt module the builder uses; records every call."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.calls = []
    major = int(version.split(".")[0])

    class Logger:
        WARNING, VERBOSE = "warning", "verbose"

        def __init__(self, severity):
            trt.calls.append(("logger", severity))

    class NetworkDefinitionCreationFlag(enum.IntEnum):
        EXPLICIT_BATCH = 0
        STRONGLY_TYPED = 1

    flags = {"TF32": 1}
    if major < 11:  # TensorRT 11 removed the weak-typing flags
        flags["FP16"] = 2
    trt.BuilderFlag = enum.IntEnum("BuilderFlag", flags)
    trt.MemoryPoolType = enum.IntEnum("MemoryPoolType", {"WORKSPACE": 0})

    class Profile:
        def set_shape(self, name, lo, opt, hi):
            trt.calls.append(("set_shape", name, tuple(lo), tuple(opt), tuple(hi)))

    class Config:
        def set_memory_pool_limit(self, pool, size):
            trt.calls.append(("pool", pool, size))

        def set_flag(self, flag):
            trt.calls.append(("flag", flag.name))

        def add_optimization_profile(self, profile):
            trt.calls.append(("add_profile",))

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            trt.calls.append(("network", flags))
            return "network"

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            trt.calls.append(("build", network))
            return b"serialized-engine" if build_ok else None

    class OnnxParser:
        num_errors = 0 if parse_ok else 2

        def __init__(self, network, logger):
            pass

        def parse_from_file(self, path):
            trt.calls.append(("parse", path))
            return parse_ok

        def get_error(self, i):
            return f"error {i}: unsupported node"

    trt.Logger, trt.NetworkDefinitionCreationFlag = Logger, NetworkDefinitionCreationFlag
    trt.Builder, trt.OnnxParser = Builder, OnnxParser
    return trt


def _calls(trt, kind):
    return [c for c in trt.calls if c[0] == kind]


@pytest.fixture(scope="module")
def onnx_fp16(model, tmp_path_factory):
    return to_onnx(model, tmp_path_factory.mktemp("onnx16") / "tiny16.onnx", fp16=True)


def test_build_engine_tensorrt10_fp32_dynamic(onnx_fp32, tmp_path):
    trt = fake_tensorrt("10.13.0.35")
    out = build_engine(onnx_fp32, tmp_path / "m.engine", max_batch=16, opt_batch=4, workspace_gib=1, trt=trt)
    assert out.read_bytes() == b"serialized-engine"
    assert _calls(trt, "network") == [("network", 0)]
    assert _calls(trt, "parse") == [("parse", str(onnx_fp32))]
    assert _calls(trt, "set_shape") == [
        ("set_shape", "images", (1, 3, 128, 96), (4, 3, 128, 96), (16, 3, 128, 96))
    ]
    assert _calls(trt, "pool") == [("pool", trt.MemoryPoolType.WORKSPACE, 2**30)]
    assert _calls(trt, "flag") == []
    meta = json.loads(engine_info_path(out).read_text())
    assert meta["layout"] == "coco" and meta["image_size"] == [96, 128] and meta["num_keypoints"] == 17
    assert meta["profile"] == {"min": 1, "opt": 4, "max": 16} and meta["engine_precision"] == "fp32"
    assert ExportInfo.from_json_file(engine_info_path(out)).heatmap_size == (24, 32)


def test_build_engine_tensorrt10_fp16_uses_builder_flag(onnx_fp32, tmp_path):
    trt = fake_tensorrt("10.0.1")
    build_engine(onnx_fp32, tmp_path / "m.engine", fp16=True, trt=trt)
    assert _calls(trt, "flag") == [("flag", "FP16")]
    assert _calls(trt, "network") == [("network", 0)]


def test_build_engine_fp16_onnx_is_strongly_typed(onnx_fp16, tmp_path):
    trt10 = fake_tensorrt("10.8.0")
    build_engine(onnx_fp16, tmp_path / "a.engine", fp16=True, trt=trt10)
    assert _calls(trt10, "network") == [("network", 1 << 1)]  # STRONGLY_TYPED
    assert _calls(trt10, "flag") == []
    trt11 = fake_tensorrt("11.1.0")
    out = build_engine(onnx_fp16, tmp_path / "b.engine", fp16=True, trt=trt11)
    assert _calls(trt11, "network") == [("network", 0)]  # strongly typed by default in 11
    assert _calls(trt11, "flag") == []
    assert json.loads(engine_info_path(out).read_text())["engine_precision"] == "fp16"


def test_build_engine_tensorrt11_needs_fp16_onnx(onnx_fp32, tmp_path):
    trt = fake_tensorrt("11.0.0")
    with pytest.raises(ValueError, match="strongly typed"):
        build_engine(onnx_fp32, tmp_path / "m.engine", fp16=True, trt=trt)
    assert not (tmp_path / "m.engine").exists()
    build_engine(onnx_fp32, tmp_path / "m.engine", fp16=False, trt=trt)  # fp32 is fine
    assert _calls(trt, "flag") == []


def test_build_engine_fixed_batch_profile(model, tmp_path):
    path = to_onnx(model, tmp_path / "b4.onnx", batch=4)
    trt = fake_tensorrt("10.13.0")
    build_engine(path, tmp_path / "m.engine", trt=trt)
    assert _calls(trt, "set_shape") == [
        ("set_shape", "images", (4, 3, 128, 96), (4, 3, 128, 96), (4, 3, 128, 96))
    ]


def test_build_engine_errors(onnx_fp32, tmp_path):
    with pytest.raises(ValueError, match="unsupported node"):
        build_engine(onnx_fp32, tmp_path / "m.engine", trt=fake_tensorrt("10.1.0", parse_ok=False))
    with pytest.raises(ValueError, match="failed to build"):
        build_engine(onnx_fp32, tmp_path / "m.engine", trt=fake_tensorrt("10.1.0", build_ok=False))
    with pytest.raises(ValueError, match=">= 10"):
        build_engine(onnx_fp32, tmp_path / "m.engine", trt=fake_tensorrt("8.6.1"))
    with pytest.raises(FileNotFoundError):
        build_engine(tmp_path / "none.onnx", tmp_path / "m.engine", trt=fake_tensorrt("10.1.0"))
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\x01 not a model")
    with pytest.raises(ValueError, match="garbage.onnx"):
        build_engine(garbage, tmp_path / "m.engine", trt=fake_tensorrt("10.1.0"))
    assert not (tmp_path / "m.engine").exists()


# --------------------------------------------------------------------------------------------------
# Real TensorRT (only where it is installed and a GPU is present)


def _real_tensorrt():
    trt = pytest.importorskip("tensorrt")
    if not torch.cuda.is_available():
        pytest.skip("TensorRT needs a CUDA device")
    return trt


@pytest.mark.cuda
@pytest.mark.parametrize("fp16", [False, True])
def test_tensorrt_engine_matches_torch(model, tmp_path, fp16):
    trt = _real_tensorrt()
    from hpefast.deploy import TensorRTRunner
    from hpefast.export.trt_engine import tensorrt_major

    onnx_path = to_onnx(model, tmp_path / "m.onnx", fp16=fp16 and tensorrt_major(trt) >= 11)
    engine = build_engine(onnx_path, tmp_path / "m.engine", fp16=fp16, max_batch=8)
    runner = TensorRTRunner(engine, "cuda")
    x = _images(3, seed=9).cuda()
    out = runner(x)
    with torch.no_grad():
        ref = model.cuda()(x)
    model.cpu()
    assert out.device.type == "cuda" and out.dtype == torch.float32
    tol = 2e-2 * float(ref.abs().max()) if fp16 else 1e-3
    assert (out - ref).abs().max() <= tol
    ok = torch.from_numpy(well_posed(ref.cpu())).cuda()
    kp_t, _ = decode_heatmaps(ref.contiguous(), INPUT_SIZE)
    kp_e, _ = decode_heatmaps(out, INPUT_SIZE)
    if not fp16:
        assert (kp_t - kp_e).abs().amax(-1)[ok].max() <= 0.05
    with pytest.raises(ValueError, match="profile"):
        runner(_images(9).cuda())


def test_tensorrt_runner_dtype_map_and_device_check():
    from hpefast.deploy.trt_runner import TensorRTRunner, torch_dtype

    trt = types.ModuleType("tensorrt")
    trt.DataType = enum.Enum("DataType", ["FLOAT", "HALF", "INT32", "INT64", "BOOL", "FP8"])
    assert torch_dtype(trt, trt.DataType.FLOAT) is torch.float32
    assert torch_dtype(trt, trt.DataType.HALF) is torch.float16
    assert torch_dtype(trt, trt.DataType.INT64) is torch.int64
    with pytest.raises(ValueError, match="no torch equivalent"):
        torch_dtype(trt, trt.DataType.FP8)
    with pytest.raises(ValueError, match="CUDA device"):
        TensorRTRunner("model.engine", device="cpu", trt=trt)
