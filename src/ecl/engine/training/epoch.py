"""One epoch of training and one pass of evaluation over a RunContext."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import torch
from torch import Tensor

from ecl.engine.training.schedule import lr_at
from ecl.engine.training.context import RunContext

__all__ = ["NonFiniteLossError", "EpochResult", "EvalOutput", "EpochControl", "train_one_epoch", "evaluate"]


class NonFiniteLossError(RuntimeError):
    """Too many non-finite losses in a row: training stops, the last good checkpoint is kept."""


@dataclass
class EpochResult:
    """What one training epoch measured."""

    means: dict[str, float]  # sample-weighted mean of each loss component and of the total, over finite steps
    images: int  # images of the finite steps (the weights of `means`)
    steps: int
    nonfinite_steps: int
    seconds: float
    lr: float  # learning rate of the last step
    interrupted: bool = False  # a stop was requested (SIGTERM/SIGINT): the epoch is incomplete

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("nan")


@dataclass
class EvalOutput:
    """One pass over an evaluation set."""

    confusion: np.ndarray  # (C, C) int64, rows = true class
    features: Tensor | None = None  # (N, d) backbone features (when collected)
    labels: Tensor | None = None  # (N,)
    probs: Tensor | None = None  # (N, C) softmax of the logits


@dataclass
class EpochControl:
    """What the epoch loop hands to every training epoch: when to stop, how to show progress, and
    the non-finite steps in a row (carried across epochs)."""

    stop_requested: Callable[[], bool] = lambda: False  # a stop was requested (SIGTERM/SIGINT)
    progress_log: Callable[[str], None] | None = None  # rank 0 with train.progress: progress lines go here
    progress_bar: bool = False  # a tqdm bar (a terminal) instead of timed lines
    estimate_pending: bool = True  # the run's time estimate is still to be printed (once per run)
    nonfinite_streak: int = 0


def _progress(loader: Iterable, ctx: RunContext, epoch: int, control: EpochControl):
    """`loader` with progress (engine/training/progress.py) on rank 0: a bar on a terminal, timed lines otherwise."""
    if not ctx.is_main or control.progress_log is None:
        return loader
    from ecl.engine.training.progress import EpochProgress, speed_hint

    first, control.estimate_pending = control.estimate_pending, False

    def hint(seconds: float) -> str | None:  # after the time estimate: faster choices on a slow CPU run
        model = ctx.config.model
        from_weights = bool(model.pretrained) or model.weights is not None
        return speed_hint(seconds, ctx.device.type, ctx.plan.image_size, from_weights)

    return EpochProgress(loader, epoch=epoch, epochs=ctx.config.train.epochs, log=control.progress_log,
                         bar=control.progress_bar, estimate=first, hint=hint)


def _inputs(ctx: RunContext, images: Tensor, labels: Tensor) -> tuple[Tensor, int, Tensor]:
    """(views ((1+V)·B,3,S,S), labels (B,)) on the device, and 1+V."""
    num_views = images.shape[0] // max(labels.shape[0], 1)
    images = images.to(ctx.device, non_blocking=True)
    if ctx.config.model.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, num_views, labels.to(ctx.device, non_blocking=True)


def _loss(ctx: RunContext, images: Tensor, num_views: int, labels: Tensor):
    """The objective of one batch: logits of the classifier view, projections (B, V, d_z) of the others."""
    batch = labels.shape[0]
    with ctx.autocast:
        out = ctx.model(images)
    projections = None
    if num_views > 1 and out.projections is not None:
        dz = out.projections.shape[-1]
        projections = out.projections[batch:].float().reshape(num_views - 1, batch, dz).transpose(0, 1)
    prototypes = None if out.prototypes is None else out.prototypes.float()
    return ctx.objective(out.logits[:batch].float(), labels, projections, prototypes,
                         ctx.network.classifier_weight)


def _skip_nonfinite(ctx: RunContext, control: EpochControl, epoch: int, step: int) -> None:
    """Count a non-finite step; NonFiniteLossError after train.max_nonfinite_steps in a row."""
    control.nonfinite_streak += 1
    ctx.optimizer.zero_grad(set_to_none=True)
    if control.nonfinite_streak >= ctx.config.train.max_nonfinite_steps:
        raise NonFiniteLossError(
            f"the loss was not finite at {control.nonfinite_streak} steps in a row (epoch {epoch + 1}, "
            f"step {step + 1}); stopping. Lower train.lr, use train.precision=fp32, or "
            f"raise train.max_nonfinite_steps."
        )


def train_one_epoch(ctx: RunContext, loader: Iterable, epoch: int, control: EpochControl | None = None) -> EpochResult:
    """Train for one epoch (0-based `epoch`); the lr follows `train.schedule` (:func:`lr_at`).

    Epoch means weigh each step's loss by its batch size (the authors' AverageMeter), so a
    short last batch counts for its images only.

    `loader` yields (views ((1+V)·B,3,S,S), labels (B,)) (`ecl.data.loading`). A non-finite loss
    skips its step; `train.max_nonfinite_steps` of them in a row (counted across epochs in
    `control.nonfinite_streak`) raise NonFiniteLossError. `control.stop_requested()` ends the epoch
    early (`interrupted`).
    """
    control = control if control is not None else EpochControl()
    train = ctx.config.train
    ctx.model.train()
    sums: dict[str, float] = {}
    finite_steps = images = nonfinite = 0
    steps_per_epoch = max(len(loader), 1)  # type: ignore[arg-type]
    lr, interrupted, start = train.lr, False, time.perf_counter()
    bar = _progress(loader, ctx, epoch, control)
    try:
        for step, (views, labels) in enumerate(bar):
            if control.stop_requested():
                interrupted = True
                break
            lr = lr_at(train.schedule, epoch, step, steps_per_epoch, train.lr, train.epochs, train.warmup_epochs)
            for group in ctx.optimizer.param_groups:
                group["lr"] = lr
            result = _loss(ctx, *_inputs(ctx, views, labels))
            total = result.total
            if not torch.isfinite(total.detach()):
                nonfinite += 1
                _skip_nonfinite(ctx, control, epoch, step)
                continue
            control.nonfinite_streak = 0
            ctx.optimizer.zero_grad(set_to_none=True)
            ctx.scaler.scale(total).backward()
            ctx.scaler.step(ctx.optimizer)
            ctx.scaler.update()
            finite_steps += 1
            batch = labels.shape[0]
            images += batch
            for key, value in result.components.items():
                sums[key] = sums.get(key, 0.0) + float(value) * batch
            sums["total"] = sums.get("total", 0.0) + float(total.detach()) * batch
            if bar is not loader:
                elapsed = max(time.perf_counter() - start, 1e-9)
                bar.set_postfix(loss=f"{float(total.detach()):.3f}", img_s=f"{images / elapsed:.0f}")
    finally:
        if bar is not loader:
            bar.close()
    means = {key: value / images for key, value in sums.items()} if images else {}
    return EpochResult(means=means, images=images, steps=finite_steps, nonfinite_steps=nonfinite,
                       seconds=time.perf_counter() - start, lr=lr, interrupted=interrupted)


def _fp32_logits(ctx: RunContext, features: Tensor) -> Tensor:
    """(N, d) backbone features → (N, C) float32 logits of the cosine classifier, autocast off."""
    with torch.autocast(device_type=features.device.type, enabled=False):
        return ctx.network.classifier(features.float()).float()


@torch.no_grad()
def evaluate(ctx: RunContext, loader: Iterable, *, collect: bool = False, raw: bool = False) -> EvalOutput:
    """One pass over `loader` (items (images (B,3,H,W), labels (B,))) with raw logits.

    The backbone runs under the training precision's autocast; the cosine classifier runs in
    float32 on float32 features, so logits, argmax and metrics are float32 whatever the precision
    (under bf16 two logits closer than bf16's resolution must not tie by rounding).

    Returns the confusion matrix; with `collect`, also backbone features, labels and softmax
    probabilities (on the CPU). `raw`: call the plain network instead of the wrapped model (the
    final evaluation runs on rank 0 alone, outside DDP).
    """
    model = ctx.network if raw else ctx.model
    model.eval()
    num_classes = ctx.num_classes
    confusion = torch.zeros(num_classes * num_classes, dtype=torch.int64)
    features, all_labels, probs = [], [], []
    for images, labels in loader:
        images = images.to(ctx.device, non_blocking=True)
        if ctx.config.model.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with ctx.autocast:
            out = model(images)
        logits = _fp32_logits(ctx, out.features).cpu()
        labels = labels.cpu()
        confusion += torch.bincount(labels * num_classes + logits.argmax(dim=1), minlength=num_classes * num_classes)
        if collect:
            features.append(out.features.float().cpu())
            all_labels.append(labels)
            probs.append(torch.softmax(logits, dim=1))
    result = EvalOutput(confusion=confusion.reshape(num_classes, num_classes).numpy())
    if collect and features:
        result.features = torch.cat(features)
        result.labels = torch.cat(all_labels)
        result.probs = torch.cat(probs)
    return result
