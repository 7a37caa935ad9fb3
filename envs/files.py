"""Atomic file writes: a temporary file in the target's folder, then ``os.replace``, so a crash
never leaves a half-written file where a complete one was (or none was)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_destination(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; when the block ends without an error it
    gets the usual file permissions and replaces ``path``, otherwise it is removed. The folder is
    created when missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix or ".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (its folder is created); returns the path."""
    with atomic_destination(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def writable_folder(path: str | Path, option: str = "output folder") -> Path:
    """``path`` as a folder that exists and can be written to; ``PermissionError`` naming it (and
    the ``option`` that gave it, e.g. ``"--out"``) otherwise."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(f"output folder {str(path)!r} cannot be created ({exc.strerror or exc}); choose another {option}") from exc
    try:  # a probe file of its own: processes checking one folder at once (ranks of a run) must not remove each other's
        with tempfile.NamedTemporaryFile(dir=path, prefix=".nav3d-write-test-"):
            pass
    except OSError as exc:
        raise PermissionError(f"output folder {str(path)!r} is not writable ({exc.strerror or exc}); choose another {option}") from exc
    return path
