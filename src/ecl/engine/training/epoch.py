"""One epoch of training and one pass of evaluation over a RunContext."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import Tensor

from ecl.engine.training.schedule import lr_at
from ecl.engine.training.context import RunContext

__all__ = ["NonFiniteLossError", "EpochResult", "EvalOutput", "EpochControl", "train_one_epoch", "evaluate"]


#: the step's figures (loss sums, non-finite count and streak, the bar's loss) stay on the device and
#: are read back every READBACK_STEPS steps and at the end of the epoch: one copy each time.
READBACK_STEPS = 50


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
    readback_steps: int = READBACK_STEPS  # the step's figures are read back to the host this often


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


def _nonfinite_error(limit: int, epoch: int, step: int) -> NonFiniteLossError:
    """The stop rule's error: `limit` non-finite steps in a row, reached at 0-based `step`."""
    return NonFiniteLossError(
        f"the loss was not finite at {limit} steps in a row (epoch {epoch + 1}, "
        f"step {step + 1}); stopping. Lower train.lr, use train.precision=fp32, or "
        f"raise train.max_nonfinite_steps."
    )


class _Tally:
    """The epoch's running figures on the training device, one (K + 6,) tensor read back in one copy.

    Slots: the sample-weighted sums of the K loss components and of the total (finite steps only),
    then images and steps of the finite steps, non-finite steps, the current non-finite streak,
    the 0-based step at which the streak first reached `limit` (−1: not yet), the last finite total.
    float64 sums reproduce the host's `sum + float(loss) * batch` bit for bit (float32 on MPS).
    """

    def __init__(self, keys: list[str], device: torch.device, streak: int, limit: int) -> None:
        self.keys, self.limit, self.k = keys, limit, len(keys)
        dtype = torch.float32 if device.type == "mps" else torch.float64
        self.state = torch.zeros(self.k + 6, dtype=dtype, device=device)
        self.state[self.k + 3] = float(streak)
        self.state[self.k + 4] = -1.0

    def add(self, values: list[Tensor], finite: Tensor, batch: int, step: int) -> None:
        """One step: `values` the K 0-dim losses, `finite` the 0-dim bool flag of the total."""
        k, state = self.k, self.state
        losses = torch.stack([v.detach() for v in values]).to(state.dtype)
        ok = finite.to(state.dtype)
        bad = 1.0 - ok
        counts = torch.stack([ok * batch, ok, bad])
        state[: k + 3] += torch.cat([torch.where(finite, losses * batch, torch.zeros_like(losses)), counts])
        streak = (state[k + 3] + 1.0) * bad
        state[k + 3] = streak
        tripped = state[k + 4]
        state[k + 4] = torch.where((streak >= self.limit) & (tripped < 0), float(step), tripped)
        state[k + 5] = torch.where(finite, losses[-1], state[k + 5])

    def read(self) -> dict[str, float]:
        """The figures on the host (the one read back)."""
        values = self.state.tolist()
        out = dict(zip(self.keys, values[: self.k]))
        names = ("images", "steps", "nonfinite", "streak", "tripped", "last")
        out.update(zip(names, values[self.k:]))
        return out


def _grads(optimizer: torch.optim.Optimizer) -> list[Tensor]:
    return [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]


def _grads_finite(optimizer: torch.optim.Optimizer, device: torch.device) -> Tensor:
    """0-dim bool on the device: every gradient is finite (GradScaler's own check, times 1: exact)."""
    found_inf = torch.zeros(1, device=device)
    grads = _grads(optimizer)
    if grads:
        torch._amp_foreach_non_finite_check_and_unscale_(grads, found_inf, torch.ones(1, device=device))
    return found_inf[0] == 0


def _state_tensors(optimizer: torch.optim.Optimizer, params: list[Tensor]) -> dict[tuple[int, str], Any]:
    """A copy of the optimizer's per-parameter state (tensors cloned), keyed by (param index, name)."""
    out: dict[tuple[int, str], Any] = {}
    for i, p in enumerate(params):
        for name, value in optimizer.state.get(p, {}).items():
            out[(i, name)] = value.clone() if isinstance(value, Tensor) else value
    return out


def _restore(optimizer: torch.optim.Optimizer, params: list[Tensor], saved: list[Tensor],
             saved_state: dict[tuple[int, str], Any]) -> None:
    """Put parameters and optimizer state back as they were before a step (entries it made removed)."""
    for i, (p, old) in enumerate(zip(params, saved)):
        p.detach().copy_(old)
        optimizer.state.pop(p, None)
        kept = {name: value for (j, name), value in saved_state.items() if j == i}
        if kept:
            optimizer.state[p] = kept


def _masked_step(optimizer: torch.optim.Optimizer, apply: Tensor) -> None:
    """`optimizer.step()` that leaves parameters and optimizer state bit-identical where `apply`
    (0-dim bool, on the device) is False, without reading it back: the step runs, then every
    parameter and state tensor is put back with `torch.where(apply, new, old)`.

    Only when the step creates state that was not there (the first step: SGD's momentum buffers)
    or changes a non-tensor entry is `apply` read back (once a run), so that a skipped first step
    leaves no state behind, as before.
    """
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    saved = [p.detach().clone() for p in params]
    saved_state = _state_tensors(optimizer, params)
    optimizer.step()
    after = {(i, name): value for i, p in enumerate(params) for name, value in optimizer.state.get(p, {}).items()}
    same_shape = after.keys() == saved_state.keys() and all(
        isinstance(value, Tensor) or value == saved_state[key] for key, value in after.items())
    if not same_shape:  # the one host read: state created or changed
        if not bool(apply):
            _restore(optimizer, params, saved, saved_state)
        return
    for p, old in zip(params, saved):
        new = p.detach()
        torch.where(apply, new, old, out=new)
    for key, old in saved_state.items():
        if isinstance(old, Tensor):
            torch.where(apply, after[key], old, out=after[key])


def _step(ctx: RunContext, total: Tensor, finite: Tensor) -> None:
    """Backward and optimizer step, skipped on the device (params and optimizer state unchanged)
    when the total (`finite`, 0-dim bool) or any gradient is not finite. Under fp16 the scaler
    unscales and its scale update sees the same overflow; no value is read back to the host."""
    ctx.optimizer.zero_grad(set_to_none=True)
    ctx.scaler.scale(total).backward()
    if ctx.scaler.is_enabled():
        ctx.scaler.unscale_(ctx.optimizer)
    apply = finite & _grads_finite(ctx.optimizer, total.device)
    _masked_step(ctx.optimizer, apply)
    if ctx.scaler.is_enabled():
        ctx.scaler.update()


def _read_back(tally: _Tally, control: EpochControl, bar: Any, epoch: int, seconds: float) -> dict[str, float]:
    """Read the tally (one copy): carry the streak, stop on a tripped streak, refresh the bar."""
    figures = tally.read()
    control.nonfinite_streak = int(figures["streak"])
    if figures["tripped"] >= 0:
        raise _nonfinite_error(tally.limit, epoch, int(figures["tripped"]))
    if bar is not None and figures["steps"]:
        bar.set_postfix(loss=f"{figures['last']:.3f}", img_s=f"{figures['images'] / max(seconds, 1e-9):.0f}")
    return figures


def train_one_epoch(ctx: RunContext, loader: Iterable, epoch: int, control: EpochControl | None = None) -> EpochResult:
    """Train for one epoch (0-based `epoch`); the lr follows `train.schedule` (:func:`lr_at`).

    Epoch means weigh each step's loss by its batch size (the authors' AverageMeter), so a
    short last batch counts for its images only.

    `loader` yields (views ((1+V)·B,3,S,S), labels (B,)) (`ecl.data.loading`). A non-finite loss
    skips its step (parameters and optimizer state unchanged, decided on the device);
    `train.max_nonfinite_steps` of them in a row (counted across epochs in
    `control.nonfinite_streak`) raise NonFiniteLossError. No value is read back to the host inside
    a step: the sums, the streak and the bar's loss are read every `control.readback_steps` steps
    and at the end of the epoch, so the stop comes at most that many steps after the streak
    reached the limit (the message names the step where it did). `control.stop_requested()` ends
    the epoch early (`interrupted`).
    """
    control = control if control is not None else EpochControl()
    train = ctx.config.train
    ctx.model.train()
    tally: _Tally | None = None
    steps_per_epoch = max(len(loader), 1)  # type: ignore[arg-type]
    lr, interrupted, start = train.lr, False, time.perf_counter()
    bar = _progress(loader, ctx, epoch, control)
    shown = bar if bar is not loader else None
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
            finite = torch.isfinite(total.detach())
            _step(ctx, total, finite)
            if tally is None:
                tally = _Tally([*result.components, "total"], total.device, control.nonfinite_streak,
                               train.max_nonfinite_steps)
            tally.add([*result.components.values(), total], finite, labels.shape[0], step)
            if (step + 1) % control.readback_steps == 0:
                _read_back(tally, control, shown, epoch, time.perf_counter() - start)
        figures = _read_back(tally, control, shown, epoch, time.perf_counter() - start) if tally else {}
    finally:
        if shown is not None:
            shown.close()
    images = int(figures.get("images", 0))
    means = {key: figures[key] / images for key in tally.keys} if images and tally else {}
    return EpochResult(means=means, images=images, steps=int(figures.get("steps", 0)),
                       nonfinite_steps=int(figures.get("nonfinite", 0)),
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
