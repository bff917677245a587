"""Issue 11, item 2: a diverging run never destroys a good checkpoint.

Finiteness is checked before every checkpoint write (not only at log steps): the last good checkpoint stays,
and the error names the step that went non-finite and how to resume from the good one."""

from __future__ import annotations

import pytest
import torch

from hpefast.engine.state import load_state
from hpefast.engine.trainer import Trainer, TrainingDiverged


def _poison_after(trainer: Trainer, step: int) -> None:
    """From ``step`` on, the weights become NaN after the optimizer step (as a blown-up update would)."""
    original = trainer.train_step

    def step_then_poison(batch):
        loss, norm = original(batch)
        if trainer.step + 1 >= step:
            with torch.no_grad():
                next(trainer.model.parameters()).fill_(float("nan"))
        return loss, norm

    trainer.train_step = step_then_poison


@pytest.mark.slow
def test_non_finite_weights_never_reach_the_checkpoint(rel_config, tmp_path):
    out = tmp_path / "run"
    # logs rarely (the old check ran only at log steps), checkpoints every 2 steps
    trainer = Trainer(rel_config(out, "log_interval=1000", "checkpoint_interval=2"))
    _poison_after(trainer, 3)  # steps 1, 2 fine (checkpoint at 2); step 3 leaves NaN weights
    with pytest.raises(TrainingDiverged) as info:
        trainer.fit()
    trainer.close()
    msg = str(info.value)
    ckpt = out / "checkpoints" / "last.pt"
    assert "step 4" in msg or "step 3" in msg  # the first non-finite loss / weights
    assert f"resume={ckpt}" in msg and "(step 2)" in msg
    state = load_state(ckpt)
    assert state["step"] == 2
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


@pytest.mark.slow
def test_non_finite_loss_at_the_first_step_writes_nothing(rel_config, tmp_path):
    out = tmp_path / "run"
    trainer = Trainer(rel_config(out, "log_interval=1000", "checkpoint_interval=1"))
    _poison_after(trainer, 1)
    with pytest.raises(TrainingDiverged, match="no checkpoint was written yet"):
        trainer.fit()
    trainer.close()
    assert not (out / "checkpoints" / "last.pt").exists()


@pytest.mark.slow
def test_diverged_run_resumes_from_the_good_checkpoint(rel_config, tmp_path):
    from hpefast.engine.trainer import train

    out = tmp_path / "run"
    trainer = Trainer(rel_config(out, "log_interval=1000", "checkpoint_interval=2"))
    _poison_after(trainer, 3)
    with pytest.raises(TrainingDiverged):
        trainer.fit()
    trainer.close()
    resumed = train(
        rel_config(
            out, "checkpoint_interval=2", f"resume={out / 'checkpoints' / 'last.pt'}", "halt_after_steps=4"
        )
    )
    assert resumed.step == 4 and all(torch.isfinite(torch.tensor(v)) for _, v in resumed.losses)
