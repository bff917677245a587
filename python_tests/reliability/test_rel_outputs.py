"""Issue 11, item 3: outputs never overwrite inputs or earlier results unasked.

Every command refuses an existing output file or a non-empty output folder unless ``--overwrite`` is
given, and refuses outright to write over one of its own inputs; two ``train`` runs never mix into one
``log.jsonl``. The refusals come before any work (no model is loaded for them here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpefast.cli import main as cli


def _err(capsys) -> str:
    return capsys.readouterr().err


@pytest.fixture
def files(tmp_path, rel_coco):
    image = sorted((rel_coco.parent / "images").iterdir())[0]
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([[10, 10, 50, 80]]))
    return {"image": image, "boxes": boxes, "ann": rel_coco, "images": rel_coco.parent / "images"}


def test_predict_refuses_existing_output_and_its_own_input(files, tmp_path, capsys):
    out = tmp_path / "overlay.png"
    out.write_bytes(b"earlier result")
    args = ["predict", str(files["image"]), "--boxes", str(files["boxes"]), "--model", str(tmp_path / "m")]
    assert cli([*args, "--out", str(out)]) == 2
    assert "already exists: pass --overwrite" in _err(capsys) and out.read_bytes() == b"earlier result"
    before = files["image"].read_bytes()
    assert cli([*args, "--out", str(files["image"]), "--overwrite"]) == 2
    assert "is one of this command's inputs" in _err(capsys) and files["image"].read_bytes() == before
    assert cli([*args, "--out", str(tmp_path / "o.png"), "--json", str(files["boxes"]), "--overwrite"]) == 2
    assert "--json" in _err(capsys)


def test_show_data_refuses_existing_output_and_inputs(files, tmp_path, capsys):
    out = tmp_path / "grid.png"
    out.write_bytes(b"earlier")
    assert cli(["show-data", str(files["ann"]), str(files["images"]), "--out", str(out)]) == 2
    assert "already exists" in _err(capsys) and out.read_bytes() == b"earlier"
    assert cli(["show-data", str(files["ann"]), str(files["images"]), "--out", str(out), "--overwrite"]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_export_refuses_to_write_over_the_checkpoint(tmp_path, capsys):
    from hpefast.models import build_model
    from hpefast.models.checkpoint import save_model

    weights = save_model(build_model("tiny", layout="coco", image_size=(48, 64)), tmp_path / "m.safetensors")
    before = weights.read_bytes()
    assert cli(["export", str(weights), "--output", str(weights), "--no-verify", "--overwrite"]) == 2
    assert "is one of this command's inputs" in _err(capsys) and weights.read_bytes() == before
    existing = tmp_path / "model.onnx"
    existing.write_bytes(b"earlier")
    assert cli(["export", str(weights), "--output", str(existing), "--no-verify"]) == 2
    assert "already exists" in _err(capsys) and existing.read_bytes() == b"earlier"


def test_eval_refuses_existing_metrics_file(files, tmp_path, capsys):
    out = tmp_path / "metrics.json"
    out.write_text("{}")
    spec = f"coco:{files['ann']}:{files['images']}"
    assert cli(["eval", str(tmp_path / "m"), "--data", spec, "--out", str(out)]) == 2
    assert "--out" in _err(capsys) and out.read_text() == "{}"
    assert cli(["eval", str(tmp_path / "m"), "--data", spec, "--out", str(files["ann"]), "--overwrite"]) == 2
    assert "inputs" in _err(capsys)


def test_translate_and_analyze_refuse(files, tmp_path, capsys):
    gt = files["ann"]
    before = gt.read_bytes()
    assert (
        cli(["translate", "simulate", "--gt", str(gt), "--src", "coco", "--out", str(gt), "--overwrite"]) == 2
    )
    assert "inputs" in _err(capsys) and gt.read_bytes() == before
    sim = tmp_path / "sim.json"
    assert cli(["translate", "simulate", "--gt", str(gt), "--src", "coco", "--out", str(sim)]) == 0
    capsys.readouterr()
    assert cli(["translate", "simulate", "--gt", str(gt), "--src", "coco", "--out", str(sim)]) == 2
    assert "already exists" in _err(capsys)
    folder = tmp_path / "analysis"
    folder.mkdir()
    (folder / "errors.json").write_text("[]")
    args = ["analyze", "errors", "--pred", str(sim), "--gt", str(gt), "--src", "coco", "--out", str(folder)]
    assert cli(args) == 2
    assert "is not empty" in _err(capsys) and (folder / "errors.json").read_text() == "[]"


def test_demo_refuses_a_non_empty_folder(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "metrics.json").write_text('{"coco_AP": 0.88}')
    assert cli(["demo", "--quick", "--out", str(out)]) == 2
    assert (
        "is not empty" in _err(capsys) and json.loads((out / "metrics.json").read_text())["coco_AP"] == 0.88
    )


def _train_steps(out: Path) -> list[tuple[str, int]]:
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return [(r["type"], r["step"]) for r in records]


@pytest.mark.slow
def test_two_train_runs_never_mix_into_one_log(rel_config, tmp_path):
    from hpefast.engine.trainer import train
    from hpefast.errors import InputError

    out = tmp_path / "run"
    train(rel_config(out, "halt_after_steps=2"))
    first = _train_steps(out)
    with pytest.raises(InputError, match=r"output_dir .* is not empty.*--overwrite.*resume=auto"):
        train(rel_config(out, "halt_after_steps=1"))
    assert _train_steps(out) == first  # untouched
    train(rel_config(out, "halt_after_steps=1"), overwrite=True)
    log = _train_steps(out)
    assert [t for t in log if t[0] == "start"] == [("start", 0)]  # one run only: the new one
    assert [s for t, s in log if t == "train"] == [1]


@pytest.mark.slow
def test_a_second_process_on_the_same_run_folder_is_refused(rel_config, tmp_path):
    """Two concurrent ``train`` processes on one output_dir (e.g. launched twice): the second is refused
    while the first runs; once it is gone its lock is taken over."""
    import socket
    import subprocess
    import sys

    from hpefast.engine.trainer import train
    from hpefast.errors import InputError

    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        host = __import__("re").sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:32]
        (out / ".hpefast-train.lock").write_text(f"{host} {holder.pid}\n")
        with pytest.raises(InputError, match=rf"in use by another hpefast process \(pid {holder.pid}"):
            train(rel_config(out, "resume=auto", "halt_after_steps=1"))
    finally:
        holder.kill()
        holder.wait()
    result = train(rel_config(out, "resume=auto", "halt_after_steps=1"))  # the dead holder's lock is stale
    assert result.step == 1 and not (out / ".hpefast-train.lock").exists()  # released at the end
