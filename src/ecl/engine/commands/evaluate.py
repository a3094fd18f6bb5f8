"""`ecl evaluate`: recompute final.json's metrics of a run folder or checkpoint on a test split."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from ecl.atomic import atomic_write_json
from ecl.config import ConfigError, apply_overrides, validate
from ecl.engine.training.checkpoint import check_matches_data, load_weights, open_checkpoint
from ecl.engine.training.epoch import evaluate
from ecl.engine.training.results import final_metrics
from ecl.engine.training.run_folder import RunFolderError
from ecl.engine.training.context import build_run

__all__ = ["evaluate_checkpoint"]


def _check_data_overrides(overrides: Sequence[str]) -> list[str]:
    overrides = list(overrides)
    for text in overrides:
        key = text.split("=", 1)[0].strip()
        if not key.startswith("data.") or "=" not in text:
            raise ConfigError(
                f"override {text!r}: evaluate takes only data.* overrides (section.key=value), "
                "to evaluate the checkpoint on another dataset"
            )
    return overrides


def _refuse_existing(path: Path | None) -> None:
    if path is not None and (path.exists() or path.is_symlink()):
        raise RunFolderError(f"{path} already exists: refusing to overwrite it")


def evaluate_checkpoint(target: str, overrides: list[str], output: str | None = None) -> dict[str, Any]:
    """Recompute final.json's metrics of a run folder or checkpoint on the test split.

    `overrides` (`data.*` only) select another dataset; its classes must be the checkpoint's. With
    `output`, the metrics are also written there as JSON (never over an existing file).
    """
    overrides = _check_data_overrides(overrides)
    out_path = Path(output).expanduser() if output is not None else None
    _refuse_existing(out_path)
    _, config, state, checkpoint, _ = open_checkpoint(target)
    if overrides:
        apply_overrides(config, overrides)
        validate(config)

    from ecl.data import build_datasets

    bundle = build_datasets(config.data)
    check_matches_data(state, checkpoint, config.data.name, bundle.classes)
    device = torch.device("cuda" if torch.cuda.is_available() and config.train.device != "cpu" else "cpu")
    ctx = build_run(config, bundle, device=device, pretrained_download=False)
    load_weights(ctx.network, state, checkpoint, config.model.backbone)
    output_ = evaluate(ctx, ctx.loader.eval_batches(bundle.test, whole=True), collect=True, raw=True)
    final = final_metrics(ctx, output_)
    if out_path is not None:
        try:
            atomic_write_json(out_path, final, exclusive=True)
        except FileExistsError:
            raise RunFolderError(f"{out_path} already exists: refusing to overwrite it") from None
    return final
