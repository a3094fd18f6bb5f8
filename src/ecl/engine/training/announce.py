"""The start-up lines of `ecl train`: what will run (data, image size, view recipe, backbone, steps)
and the warnings a user should see before waiting (large upsampling, CPU bf16, weights vs statistics)."""

from __future__ import annotations

from typing import Any

from ecl.engine.training.context import RunContext

__all__ = ["startup_lines", "IMAGENET_STATS"]

IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
UPSAMPLING_WARN = 2.0  # warn when the training size exceeds this multiple of the median image size


def _steps_per_epoch(ctx: RunContext) -> int:
    per_rank = max(1, ctx.config.train.batch_size // ctx.world)
    n = len(ctx.bundle.train) // ctx.world
    return max(1, n // per_rank) if n >= per_rank else 1


def _warnings(ctx: RunContext) -> list[str]:
    config, p, lines = ctx.config, ctx.plan, []
    paths = getattr(ctx.bundle.train, "paths", None)
    if paths:
        from ecl.data.readers.file_list import median_short_side

        median = median_short_side(list(paths), sample=64)
        if median and p.image_size > UPSAMPLING_WARN * median:
            lines.append(f"warning: training at {p.image_size} px upsamples the images (median shorter side "
                         f"{median} px) {p.image_size / median:.1f}×: slow and rarely better; "
                         f"set data.image_size={median} to train at their own size")
    if config.train.precision == "bf16" and ctx.device.type == "cpu":
        lines.append("warning: train.precision=bf16 on the CPU is about 4× slower than fp32; "
                     "use train.precision=fp32 on a CPU")
    summary = getattr(ctx.network.backbone, "weights_summary", None)
    if summary:
        lines.append(str(summary.get("note")))
    starts_from_weights = bool(config.model.pretrained) or config.model.weights is not None
    stats = (tuple(round(v, 3) for v in p.mean), tuple(round(v, 3) for v in p.std))
    if starts_from_weights and stats != IMAGENET_STATS:
        lines.append(f"warning: the backbone starts from pretrained weights (ImageNet statistics) but the data is "
                     f"normalised with mean {list(stats[0])} std {list(stats[1])}; the weights may fit less well")
    return lines


def startup_lines(ctx: RunContext, run: Any) -> list[str]:
    """What `ecl train` prints before the first step (rank 0)."""
    config, bundle = ctx.config, ctx.bundle
    first = (f"training {config.loss.method} on {config.data.name}: {len(bundle.train)} train / "
             f"{len(bundle.test)} test images, {ctx.num_classes} classes, {config.train.epochs} epochs, "
             f"device {ctx.device}, run folder {run.path}")
    plan = ctx.plan  # why each choice: ecl.data.plan.resolve_data_plan
    second = (f"image size {plan.image_size} px ({plan.size_reason}), recipe {plan.recipe} "
              f"({plan.recipe_reason}), backbone {config.model.backbone}, {_steps_per_epoch(ctx)} steps per epoch")
    notes = [f"note: {n}" for n in bundle.notes]
    path = f"data path: {plan.pipeline} ({plan.pipeline_reason}); storage: {plan.storage} ({plan.storage_reason})"
    return [first, second, path, *notes, *_warnings(ctx)]
