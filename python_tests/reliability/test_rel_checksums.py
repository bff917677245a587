"""Issue 11, item 5: corruption is detected.

Training checkpoints, model files (safetensors + json) and exports (ONNX, TensorRT engines) carry a checksum
of their contents; a flipped byte is reported with the path instead of being loaded. A config that
contradicts its weights is refused before the model is allocated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hpefast.errors import CheckpointError

IMAGE = (48, 64)


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def _tiny(layout: str = "coco"):
    from hpefast.models import build_model

    return build_model("tiny", layout=layout, image_size=IMAGE).eval()


def test_training_checkpoint_with_a_flipped_byte_is_refused(tmp_path):
    from hpefast.engine.state import atomic_save, load_state

    weights = torch.randn(256, 64, generator=torch.Generator().manual_seed(0))
    state = {"format": "hpefast-train-state", "step": 7, "model": {"w": weights}, "config": {"a": [1, 2.5]}}
    path = tmp_path / "last.pt"
    atomic_save(state, path)
    assert torch.equal(load_state(path)["model"]["w"], weights)  # an intact file loads
    at = path.read_bytes().find(weights.numpy().tobytes()[:64])
    assert at > 0
    _flip(path, at + 1000)  # inside the tensor's bytes: torch.load itself does not notice
    assert not torch.equal(torch.load(path, weights_only=True)["model"]["w"], weights)
    with pytest.raises(CheckpointError, match=rf"{path}.*checksum mismatch"):
        load_state(path)


def _data_offset(weights: Path) -> int:
    head = weights.read_bytes()[:8]
    return 8 + int.from_bytes(head, "little")


def test_model_file_with_a_flipped_byte_is_refused(tmp_path):
    from hpefast.models.checkpoint import load_model, save_model

    model = _tiny()
    weights = save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())
    _flip(weights, _data_offset(weights) + 4096)
    with pytest.raises(CheckpointError, match=rf"{weights}.*checksum mismatch"):
        load_model(tmp_path / "m")


def test_truncated_or_garbage_safetensors_names_the_path(tmp_path):
    from hpefast.models.checkpoint import load_model, save_model

    weights = save_model(_tiny(), tmp_path / "m")
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=rf"{weights}"):
        load_model(tmp_path / "m")
    weights.write_bytes(b"\xff" * 64)
    with pytest.raises(CheckpointError, match=rf"{weights}: not a readable safetensors file"):
        load_model(tmp_path / "m")


@pytest.fixture
def no_real_model(monkeypatch):
    """Count ViTPose models built with real (non-meta) parameters by hpefast.models.checkpoint."""
    import hpefast.models.checkpoint as ck

    built = []
    init = ck.ViTPose.__init__

    def counting_init(self, *a, **k):
        init(self, *a, **k)
        p = next(self.parameters())
        if p.device.type != "meta":
            built.append(p.numel())

    monkeypatch.setattr(ck.ViTPose, "__init__", counting_init)
    return built


def test_config_contradicting_its_weights_is_refused_before_allocation(tmp_path, no_real_model):
    from hpefast.models.checkpoint import load_model, save_model

    save_model(_tiny("coco"), tmp_path / "m")
    no_real_model.clear()
    cfg_file = tmp_path / "m" / "config.json"
    doc = json.loads(cfg_file.read_text())
    doc["config"]["layout"] = "mpii"  # 16 keypoints, the weights have 17 output channels
    doc["config"]["num_keypoints"] = 16
    cfg_file.write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match=r"contradicts the weights.*layout 'mpii', 16 keypoints"):
        load_model(tmp_path / "m")
    assert no_real_model == []


def test_absurd_sizes_in_a_config_are_refused_before_allocation(tmp_path, no_real_model):
    from hpefast.models.checkpoint import load_model, save_model

    save_model(_tiny("coco"), tmp_path / "m")
    no_real_model.clear()
    cfg_file = tmp_path / "m" / "config.json"
    doc = json.loads(cfg_file.read_text())
    doc["config"]["embed_dim"] = 2**20  # terabytes of weights if it were built
    cfg_file.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=str(tmp_path / "m")):
        load_model(tmp_path / "m")
    assert no_real_model == []


@pytest.mark.slow
def test_onnx_export_with_a_flipped_byte_is_refused(tmp_path):
    import numpy as np

    from hpefast.deploy import TopDownPredictor
    from hpefast.export import to_onnx
    from hpefast.export.metadata import verify_onnx_checksum

    model = _tiny()
    path = to_onnx(model, tmp_path / "m.onnx")
    assert verify_onnx_checksum(path) is True
    image = np.zeros((120, 160, 3), np.uint8)
    TopDownPredictor(path).predict(image, [[10, 10, 50, 80]])  # the intact file runs
    w = model.backbone.patch_embed.proj.weight.detach().numpy() if hasattr(model, "backbone") else None
    data = path.read_bytes()
    at = data.find(w.tobytes()[:32]) if w is not None else -1
    _flip(path, at + 8 if at > 0 else len(data) // 2)
    with pytest.raises(CheckpointError, match=rf"{path}: checksum mismatch"):
        TopDownPredictor(path)


@pytest.mark.slow
def test_tensorrt_engine_sidecar_carries_a_checksum(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from test_export import fake_tensorrt

    from hpefast.export import build_engine, to_onnx
    from hpefast.export.metadata import engine_info_path, verify_engine_checksum

    onnx_file = to_onnx(_tiny(), tmp_path / "m.onnx")
    engine = build_engine(onnx_file, tmp_path / "m.engine", trt=fake_tensorrt("10.13.0.35"))
    sidecar = json.loads(engine_info_path(engine).read_text())
    assert verify_engine_checksum(engine, sidecar) is True
    _flip(engine, 0)
    with pytest.raises(CheckpointError, match=rf"{engine}: checksum mismatch"):
        verify_engine_checksum(engine, sidecar)


def test_translator_with_a_flipped_byte_is_refused(tmp_path):
    from hpefast.translate import KeypointTranslator

    t = KeypointTranslator("coco", "mpii", hidden=32, layers=1)
    folder = t.save(tmp_path / "tr")
    loaded = KeypointTranslator.load(folder)
    assert all(torch.equal(loaded.net.state_dict()[k], v) for k, v in t.net.state_dict().items())
    weights = folder / "translator.safetensors"
    _flip(weights, _data_offset(weights) + 16)
    with pytest.raises(CheckpointError, match=rf"{weights}: checksum mismatch"):
        KeypointTranslator.load(folder)
