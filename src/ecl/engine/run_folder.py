"""The run folder: where it is, that it may be written, and how its files are written safely.

Layout: config.yaml, metrics.jsonl, final.json, data.json, split.json, checkpoints/last.pt,
plots/*.png, report.html.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ecl.atomic import atomic_write_text

__all__ = [
    "RunFolderError",
    "default_run_name",
    "prepare_run_folder",
    "atomic_write_text",
    "write_json",
    "append_jsonl",
    "read_jsonl",
    "truncate_jsonl",
    "check_writable",
    "MIN_FREE_BYTES",
]

MIN_FREE_BYTES = 64 * 1024 * 1024  # refuse to start with less free space than this
RUN_MARKERS = ("config.yaml", "checkpoints", "metrics.jsonl")


class RunFolderError(RuntimeError):
    """The run folder cannot be used as asked."""


def default_run_name(method: str, dataset: str, seed: int) -> str:
    """`runs/<method>-<dataset>-seed<seed>-<YYYYmmdd-HHMMSS>`."""
    return str(Path("runs") / f"{method}-{dataset}-seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}")


def check_writable(folder: Path, min_free_bytes: int = MIN_FREE_BYTES) -> None:
    """RunFolderError when `folder` cannot be written or its disk is (nearly) full."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".ecl-write-test.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise RunFolderError(f"cannot write to the run folder {folder}: {exc.strerror or exc}") from None
    free = shutil.disk_usage(folder).free
    if free < min_free_bytes:
        raise RunFolderError(
            f"not enough free disk space for the run folder {folder}: {free / 2**20:.0f} MiB free, "
            f"need at least {min_free_bytes / 2**20:.0f} MiB"
        )


def prepare_run_folder(out: str | Path, *, overwrite: bool = False) -> Path:
    """Create `out` for a new run. An existing non-empty folder is an error unless `overwrite`,
    and even then only an ecl run folder (one holding config.yaml/checkpoints/metrics.jsonl) is
    cleared — never an arbitrary folder of the user's."""
    folder = Path(out).expanduser()
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(f"out={folder} exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        if not overwrite:
            raise RunFolderError(
                f"the run folder {folder} exists and is not empty; choose another out=DIR, "
                f"continue it with `ecl train --resume {folder}`, or replace it with --overwrite"
            )
        if not any((folder / marker).exists() for marker in RUN_MARKERS):
            raise RunFolderError(
                f"--overwrite refused: {folder} is not an ecl run folder (no config.yaml, "
                f"checkpoints/ or metrics.jsonl); it is left untouched"
            )
        shutil.rmtree(folder)
    check_writable(folder)
    (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
    return folder


def write_json(path: Path, data: Any) -> Path:
    """Atomically write `data` as indented JSON (NaN written as null)."""
    return atomic_write_text(path, json.dumps(_nan_to_none(data), indent=2, allow_nan=False) + "\n")


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(v) for v in value]
    return value


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line and fsync it."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(_nan_to_none(record), allow_nan=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every complete JSON line of `path` (a torn last line is skipped)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def truncate_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    """Replace `path` with exactly `records` (used on resume to drop lines past the checkpoint)."""
    text = "".join(json.dumps(_nan_to_none(r), allow_nan=False) + "\n" for r in records)
    atomic_write_text(path, text)
