"""`ecl export`: the inference model (encoder + cosine classifier) of a run as safetensors / ONNX /
TorchScript, with the class names and the preprocessing in its metadata (written once)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ecl.config import ConfigError
from ecl.engine.training.checkpoint import checkpoint_classes, open_checkpoint
from ecl.data.plan import PLAN_KEY, DataPlan
from ecl.engine.training.checkpoint import checkpoint_plan
from ecl.engine.training.run_folder import RunFolder, RunFolderError

__all__ = ["export_checkpoint", "default_export_path", "EXPORT_SUFFIXES", "PREPROCESSING_KEY",
           "preprocessing_description"]

EXPORT_SUFFIXES = {"safetensors": ".safetensors", "onnx": ".onnx", "torchscript": ".pt"}
PREPROCESSING_KEY = "preprocessing"  # metadata: the full eval-input description (resize mode, crop)


def default_export_path(checkpoint: Path, run: RunFolder | Path | None, fmt: str) -> Path:
    """The run folder's export/ file for a run folder or one of its checkpoints, else the
    checkpoint's path with the format's suffix."""
    suffix = EXPORT_SUFFIXES[fmt]
    if run is not None and not isinstance(run, RunFolder):
        run = RunFolder(run)
    run = run if run is not None else RunFolder.of_checkpoint(checkpoint)
    if run is not None:
        return run.export_path(checkpoint, suffix)
    target = checkpoint.with_suffix(suffix)
    if target == checkpoint:  # torchscript of a .pt checkpoint: never beside itself under its own name
        target = checkpoint.with_name(f"{checkpoint.stem}.torchscript{suffix}")
    return target


def preprocessing_description(plan: DataPlan) -> dict[str, Any]:
    """Everything a user's own code needs to rebuild the eval input without ecl: recipe, size, the
    resize mode (shorter side → `resize`, centre crop `crop`; PIL bilinear, antialiased), mean, std."""
    description = {"recipe": plan.recipe, "size": plan.image_size, "resize": plan.resize, "crop": plan.crop,
                   "mode": plan.mode, "mean": list(plan.mean), "std": list(plan.std)}
    description.update(
        input="RGB (other modes converted by PIL; transparency composited as when loading), values /255",
        interpolation="bilinear (PIL, antialiased); longer side = int(resize * long / short)",
        center_crop="top = round((h - crop) / 2), left = round((w - crop) / 2)",
        layout="(N, 3, crop, crop) float32, (x - mean) / std per channel",
    )
    return description


def export_checkpoint(checkpoint: str, fmt: str, output: str | None = None) -> Path:
    """Write the inference model of a run folder or checkpoint; returns the written path.

    Formats: safetensors | onnx | torchscript; metadata holds the class names, image size and the
    preprocessing (`preprocess`: the run's data plan as JSON, `DataPlan.as_dict`; `preprocessing`: JSON
    {recipe, size, resize, crop, mode, mean, std, interpolation, ...}, see `preprocessing_description`). An existing output file is
    refused (RunFolderError), even one that appears while the export is written.
    """
    if fmt not in EXPORT_SUFFIXES:
        raise ConfigError(f"format must be one of {', '.join(EXPORT_SUFFIXES)}; got {fmt!r}")
    network, config, state, ckpt, run = open_checkpoint(checkpoint)
    classes = checkpoint_classes(state, ckpt)
    preprocess = checkpoint_plan(state, config, ckpt, run)
    target = Path(output).expanduser() if output is not None else default_export_path(ckpt, run, fmt)
    if target.exists() or target.is_symlink():
        raise RunFolderError(f"{target} already exists: refusing to overwrite it")
    if target.parent.exists() and not target.parent.is_dir():
        raise RunFolderError(f"{target.parent} is not a folder")

    from ecl.models import export_model

    try:
        return export_model(network, target, fmt, preprocess.image_size, class_names=classes,
                            extra_metadata={PLAN_KEY: json.dumps(preprocess.as_dict()),
                                            PREPROCESSING_KEY: json.dumps(preprocessing_description(preprocess))},
                            exclusive=True)
    except FileExistsError:
        raise RunFolderError(f"{target} already exists: refusing to overwrite it") from None
