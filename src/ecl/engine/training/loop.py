"""The epoch loop of `ecl train`: stop flag, per-epoch record, checkpoint, TensorBoard, best on validation."""

from __future__ import annotations

import math
import signal
import sys
from typing import Any, Callable

import torch

from ecl.engine.training import distributed as dist_utils
from ecl.engine.training.checkpoint import atomic_torch_save, build_checkpoint
from ecl.engine.training.epoch import EpochControl, EpochResult, NonFiniteLossError, evaluate, train_one_epoch
from ecl.engine.training.protocol import classifier_rate
from ecl.engine.training.results import geometry_now
from ecl.engine.training.run_folder import RunFolder, RunFolderError
from ecl.seeding import derive_seed, seed_everything
from ecl.engine.training.context import RunContext

__all__ = ["TrainingInterrupted", "FinishInterrupted", "DataLoaderWorkerError", "StopFlag", "is_new_best", "fit", "worker_death",
           "epoch_line"]


class TrainingInterrupted(RuntimeError):
    """SIGTERM/SIGINT arrived: the current epoch was abandoned; the last checkpoint is complete.

    The message says what `ecl train --resume` will do: continue after the epoch in last.pt, or —
    before the first checkpoint — start again from epoch 1 with the run's saved config.yaml (the
    folder holds it; `_resume_state` finds no last.pt and the run is built afresh).
    """

    def __init__(self, signum: int, run: RunFolder, epoch: int):
        name = signal.Signals(signum).name
        if epoch > 0 and run.last_checkpoint.is_file():
            text = (f"{name} received: stopped; {run.last_checkpoint} holds epoch {epoch} "
                    f"— `ecl train --resume {run.path}` continues from epoch {epoch + 1}")
        else:
            text = (f"{name} received: stopped in epoch {epoch + 1}, before the first checkpoint; "
                    f"`ecl train --resume {run.path}` starts the run again from epoch 1 with its saved "
                    f"configuration ({run.config_file.name})")
        super().__init__(text)
        self.signum = signum
        self.exit_code = 128 + signum


class FinishInterrupted(TrainingInterrupted):
    """Ctrl-C during the final evaluation, plots or report: final.json (written last) is not there."""

    def __init__(self, run: RunFolder):
        RuntimeError.__init__(self, f"SIGINT received during the final evaluation, plots or report; training is "
                                    f"complete in {run.last_checkpoint} — `ecl train --resume {run.path}` "
                                    f"redoes the final results")
        self.signum = signal.SIGINT
        self.exit_code = 128 + signal.SIGINT


class DataLoaderWorkerError(RuntimeError):
    """A data-loading worker process died (killed, out of memory, crashed in native code)."""


def worker_death(exc: BaseException) -> bool:
    """True for torch's "DataLoader worker (pid ...) exited unexpectedly / is killed" errors."""
    text = str(exc)
    return isinstance(exc, RuntimeError) and "DataLoader worker" in text and (
        "exited unexpectedly" in text or "killed by signal" in text or "is killed" in text)


def is_new_best(value: float | None, best: float) -> bool:
    """A validation metric becomes the best only when it is finite and beats `best` (NaN never does)."""
    return value is not None and math.isfinite(value) and value > best


class StopFlag:
    """SIGTERM/SIGINT set a flag that the loop checks between steps."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __call__(self) -> bool:
        return self.signum is not None

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread
                pass

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C stops at once
        self.signum = signum

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _tensorboard(run: RunFolder):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard not installed: scalars stay in metrics.jsonl
        return None
    try:
        return SummaryWriter(log_dir=str(run.tensorboard))
    except Exception:
        return None


def _quick_eval(ctx: RunContext, loader: Any) -> dict[str, Any]:
    """top-1 and balanced accuracy of one pass, summed over ranks."""
    from ecl.evaluation import metrics_from_confusion

    confusion = evaluate(ctx, loader).confusion
    if ctx.world > 1:
        confusion = dist_utils.all_reduce_sum(torch.from_numpy(confusion).to(ctx.device)).cpu().numpy()
    metrics = metrics_from_confusion(confusion, ctx.bundle.train_counts,
                                     many_threshold=ctx.config.eval.many_threshold,
                                     few_threshold=ctx.config.eval.few_threshold)
    return {"top1": metrics["top1"], "balanced_accuracy": metrics["balanced_accuracy"]}


def calibration_epoch(ctx: RunContext) -> int:
    """0-based epoch whose end sets the auto weights: the first after warm-up (never a warm-up epoch)."""
    return ctx.config.train.warmup_epochs


def _end_epoch(ctx: RunContext, result: EpochResult, epoch: int, log: Callable[[str], None]) -> None:
    """Sample-weighted mean component losses over all ranks → the objective's epoch hook (auto weights).

    Each rank's means are weighted by its images (Σ_rank mean·images / Σ_rank images), so the
    result is the global sample-weighted mean. Warm-up epochs never calibrate.
    """
    objective = ctx.objective
    if objective.weighting != "auto" or bool(objective.calibrated) or epoch < calibration_epoch(ctx):
        return
    keys = sorted(k for k in result.means if k != "total")
    images = float(result.images) if keys else 0.0
    sums = [result.means[k] * images for k in keys] + [images]
    if ctx.world > 1:
        sums = dist_utils.all_reduce_sum(torch.tensor(sums, dtype=torch.float64, device=ctx.device)).tolist()
    if not keys or sums[-1] <= 0:
        return
    objective.end_epoch({k: total / sums[-1] for k, total in zip(keys, sums[:-1])})
    if ctx.is_main:
        warm = ctx.config.train.warmup_epochs
        after = f" (the first after {warm} warm-up epoch{'s' if warm != 1 else ''})" if warm else ""
        weights = " ".join(f"{k}={v:g}" for k, v in objective.weights.items())
        rate = classifier_rate(ctx.config.train.lr, objective.weights["alpha"])
        log(f"auto loss weights calibrated on epoch {epoch + 1}{after}: {weights}; {rate}")


def _record(ctx: RunContext, epoch: int, result: EpochResult, loaders: dict[str, Any]) -> dict[str, Any]:
    """metrics.jsonl's line of a completed epoch (evaluations run on every rank)."""
    config = ctx.config
    record: dict[str, Any] = {"epoch": epoch + 1, "lr": result.lr}
    record.update({f"loss/{k}": v for k, v in result.means.items()})
    record.update({f"weights/{k}": float(v) for k, v in ctx.objective.weights.items()})
    record["lr_classifier"] = result.lr * ctx.objective.weights["alpha"]  # the classifier loss's rate lr×α
    if epoch + 1 == config.train.epochs or (epoch + 1) % config.eval.every == 0:
        record.update({f"eval/{k}": v for k, v in _quick_eval(ctx, loaders["test"]).items()})
    record["nonfinite_steps"] = result.nonfinite_steps
    record["images_per_s"] = result.images_per_s
    record["seconds"] = result.seconds
    if loaders["val"] is not None:
        record.update({f"val/{k}": v for k, v in _quick_eval(ctx, loaders["val"]).items()})
    every = config.eval.geometry_every
    if ctx.is_main and every and (epoch + 1) % every == 0:
        record.update({f"geometry/{k}": v for k, v in geometry_now(ctx).items()})
    return record


def _save(ctx: RunContext, run: RunFolder, epoch: int, record: dict[str, Any], best_val: float) -> float:
    """last.pt (and best_val.pt on a new best), then the metrics line; returns the best so far."""
    value = record.get("val/balanced_accuracy")
    is_best = is_new_best(value, best_val)
    if is_best:
        best_val = value  # type: ignore[assignment]
    checkpoint = build_checkpoint(ctx, epoch=epoch + 1, best_val=best_val, record=record)
    try:
        atomic_torch_save(checkpoint, run.last_checkpoint)
        if is_best:
            atomic_torch_save(checkpoint, run.best_checkpoint)
        run.append_metrics(record)
    except OSError as exc:
        raise RunFolderError(
            f"could not write epoch {epoch + 1}'s checkpoint or metrics in {run.path}: {exc.strerror or exc}; "
            f"stopped. {run.last_checkpoint} still holds the last complete epoch — free space, then "
            f"`ecl train --resume {run.path}`") from None
    return best_val


def _report(ctx: RunContext, record: dict[str, Any], writer: Any, log: Callable[[str], None]) -> None:
    epoch = record["epoch"]
    if writer is not None:
        for key, value in record.items():
            if isinstance(value, (int, float)) and key != "epoch" and value is not None:
                writer.add_scalar(key, value, epoch)
    log(epoch_line(record, ctx.config.train.epochs))


def epoch_line(record: dict[str, Any], epochs: int) -> str:
    """The one metrics line of a completed epoch (printed in every mode, after the bar is closed)."""
    shown = {"loss/total": "total", "eval/top1": "top1", "eval/balanced_accuracy": "balanced_accuracy",
             "val/balanced_accuracy": "val_balanced_accuracy"}
    summary = " ".join(f"{shown[k]}={v:.4f}" for k, v in record.items() if k in shown and isinstance(v, float))
    return f"epoch {record['epoch']}/{epochs} {summary} ({record['seconds']:.1f}s)"


def _run_epoch(ctx: RunContext, run: RunFolder, epoch: int, stop: StopFlag, control: EpochControl,
               log: Callable[[str], None] = lambda text: None) -> EpochResult:
    seed_everything(derive_seed(ctx.config.seed, epoch, "epoch"))
    try:
        result = train_one_epoch(ctx, ctx.loader.train_epoch(epoch), epoch, control)
    except NonFiniteLossError as exc:
        kept = (f"{run.last_checkpoint} keeps epoch {epoch}, the last good one"
                if epoch > 0 else "no epoch completed, so there is no checkpoint")
        raise NonFiniteLossError(f"{exc} {kept}.") from None
    if result.interrupted:
        raise TrainingInterrupted(stop.signum or signal.SIGTERM, run, epoch)
    _end_epoch(ctx, result, epoch, log)
    return result


def fit(ctx: RunContext, run: RunFolder, start_epoch: int, best_val: float,
        log: Callable[[str], None]) -> None:
    """Train epochs start_epoch … epochs−1; after each: record, checkpoint, metrics line (rank 0)."""
    loaders = {"test": ctx.loader.eval_batches(ctx.bundle.test),
               "val": ctx.loader.eval_batches(ctx.bundle.val) if ctx.bundle.val is not None else None}
    writer = _tensorboard(run) if ctx.is_main else None
    stop = StopFlag()
    shown = ctx.is_main and ctx.config.train.progress
    control = EpochControl(stop_requested=stop, progress_log=log if shown else None,
                           progress_bar=shown and sys.stderr.isatty())
    stop.install()
    completed = start_epoch  # epochs held by last.pt
    try:
        for epoch in range(start_epoch, ctx.config.train.epochs):
            result = _run_epoch(ctx, run, epoch, stop, control, log)
            record = _record(ctx, epoch, result, loaders)
            if ctx.is_main:
                best_val = _save(ctx, run, epoch, record, best_val)
                _report(ctx, record, writer, log)
            dist_utils.barrier()
            completed = epoch + 1
            if stop():
                raise TrainingInterrupted(stop.signum or signal.SIGTERM, run, completed)
    except RuntimeError as exc:
        if worker_death(exc) and stop():  # Ctrl-C reaches the workers too: an interruption
            raise TrainingInterrupted(stop.signum or signal.SIGINT, run, completed) from None
        if worker_death(exc):
            raise DataLoaderWorkerError(
                f"a data-loading worker process died ({str(exc).strip().splitlines()[0]}); stopped. "
                f"{run.last_checkpoint} holds epoch {completed}. Retry with fewer workers "
                f"(train.num_workers=0 shows the underlying error), then `ecl train --resume {run.path}`") from None
        raise
    finally:
        stop.restore()
        if writer is not None:
            writer.close()
