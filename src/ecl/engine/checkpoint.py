"""Checkpoints: written atomically, read only with `torch.load(weights_only=True)`.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (no pickled objects),
so that the restricted unpickler reads it and a file carrying code is refused, never run.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["CHECKPOINT_FORMAT", "CheckpointError", "atomic_torch_save", "load_checkpoint", "fsync_dir"]

CHECKPOINT_FORMAT = "ecl-checkpoint-v1"
REQUIRED_KEYS = ("format", "model", "epoch", "config", "classes", "train_counts")


class CheckpointError(ValueError):
    """A file that is not a usable ecl checkpoint."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"not a valid ecl checkpoint: {path}: {reason}")
        self.path = str(path)
        self.reason = reason


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


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """`torch.save` to a temporary file beside `path`, fsync, then `os.replace` onto `path`.

    A crash at any moment leaves either the previous file or the new one under `path`, never a
    partial one; the temporary file is removed on failure.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
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


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read an ecl checkpoint safely (weights_only=True, no fallback); CheckpointError otherwise."""
    path = Path(path)
    if path.is_dir():
        candidate = path / "checkpoints" / "last.pt"
        if not candidate.is_file():
            raise CheckpointError(path, "a folder without checkpoints/last.pt")
        path = candidate
    if not path.exists():
        raise CheckpointError(path, "no such file")
    if path.stat().st_size == 0:
        raise CheckpointError(path, "empty file (0 bytes)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(path, f"refused by the safe loader (weights_only=True): {first}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError,
            AttributeError, TypeError, IndexError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(path, f"unreadable ({type(exc).__name__}: {text})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(path, f"not in the {CHECKPOINT_FORMAT} format")
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise CheckpointError(path, f"missing {', '.join(missing)}")
    return state
