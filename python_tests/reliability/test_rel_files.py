"""Issue 11, item 4: files as users expect them.

Atomic writes keep the umask's mode; a write killed mid-way leaves no temporary behind after the next
write; an ONNX export over 2 GB replaces its external-data file; ``log.jsonl`` holds each step once after
a resume; training checkpoints do not depend on ``model.pretrained`` still existing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hpefast._io import atomic_path, atomic_write_bytes, atomic_write_text


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda m: os.umask(m)
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_atomic_write_gets_the_mode_of_a_new_file(tmp_path, umask, mask):
    umask(mask)
    out = atomic_write_text(tmp_path / "result.json", "{}")
    with open(tmp_path / "plain.json", "w") as f:  # what open() gives: the reference
        f.write("{}")
    assert out.stat().st_mode & 0o777 == (0o666 & ~mask)
    assert out.stat().st_mode & 0o777 == (tmp_path / "plain.json").stat().st_mode & 0o777


def test_atomic_write_keeps_an_existing_files_mode(tmp_path, umask):
    umask(0o022)
    p = tmp_path / "shared.txt"
    p.write_text("old")
    p.chmod(0o664)
    atomic_write_text(p, "new")
    assert p.read_text() == "new" and p.stat().st_mode & 0o777 == 0o664


_KILLED_WRITER = """
import os, signal, sys
from hpefast._io import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    with open(tmp, "wb") as f:
        f.write(b"x" * 100000)
        f.flush()
    os.kill(os.getpid(), signal.SIGKILL)  # dies mid-write: no cleanup code runs
"""


def test_a_write_killed_mid_way_leaves_no_temporary_after_the_next_write(tmp_path):
    target = tmp_path / "checkpoint.bin"
    atomic_write_bytes(target, b"good")
    proc = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(target)], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    leftovers = [p for p in tmp_path.iterdir() if p.name != target.name]
    assert leftovers, "the killed writer should have left its temporary file"
    assert target.read_bytes() == b"good"  # the previous file is intact
    atomic_write_bytes(target, b"next")
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]
    assert target.read_bytes() == b"next"


def test_a_live_writers_temporary_is_not_removed(tmp_path):
    target = tmp_path / "a.bin"
    with atomic_path(target) as tmp:  # this process is alive: its temporary must survive another write
        Path(tmp).write_bytes(b"in progress")
        atomic_write_bytes(target, b"other")
        assert Path(tmp).exists()
    assert target.read_bytes() == b"in progress"


@pytest.mark.slow
def test_onnx_external_data_is_replaced_not_appended(tmp_path, monkeypatch):
    """Force the >2 GB path (external data) on a tiny model and export twice into the same file."""
    import onnxruntime as ort

    import hpefast.export.onnx_export as ox
    from hpefast.models import build_model

    monkeypatch.setattr(ox, "PROTOBUF_LIMIT", 0)
    model = build_model("tiny", layout="coco", image_size=(48, 64)).eval()
    path = tmp_path / "big.onnx"
    ox.to_onnx(model, path)
    data = path.with_name("big.onnx.data")
    size = data.stat().st_size
    assert size >= 4 * sum(p.numel() for p in model.parameters()) * 0.9
    ox.to_onnx(model, path)
    assert data.stat().st_size == size  # replaced, not appended to
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.onnx", "big.onnx.data"]
    x = torch.randn(1, 3, 64, 48)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(out, model(x).numpy(), atol=1e-4)


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_log_has_each_step_once_after_a_crash_and_resume(rel_config, tmp_path, monkeypatch):
    from hpefast.engine.trainer import Trainer, train

    out = tmp_path / "run"
    cfg = rel_config(out, "checkpoint_interval=2")
    trainer = Trainer(cfg)
    original = trainer.train_step

    def crash_at_step_4(batch):
        if trainer.step == 3:  # steps 1..3 logged, checkpoint at step 2
            raise KeyboardInterrupt
        return original(batch)

    trainer.train_step = crash_at_step_4
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    trainer.close()
    assert [r["step"] for r in _log(out) if r["type"] == "train"] == [1, 2, 3]

    resumed = train(rel_config(out, "checkpoint_interval=2", "resume=auto", "halt_after_steps=5"))
    steps = [r["step"] for r in _log(out) if r["type"] == "train"]
    assert steps == [1, 2, 3, 4, 5] and resumed.step == 5
    # the losses logged again for step 3 are the resumed run's (exact resume), logged once
    assert [s for s, _ in resumed.losses] == [3, 4, 5]


@pytest.mark.slow
def test_resume_and_eval_do_not_need_the_pretrained_file(rel_config, tmp_path):
    import shutil

    from hpefast.commands.evaluate import load_any_model
    from hpefast.engine.trainer import train
    from hpefast.models import build_model
    from hpefast.models.checkpoint import save_model

    pre = tmp_path / "pretrained"
    save_model(build_model("tiny", layout="coco", image_size=(48, 64)), str(pre))
    out = tmp_path / "run"
    first = train(rel_config(out, f"model.pretrained={pre}", "halt_after_steps=2"))
    assert first.halted
    shutil.rmtree(pre)  # the pretrained weights are gone (a cleaned scratch disk, another machine)
    ckpt = out / "checkpoints" / "last.pt"
    model = load_any_model(str(ckpt))
    state = torch.load(ckpt, weights_only=True)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state["model"].items())
    again = train(rel_config(out, f"model.pretrained={pre}", "resume=auto", "halt_after_steps=3"))
    assert again.step == 3


def test_stale_temporary_folders_of_dead_processes_are_removed(tmp_path):
    """A killed >2 GB ONNX export leaves a temporary folder; the next write of that file removes it, while
    a live process's temporary (this one's) and files of other names stay."""
    from hpefast._io import clean_stale_temporaries, temporary_name

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    target = tmp_path / "model.onnx"
    mine = temporary_name(target)
    stale = Path(str(mine).replace(f"-{os.getpid()}-", f"-{int(dead.stdout)}-"))
    stale.mkdir()
    (stale / "model.onnx.data").write_bytes(b"x" * 1000)
    mine.write_bytes(b"live")
    other = tmp_path / ".notes.txt.tmp"
    other.write_text("not ours")
    removed = clean_stale_temporaries(target)
    assert removed == [stale] and not stale.exists()
    assert mine.exists() and other.exists()
