"""The checkpoint format: built here, written atomically, read only with `weights_only=True`.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts (no pickled objects),
so that the restricted unpickler reads it and a file carrying code is refused, never run. Keys:
format, model, objective (α/β/γ among its buffers), optimizer, scaler, epoch, config, classes,
train_counts, data (the run's data plan, `DataPlan.as_dict`), best_val, record (the epoch's metrics
line, restored when a kill prevented its append). No generator state: each epoch reseeds its
generators from (seed, epoch). This module writes them and reads them back: `restore` (a resumed
run), `checkpoint_plan` (`ecl predict`/`export`), `open_checkpoint` (the network).
Checkpoints written before ecl-checkpoint-v1 carried `scheduler`, `weights` and `rng` too (never read).
"""

from __future__ import annotations

import math
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import torch
from torch import nn

from ecl.atomic import atomic_write, fsync_dir
from ecl.engine.training.errors import CheckpointError, DataMismatchError

if TYPE_CHECKING:
    from ecl.config import Config
    from ecl.data.plan import DataPlan

__all__ = ["CHECKPOINT_FORMAT", "CheckpointError", "DataMismatchError", "build_checkpoint", "atomic_torch_save", "load_checkpoint",
           "check_matches_data", "checkpoint_classes", "checkpoint_config", "load_weights", "open_checkpoint",
           "restore", "checkpoint_plan", "fsync_dir"]

CHECKPOINT_FORMAT = "ecl-checkpoint-v1"
REQUIRED_KEYS = ("format", "model", "epoch", "config", "classes", "train_counts")


def _short(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return f"[{shown}{', ...' if len(names) > limit else ''}]"


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
    from ecl.engine.training.run_folder import RunFolder

    path, _ = RunFolder.resolve(path)
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


def build_checkpoint(ctx: Any, *, epoch: int, best_val: float, record: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint dict of a RunContext after `epoch` completed epochs."""
    from ecl.config import config_to_dict

    config, bundle = ctx.config, ctx.bundle
    return {
        "format": CHECKPOINT_FORMAT,
        "model": ctx.network.state_dict(),
        "objective": ctx.objective.state_dict(),
        "optimizer": ctx.optimizer.state_dict(),
        "scaler": ctx.scaler.state_dict() if ctx.scaler.is_enabled() else {},
        "epoch": epoch,
        "config": config_to_dict(config),
        "classes": list(bundle.classes),
        "train_counts": [int(c) for c in bundle.train_counts],
        "data": ctx.plan.as_dict(),
        "best_val": best_val,
        "record": record,
    }


def checkpoint_classes(state: dict[str, Any], where: Path) -> list[str]:
    """The class names of a checkpoint (CheckpointError unless a list of ≥ 2 names)."""
    classes = state["classes"]
    if not isinstance(classes, (list, tuple)) or len(classes) < 2:
        raise CheckpointError(where, f"its classes are not a list of ≥ 2 names: {classes!r}")
    return [str(c) for c in classes]


def check_matches_data(state: dict[str, Any], where: Path, data_name: str, classes: Sequence[Any],
                       train_counts: Sequence[int] | None = None) -> None:
    """The one compatibility check: the checkpoint's classes (and, for resuming, its training class
    counts) are the data's; CheckpointError naming the first difference otherwise."""
    saved = checkpoint_classes(state, where)
    data_classes = [str(c) for c in classes]
    if saved != data_classes:
        wrong = [(i, a, b) for i, (a, b) in enumerate(zip(saved, data_classes)) if a != b]
        first = (f"; first: class {wrong[0][0]} is {wrong[0][1]!r} in the checkpoint, {wrong[0][2]!r} in the data"
                 if wrong else "")
        raise DataMismatchError(where, f"checkpoint classes {_short(saved)} ({len(saved)}) differ from the data's "
                                       f"{_short(data_classes)} ({len(data_classes)}, dataset {data_name}){first}")
    if train_counts is not None and [int(c) for c in state["train_counts"]] != [int(c) for c in train_counts]:
        raise DataMismatchError(where, f"its training class counts {list(state['train_counts'])} differ "
                                       f"from {data_name}'s {list(train_counts)}")


def checkpoint_config(state: dict[str, Any], where: Path) -> "Config":
    """The checkpoint's own config dict, validated (CheckpointError when it is not one)."""
    from ecl.config import ConfigError, config_from_dict, validate

    raw = state["config"]
    if not isinstance(raw, dict):
        raise CheckpointError(where, f"its config is a {type(raw).__name__}, not a mapping")
    try:
        return validate(config_from_dict(raw, source=f"{where} (config)"))
    except ConfigError as exc:
        raise CheckpointError(where, f"its config is invalid: {exc}") from None


def load_weights(network: nn.Module, state: dict[str, Any], where: Path, backbone: str) -> nn.Module:
    """Load the checkpoint's model weights into `network` (strict); CheckpointError when they do not fit."""
    if not isinstance(state["model"], dict):
        raise CheckpointError(where, "its model entry is not a state dict")
    try:
        network.load_state_dict(state["model"], strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(where, f"its weights do not fit model {backbone!r}: {first}") from None
    return network


def open_checkpoint(target: str | Path) -> tuple[nn.Module, "Config", dict[str, Any], Path, Any]:
    """(network in eval mode on the CPU, config, checkpoint dict, checkpoint path, RunFolder or None)
    of a run folder or checkpoint file. The config is the run folder's config.yaml, else the
    checkpoint's own."""
    from ecl.engine.training.run_folder import RunFolder
    from ecl.engine.training.context import build_network

    path, run = RunFolder.resolve(target)
    state = load_checkpoint(path)
    config = run.read_config() if run is not None else checkpoint_config(state, path)
    classes = checkpoint_classes(state, path)
    try:
        network = build_network(config, len(classes), load_weights=False)
    except ValueError as exc:  # e.g. an unknown backbone name in the stored config
        raise CheckpointError(path, f"cannot rebuild its network: {exc}") from None
    load_weights(network, state, path, config.model.backbone)
    return network.float().cpu().eval(), config, state, path, run


def restore(ctx: Any, state: dict[str, Any]) -> tuple[int, float, dict[str, Any] | None]:
    """Load last.pt's weights, objective, optimiser and scaler into a RunContext (no generator
    state: each epoch reseeds from (seed, epoch)); returns (completed epochs, best validation value,
    the epoch's metrics line or None)."""
    ctx.network.load_state_dict(state["model"])
    ctx.objective.load_state_dict(state["objective"])
    ctx.optimizer.load_state_dict(state["optimizer"])
    if ctx.scaler.is_enabled() and state.get("scaler"):
        ctx.scaler.load_state_dict(state["scaler"])
    record = state.get("record") if isinstance(state.get("record"), dict) else None
    return int(state["epoch"]), float(state.get("best_val", -math.inf)), record


def checkpoint_plan(state: dict[str, Any], config: "Config", checkpoint: Path, run: Any) -> "DataPlan":
    """The data plan a checkpoint was trained with: its "data" entry, else the run's data.json, else
    resolved again from the config's data (checkpoints of the first versions)."""
    from ecl.data.plan import PLAN_KEY, DataPlan, PlanError, resolve_data_plan

    raw, where = state.get("data"), checkpoint
    if not isinstance(raw, dict) and run is not None:
        data, where = run.read_data() or {}, run.data_file
        old = all(k in data for k in ("image_size", "style", "mean", "std"))  # data.json of the first versions
        raw = data.get(PLAN_KEY) if isinstance(data.get(PLAN_KEY), dict) else (data if old else None)
    if isinstance(raw, dict):
        try:
            return DataPlan.from_dict(raw)
        except PlanError as exc:
            raise CheckpointError(where, str(exc)) from None
    from ecl.data import build_datasets

    return resolve_data_plan(config, build_datasets(config.data))
