"""`ecl train`: build everything from a Config, train, checkpoint, evaluate, write the run folder."""

from __future__ import annotations

import json
import math
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from ecl.config import Config, config_from_dict, config_to_dict, dump_yaml, validate
from ecl.engine import distributed as dist_utils
from ecl.engine.checkpoint import CHECKPOINT_FORMAT, CheckpointError, atomic_torch_save, load_checkpoint
from ecl.engine.objective import Objective
from ecl.losses.methods import METHODS, MethodSpec
from ecl.engine.run_folder import (
    RunFolderError,
    append_jsonl,
    atomic_write_text,
    check_writable,
    default_run_name,
    prepare_run_folder,
    read_jsonl,
    truncate_jsonl,
    write_json,
)
from ecl.engine.seeding import capture_rng_state, derive_seed, restore_rng_state, seed_everything
from ecl.engine.trainer import EpochResult, EvalOutput, NonFiniteLossError, evaluate, train_one_epoch

__all__ = ["TrainingInterrupted", "DataLoaderWorkerError", "RunContext", "is_new_best", "resolve_device", "method_spec", "build_network",
           "build_objective", "train", "final_metrics", "load_run_config"]


class TrainingInterrupted(RuntimeError):
    """SIGTERM/SIGINT arrived: the current epoch was abandoned; the last checkpoint is complete."""

    def __init__(self, signum: int, run_dir: Path, epoch: int):
        name = signal.Signals(signum).name
        super().__init__(
            f"{name} received: stopped; {run_dir / 'checkpoints' / 'last.pt'} holds epoch {epoch} "
            f"— continue with `ecl train --resume {run_dir}`"
        )
        self.signum = signum
        self.exit_code = 128 + signum


class DataLoaderWorkerError(RuntimeError):
    """A data-loading worker process died (killed, out of memory, crashed in native code)."""


def _worker_death(exc: BaseException) -> bool:
    """True for torch's "DataLoader worker (pid ...) exited unexpectedly / is killed" errors."""
    text = str(exc)
    return isinstance(exc, RuntimeError) and "DataLoader worker" in text and (
        "exited unexpectedly" in text or "killed by signal" in text or "is killed" in text)


def is_new_best(value: float | None, best: float) -> bool:
    """A validation metric becomes the best only when it is finite and beats `best` (NaN never does)."""
    return value is not None and math.isfinite(value) and value > best


def clean_stale_temporaries(run_dir: Path) -> list[Path]:
    """Remove the `.NAME.XXXX.tmp` files that a kill during an atomic write left behind."""
    removed = []
    for folder in (run_dir, run_dir / "checkpoints"):
        for tmp in folder.glob(".*.tmp") if folder.is_dir() else ():
            try:
                tmp.unlink()
                removed.append(tmp)
            except OSError:
                pass
    return removed


def resolve_device(name: str, local_rank: int | None = None) -> torch.device:
    """`auto` → cuda (the local rank's GPU) when available, else cpu."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and local_rank is not None:
        return torch.device("cuda", local_rank)
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"train.device={name} but CUDA is not available on this machine")
    return torch.device(name)


def method_spec(config: Config) -> MethodSpec:
    return METHODS[config.loss.method]


def build_network(config: Config, num_classes: int) -> nn.Module:
    """The ECL network of `config.model` (projection head only when the method needs it)."""
    from ecl.models import ECLNetwork

    spec = method_spec(config)
    return ECLNetwork(
        config.model.backbone,
        num_classes,
        projection_dim=config.model.projection_dim,
        scale=config.model.scale,
        with_projection=spec.contrastive is not None or spec.ccge,
    )


def build_objective(config: Config, class_counts: list[int], gather: bool = False) -> Objective:
    """The total loss of `config.loss` (method preset values win over the config's)."""
    spec = method_spec(config)
    loss = config.loss
    prototype_weight = spec.prototype_weight if spec.prototype_weight is not None else loss.prototype_weight
    anchor_weighting = spec.anchor_weighting if spec.anchor_weighting is not None else loss.anchor_weighting
    return Objective(
        spec,
        class_counts,
        temperature=loss.temperature,
        prototype_weight=prototype_weight,
        anchor_weighting=anchor_weighting,
        lc_tau=loss.lc_tau,
        weighting=loss.weighting,
        weights=(loss.alpha, loss.beta, loss.gamma),
        gather=gather,
    )


def load_run_config(run_dir: Path) -> Config:
    """The resolved config.yaml of a run folder (safe_load), validated."""
    import yaml

    path = run_dir / "config.yaml"
    if not path.is_file():
        raise RunFolderError(f"{run_dir} is not an ecl run folder: no config.yaml")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RunFolderError(f"{path}: not a valid YAML config: {exc}") from None
    return validate(config_from_dict(raw, source=str(path)))


@dataclass
class RunContext:
    """Everything built for a run (used by train, evaluate and benchmarks)."""

    config: Config
    bundle: Any
    network: nn.Module
    objective: Objective
    device: torch.device
    num_views: int


def _seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % (2**32)
    np.random.seed(seed)


def make_train_loader(config: Config, bundle: Any, spec: MethodSpec, epoch: int, *,
                      rank: int = 0, world: int = 1) -> DataLoader:
    """A loader whose order and augmentation depend only on (seed, epoch)."""
    from ecl.data import ViewsDataset, build_train_transform

    views = config.data.contrastive_views if spec.contrastive is not None else 0
    transform = build_train_transform(bundle.image_size, bundle.style, bundle.mean, bundle.std,
                                      num_contrastive_views=views, randaugment=config.data.randaugment)
    dataset = ViewsDataset(bundle.train, transform)
    generator = torch.Generator().manual_seed(derive_seed(config.seed, epoch, "loader"))
    per_rank_batch = max(1, config.train.batch_size // world)
    if world > 1:
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True,
                                     seed=derive_seed(config.seed, "sampler") % (2**31), drop_last=True)
        sampler.set_epoch(epoch)
        shuffle = None
    else:
        sampler, shuffle = None, True
    drop_last = len(dataset) // world >= per_rank_batch
    return DataLoader(
        dataset,
        batch_size=per_rank_batch,
        shuffle=shuffle,
        sampler=sampler,
        generator=generator,
        num_workers=config.train.num_workers,
        worker_init_fn=_seed_worker,
        pin_memory=torch.cuda.is_available(),
        drop_last=drop_last,
        persistent_workers=False,
    )


def make_eval_loader(config: Config, bundle: Any, dataset: Any, *, rank: int = 0, world: int = 1) -> DataLoader:
    """Each rank gets indices rank, rank+world, ...: every image counted exactly once, no padding."""
    from ecl.data import ViewsDataset, build_eval_transform

    transform = build_eval_transform(bundle.image_size, bundle.style, bundle.mean, bundle.std)
    data = ViewsDataset(dataset, transform)
    if world > 1:
        data = Subset(data, list(range(rank, len(data), world)))
    return DataLoader(data, batch_size=config.eval.batch_size, shuffle=False,
                      num_workers=config.train.num_workers, pin_memory=torch.cuda.is_available())


def final_metrics(config: Config, bundle: Any, output: EvalOutput, network: nn.Module,
                  split: str = "test") -> dict[str, Any]:
    """final.json's content from one collected evaluation pass (deterministic: no timings)."""
    from ecl.evaluation import expected_calibration_error, geometry_metrics, metrics_from_confusion

    metrics = metrics_from_confusion(output.confusion, bundle.train_counts,
                                     many_threshold=config.eval.many_threshold,
                                     few_threshold=config.eval.few_threshold)
    weight = network.classifier_weight.detach().float().cpu()
    geometry = geometry_metrics(output.features, output.labels, weight)
    ece = expected_calibration_error(output.probs, output.labels, n_bins=15)
    result = {key: metrics[key] for key in ("top1", "balanced_accuracy", "macro_f1", "many", "medium",
                                            "few", "per_class_accuracy")}
    result.update(
        geometry={k: float(v) for k, v in geometry.items()},
        ece=float(ece),
        method=config.loss.method,
        dataset=config.data.name,
        backbone=config.model.backbone,
        epochs=config.train.epochs,
        seed=config.seed,
        split=split,
        many_threshold=config.eval.many_threshold,
        few_threshold=config.eval.few_threshold,
        classes=list(bundle.classes),
        train_counts=[int(c) for c in bundle.train_counts],
        eval_counts=[int(c) for c in output.confusion.sum(axis=1)],
        notes=list(getattr(bundle, "notes", [])),
    )
    return result


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard not installed: scalars stay in metrics.jsonl
        return None
    try:
        return SummaryWriter(log_dir=str(run_dir / "tensorboard"))
    except Exception:
        return None


class _StopFlag:
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


def _epoch_record(epoch: int, result: EpochResult, objective: Objective,
                  eval_metrics: dict[str, Any] | None) -> dict[str, Any]:
    record: dict[str, Any] = {"epoch": epoch + 1, "lr": result.lr}
    for key, value in result.means.items():
        record[f"loss/{key}"] = value
    for key, value in objective.weights.items():
        record[f"weights/{key}"] = float(value)
    if eval_metrics is not None:
        for key, value in eval_metrics.items():
            record[f"eval/{key}"] = value
    record["nonfinite_steps"] = result.nonfinite_steps
    record["images_per_s"] = result.images_per_s
    record["seconds"] = result.seconds
    return record


def train(
    config: Config | None = None,
    *,
    resume: str | Path | None = None,
    overwrite: bool = False,
    log: Callable[[str], None] = lambda text: print(text, file=sys.stderr),
) -> dict[str, Any]:
    """Train a run (new, or continued from `resume`) and return final.json's content."""
    wall_start = time.perf_counter()
    rank, world, local_rank, _ = dist_utils.setup_from_env()
    is_main = rank == 0
    state: dict[str, Any] | None = None
    if resume is not None:
        run_dir = Path(resume).expanduser()
        config = load_run_config(run_dir)
        checkpoint_path = run_dir / "checkpoints" / "last.pt"
        if (run_dir / "final.json").is_file():
            # a finished run is left exactly as it is: no line appended, nothing rewritten
            if is_main:
                log(f"{run_dir} has already finished ({run_dir / 'final.json'}); nothing to resume")
            try:
                return json.loads((run_dir / "final.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return {}
        if checkpoint_path.exists():
            state = load_checkpoint(checkpoint_path)
            saved = state.get("config") if isinstance(state.get("config"), dict) else {}
            saved_data = saved.get("data") if isinstance(saved.get("data"), dict) else {}
            if saved_data.get("name") not in (None, config.data.name):
                raise CheckpointError(checkpoint_path, f"it was trained on data.name={saved_data.get('name')} "
                                                       f"but {run_dir / 'config.yaml'} says {config.data.name}")
        if is_main:
            check_writable(run_dir)
            for tmp in clean_stale_temporaries(run_dir):
                log(f"removed {tmp} (left by an interrupted write)")
    else:
        if config is None:
            config = Config()
        validate(config)
        if config.out is None:
            config.out = default_run_name(config.loss.method, config.data.name, config.seed)
        run_dir = Path(config.out).expanduser()
        if is_main:
            prepare_run_folder(run_dir, overwrite=overwrite)
        dist_utils.barrier()
    assert config is not None

    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    device = resolve_device(config.train.device, local_rank if world > 1 else None)
    spec = method_spec(config)

    # Data first: every bad input is reported before anything trains.
    from ecl.data import build_datasets, export_split

    bundle = build_datasets(config.data, run_dir=run_dir if is_main else None)
    num_classes = len(bundle.classes)
    if state is not None:
        where = run_dir / "checkpoints" / "last.pt"
        saved_classes = [str(c) for c in state["classes"]]
        if len(saved_classes) != num_classes:
            raise CheckpointError(where, f"it has {len(saved_classes)} classes but {config.data.name} "
                                         f"(the run's data) has {num_classes}")
        if saved_classes != [str(c) for c in bundle.classes]:
            raise CheckpointError(where, f"its class names {saved_classes} differ from {config.data.name}'s "
                                         f"{[str(c) for c in bundle.classes]}")
        if [int(c) for c in state["train_counts"]] != [int(c) for c in bundle.train_counts]:
            raise CheckpointError(where, f"its training class counts {list(state['train_counts'])} differ "
                                         f"from {config.data.name}'s {list(bundle.train_counts)}")

    if is_main and state is None:
        atomic_write_text(run_dir / "config.yaml", dump_yaml(config))
        write_json(run_dir / "data.json", {
            "dataset": config.data.name, "classes": list(bundle.classes),
            "train_counts": list(bundle.train_counts), "test_counts": list(bundle.test_counts),
            "val_counts": getattr(bundle, "val_counts", None), "image_size": bundle.image_size,
            "notes": list(getattr(bundle, "notes", [])),
        })
        if not (run_dir / "split.json").exists():
            export_split(bundle, run_dir / "split.json")

    seed_everything(derive_seed(config.seed, "init"))
    network = build_network(config, num_classes).to(device)
    if config.model.channels_last:
        network = network.to(memory_format=torch.channels_last)
    objective = build_objective(config, list(bundle.train_counts), gather=world > 1).to(device)
    optimizer = torch.optim.SGD(network.parameters(), lr=config.train.lr, momentum=config.train.momentum,
                                weight_decay=config.train.weight_decay)
    scaler = torch.amp.GradScaler(device.type) if config.train.precision == "fp16" else None

    start_epoch = 0
    best_val = -math.inf
    if state is not None:
        network.load_state_dict(state["model"])
        objective.load_state_dict(state["objective"])
        optimizer.load_state_dict(state["optimizer"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        restore_rng_state(state["rng"])
        start_epoch = int(state["epoch"])
        best_val = float(state.get("best_val", -math.inf))
        if is_main:
            records = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r.get("epoch", 0) <= start_epoch]
            if len(records) < start_epoch and state.get("record"):
                records.append(state["record"])  # the line that the kill prevented
            truncate_jsonl(run_dir / "metrics.jsonl", records)
            log(f"resuming {run_dir} after epoch {start_epoch}/{config.train.epochs}")

    model: nn.Module = network
    if world > 1:
        model = nn.parallel.DistributedDataParallel(
            network, device_ids=[device.index] if device.type == "cuda" else None)
    if config.train.compile:
        model = torch.compile(model)

    eval_loader = make_eval_loader(config, bundle, bundle.test, rank=rank, world=world)
    val_loader = (make_eval_loader(config, bundle, bundle.val, rank=rank, world=world)
                  if getattr(bundle, "val", None) is not None else None)
    writer = _tensorboard(run_dir) if is_main else None
    stop = _StopFlag()
    stop.install()
    streak = [0]
    completed = start_epoch  # epochs held by last.pt
    try:
        if is_main and start_epoch < config.train.epochs:
            log(f"training {config.loss.method} on {config.data.name}: {len(bundle.train)} train / "
                f"{len(bundle.test)} test images, {num_classes} classes, {config.train.epochs} epochs, "
                f"device {device}, run folder {run_dir}")
        for epoch in range(start_epoch, config.train.epochs):
            seed_everything(derive_seed(config.seed, epoch, "epoch"))
            loader = make_train_loader(config, bundle, spec, epoch, rank=rank, world=world)
            try:
                result = train_one_epoch(
                    model, network, objective, loader, optimizer,
                    epoch=epoch, epochs=config.train.epochs, base_lr=config.train.lr,
                    warmup_epochs=config.train.warmup_epochs, device=device,
                    precision=config.train.precision, scaler=scaler,
                    channels_last=config.model.channels_last,
                    max_nonfinite_steps=config.train.max_nonfinite_steps, nonfinite_streak=streak,
                    stop_requested=stop, progress=config.train.progress and is_main and sys.stderr.isatty(),
                )
            except NonFiniteLossError as exc:
                kept = (f"{run_dir / 'checkpoints' / 'last.pt'} keeps epoch {epoch}, the last good one"
                        if epoch > 0 else "no epoch completed, so there is no checkpoint")
                raise NonFiniteLossError(f"{exc} {kept}.") from None
            if result.interrupted:
                raise TrainingInterrupted(stop.signum or signal.SIGTERM, run_dir, epoch)
            means = {k: v for k, v in result.means.items() if k != "total"}
            if world > 1 and means:
                keys = sorted(means)
                packed = dist_utils.all_reduce_sum(torch.tensor([means[k] for k in keys], dtype=torch.float64,
                                                                device=device)) / world
                means = dict(zip(keys, packed.tolist()))
            if means:
                objective.end_epoch(means)
            last = epoch + 1 == config.train.epochs
            eval_metrics = None
            if last or (epoch + 1) % config.eval.every == 0:
                eval_metrics = _quick_eval(config, bundle, model, eval_loader, num_classes, device, world)
            val_metrics = None
            if val_loader is not None:
                val_metrics = _quick_eval(config, bundle, model, val_loader, num_classes, device, world)
            record = _epoch_record(epoch, result, objective, eval_metrics)
            if val_metrics is not None:
                record.update({f"val/{k}": v for k, v in val_metrics.items()})
            every = config.eval.geometry_every
            if is_main and every and (epoch + 1) % every == 0:
                record.update({f"geometry/{k}": v for k, v in
                               _geometry(config, bundle, network, device).items()})
            if is_main:
                is_best = val_metrics is not None and is_new_best(val_metrics["balanced_accuracy"], best_val)
                if is_best:
                    best_val = val_metrics["balanced_accuracy"]
                checkpoint = {
                    "format": CHECKPOINT_FORMAT,
                    "model": network.state_dict(),
                    "objective": objective.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": {"name": "cosine", "epochs": config.train.epochs,
                                  "warmup_epochs": config.train.warmup_epochs, "base_lr": config.train.lr},
                    "scaler": scaler.state_dict() if scaler is not None else {},
                    "epoch": epoch + 1,
                    "weights": {k: float(v) for k, v in objective.weights.items()},
                    "rng": capture_rng_state(),
                    "config": config_to_dict(config),
                    "classes": list(bundle.classes),
                    "train_counts": [int(c) for c in bundle.train_counts],
                    "data": {"image_size": int(bundle.image_size), "style": bundle.style,
                             "mean": [float(v) for v in bundle.mean], "std": [float(v) for v in bundle.std]},
                    "best_val": best_val,
                    "record": record,
                }
                try:
                    atomic_torch_save(checkpoint, run_dir / "checkpoints" / "last.pt")
                    if is_best:
                        atomic_torch_save(checkpoint, run_dir / "checkpoints" / "best_val.pt")
                    append_jsonl(run_dir / "metrics.jsonl", record)
                except OSError as exc:
                    raise RunFolderError(
                        f"could not write epoch {epoch + 1}'s checkpoint or metrics in {run_dir}: "
                        f"{exc.strerror or exc}; stopped. {run_dir / 'checkpoints' / 'last.pt'} still "
                        f"holds the last complete epoch — free space, then `ecl train --resume {run_dir}`"
                    ) from None
                if writer is not None:
                    for key, value in record.items():
                        if isinstance(value, (int, float)) and key != "epoch" and value is not None:
                            writer.add_scalar(key, value, epoch + 1)
                if not (config.train.progress and sys.stderr.isatty()):
                    summary = " ".join(f"{k.split('/')[-1]}={v:.4f}" for k, v in record.items()
                                       if k.startswith(("loss/total", "eval/top1", "eval/balanced"))
                                       and isinstance(v, float))
                    log(f"epoch {epoch + 1}/{config.train.epochs} {summary} ({result.seconds:.1f}s)")
            dist_utils.barrier()
            completed = epoch + 1
            if stop():
                raise TrainingInterrupted(stop.signum or signal.SIGTERM, run_dir, completed)
    except RuntimeError as exc:
        if _worker_death(exc) and stop():  # Ctrl-C reaches the workers too: an interruption
            raise TrainingInterrupted(stop.signum or signal.SIGINT, run_dir, completed) from None
        if _worker_death(exc):
            raise DataLoaderWorkerError(
                f"a data-loading worker process died ({str(exc).strip().splitlines()[0]}); stopped. "
                f"{run_dir / 'checkpoints' / 'last.pt'} holds epoch {completed}. Retry with fewer "
                f"workers (train.num_workers=0 shows the underlying error), then "
                f"`ecl train --resume {run_dir}`") from None
        raise
    finally:
        stop.restore()
        if writer is not None:
            writer.close()

    final: dict[str, Any] = {}
    if is_main:
        try:
            final = finish_run(config, bundle, network, run_dir, device, log=log)
        except OSError as exc:
            raise RunFolderError(f"could not write the final results in {run_dir}: {exc.strerror or exc}; "
                                 f"the checkpoint is complete — `ecl train --resume {run_dir}` "
                                 f"redoes the final evaluation") from None
        except RuntimeError as exc:
            if _worker_death(exc):
                raise DataLoaderWorkerError(f"a data-loading worker process died during the final "
                                            f"evaluation ({str(exc).strip().splitlines()[0]}); "
                                            f"`ecl train --resume {run_dir}` redoes it") from None
            raise
        log(f"wall time {time.perf_counter() - wall_start:.1f}s")
    if world > 1:
        dist_utils.barrier()
        dist_utils.cleanup()
    return final


def _quick_eval(config: Config, bundle: Any, model: nn.Module, loader: DataLoader, num_classes: int,
                device: torch.device, world: int) -> dict[str, Any]:
    from ecl.evaluation import metrics_from_confusion

    output = evaluate(model, loader, num_classes, device=device, precision=config.train.precision,
                      channels_last=config.model.channels_last)
    confusion = output.confusion
    if world > 1:
        confusion = dist_utils.all_reduce_sum(torch.from_numpy(confusion).to(device)).cpu().numpy()
    metrics = metrics_from_confusion(confusion, bundle.train_counts, many_threshold=config.eval.many_threshold,
                                     few_threshold=config.eval.few_threshold)
    return {"top1": metrics["top1"], "balanced_accuracy": metrics["balanced_accuracy"]}


def _collect_test(config: Config, bundle: Any, network: nn.Module, device: torch.device) -> EvalOutput:
    """One pass over the whole test set (rank 0 alone) with features, labels and probabilities."""
    return evaluate(network, make_eval_loader(config, bundle, bundle.test), len(bundle.classes),
                    device=device, precision=config.train.precision,
                    channels_last=config.model.channels_last, collect=True)


def _geometry(config: Config, bundle: Any, network: nn.Module, device: torch.device) -> dict[str, float]:
    """FC/MS/SD on backbone features of the whole evaluation set (rank 0 alone)."""
    from ecl.evaluation import geometry_metrics

    output = _collect_test(config, bundle, network, device)
    weight = network.classifier_weight.detach().float().cpu()
    return {k: float(v) for k, v in geometry_metrics(output.features, output.labels, weight).items()}


def finish_run(config: Config, bundle: Any, network: nn.Module, run_dir: Path, device: torch.device,
               log: Callable[[str], None] = print) -> dict[str, Any]:
    """Final evaluation on the test set (rank 0, whole set), final.json, plots and the report."""
    output = _collect_test(config, bundle, network, device)
    final = final_metrics(config, bundle, output, network)
    write_json(run_dir / "final.json", final)
    if config.eval.plots:
        try:
            from ecl.evaluation import make_plots

            prototypes = network.prototypes().detach().float().cpu() if getattr(network, "prototype_map", None) else None
            make_plots(run_dir / "plots", final=final, train_counts=list(bundle.train_counts),
                       class_names=list(bundle.classes), confusion=output.confusion,
                       features=output.features, labels=output.labels,
                       classifier_weight=network.classifier_weight.detach().float().cpu(),
                       prototypes=prototypes, records=read_jsonl(run_dir / "metrics.jsonl"),
                       many_threshold=config.eval.many_threshold, few_threshold=config.eval.few_threshold)
        except Exception as exc:  # a picture must never cost the user a finished run
            log(f"warning: plots could not be drawn: {type(exc).__name__}: {exc}")
    if config.eval.report:
        try:
            from ecl.evaluation import write_report

            write_report(run_dir)
        except Exception as exc:
            log(f"warning: report.html could not be written: {type(exc).__name__}: {exc}")
    log(format_final_table(final, run_dir))
    return final


def format_final_table(final: dict[str, Any], location: Path) -> str:
    """A short table of the final metrics and where they come from (a run folder or a file)."""

    def pct(value: Any) -> str:
        return "—" if value is None else f"{100 * value:6.2f}%"

    rows = [("top-1", pct(final["top1"])), ("balanced accuracy", pct(final["balanced_accuracy"])),
            ("macro-F1", pct(final["macro_f1"])), ("many-shot", pct(final["many"])),
            ("medium-shot", pct(final["medium"])), ("few-shot", pct(final["few"]))]
    geometry = final.get("geometry", {})
    rows += [(f"geometry {k}", f"{v:.4f}") for k, v in geometry.items() if v is not None]
    width = max(len(name) for name, _ in rows)
    lines = [f"{final['method']} on {final['dataset']} ({final['epochs']} epochs, seed {final['seed']})"]
    lines += [f"  {name:<{width}}  {value}" for name, value in rows]
    lines.append(f"{'run folder' if location.is_dir() else 'checkpoint'}: {location}")
    return "\n".join(lines)
