"""The engine's file errors, in a module that imports nothing from ecl, so that every module that
raises them (checkpoint, run folder, data plan reading) can do so without importing back."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CheckpointError", "DataMismatchError"]


class CheckpointError(ValueError):
    """A file that is not a usable ecl checkpoint."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"not a valid ecl checkpoint: {path}: {reason}")
        self.path = str(path)
        self.reason = reason


class DataMismatchError(CheckpointError):
    """A valid checkpoint whose classes (or training counts) are not the data's."""

    def __init__(self, path: str | Path, reason: str):
        ValueError.__init__(self, f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason
