"""`ecl predict`: class names and probabilities of image files with a trained model.

Takes a run folder, a checkpoint (read only through `load_checkpoint`, weights_only=True) or a
`.safetensors` export; the eval view is the run's own data plan (`DataPlan`, read by
`checkpoint.checkpoint_plan` or from the export's metadata).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from ecl.config import Config, ConfigError
from ecl.data.plan import PLAN_KEY, DataPlan, PlanError
from ecl.engine.checkpoint import CheckpointError, checkpoint_classes, checkpoint_plan, open_checkpoint

__all__ = ["collect_images", "predict_images", "format_predictions"]

PREDICT_BATCH = 64


def collect_images(inputs: Sequence[str]) -> list[Path]:
    """Image files of `inputs` (files, or folders searched recursively, sorted), in order.

    Every input is checked before any is used: a missing path, a non-image file, a folder without
    images or an unreadable image header → one DataError naming each of them.
    """
    from ecl.data import DataError, IMAGE_EXTENSIONS, verify_image

    problems: list[str] = []
    files: list[Path] = []
    for text in inputs:
        path = Path(text).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
                           and p.suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                problems.append(f"{path}: a folder with no image files ({', '.join(sorted(IMAGE_EXTENSIONS))})")
            files.extend(found)
        elif not path.exists():
            problems.append(f"{path}: no such file or folder")
        elif path.suffix.lower() not in IMAGE_EXTENSIONS:
            problems.append(f"{path}: not an image file (extension {path.suffix or 'none'!s}; "
                            f"expected one of {', '.join(sorted(IMAGE_EXTENSIONS))})")
        else:
            files.append(path)
    for path in files:
        try:
            verify_image(path)
        except DataError as exc:
            problems.append(str(exc))
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise DataError("; ".join(problems[:10]) + more)
    return files


def _load_safetensors(path: Path) -> tuple[nn.Module, list[str], DataPlan]:
    from ecl.models import load_safetensors_model

    try:
        model, meta = load_safetensors_model(path)
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            raw = handle.metadata() or {}
    except CheckpointError:
        raise
    except Exception as exc:  # safetensors raises its own error types on a corrupt file
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(path, f"unreadable safetensors export ({type(exc).__name__}: {text})") from None
    names = meta.get("class_names") or [str(i) for i in range(int(meta["num_classes"]))]
    if PLAN_KEY not in raw:
        raise CheckpointError(path, "the export has no preprocessing metadata (view style, mean, std); "
                                    "export it again with `ecl export`")
    try:
        preprocess = DataPlan.from_dict(json.loads(raw[PLAN_KEY]))
    except (PlanError, ValueError) as exc:
        raise CheckpointError(path, str(exc) if isinstance(exc, PlanError) else f"bad preprocessing metadata: {exc}") from None
    if preprocess.image_size != int(meta["image_size"]):
        raise CheckpointError(path, f"image_size {meta['image_size']} and preprocessing size "
                                    f"{preprocess.image_size} disagree")
    return model.float().cpu().eval(), [str(n) for n in names], preprocess


def _logits(model: nn.Module, images: Tensor) -> Tensor:
    out = model(images)
    return out if isinstance(out, Tensor) else out.logits  # InferenceModel → (N,C); ECLNetwork → ECLOutput


def predict_images(checkpoint: str, inputs: list[str], top_k: int = 3) -> list[dict[str, Any]]:
    """Top-k classes of each image: [{"path", "top_k": [{"class", "index", "probability"}, ...]}, ...].

    Probabilities are the softmax of the raw cosine logits s·cos(h, w_c) (no logit compensation).
    `checkpoint`: a run folder, a .pt checkpoint or a .safetensors export.
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ConfigError(f"top_k must be an int ≥ 1, got {top_k!r}")
    path = Path(checkpoint).expanduser()
    if path.suffix.lower() == ".safetensors" and not path.is_dir():
        if not path.is_file():
            raise CheckpointError(path, "no such file")
        model, classes, preprocess = _load_safetensors(path)
    else:
        model, config, state, ckpt, run = open_checkpoint(path)
        classes = checkpoint_classes(state, ckpt)
        preprocess = checkpoint_plan(state, config, ckpt, run)
    files = collect_images(inputs)

    from ecl.data import load_rgb

    transform = preprocess.eval_transform()
    k = min(top_k, len(classes))
    predictions: list[dict[str, Any]] = []
    with torch.inference_mode():
        for start in range(0, len(files), PREDICT_BATCH):
            chunk = files[start:start + PREDICT_BATCH]
            batch = torch.stack([transform(load_rgb(p)) for p in chunk])  # (B,3,S,S)
            probs = torch.softmax(_logits(model, batch).double(), dim=1)  # (B,C)
            values, indices = probs.topk(k, dim=1)
            for p, vals, idxs in zip(chunk, values.tolist(), indices.tolist()):
                predictions.append({"path": str(p), "top_k": [
                    {"class": classes[i], "index": int(i), "probability": float(v)} for v, i in zip(vals, idxs)
                ]})
    return predictions


def format_predictions(predictions: list[dict[str, Any]]) -> str:
    """One block per image: its path, then `  rank. class  probability%  (class index)` lines."""
    blocks = []
    for item in predictions:
        lines = [str(item["path"])]
        width = max((len(str(e["class"])) for e in item["top_k"]), default=0)
        for rank, entry in enumerate(item["top_k"], start=1):
            index = "" if str(entry["class"]) == str(entry["index"]) else f"  (class {entry['index']})"
            lines.append(f"  {rank}. {str(entry['class']):<{width}}  {100 * entry['probability']:6.2f}%{index}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
