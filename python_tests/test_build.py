"""The compiled core imports, reports its build and CUDA state consistently, refuses to be used with a
Python package it does not match (stale build), and the CLI answers."""

from __future__ import annotations

import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import hpefast
from hpefast import _ext
from hpefast._ext import lib

ROOT = Path(__file__).resolve().parents[1]

# A subprocess that imports the package from its working directory: an editable install's import hook
# would otherwise send `import hpefast` back to the installed checkout.
_IMPORT_FROM_CWD = (
    "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in type(f).__module__]; "
    "sys.path.insert(0, '.'); import hpefast; "
)


def test_extension_reports_state():
    C = lib()
    assert isinstance(C.cuda_compiled(), bool)
    assert C.get_num_threads() >= 1
    if not C.cuda_compiled():
        assert C.cuda_device_count() == 0
        assert hpefast.cuda_available() is False
    # available implies compiled and a device
    if hpefast.cuda_available():
        assert C.cuda_compiled() and C.cuda_device_count() > 0


def test_build_info_describes_this_build():
    info = hpefast.build_info()
    assert info["version"] == hpefast.__version__
    assert info["api"] == _ext.EXTENSION_API
    assert info["cuda"] is lib().cuda_compiled()
    assert Path(info["path"]).resolve() == Path(lib().__file__).resolve()
    assert info["compiler"] and info["build_type"]
    if info["cuda"]:
        assert info["cuda_version"].split(".")[0].isdigit() and "90" in info["cuda_architectures"]
    else:
        assert info["cuda_version"] == "" and info["cuda_architectures"] == ""
    assert len(info["source_hash"]) == 64
    if _ext.source_checkout() is not None:  # a checkout only imports a core built from its own sources
        assert info["source_hash"] == _ext.source_hash(ROOT)
    git = info["git_hash"]
    assert git == "unknown" or (len(git) == 40 and int(git, 16) >= 0)


def test_version_flag_shows_the_build():
    out = subprocess.run(
        [sys.executable, "-m", "hpefast", "--version"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    info = hpefast.build_info()
    assert out.startswith(f"hpefast {hpefast.__version__}\n")
    assert info["path"] in out and info["compiler"] in out
    assert ("CUDA " + info["cuda_version"] if info["cuda"] else "CPU only") in out


def _fake_core(**changes) -> types.SimpleNamespace:
    info = dict(lib().build_info(), **changes)
    ops = {name: getattr(lib(), name) for name in _ext.REQUIRED_OPS}
    ops["build_info"] = lambda: info
    return types.SimpleNamespace(**ops)


def test_check_extension_names_each_mismatch():
    assert _ext.check_extension(_fake_core()) == []
    (problem,) = _ext.check_extension(_fake_core(api=1))
    assert f"api=1, this package needs api={_ext.EXTENSION_API}" in problem
    (problem,) = _ext.check_extension(_fake_core(version="0.0.1"))
    assert f"built for hpefast 0.0.1, this package is {hpefast.__version__}" in problem
    core = _fake_core()
    del core.pckh, core.oks
    assert _ext.check_extension(core) == ["missing entry points: oks, pckh"]
    del core.build_info
    assert "predates build_info" in _ext.check_extension(core)[0]


@pytest.fixture
def checkout_copy(tmp_path: Path) -> Path:
    """A copy of this checkout's package, C++ sources and in-place compiled core."""
    if _ext.source_checkout() is None or not list((ROOT / "hpefast").glob("_C.*")):
        pytest.skip("needs a source checkout with an in-place build (scripts/dev_build.sh)")
    shutil.copytree(ROOT / "hpefast", tmp_path / "hpefast", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "csrc", tmp_path / "csrc")
    shutil.copy(ROOT / "CMakeLists.txt", tmp_path)
    return tmp_path


def _import_in(root: Path, code: str, **env: str) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-c", _IMPORT_FROM_CWD + code],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def test_checkout_with_matching_sources_imports(checkout_copy: Path):
    out = _import_in(checkout_copy, "print(hpefast.__file__); print(hpefast.build_info()['source_hash'])")
    assert out.returncode == 0, out.stderr
    file, digest = out.stdout.split()
    assert Path(file).parent == checkout_copy / "hpefast"
    assert digest == _ext.source_hash(checkout_copy)  # csrc/build_stamp.cmake and _ext agree


def test_stale_core_fails_with_rebuild_instructions(checkout_copy: Path):
    with open(checkout_copy / "csrc" / "oks" / "oks.h", "a") as f:
        f.write("// edited after the build\n")
    out = _import_in(
        checkout_copy,
        "from hpefast.ops import oks; import torch; oks(*[torch.zeros(1, 1, 2)] * 2, "
        "torch.ones(1, 1), torch.ones(1), [0.1])",
    )
    assert out.returncode != 0
    assert "ImportError" in out.stderr
    assert "compiled from other C++ sources" in out.stderr
    assert "scripts/dev_build.sh" in out.stderr and "pip install" in out.stderr
    # The escape hatch: a warning, and the ops run.
    out = _import_in(checkout_copy, "print(hpefast.cuda_compiled())", HPEFAST_ALLOW_STALE_EXTENSION="1")
    assert out.returncode == 0, out.stderr
    assert "compiled from other C++ sources" in out.stderr


def test_core_for_another_version_fails(checkout_copy: Path):
    init = checkout_copy / "hpefast" / "__init__.py"
    init.write_text(
        init.read_text().replace(f'__version__ = "{hpefast.__version__}"', '__version__ = "9.9.9"')
    )
    out = _import_in(checkout_copy, "hpefast.build_info()")
    assert out.returncode != 0
    assert f"built for hpefast {hpefast.__version__}, this package is 9.9.9" in out.stderr


def test_cli_lists_every_command():
    out = subprocess.run(
        [sys.executable, "-m", "hpefast", "--help"], capture_output=True, text=True, check=True
    )
    from hpefast.cli import COMMANDS

    for name in COMMANDS:
        assert name in out.stdout


def test_require_cuda_turns_cuda_skips_into_failures():
    """HPEFAST_REQUIRE_CUDA=1 (scripts/gpu_check.sh): a CUDA test that cannot run fails, never skips."""
    import os

    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "cuda"]
    cmd += ["python_tests/test_cuda_paths.py::test_scalar_argmax_order"]
    env = {**os.environ, "HPEFAST_REQUIRE_CUDA": "1"}
    required = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    if hpefast.cuda_available():
        assert required.returncode == 0 and "1 passed" in required.stdout, required.stdout
    else:  # without the variable the test is not even collected (no cuda device parameter)
        assert required.returncode == 1, required.stdout
        assert "HPEFAST_REQUIRE_CUDA=1 but CUDA is not usable" in required.stdout


def test_required_ops_are_what_the_core_binds():
    """REQUIRED_OPS (the stale-build check) lists every entry point csrc/bindings.cpp defines, except the
    test-only pool_workers, so a core missing one is refused at import instead of failing at first call."""
    import re

    if _ext.source_checkout() is None:
        pytest.skip("needs the C++ sources")
    bound = set(re.findall(r'm\.def\("(\w+)"', (ROOT / "csrc" / "bindings.cpp").read_text()))
    assert bound - {"pool_workers"} == set(_ext.REQUIRED_OPS)
    assert all(hasattr(lib(), name) for name in bound)


# Tests that put tensors on a GPU on purpose without needing the CUDA kernels (a CPU-only build on a GPU
# machine): they skip wherever the kernels exist, so they must not carry the `cuda` marker.
_CUDA_WITHOUT_KERNELS = {("test_heatmap_errors.py", "test_cuda_tensor_without_cuda_kernels")}


def test_every_gpu_test_is_marked_cuda():
    """A test that moves tensors to the GPU either takes the `device` fixture (auto-marked) or carries
    @pytest.mark.cuda, so `pytest -m cuda` with HPEFAST_REQUIRE_CUDA=1 (scripts/gpu_check.sh) runs it."""
    import ast
    import re

    gpu = re.compile(r"\.cuda\(|device\s*=\s*[\"']cuda|\.to\([\"']cuda")
    missing = []
    for path in sorted((ROOT / "python_tests").rglob("test_*.py")):
        src = path.read_text()
        for node in ast.parse(src).body:
            if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
                continue
            marked = any("mark.cuda" in ast.get_source_segment(src, d) for d in node.decorator_list)
            uses_fixture = "device" in [a.arg for a in node.args.args]
            if gpu.search(ast.get_source_segment(src, node)) and not (marked or uses_fixture):
                if (path.name, node.name) not in _CUDA_WITHOUT_KERNELS:
                    missing.append(f"{path.name}::{node.name}")
    assert missing == []
