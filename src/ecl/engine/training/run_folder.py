"""The run folder: the one place that names its files, and reads and writes them safely.

Layout (every name below appears only in this module)::

    config.yaml            the resolved configuration (safe YAML)
    data.json              classes, counts, notes and the preprocessing of the data
    split.json             which images went to which split (the data layer's record)
    metrics.jsonl          one JSON line per completed epoch
    final.json             the final evaluation (its presence means "finished")
    checkpoints/last.pt    the last complete epoch; checkpoints/best_val.pt the best on validation
    plots/*.png            pictures of the final evaluation
    report.html            one self-contained page
    export/                model exports of `ecl export`
    tensorboard/           TensorBoard scalars (when installed)

Every file except metrics.jsonl (appended and fsynced line by line) is written through
`ecl.atomic`, so a kill at any moment leaves the previous or the new content, never a mix.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ecl.atomic import atomic_write_json, atomic_write_text, to_json
from ecl.engine.training.errors import CheckpointError

__all__ = ["RunFolderError", "RunFolder", "default_run_name", "check_writable", "read_jsonl", "MIN_FREE_BYTES"]

MIN_FREE_BYTES = 64 * 1024 * 1024  # refuse to start with less free space than this


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


class RunFolder:
    """One run folder at `path`: the names of its files and their readers and writers."""

    CONFIG = "config.yaml"
    REQUESTED = "requested"  # config.yaml: the keys whose used value differs from the requested one
    PROCESSES = "processes"  # config.yaml: the world size the run trained with
    MACHINE_KEYS = ("data.pipeline", "train.device")  # chosen for the machine: chosen again when read back
    DATA = "data.json"
    SPLIT = "split.json"
    METRICS = "metrics.jsonl"
    FINAL = "final.json"
    CHECKPOINTS = "checkpoints"
    LAST = "last.pt"
    BEST_VAL = "best_val.pt"
    PLOTS = "plots"
    REPORT = "report.html"
    EXPORT = "export"
    TENSORBOARD = "tensorboard"
    MARKERS = (CONFIG, CHECKPOINTS, METRICS)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    # --- names ---------------------------------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.path / self.CONFIG

    @property
    def data_file(self) -> Path:
        return self.path / self.DATA

    @property
    def split_file(self) -> Path:
        return self.path / self.SPLIT

    @property
    def metrics_file(self) -> Path:
        return self.path / self.METRICS

    @property
    def final_file(self) -> Path:
        return self.path / self.FINAL

    @property
    def checkpoints(self) -> Path:
        return self.path / self.CHECKPOINTS

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / self.LAST

    @property
    def best_checkpoint(self) -> Path:
        return self.checkpoints / self.BEST_VAL

    @property
    def plots(self) -> Path:
        return self.path / self.PLOTS

    @property
    def report_file(self) -> Path:
        return self.path / self.REPORT

    @property
    def tensorboard(self) -> Path:
        return self.path / self.TENSORBOARD

    # --- the folder ----------------------------------------------------------------------------
    def is_run_folder(self) -> bool:
        """True when the folder holds one of config.yaml, checkpoints/, metrics.jsonl."""
        return any((self.path / marker).exists() for marker in self.MARKERS)

    def is_finished(self) -> bool:
        return self.final_file.is_file()

    def has_checkpoint(self) -> bool:
        return self.last_checkpoint.is_file()

    @classmethod
    def check_new(cls, out: str | os.PathLike[str], *, overwrite: bool = False) -> "RunFolder":
        """Refuse `out` as a new run's folder (RunFolderError) before anything is created: a file,
        a non-empty folder without `overwrite`, a non-run folder even with it."""
        run = cls(out)
        folder = run.path
        if folder.exists() and not folder.is_dir():
            raise RunFolderError(f"out={folder} exists and is not a folder")
        if folder.is_dir() and any(folder.iterdir()):
            if not overwrite:
                raise RunFolderError(
                    f"the run folder {folder} exists and is not empty; choose another out=DIR, "
                    f"continue it with `ecl train --resume {folder}`, or replace it with --overwrite"
                )
            if not run.is_run_folder():
                raise RunFolderError(
                    f"--overwrite refused: {folder} is not an ecl run folder (no {cls.CONFIG}, "
                    f"{cls.CHECKPOINTS}/ or {cls.METRICS}); it is left untouched"
                )
        return run

    @classmethod
    def create(cls, out: str | os.PathLike[str], *, overwrite: bool = False) -> "RunFolder":
        """Create `out` for a new run. An existing non-empty folder is an error unless `overwrite`,
        and even then only an ecl run folder is cleared — never an arbitrary folder of the user's."""
        run = cls.check_new(out, overwrite=overwrite)
        folder = run.path
        if folder.is_dir() and any(folder.iterdir()):
            shutil.rmtree(folder)
        check_writable(folder)
        run.checkpoints.mkdir(parents=True, exist_ok=True)
        return run

    def check_writable(self) -> None:
        check_writable(self.path)

    def clean_stale_temporaries(self) -> list[Path]:
        """Remove the `.NAME.XXXX.tmp` files that a kill during an atomic write left behind."""
        removed = []
        for folder in (self.path, self.checkpoints):
            for tmp in folder.glob(".*.tmp") if folder.is_dir() else ():
                try:
                    tmp.unlink()
                    removed.append(tmp)
                except OSError:
                    pass
        return removed

    # --- files ---------------------------------------------------------------------------------
    def write_config(self, config: Any, requested: Any = None, world_size: int | None = None) -> None:
        """config.yaml: the values the run used; `requested:` the keys the user left to be chosen
        (null/auto) or that the run changed, as requested; `processes:` the world size."""
        import yaml

        from ecl.config import config_to_dict

        used = config_to_dict(config)
        out: dict[str, Any] = dict(used)
        if requested is not None:
            asked = config_to_dict(requested)
            out[self.REQUESTED] = {f"{section}.{key}": value for section, values in asked.items()
                                   if isinstance(values, dict) for key, value in values.items()
                                   if used[section][key] != value}
        if world_size is not None:
            out[self.PROCESSES] = {"world_size": int(world_size)}
        atomic_write_text(self.config_file, yaml.safe_dump(out, sort_keys=False))

    def read_config(self, *, as_requested: bool = False) -> Any:
        """config.yaml (safe_load), validated: the values the run used, except the choices made for
        the machine (`MACHINE_KEYS`: data path, device), put back as requested so that a resumed or
        evaluated run chooses them again where it runs (as its checkpoints' config does);
        `as_requested`: every value put back as requested (what the run was asked for, as
        `ecl compare` compares it); RunFolderError when it is missing or bad."""
        import yaml

        from ecl.config import config_from_dict, validate

        path = self.config_file
        if not path.is_file():
            raise RunFolderError(f"{self.path} is not an ecl run folder: no {self.CONFIG}")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise RunFolderError(f"{path}: not a valid YAML config: {exc}") from None
        if isinstance(raw, dict):
            raw = dict(raw)
            raw.pop(self.PROCESSES, None)
            for dotted, value in (raw.pop(self.REQUESTED, None) or {}).items():
                section, _, key = str(dotted).partition(".")
                if (as_requested or dotted in self.MACHINE_KEYS) and isinstance(raw.get(section), dict):
                    raw[section] = {**raw[section], key: value}
        return validate(config_from_dict(raw, source=str(path)))

    def write_data(self, record: dict[str, Any]) -> None:
        atomic_write_json(self.data_file, record)

    def read_data(self) -> dict[str, Any] | None:
        """data.json's object, or None when it is missing or unreadable."""
        return _read_json_object(self.data_file)

    def write_split(self, record: dict[str, Any]) -> None:
        """split.json (the data layer's split record); an existing one is kept as it is."""
        if not self.split_file.exists():
            atomic_write_text(self.split_file, json.dumps(record, indent=1, sort_keys=False) + "\n")

    def read_split(self) -> dict[str, Any] | None:
        """split.json's record of an earlier build of this run, or None."""
        return _read_json_object(self.split_file)

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Append one JSON line to metrics.jsonl and fsync it."""
        with open(self.metrics_file, "a", encoding="utf-8") as handle:
            handle.write(to_json(record, indent=None) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def read_metrics(self) -> list[dict[str, Any]]:
        return read_jsonl(self.metrics_file)

    def keep_metrics(self, records: list[dict[str, Any]]) -> None:
        """Replace metrics.jsonl with exactly `records` (on resume: drop lines past the checkpoint)."""
        atomic_write_text(self.metrics_file, "".join(to_json(r, indent=None) + "\n" for r in records))

    def write_final(self, final: dict[str, Any]) -> None:
        atomic_write_json(self.final_file, final)

    def read_final(self) -> dict[str, Any]:
        """final.json's content; RunFolderError when it cannot be read."""
        try:
            return json.loads(self.final_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RunFolderError(f"{self.final_file}: cannot read the finished run's metrics: {exc}") from None

    def write_report(self, final: dict[str, Any] | None = None) -> Path:
        """report.html from final.json (or `final`, its content before it is written), metrics.jsonl, data.json,
        plots/ and config.yaml."""
        from ecl.evaluation.report import write_report

        return write_report(self.report_file, final=self.final_file, metrics=self.metrics_file,
                            config=self.config_file, plots=self.plots, final_data=final, data=self.data_file)

    def has_plots(self) -> bool:
        """True when plots/ holds at least one picture."""
        return self.plots.is_dir() and any(self.plots.glob("*.png"))

    # --- checkpoints and exports ---------------------------------------------------------------
    @classmethod
    def of_checkpoint(cls, checkpoint: Path) -> "RunFolder | None":
        """The run folder holding `checkpoint` in its checkpoints/ folder, else None."""
        if checkpoint.parent.name != cls.CHECKPOINTS:
            return None
        run = cls(checkpoint.parent.parent)
        return run if run.config_file.is_file() else None

    @classmethod
    def resolve(cls, target: str | os.PathLike[str]) -> tuple[Path, "RunFolder | None"]:
        """(checkpoint file, run folder or None) of a run folder or a checkpoint file."""
        path = Path(target).expanduser()
        if path.is_dir():
            run = cls(path)
            if not run.has_checkpoint():
                raise CheckpointError(path, f"a folder without {cls.CHECKPOINTS}/{cls.LAST}")
            return run.last_checkpoint, run
        return path, None

    def export_path(self, checkpoint: Path, suffix: str) -> Path:
        """export/model<suffix> for last.pt, export/<stem><suffix> for another checkpoint."""
        stem = "model" if checkpoint.name == self.LAST else checkpoint.stem
        return self.path / self.EXPORT / f"{stem}{suffix}"


def _read_json_object(path: Path) -> dict[str, Any] | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) else None
