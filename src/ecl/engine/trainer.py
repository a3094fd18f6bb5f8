"""The training loop as plain functions: one epoch of training, one pass of evaluation."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import torch
from torch import Tensor, nn

from ecl.engine.schedule import cosine_lr

__all__ = [
    "NonFiniteLossError",
    "EpochResult",
    "EvalOutput",
    "autocast_context",
    "split_views",
    "train_one_epoch",
    "evaluate",
]

PRECISION_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class NonFiniteLossError(RuntimeError):
    """Too many non-finite losses in a row: training stops, the last good checkpoint is kept."""


@dataclass
class EpochResult:
    """What one training epoch measured."""

    means: dict[str, float]  # mean of each loss component and of the total, over finite steps
    images: int
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
    extra: dict = field(default_factory=dict)


def autocast_context(device: torch.device, precision: str):
    """Autocast for bf16/fp16; a no-op for fp32."""
    dtype = PRECISION_DTYPES[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def split_views(views: Tensor | list[Tensor]) -> tuple[Tensor, int]:
    """Views of a batch → one tensor for a single forward pass (shared BatchNorm statistics).

    `views`: a (B,3,H,W) tensor (one view) or a list of V+1 such tensors
    ([classifier view, contrastive views...]). Returns ((V+1)·B, 3, H, W) and V+1.
    """
    if isinstance(views, Tensor):
        return views, 1
    return torch.cat(list(views), dim=0), len(views)


def train_one_epoch(
    model: nn.Module,
    network: nn.Module,
    objective: nn.Module,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    *,
    epoch: int,
    epochs: int,
    base_lr: float,
    warmup_epochs: int = 0,
    device: torch.device = torch.device("cpu"),
    precision: str = "fp32",
    scaler: torch.amp.GradScaler | None = None,
    channels_last: bool = False,
    max_nonfinite_steps: int = 20,
    nonfinite_streak: list[int] | None = None,
    stop_requested: Callable[[], bool] = lambda: False,
    progress: bool = False,
    step_callback: Callable[[int, float], None] | None = None,
) -> EpochResult:
    """Train for one epoch (0-based `epoch`); the lr follows `cosine_lr` per step.

    `model` is what is called (possibly DDP-wrapped or compiled), `network` the plain ECLNetwork
    (for its classifier weight). A non-finite loss skips its step; `max_nonfinite_steps` of them
    in a row raise NonFiniteLossError. `nonfinite_streak` ([n]) carries the streak across epochs.
    """
    model.train()
    streak = nonfinite_streak if nonfinite_streak is not None else [0]
    sums: dict[str, float] = {}
    finite_steps = images = nonfinite = 0
    steps_per_epoch = max(len(loader), 1)  # type: ignore[arg-type]
    lr = base_lr
    start = time.perf_counter()
    iterator = loader
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(loader, total=steps_per_epoch, desc=f"epoch {epoch + 1}/{epochs}", leave=False,
                   dynamic_ncols=True)
        iterator = bar
    interrupted = False
    for step, (views, labels) in enumerate(iterator):
        if stop_requested():
            interrupted = True
            break
        lr = cosine_lr(epoch + step / steps_per_epoch, base_lr, epochs, warmup_epochs)
        for group in optimizer.param_groups:
            group["lr"] = lr
        images_in, num_views = split_views(views)
        batch = labels.shape[0]
        images_in = images_in.to(device, non_blocking=True)
        if channels_last:
            images_in = images_in.contiguous(memory_format=torch.channels_last)
        labels = labels.to(device, non_blocking=True)
        with autocast_context(device, precision):
            out = model(images_in)
        projections = None
        if num_views > 1 and out.projections is not None:
            dz = out.projections.shape[-1]
            projections = out.projections[batch:].float().reshape(num_views - 1, batch, dz).transpose(0, 1)
        result = objective(
            out.logits[:batch].float(),
            labels,
            projections,
            None if out.prototypes is None else out.prototypes.float(),
            network.classifier_weight,
        )
        total = result.total
        if not torch.isfinite(total.detach()):
            nonfinite += 1
            streak[0] += 1
            optimizer.zero_grad(set_to_none=True)
            if streak[0] >= max_nonfinite_steps:
                raise NonFiniteLossError(
                    f"the loss was not finite at {streak[0]} steps in a row (epoch {epoch + 1}, "
                    f"step {step + 1}); stopping. Lower train.lr, use train.precision=fp32, or "
                    f"raise train.max_nonfinite_steps."
                )
            continue
        streak[0] = 0
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(total).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            total.backward()
            optimizer.step()
        finite_steps += 1
        images += batch
        for key, value in result.components.items():
            sums[key] = sums.get(key, 0.0) + float(value)
        sums["total"] = sums.get("total", 0.0) + float(total.detach())
        if bar is not None:
            elapsed = time.perf_counter() - start
            bar.set_postfix(loss=f"{float(total.detach()):.3f}", img_s=f"{images / max(elapsed, 1e-9):.0f}")
        if step_callback is not None:
            step_callback(step, float(total.detach()))
    if bar is not None:
        bar.close()
    means = {key: value / finite_steps for key, value in sums.items()} if finite_steps else {}
    return EpochResult(means=means, images=images, steps=finite_steps, nonfinite_steps=nonfinite,
                       seconds=time.perf_counter() - start, lr=lr, interrupted=interrupted)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    num_classes: int,
    *,
    device: torch.device = torch.device("cpu"),
    precision: str = "fp32",
    channels_last: bool = False,
    collect: bool = False,
) -> EvalOutput:
    """One pass over `loader` (items (images (B,3,H,W), labels (B,))) with raw logits.

    Returns the confusion matrix; with `collect`, also backbone features, labels and softmax
    probabilities (on the CPU).
    """
    model.eval()
    confusion = torch.zeros(num_classes * num_classes, dtype=torch.int64)
    features, all_labels, probs = [], [], []
    for images, labels in loader:
        images = images.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast_context(device, precision):
            out = model(images)
        logits = out.logits.float().cpu()
        preds = logits.argmax(dim=1)
        labels = labels.cpu()
        confusion += torch.bincount(labels * num_classes + preds, minlength=num_classes * num_classes)
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
