"""Checkpoints: written atomically, read only with `torch.load(weights_only=True)`.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (no pickled objects),
so that the restricted unpickler reads it and a file carrying code is refused, never run.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from ecl.atomic import atomic_write, fsync_dir

__all__ = ["CHECKPOINT_FORMAT", "CheckpointError", "atomic_torch_save", "load_checkpoint", "fsync_dir"]

CHECKPOINT_FORMAT = "ecl-checkpoint-v1"
REQUIRED_KEYS = ("format", "model", "epoch", "config", "classes", "train_counts")


class CheckpointError(ValueError):
    """A file that is not a usable ecl checkpoint."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"not a valid ecl checkpoint: {path}: {reason}")
        self.path = str(path)
        self.reason = reason


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """`torch.save` to a temporary file beside `path`, fsync, then `os.replace` onto `path`.

    A crash at any moment leaves either the previous file or the new one under `path`, never a
    partial one; the temporary file is removed on failure.
    """
    return atomic_write(path, lambda handle: torch.save(obj, handle))


ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format (a zip archive); ecl writes nothing else


def _sniff(path: Path) -> str | None:
    """Why `path` is not a torch.save zip archive (None when it looks like one)."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(ZIP_MAGIC):
        return None
    if head[:1] == b"\x80":
        return "a raw pickle, not a torch.save checkpoint: refused without unpickling it"
    if head.lstrip()[:1] in (b"{", b"["):
        return "a JSON/text file, not a torch.save checkpoint"
    return f"not a torch.save checkpoint (it starts with {head[:8]!r})"


def _unpickling_reason(exc: BaseException) -> str:
    """The specific line of torch's weights_only refusal (not its advice to disable it)."""
    text = str(exc)
    match = re.search(r"GLOBAL ([\w.]+)", text)
    if match:
        return (f"it references {match.group(1)}, which the safe loader (weights_only=True) refuses to "
                f"import; nothing in the file was run")
    skip = ("Weights only load failed", "Please file an issue", "Check the documentation", "In PyTorch")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith(skip)]
    return f"refused by the safe loader (weights_only=True): {lines[0] if lines else type(exc).__name__}"


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read an ecl checkpoint safely (weights_only=True, no fallback); CheckpointError otherwise.

    Only torch.save zip archives are unpickled at all; a raw pickle, JSON or random bytes are refused
    from their first bytes.
    """
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
        not_zip = _sniff(path)
    except OSError as exc:
        raise CheckpointError(path, f"cannot be read ({exc.strerror or exc})") from None
    if not_zip:
        raise CheckpointError(path, not_zip)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(path, _unpickling_reason(exc)) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, KeyError,
            AttributeError, TypeError, IndexError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        text = text.split(". ")[0]
        raise CheckpointError(path, f"truncated or corrupt ({type(exc).__name__}: {text})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(path, f"not in the {CHECKPOINT_FORMAT} format (no format key "
                                    f"{CHECKPOINT_FORMAT!r}: not written by ecl train)")
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise CheckpointError(path, f"missing {', '.join(missing)}")
    return state
