"""The command's error policy: a user error (HpefastError, a file error) is one line and exit 2; anything
else is a bug in hpefast and keeps its traceback."""

from __future__ import annotations

import types

import pytest

from hpefast import cli
from hpefast.errors import AnnotationError, CheckpointError, ConfigError, HpefastError, InputError


def _run_raising(monkeypatch, exc: BaseException) -> int:
    fake = types.SimpleNamespace(add_arguments=lambda p: None, main=lambda args: (_ for _ in ()).throw(exc))
    monkeypatch.setattr(cli, "_load", lambda name: fake)
    return cli.main(["eval-coco"])


@pytest.mark.parametrize(
    "exc",
    [
        ConfigError("optim.lr: expected a number"),
        AnnotationError("a.json: annotation 3: 'keypoints' has 50 values"),
        CheckpointError("m.safetensors: checksum mismatch"),
        InputError("--boxes: not a list"),
        FileNotFoundError("x.json: not found"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(monkeypatch, capsys, exc):
    assert _run_raising(monkeypatch, exc) == 2
    err = capsys.readouterr().err
    assert err == f"hpefast eval-coco: error: {exc}\n"


@pytest.mark.parametrize("exc", [KeyError("AP"), TypeError("bad operand"), ValueError("inner bug")])
def test_bugs_keep_their_traceback(monkeypatch, exc):
    with pytest.raises(type(exc)):
        _run_raising(monkeypatch, exc)


def test_user_errors_are_value_errors_too():
    # code that caught ValueError before keeps working
    for cls in (ConfigError, AnnotationError, CheckpointError, InputError):
        assert issubclass(cls, HpefastError) and issubclass(cls, ValueError)
    from hpefast.data import AnnotationError as DataAnnotationError
    from hpefast.engine.config import ConfigError as EngineConfigError

    assert DataAnnotationError is AnnotationError and EngineConfigError is ConfigError
