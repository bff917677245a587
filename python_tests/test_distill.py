"""Distillation (hpefast.engine.distill): the loss against the formula written out with the reference loss,
layout mapping by joint names, UDP resampling of a teacher of another size, the alpha schedule, bad input
(alpha outside [0, 1], a training state or another task as teacher, incompatible codecs), a training run
through the trainer with the teacher cost logged, and ``hpefast study distill --quick`` end to end."""

from __future__ import annotations

import json
import math

import pytest
import torch

from hpefast._reference.loss import union_heatmap_loss as ref_loss
from hpefast.engine.distill import Distiller, DistillError, alpha_at, load_teacher
from hpefast.errors import ConfigError
from hpefast.keypoints import get_schema
from hpefast.models import build_model
from hpefast.models.checkpoint import save_model


def _lively(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.05)
    return model.eval()


def _batch(model, b=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    w, h = model.cfg.image_size
    k = model.cfg.num_keypoints
    hw, hh = model.cfg.heatmap_size
    images = torch.randn(b, 3, h, w, generator=g)
    target = torch.rand(b, k, hh, hw, generator=g)
    weight = (torch.rand(b, k, generator=g) < 0.7).float()
    return images, target, weight


def test_alpha_schedule():
    assert alpha_at(0.6, "constant", 50, 100) == 0.6
    assert alpha_at(0.6, "linear_decay", 0, 100) == 0.6
    assert alpha_at(0.6, "linear_decay", 25, 100) == pytest.approx(0.45)
    assert alpha_at(0.6, "linear_decay", 100, 100) == 0.0
    with pytest.raises(ValueError, match="alpha_schedule"):
        alpha_at(0.5, "cosine", 0, 1)


@pytest.mark.parametrize("opts", [{}, {"ohkm_topk": 3, "amplitude": 2.0}])
def test_loss_is_the_fast_pose_distillation_formula_with_a_union_teacher(opts):
    torch.manual_seed(0)
    teacher = _lively(build_model("tiny", layout="union21", image_size=(32, 32), depth=1), 1)
    student = _lively(build_model("tiny", layout="coco", image_size=(32, 32), depth=1, embed_dim=64), 2)
    d = Distiller(teacher, student, alpha=0.3)
    images, target, weight = _batch(student)
    with torch.no_grad():
        t_out = teacher(images)
    # the COCO student's joints are the union's first 17, by name
    u, c = get_schema("union21").keys, get_schema("coco").keys
    t_mapped = t_out[:, [u.index(name) for name in c]]
    torch.testing.assert_close(d.teacher_heatmaps(images), t_mapped)
    s = student(images)
    got = d.loss(s, target, weight, images, None, step=0, total_steps=10, **opts)
    want = 0.7 * ref_loss(s, target, weight, **opts) + 0.3 * ref_loss(s, t_mapped, weight, **opts)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    # the teacher is frozen: gradients reach the student only
    got.backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
    assert d.log_record()["teacher_ms"] > 0


def test_teacher_joints_it_lacks_carry_no_teacher_loss():
    teacher = _lively(build_model("tiny", layout="coco", image_size=(32, 32), depth=1), 1)
    student = _lively(build_model("tiny", layout="union21", image_size=(32, 32), depth=1), 2)
    d = Distiller(teacher, student, alpha=1.0)
    assert d.has_joint.tolist() == [True] * 17 + [False] * 4
    images, target, weight = _batch(student)
    s = student(images)
    got = d.loss(s, target, weight, images, None, 0, 1)
    tw = weight.clone()
    tw[:, 17:] = 0
    want = ref_loss(s, d.teacher_heatmaps(images), tw)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


def test_teacher_of_another_size_is_resampled_exactly_under_udp():
    """A teacher at a crop of 2x-1 pixels with 2x-1 heatmap pixels sees each student heatmap pixel at one of
    its own pixel centres (UDP, align_corners resizing), so resampling is exact: a teacher that outputs its
    codec's encoding of the joints (sigma doubled) gives, resampled, the student codec's encoding."""
    from types import SimpleNamespace

    from hpefast.codec import HeatmapCodec

    s_codec = HeatmapCodec(method="udp", input_size=(40, 56), heatmap_size=(10, 14), sigma=2.0)
    t_codec = HeatmapCodec(method="udp", input_size=(79, 111), heatmap_size=(19, 27), sigma=4.0)
    kp_s = torch.tensor([[[12.3, 20.7], [25.0, 33.1], [3.2, 50.4]]])
    vis = torch.ones(1, 3, dtype=torch.bool)
    # student crop px x <-> teacher crop px x * (79 - 1) / (40 - 1) = 2x (and (111 - 1) / (56 - 1) = 2)
    t_maps, _ = t_codec.encode(kp_s * 2, vis)

    class FixedTeacher(torch.nn.Module):
        cfg = SimpleNamespace(
            layout="coco", image_size=(79, 111), heatmap_size=(19, 27), codec=t_codec, num_datasets=1
        )

        def forward(self, x, ids=None):
            assert tuple(x.shape[-2:]) == (111, 79)  # the crops were resized to the teacher's input
            return t_maps.expand(x.shape[0], -1, -1, -1)

    student = SimpleNamespace(
        cfg=SimpleNamespace(layout="coco", image_size=(40, 56), heatmap_size=(10, 14), codec=s_codec)
    )
    d = Distiller(FixedTeacher(), student, alpha=1.0)
    assert d.resize_input and d.resample
    got = d.teacher_heatmaps(torch.zeros(2, 3, 56, 40))
    want, _ = s_codec.encode(kp_s, vis)
    # Equal inside 2.5 sigma; beyond it the two codecs cut their 3-sigma windows on their own pixel grids,
    # so a pixel at the window's edge may be in one and not the other (values there are < exp(-4.5)).
    stride = torch.tensor([39 / 9, 55 / 13])
    ys, xs = torch.meshgrid(torch.arange(14.0), torch.arange(10.0), indexing="ij")
    centre = kp_s[0] / stride  # [3, 2] in heatmap px
    dist = ((xs[None] - centre[:, 0, None, None]) ** 2 + (ys[None] - centre[:, 1, None, None]) ** 2).sqrt()
    inside = dist < 2.5 * 2.0
    assert inside.sum() > 3 * 40
    torch.testing.assert_close(got[0][inside], want[0][inside], rtol=0, atol=1e-5)
    assert (got[0][~inside] - want[0][~inside]).abs().max() < 0.012


def test_bad_input(tmp_path):
    teacher = build_model("tiny", image_size=(32, 32), depth=1)
    student = build_model("tiny", image_size=(32, 32), depth=1)
    for alpha in (-0.1, 1.5, float("nan")):
        with pytest.raises(DistillError, match=r"alpha must be a number in \[0, 1\]"):
            Distiller(teacher, student, alpha=alpha)
    with pytest.raises(DistillError, match="feature_weight"):
        Distiller(teacher, student, feature_weight=-1.0)
    # no shared joint
    mpii_only = build_model("tiny", layout="mpii", image_size=(32, 32), depth=1)
    face = build_model("tiny", layout="coco", image_size=(32, 32), depth=1)
    from hpefast.keypoints import mapping_index

    if (mapping_index("mpii", "coco") >= 0).any():  # they share joints: the mapping is used, not refused
        Distiller(mpii_only, face)
    # msra codec with another size: refused
    msra_t = build_model("tiny", image_size=(64, 64), depth=1, codec={"method": "msra"})
    with pytest.raises(DistillError, match="exact only when both codecs are 'udp'"):
        Distiller(msra_t, student)
    # teacher files
    with pytest.raises(DistillError, match="does not exist"):
        load_teacher(tmp_path / "nope")
    (tmp_path / "last.pt").write_bytes(b"x")
    with pytest.raises(DistillError, match="training state"):
        load_teacher(tmp_path / "last.pt")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps({"task": "lifting", "hidden": 1024}))
    with pytest.raises(DistillError, match="not an hpefast heatmap model"):
        load_teacher(tmp_path / "other")
    saved = save_model(teacher, tmp_path / "teacher")
    loaded = load_teacher(saved)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())


def test_config_refuses_alpha_outside_unit_interval(tmp_path):
    from hpefast.engine.config import load_config

    with pytest.raises(ConfigError, match=r"distill.alpha must be in \[0, 1\]"):
        load_config({"base": "tiny-synthetic", "distill": {"teacher": str(tmp_path), "alpha": 1.2}})
    with pytest.raises(ConfigError, match="loss.amplitude"):
        load_config({"base": "tiny-synthetic", "loss": {"amplitude": 0}})
    with pytest.raises(ConfigError):
        load_config({"base": "tiny-synthetic", "distill": {"teacher": "x", "alfa": 0.5}})


def test_feature_distillation_trains_the_projector():
    teacher = _lively(build_model("tiny", image_size=(32, 32), depth=1), 1)
    student = _lively(build_model("tiny", image_size=(32, 32), depth=1, embed_dim=64, num_heads=2), 2)
    d = Distiller(teacher, student, alpha=0.0, feature_weight=1.0)
    images, target, weight = _batch(student)
    plain = ref_loss(student(images), target, weight)
    s = student(images)
    total = d.loss(s, target, weight, images, None, 0, 4)
    assert float(total.detach()) > float(plain.detach())  # the feature term is there
    total.backward()
    assert d.projector.weight.grad is not None and d.projector.weight.grad.abs().sum() > 0
    assert d.param_group(1e-3)["params"][0] is d.projector.weight
    # decays to zero at the end of the run
    s = student(images)
    torch.testing.assert_close(d.loss(s, target, weight, images, None, 4, 4), ref_loss(s, target, weight))


@pytest.mark.slow
def test_study_quick_end_to_end(tmp_path):
    from hpefast.cli import main

    out = tmp_path / "study"
    assert main(["study", "distill", "--quick", "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    names = [r["name"] for r in res["runs"]]
    assert names == [
        "teacher",
        "student_scratch",
        "student_distilled",
        "student_scratch_amplitude",
        "student_distilled_amplitude",
        "student_scratch_fg_weighted",
        "student_distilled_fg_weighted",
        "student_scratch_ohkm",
        "student_distilled_ohkm",
    ]
    steps = {r["steps"] for r in res["runs"][1:]}
    assert len(steps) == 1  # equal budget
    assert res["runs"][0]["params_M"] > 5 * res["runs"][1]["params_M"]  # a larger teacher
    for r in res["runs"][1:]:  # the teacher runs in exactly the distilled students' steps
        assert (r["teacher_ms_per_step"] is not None) == ("distilled" in r["name"])
        assert r["teacher_ms_per_step"] is None or r["teacher_ms_per_step"] > 0
    assert all(math.isfinite(r["final_loss"]) for r in res["runs"])
    assert "| student_distilled |" in (out / "results.md").read_text()
    assert (out / "training_curves.png").stat().st_size > 1000

    # hpefast distill TEACHER STUDENT_CONFIG: the study's teacher teaches a student of another input size
    run = tmp_path / "cli_run"
    common = [
        str(out / "runs" / "teacher" / "model"),
        "tiny-synthetic",
        f"data.root={out / 'data'}",
        f"output_dir={run}",
        "model.image_size=[48,64]",
        "data.batch_size=4",
        "halt_after_steps=2",
        "log_interval=1",
        "progress=false",
        "tensorboard=false",
    ]
    args = ["--alpha", "0.7", "--alpha-schedule", "linear_decay", "--feature-weight", "0.5"]
    assert main(["distill", *common, *args]) == 0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    train = [r for r in log if r["type"] == "train"]
    assert len(train) == 2 and all(r["teacher_ms"] > 0 for r in train)
    assert main(["distill", *common, "--alpha", "1.5", "--overwrite"]) == 2
