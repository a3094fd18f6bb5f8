"""`ecl predict`: class names and probabilities of image files with a trained model.

Takes a run folder, a checkpoint (read only through `load_checkpoint`, weights_only=True) or a
`.safetensors` export; the eval view is the run's own data plan (`DataPlan`, read by
`checkpoint.checkpoint_plan` or from the export's metadata). Every image gets one entry (text,
JSON, or a CSV row); one that cannot be decoded carries its reason in `error` and does not stop
the others.
"""

from __future__ import annotations

import csv as csv_module
import io
import json
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from ecl.atomic import atomic_write_text
from ecl.config import ConfigError
from ecl.data.plan import PLAN_KEY, DataPlan, PlanError
from ecl.engine.training.checkpoint import CheckpointError, checkpoint_classes, checkpoint_plan, open_checkpoint
from ecl.engine.training.run_folder import RunFolderError

__all__ = ["collect_images", "predict_images", "write_predictions_csv", "format_predictions", "failed_count"]

PREDICT_BATCH = 64


def collect_images(inputs: Sequence[str]) -> list[Path]:
    """Image files of `inputs` (files, or folders searched recursively, sorted), in order.

    Every input is checked before any is used: a missing path, a non-image file or a folder without
    images → one DataError naming each of them. Image contents are not read here: an unreadable
    image becomes its own error row in `predict_images`.
    """
    from ecl.data import DataError, IMAGE_EXTENSIONS

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


def _prediction(path: Path, probs: list[float], classes: list[str], k: int) -> dict[str, Any]:
    """One image's entry: the predicted class, its probability, every class's, and the top k."""
    ranking = sorted(range(len(probs)), key=lambda c: (-probs[c], c))[:k]
    best = ranking[0]
    return {"path": str(path), "class": classes[best], "index": best, "probability": probs[best],
            "probabilities": dict(zip(classes, probs)), "error": None,
            "top_k": [{"class": classes[i], "index": i, "probability": probs[i]} for i in ranking]}


def _failure(path: Path, reason: str, classes: list[str]) -> dict[str, Any]:
    """The entry of an image that could not be read: the same fields, empty, and the reason."""
    prefix = f"{path}: "
    reason = reason[len(prefix):] if reason.startswith(prefix) else reason
    return {"path": str(path), "class": None, "index": None, "probability": None,
            "probabilities": {c: None for c in classes}, "error": reason, "top_k": []}


def _open_model(checkpoint: str) -> tuple[nn.Module, list[str], DataPlan]:
    """The model in eval mode, its class names and its eval view (run folder, .pt or .safetensors)."""
    path = Path(checkpoint).expanduser()
    if path.suffix.lower() == ".safetensors" and not path.is_dir():
        if not path.is_file():
            raise CheckpointError(path, "no such file")
        return _load_safetensors(path)
    model, config, state, ckpt, run = open_checkpoint(path)
    return model, checkpoint_classes(state, ckpt), checkpoint_plan(state, config, ckpt, run)


def _load_batch(chunk: list[Path], transform: Any) -> tuple[list[Tensor], dict[Path, str]]:
    """The eval views (3,S,S) of the readable images of `chunk`, and the reason of each unreadable one."""
    from ecl.data import load_rgb

    views: list[Tensor] = []
    failed: dict[Path, str] = {}
    for path in chunk:
        try:
            views.append(transform(load_rgb(path)))
        except Exception as exc:  # DataError from decoding; anything the transform refuses
            text = str(exc).strip().splitlines()
            failed[path] = text[0] if text else type(exc).__name__
    return views, failed


def predict_images(checkpoint: str, inputs: list[str], top_k: int = 3,
                   csv: str | Path | None = None) -> list[dict[str, Any]]:
    """One entry per image, in order: {"path", "class", "index", "probability", "probabilities"
    (class → probability, every class), "error", "top_k": [{"class", "index", "probability"}, ...]}.

    An image that cannot be decoded gets an entry with its reason in "error" (the other fields
    empty); the others are still predicted. Probabilities are the softmax of the raw cosine
    logits s·cos(h, w_c) (no logit compensation). `checkpoint`: a run folder, a .pt checkpoint or
    a .safetensors export. `csv`: also write the entries there (`write_predictions_csv`); an
    existing file is refused before anything is read.
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ConfigError(f"top_k must be an int ≥ 1, got {top_k!r}")
    csv_path = Path(csv).expanduser() if csv is not None else None
    if csv_path is not None and (csv_path.exists() or csv_path.is_symlink()):
        raise RunFolderError(f"{csv_path} already exists: refusing to overwrite it")
    model, classes, plan = _open_model(checkpoint)
    files = collect_images(inputs)
    transform = plan.eval_transform()
    k = min(top_k, len(classes))
    predictions: list[dict[str, Any]] = []
    with torch.inference_mode():
        for start in range(0, len(files), PREDICT_BATCH):
            chunk = files[start:start + PREDICT_BATCH]
            views, failed = _load_batch(chunk, transform)
            rows = iter(torch.softmax(_logits(model, torch.stack(views)).double(), dim=1).tolist()
                        if views else [])  # (B_ok, C)
            for path in chunk:
                predictions.append(_failure(path, failed[path], classes) if path in failed
                                   else _prediction(path, next(rows), classes, k))
    if csv_path is not None:
        write_predictions_csv(predictions, classes, csv_path)
    return predictions


def write_predictions_csv(predictions: list[dict[str, Any]], classes: list[str], path: Path) -> Path:
    """path, class, probability, one `prob_<class>` column per class, error — one row per image.

    Written atomically, never over an existing file (RunFolderError).
    """
    header = ["path", "class", "probability", *[f"prob_{c}" for c in classes], "error"]
    buffer = io.StringIO()
    writer = csv_module.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for item in predictions:
        cells = [item["probability"], *[item["probabilities"].get(c) for c in classes]]
        writer.writerow([item["path"], item["class"] or "", *["" if v is None else repr(float(v)) for v in cells],
                         item["error"] or ""])
    try:
        return atomic_write_text(path, buffer.getvalue(), exclusive=True)
    except FileExistsError:
        raise RunFolderError(f"{path} already exists: refusing to overwrite it") from None


def format_predictions(predictions: list[dict[str, Any]]) -> str:
    """One block per image: its path, then `  rank. class  probability%  (class index)` lines
    (or `  error: reason` for an image that could not be read)."""
    blocks = []
    for item in predictions:
        lines = [str(item["path"])]
        if item.get("error"):
            lines.append(f"  error: {item['error']}")
        width = max((len(str(e["class"])) for e in item["top_k"]), default=0)
        for rank, entry in enumerate(item["top_k"], start=1):
            index = "" if str(entry["class"]) == str(entry["index"]) else f"  (class {entry['index']})"
            lines.append(f"  {rank}. {str(entry['class']):<{width}}  {100 * entry['probability']:6.2f}%{index}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def failed_count(predictions: list[dict[str, Any]]) -> int:
    """How many images could not be predicted (entries with an error)."""
    return sum(1 for item in predictions if item.get("error"))
