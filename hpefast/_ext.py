"""Access to the compiled core ``hpefast._C``: finds it, checks that it matches this Python package and
fails at import with a clear message when it is missing or stale.

Where ``_C`` comes from, in order: the file next to this package (``scripts/dev_build.sh`` writes it into
a checkout; a regular install puts it there too), the import system (an editable install maps
``hpefast._C`` to its own build), the installed distribution's file. The first one found is used.

"Matches" means: it exposes every op this package calls with the calling convention it expects
(``_C.build_info()["api"]``, :data:`EXTENSION_API`), it was built for this package version and, when the
package is a source checkout (``csrc/`` beside it), it was compiled from the C++/CUDA sources now in the
checkout (the source hash of ``csrc/build_stamp.cmake``). ``HPEFAST_ALLOW_STALE_EXTENSION=1`` turns a
mismatch into a warning (for Python-only work while C++ edits are half done).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import importlib.metadata
import importlib.util
import os
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

# The calling convention this package speaks (csrc/common/build_info.h kExtensionApi).
EXTENSION_API = 2
# Every _C entry point the Python side calls.
REQUIRED_OPS = (
    "build_info",
    "cuda_compiled",
    "cuda_device_count",
    "get_num_threads",
    "set_num_threads",
    "encode_heatmaps",
    "decode_heatmaps",
    "union_heatmap_loss_forward",
    "union_heatmap_loss_backward",
    "oks",
    "pckh",
    "cocoeval_exponents",
    "cocoeval_oks",
    "cocoeval_match",
    "cocoeval_accumulate",
    "cocojson_results",
    "cocojson_ground_truth",
)
_PACKAGE_DIR = Path(__file__).resolve().parent
_SOURCE_SUFFIXES = (".h", ".cpp", ".cu", ".cuh", ".cmake")
_REBUILD = (
    "Rebuild it: in a source checkout `scripts/dev_build.sh` (in place, CPU; HPEFAST_CUDA=ON for CUDA) "
    "or `pip install --no-build-isolation .`; for an installed package reinstall hpefast."
)


def source_checkout() -> Path | None:
    """The repository root when this package is imported from a source checkout (``csrc/`` beside it)."""
    root = _PACKAGE_DIR.parent
    if (root / "csrc").is_dir() and (root / "CMakeLists.txt").is_file():
        return root
    return None


def source_hash(root: Path) -> str:
    """sha256 of the compiled sources of a checkout, as ``csrc/build_stamp.cmake`` computes it."""
    files = sorted(
        p.relative_to(root).as_posix()
        for p in (root / "csrc").rglob("*")
        if p.is_file() and p.suffix in _SOURCE_SUFFIXES
    )
    files = sorted([*files, "CMakeLists.txt"])
    text = "".join(f"{f}\n{hashlib.sha256((root / f).read_bytes()).hexdigest()}\n" for f in files)
    return hashlib.sha256(text.encode()).hexdigest()


def _load_file(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("hpefast._C", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _candidates() -> list[tuple[str, Any]]:
    """(where, loader) pairs in the order of preference; loaders import lazily."""
    out: list[tuple[str, Any]] = []
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    seen: set[Path] = set()
    for path in sorted(_PACKAGE_DIR.glob("_C.*")):
        if path.name.endswith(suffixes):
            seen.add(path.resolve())
            out.append((str(path), functools.partial(_load_file, path)))

    def _import() -> ModuleType:
        from hpefast import _C

        return _C

    out.append(("import hpefast._C", _import))
    try:
        files = importlib.metadata.distribution("hpefast").files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for f in files:
        if f.parent.name == "hpefast" and f.name.startswith("_C.") and f.name.endswith(suffixes):
            path = Path(str(f.locate())).resolve()
            if path not in seen and path.is_file():
                out.append((str(path), functools.partial(_load_file, path)))
    return out


def check_extension(module: ModuleType, checkout: Path | None = None) -> list[str]:
    """Reasons ``module`` does not match this package (empty when it does)."""
    from hpefast import __version__

    missing = [name for name in REQUIRED_OPS if not hasattr(module, name)]
    if "build_info" in missing:
        return [f"it predates build_info() (missing entry points: {', '.join(missing)})"]
    info = module.build_info()
    problems = []
    if missing:
        problems.append(f"missing entry points: {', '.join(missing)}")
    if info.get("api") != EXTENSION_API:
        problems.append(f"calling convention api={info.get('api')}, this package needs api={EXTENSION_API}")
    if info.get("version") != __version__:
        problems.append(f"built for hpefast {info.get('version')}, this package is {__version__}")
    if checkout is not None:
        want = source_hash(checkout)
        if info.get("source_hash") != want:
            problems.append(
                f"compiled from other C++ sources than {checkout / 'csrc'} "
                f"(source hash {str(info.get('source_hash'))[:12]}, checkout {want[:12]})"
            )
    return problems


@functools.lru_cache(maxsize=1)
def lib() -> ModuleType:
    """Return the compiled extension module, raising ImportError with a fix when it is absent or stale.

    Only the first loadable candidate is used: a process holds one ``hpefast._C`` (a second file of the
    same module name would come back as the first), so a stale in-place build is an error to fix, not
    something to step over silently.
    """
    checkout = source_checkout()
    tried: list[str] = []
    for where, load in _candidates():
        try:
            module = load()
        except ImportError as exc:
            if where != "import hpefast._C":
                tried.append(f"{where}: {exc}")
            continue
        problems = check_extension(module, checkout)
        if problems:
            path = getattr(module, "__file__", where)
            message = f"hpefast's compiled core {path} does not match this Python package: " + "; ".join(
                problems
            )
            if os.environ.get("HPEFAST_ALLOW_STALE_EXTENSION") != "1":
                raise ImportError(
                    f"{message}.\n{_REBUILD} (HPEFAST_ALLOW_STALE_EXTENSION=1 imports it anyway.)"
                )
            warnings.warn(message, stacklevel=2)
        sys.modules["hpefast._C"] = module
        return module
    raise ImportError(
        "hpefast's compiled core (hpefast._C) is not importable. Install the package with "
        "`pip install .` (or build in place with scripts/dev_build.sh for development)."
        + ("\n  " + "\n  ".join(tried) if tried else "")
    )


def build_info() -> dict[str, Any]:
    """What the compiled core is: ``version``, ``git_hash`` (+ ``git_dirty``), ``source_hash``, ``api``,
    ``cuda`` (compiled in), ``cuda_version``, ``cuda_architectures``, ``compiler``, ``build_type``, and
    ``path`` (the file loaded).

    Example: ``hpefast.build_info()["cuda_architectures"]`` -> ``"75-real,80-real,86-real,89-real,90"``.
    """
    module = lib()
    info = dict(module.build_info())
    info["path"] = getattr(module, "__file__", None)
    return info


_threads_passed = 0  # the torch thread count last given to the compiled core


def sync_num_threads() -> int:
    """Give the CPU kernels torch's intra-op thread count when it changed since the last call (one int
    comparison; torch is consulted only when already imported), and return the count the kernels use.
    ``HPEFAST_NUM_THREADS``, when set, wins inside the compiled core."""
    global _threads_passed
    torch = sys.modules.get("torch")
    if torch is not None:
        n = torch.get_num_threads()
        if n != _threads_passed:
            lib().set_num_threads(n)
            _threads_passed = n
    return int(lib().get_num_threads())


def cuda_compiled() -> bool:
    """True when the CUDA kernels were compiled into ``hpefast._C``."""
    return bool(lib().cuda_compiled())


def cuda_available() -> bool:
    """True when CUDA kernels are compiled in *and* a CUDA device is present and usable by torch."""
    if not cuda_compiled() or lib().cuda_device_count() <= 0:
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # pragma: no cover
        return False
