"""Atomic file writes and content checksums: nothing the user owns is left half-written, lost or silently
corrupt.

Every writer in hpefast (checkpoints, models, ONNX files, results, images, plots, datasets) goes through
:func:`atomic_path`: it writes into a temporary file in the destination folder and renames it over the
destination only once the write succeeded (``os.replace`` is atomic on POSIX), so a crash or an error
mid-write leaves the previous file intact.

* The file gets the mode any new file gets (``0o666`` minus the process umask), like ``open(path, "w")``;
  an existing destination keeps its own mode.
* Temporary files are named ``.<name>.hpefast-<host>-<pid>-<random>.tmp``. A process killed mid-write
  (``kill -9``, power loss) cannot remove its own; the next write into the same folder removes those of
  processes of this host that no longer run (:func:`clean_stale_temporaries`).
* :func:`sha256_file` / :func:`tensors_sha256` are the checksums that checkpoints, model files and exports
  carry so that a flipped byte is reported with the path instead of being loaded.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "clean_stale_temporaries",
    "temporary_name",
    "acquire_lock",
    "release_lock",
    "sha256_file",
    "tensors_sha256",
]

_TAG = "hpefast"
# Temporaries of earlier hpefast versions (tempfile.mkstemp: 8 random characters; the ONNX writer's
# ".<name>.tmp"): removed when older than this many seconds (their writer cannot be identified).
_LEGACY_AGE_S = 3600.0


def _host() -> str:
    """This machine's name, reduced to characters that are safe in a file name."""
    return re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:32] or "host"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True
    return True


def clean_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that interrupted writes of ``path`` left beside it.

    Only hpefast's own names are touched: ``.<name>.hpefast-<host>-<pid>-<random>.tmp`` of a process of
    this host that no longer runs, and (older than an hour) the names earlier versions used. Returns the
    removed paths.
    """
    path = Path(path)
    folder, name = path.parent, path.name
    if not folder.is_dir():
        return []
    ours = re.compile(re.escape(f".{name}.{_TAG}-") + r"(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[0-9a-f]+\.tmp$")
    legacy = re.compile(re.escape(f".{name}.") + r"([A-Za-z0-9_]{8}\.tmp|tmp|tmp\.png)$")
    host = _host()
    removed = []
    try:
        candidates = [p for p in folder.iterdir() if p.name.startswith(f".{name}.")]
    except OSError:
        return []
    now = time.time()
    for p in candidates:
        m = ours.match(p.name)
        stale = False
        if m is not None:
            stale = m["host"] == host and not _pid_alive(int(m["pid"]))
        elif legacy.match(p.name):
            with contextlib.suppress(OSError):
                stale = now - p.stat().st_mtime > _LEGACY_AGE_S
        if stale:
            with contextlib.suppress(OSError):
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)
                else:
                    p.unlink()
                removed.append(p)
    return removed


def temporary_name(path: str | os.PathLike) -> Path:
    """A fresh temporary name beside ``path`` in hpefast's naming (a file or a folder the caller creates),
    removed by :func:`clean_stale_temporaries` if its process dies before it is renamed."""
    path = Path(path)
    return path.with_name(f".{path.name}.{_TAG}-{_host()}-{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _new_temporary(path: Path) -> str:
    """Create an empty temporary file beside ``path`` with the mode a new file gets (umask applied)."""
    try:
        mode = path.stat().st_mode & 0o7777  # keep an existing destination's mode
    except OSError:
        mode = None
    for _ in range(100):
        tmp = temporary_name(path)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the kernel applies the umask
        except FileExistsError:
            continue
        try:
            if mode is not None:
                os.fchmod(fd, mode)
        finally:
            os.close(fd)
        return str(tmp)
    raise FileExistsError(errno.EEXIST, "could not create a temporary file", str(path.parent))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``, on error remove it.

    The parent folder is created when missing; stale temporaries of interrupted writes of ``path`` are
    removed first. Example::

        with atomic_path("model.safetensors") as tmp:
            safetensors.torch.save_file(tensors, tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path)
    tmp = _new_temporary(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.filename is None or str(exc.filename) == tmp:
            # A full disk (ENOSPC), a quota, an I/O error while writing: name the file being written.
            raise type(exc)(exc.errno, f"{exc.strerror or exc} while writing", str(path)) from None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`); ``fsync`` flushes it to disk first.
    Returns the final path."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, fsync: bool = False) -> Path:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


# --- locks ------------------------------------------------------------------------------------------------
def acquire_lock(path: str | os.PathLike, what: str = "this folder") -> Path:
    """Create the lock file ``path`` holding ``<host> <pid>``; raise :class:`hpefast.errors.InputError`
    when a live process of this host (or any process of another host) holds it. A lock left by a dead
    process of this host is taken over. Returns the path; :func:`release_lock` removes it."""
    from hpefast.errors import InputError

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = f"{_host()} {os.getpid()}\n"
    for _ in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            try:
                host, pid = path.read_text().split()[:2]
            except (OSError, ValueError):
                host, pid = _host(), "0"  # unreadable or torn: treat as stale
            if int(pid) == os.getpid() and host == _host():  # this process again (a retried Trainer)
                pass
            elif host != _host() or _pid_alive(int(pid)):
                raise InputError(
                    f"{what} is in use by another hpefast process (pid {pid} on {host}; lock {path}): wait "
                    "for it or choose another folder (remove the lock file if that process is gone)"
                ) from None
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        with os.fdopen(fd, "w") as f:
            f.write(mine)
        return path
    raise InputError(f"could not take the lock {path}")


def release_lock(path: str | os.PathLike) -> None:
    """Remove a lock taken by this process with :func:`acquire_lock` (another process's is left alone)."""
    path = Path(path)
    with contextlib.suppress(OSError, ValueError):
        host, pid = path.read_text().split()[:2]
        if host == _host() and int(pid) == os.getpid():
            path.unlink()


# --- checksums ------------------------------------------------------------------------------------------
def sha256_file(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file's bytes, read in ``chunk``-byte pieces (constant memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def tensors_sha256(tensors: Mapping[str, Any]) -> str:
    """Hex SHA-256 of named tensors: names, dtypes, shapes and bytes, in sorted name order.

    Independent of the file format and of the order tensors were stored in, so it is computed before a
    write and checked after a read. Tensors are hashed through their CPU bytes (a non-CPU tensor is copied).
    """
    import torch

    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach()
        if t.device.type != "cpu":
            t = t.cpu()
        t = t.contiguous()
        h.update(f"{name}|{str(t.dtype)}|{tuple(t.shape)}|".encode())
        if t.numel():
            h.update(memoryview(t.view(-1).view(torch.uint8).numpy()))
    return h.hexdigest()
