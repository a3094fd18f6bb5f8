"""`ecl train`: new or resumed run → build → restore → fit → finish."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any, Callable

from ecl.config import Config, validate
from ecl.engine.training import distributed as dist_utils
from ecl.data.plan import PLAN_KEY
from ecl.engine.training.checkpoint import CheckpointError, check_matches_data, load_checkpoint, restore
from ecl.engine.training.loop import DataLoaderWorkerError, FinishInterrupted, fit, worker_death
from ecl.engine.training.protocol import classifier_rate, resolve_config, resolve_protocol
from ecl.engine.training.results import finish_run
from ecl.engine.training.run_folder import RunFolder, RunFolderError, default_run_name
from ecl.engine.training.context import RunContext, build_run, with_plan
from ecl.engine.training.announce import startup_lines

__all__ = ["train"]

Log = Callable[[str], None]


def _read_data(config: Config, run: RunFolder | None) -> Any:
    """The run's data; a resumed run reuses its saved split record (a refusal names the file)."""
    from ecl.data import DataError, build_datasets

    saved = run.read_split() if run is not None else None
    try:
        return build_datasets(config.data, saved_split=saved)
    except DataError as exc:
        if saved is not None and str(exc).startswith("saved split record"):
            raise DataError(f"{run.split_file}: {exc}") from None
        raise


def train(config: Config | None = None, *, resume: str | Path | None = None, overwrite: bool = False,
          log: Log = lambda text: print(text, file=sys.stderr)) -> dict[str, Any]:
    """Train a run (new, or continued from `resume`) and return final.json's content."""
    wall_start = time.perf_counter()
    rank, world, local_rank, _ = dist_utils.setup_from_env()
    if resume is not None:
        run = RunFolder(resume)
        config = run.read_config()
        if run.is_finished():  # a finished run is left exactly as it is
            if rank == 0:
                log(f"{run.path} has already finished ({run.final_file}); nothing to resume")
            return _read_final_quietly(run)
        state = _resume_state(run, config, log if rank == 0 else None)
    else:
        config, run, state = _new_run(config, overwrite, rank == 0)

    # data, device and network first: a failed start reports its error and creates no folder
    bundle = _read_data(config, run if (rank == 0 and state is not None) else None)
    requested = config
    if state is not None:
        check_matches_data(state, run.last_checkpoint, config.data.name, bundle.classes, bundle.train_counts)
    ctx = build_run(resolve_config(config), bundle, rank=rank, world=world, local_rank=local_rank,
                    pretrained_download=state is None)  # no last.pt: start weights as a new run has them
    config = ctx.config  # with the plan's size, recipe, flip and erasing
    if resume is None:
        run = _create_run(ctx, requested, overwrite)
    start_epoch, best_val = _restore(ctx, run, state, log) if state is not None else (0, -math.inf)
    if rank == 0 and start_epoch < config.train.epochs:
        for line in startup_lines(ctx, run):
            log(line)
        alpha = ctx.objective.weights["alpha"] if bool(ctx.objective.calibrated) else None
        rate = classifier_rate(config.train.lr, alpha, config.train.warmup_epochs + 1)
        log(f"{resolve_protocol(config).line()}; {rate}")
    fit(ctx, run, start_epoch, best_val, log)
    final: dict[str, Any] = {}
    if rank == 0:
        final = _finish(ctx, run, log)
        log(f"wall time {time.perf_counter() - wall_start:.1f}s")
    if world > 1:
        dist_utils.barrier()
        dist_utils.cleanup()
    return final


def _read_final_quietly(run: RunFolder) -> dict[str, Any]:
    try:
        return run.read_final()
    except RunFolderError:
        return {}


def _new_run(config: Config | None, overwrite: bool, is_main: bool) -> tuple[Config, RunFolder, None]:
    """Validate the config and name the run folder; rank 0 checks that it may be used (nothing is
    created until the data, device and network are ready)."""
    config = validate(config if config is not None else Config())
    if config.model.pretrained:  # offline without a cached copy: one line now, not after reading the data
        from ecl.models import check_pretrained_weights

        check_pretrained_weights(config.model.backbone)
    if config.out is None:
        config.out = default_run_name(config.loss.method, config.data.name, config.seed)
    run = RunFolder.check_new(config.out, overwrite=overwrite) if is_main else RunFolder(config.out)
    return config, run, None


def _create_run(ctx: RunContext, requested: Config, overwrite: bool) -> RunFolder:
    """Rank 0 creates the folder and writes config.yaml, data.json and split.json; all ranks wait."""
    run = RunFolder(ctx.config.out)
    if ctx.is_main:
        run = RunFolder.create(ctx.config.out, overwrite=overwrite)
        _write_run_files(run, ctx, requested)
    dist_utils.barrier()
    return run


def _resume_state(run: RunFolder, config: Config, log: Log | None) -> dict[str, Any] | None:
    """last.pt of a run being resumed (None when no epoch completed); rank 0 checks the folder."""
    state = None
    if run.last_checkpoint.exists():
        state = load_checkpoint(run.last_checkpoint)
        saved = state.get("config") if isinstance(state.get("config"), dict) else {}
        saved_data = saved.get("data") if isinstance(saved.get("data"), dict) else {}
        if saved_data.get("name") not in (None, config.data.name):
            raise CheckpointError(run.last_checkpoint, f"it was trained on data.name={saved_data.get('name')} "
                                                       f"but {run.config_file} says {config.data.name}")
    if log is not None:
        run.check_writable()
        for tmp in run.clean_stale_temporaries():
            log(f"removed {tmp} (left by an interrupted write)")
        if state is None:
            log(f"{run.path} has no checkpoint yet: starting from epoch 1 with its saved configuration")
    return state


def _write_run_files(run: RunFolder, ctx: RunContext, requested: Config) -> None:
    """config.yaml (the values used, and what was requested), data.json (with the data plan and the
    processes that trained: world size, backend) and split.json."""
    config, bundle, world = ctx.config, ctx.bundle, ctx.world
    run.write_config(with_plan(config, ctx.plan, ctx.device), requested=requested, world_size=world)
    run.write_data({
        "dataset": config.data.name, "classes": list(bundle.classes),
        "train_counts": list(bundle.train_counts), "test_counts": list(bundle.test_counts),
        "val_counts": bundle.val_counts, "image_size": ctx.plan.image_size,
        "notes": list(bundle.notes), PLAN_KEY: ctx.plan.as_dict(),
        "distributed": {"world_size": world, "backend": dist_utils.backend_name()},
    })
    run.write_split(bundle.split_record)


def _restore(ctx: RunContext, run: RunFolder, state: dict[str, Any], log: Log) -> tuple[int, float]:
    """Weights, objective, optimiser and scaler of last.pt; metrics.jsonl cut back to it.

    No generator state: every epoch reseeds all of them from (seed, epoch) (loop._run_epoch)."""
    start_epoch, best_val, record = restore(ctx, state)
    if ctx.is_main:
        records = [r for r in run.read_metrics() if r.get("epoch", 0) <= start_epoch]
        if len(records) < start_epoch and record:
            records.append(record)  # the line that the kill prevented
        run.keep_metrics(records)
        log(f"resuming {run.path} after epoch {start_epoch}/{ctx.config.train.epochs}")
    return start_epoch, best_val


def _finish(ctx: RunContext, run: RunFolder, log: Log) -> dict[str, Any]:
    try:
        return finish_run(ctx, run, log=log)
    except KeyboardInterrupt:
        raise FinishInterrupted(run) from None
    except OSError as exc:
        raise RunFolderError(f"could not write the final results in {run.path}: {exc.strerror or exc}; "
                             f"the checkpoint is complete — `ecl train --resume {run.path}` "
                             f"redoes the final evaluation") from None
    except RuntimeError as exc:
        if worker_death(exc):
            raise DataLoaderWorkerError(f"a data-loading worker process died during the final evaluation "
                                        f"({str(exc).strip().splitlines()[0]}); `ecl train --resume {run.path}` "
                                        f"redoes it") from None
        raise
