"""Atomic file writes: a temporary file beside the target, fsync, `os.replace`, fsync the folder.

A crash at any moment leaves either the previous file or the new one under the final name, never
a partial one; the temporary file is removed on failure. The one writer of every ecl file:
checkpoints, run-folder JSON, split records, report.html and model exports (imported by
`ecl.data`, `ecl.evaluation`, `ecl.models` and `ecl.engine`, so it depends on nothing in `ecl`).
`exclusive=True` refuses to replace an existing file (FileExistsError), for outputs that must
never overwrite a user's file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable

__all__ = ["fsync_dir", "atomic_write", "atomic_write_path", "atomic_write_text", "atomic_write_json", "to_json"]


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


def _publish(tmp: str, path: Path, exclusive: bool) -> None:
    """Move the finished temporary file onto `path` (never over an existing file when `exclusive`)."""
    if not exclusive:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # fails when `path` exists, even if it appeared meanwhile
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system
        if path.exists() or path.is_symlink():
            raise FileExistsError(f"{path} already exists") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def atomic_write_path(path: str | Path, write: Callable[[str], None], *, exclusive: bool = False) -> Path:
    """Call `write(tmp_name)` (a library that writes by file name) on a temporary file beside
    `path`, fsync it, then move it onto `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        _publish(tmp, path, exclusive)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    fsync_dir(path.parent)
    return path


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None], *, exclusive: bool = False) -> Path:
    """Call `write(handle)` on a temporary binary file beside `path`, then move it onto `path`."""

    def to_file(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            write(handle)

    return atomic_write_path(path, to_file, exclusive=exclusive)


def atomic_write_text(path: str | Path, text: str, *, exclusive: bool = False) -> Path:
    """Atomically write `text` (UTF-8) to `path`."""
    return atomic_write(path, lambda handle: handle.write(text.encode("utf-8")), exclusive=exclusive)


def to_json(data: Any, indent: int | None = 2) -> str:
    """`data` as JSON text (NaN written as null; a trailing newline when indented)."""
    text = json.dumps(_nan_to_none(data), indent=indent, allow_nan=False)
    return text + "\n" if indent is not None else text


def atomic_write_json(path: str | Path, data: Any, *, exclusive: bool = False) -> Path:
    """Atomically write `data` as indented JSON (NaN written as null)."""
    return atomic_write_text(path, to_json(data), exclusive=exclusive)


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(v) for v in value]
    return value
