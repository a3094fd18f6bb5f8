"""Atomic file writes: a temporary file beside the target, fsync, `os.replace`, fsync the folder.

A crash at any moment leaves either the previous file or the new one under the final name, never
a partial one; the temporary file is removed on failure. Used for checkpoints, run-folder JSON and
split records (imported by `ecl.data` and `ecl.engine`, so it depends on nothing in `ecl`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

__all__ = ["fsync_dir", "atomic_write", "atomic_write_text"]


def fsync_dir(folder: Path) -> None:
    """Make a rename inside `folder` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call `write(handle)` on a temporary binary file beside `path`, then move it onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Atomically write `text` (UTF-8) to `path`."""
    return atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))
