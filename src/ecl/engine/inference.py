"""Use a trained model: `ecl evaluate`, `ecl predict`, `ecl export`.

Every entry point takes a run folder (its checkpoints/last.pt and config.yaml) or a checkpoint file
(its embedded config); `predict_images` also takes a `.safetensors` export. Checkpoints are read
only through `load_checkpoint` (weights_only=True). Expected failures raise `CheckpointError`,
`ConfigError`, `DataError` or `RunFolderError`, whose messages name the file or key.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from ecl.config import Config, ConfigError, apply_overrides, config_from_dict, validate
from ecl.engine.checkpoint import CheckpointError, load_checkpoint
from ecl.engine.run_folder import RunFolderError

__all__ = [
    "Preprocess",
    "load_network",
    "resolve_checkpoint",
    "evaluate_checkpoint",
    "collect_images",
    "predict_images",
    "format_predictions",
    "export_checkpoint",
    "default_export_path",
]

EXPORT_SUFFIXES = {"safetensors": ".safetensors", "onnx": ".onnx", "torchscript": ".pt"}
PREPROCESS_KEY = "preprocess"  # extra export metadata: JSON {"image_size", "style", "mean", "std"}
PREDICT_BATCH = 64


@dataclass(frozen=True)
class Preprocess:
    """What the eval view of an image needs: size S, view style, per-channel mean and std."""

    image_size: int
    style: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def as_dict(self) -> dict[str, Any]:
        return {"image_size": self.image_size, "style": self.style, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> "Preprocess":
        """From {"image_size", "style", "mean", "std"}; CheckpointError naming `where` otherwise."""
        try:
            size = raw["image_size"]
            if isinstance(size, bool) or int(size) != size or int(size) < 1:
                raise ValueError(f"image_size {size!r}")
            mean = tuple(float(v) for v in raw["mean"])
            std = tuple(float(v) for v in raw["std"])
            if len(mean) != 3 or len(std) != 3:
                raise ValueError("mean and std need 3 values")
            return cls(int(size), str(raw["style"]), mean, std)  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(where, f"bad preprocessing metadata ({type(exc).__name__}: {exc})") from None

    def transform(self):
        """PIL image → (3,S,S) float32 eval view."""
        from ecl.data import build_eval_transform

        return build_eval_transform(self.image_size, self.style, self.mean, self.std)


# --- loading ----------------------------------------------------------------------------------------

def resolve_checkpoint(target: str | os.PathLike[str]) -> tuple[Path, Path | None]:
    """(checkpoint file, run folder or None) of a run folder or a checkpoint file."""
    path = Path(target).expanduser()
    if path.is_dir():
        checkpoint = path / "checkpoints" / "last.pt"
        if not checkpoint.is_file():
            raise CheckpointError(path, "a folder without checkpoints/last.pt")
        return checkpoint, path
    return path, None


def _checkpoint_config(state: dict[str, Any], checkpoint: Path, run_dir: Path | None) -> Config:
    """config.yaml of the run folder, else the checkpoint's own config dict (validated)."""
    if run_dir is not None:
        from ecl.engine.run import load_run_config

        return load_run_config(run_dir)
    raw = state["config"]
    if not isinstance(raw, dict):
        raise CheckpointError(checkpoint, f"its config is a {type(raw).__name__}, not a mapping")
    try:
        return validate(config_from_dict(raw, source=f"{checkpoint} (config)"))
    except ConfigError as exc:
        raise CheckpointError(checkpoint, f"its config is invalid: {exc}") from None


def _classes(state: dict[str, Any], checkpoint: Path) -> list[str]:
    classes = state["classes"]
    if not isinstance(classes, (list, tuple)) or len(classes) < 2:
        raise CheckpointError(checkpoint, f"its classes are not a list of ≥ 2 names: {classes!r}")
    return [str(c) for c in classes]


def _load(target: str | os.PathLike[str]) -> tuple[nn.Module, Config, dict[str, Any], Path, Path | None]:
    checkpoint, run_dir = resolve_checkpoint(target)
    state = load_checkpoint(checkpoint)
    config = _checkpoint_config(state, checkpoint, run_dir)
    classes = _classes(state, checkpoint)
    from ecl.engine.run import build_network

    try:
        network = build_network(config, len(classes))
    except ValueError as exc:  # e.g. an unknown backbone name in the stored config
        raise CheckpointError(checkpoint, f"cannot rebuild its network: {exc}") from None
    if not isinstance(state["model"], dict):
        raise CheckpointError(checkpoint, "its model entry is not a state dict")
    try:
        network.load_state_dict(state["model"], strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(checkpoint, f"its weights do not fit model {config.model.backbone!r}: {first}") from None
    return network.float().cpu().eval(), config, state, checkpoint, run_dir


def load_network(checkpoint_or_run: str | os.PathLike[str]) -> tuple[nn.Module, Config, dict[str, Any]]:
    """(ECLNetwork in eval mode on the CPU, its config, the checkpoint dict) of a run folder or checkpoint."""
    network, config, state, _, _ = _load(checkpoint_or_run)
    return network, config, state


def _preprocess(state: dict[str, Any], config: Config, checkpoint: Path, run_dir: Path | None) -> Preprocess:
    """The eval view of the checkpoint's data: its "data" entry, else data.json, else the rebuilt bundle."""
    if isinstance(state.get("data"), dict):
        return Preprocess.from_dict(state["data"], str(checkpoint))
    if run_dir is not None and (run_dir / "data.json").is_file():
        try:
            raw = json.loads((run_dir / "data.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raw = None
        if isinstance(raw, dict) and all(k in raw for k in ("image_size", "style", "mean", "std")):
            return Preprocess.from_dict(raw, str(run_dir / "data.json"))
    from ecl.data import build_datasets

    bundle = build_datasets(config.data)
    return Preprocess(int(bundle.image_size), bundle.style, tuple(bundle.mean), tuple(bundle.std))  # type: ignore[arg-type]


# --- evaluate ---------------------------------------------------------------------------------------

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


def evaluate_checkpoint(target: str, overrides: list[str], output: str | None = None) -> dict[str, Any]:
    """Recompute final.json's metrics of a run folder or checkpoint on the test split.

    `overrides` (`data.*` only) select another dataset; its classes must be the checkpoint's. With
    `output`, the metrics are also written there as JSON (never over an existing file).
    """
    overrides = _check_data_overrides(overrides)
    out_path = Path(output).expanduser() if output is not None else None
    if out_path is not None and (out_path.exists() or out_path.is_symlink()):
        raise RunFolderError(f"{out_path} already exists: refusing to overwrite it")
    network, config, state, checkpoint, _ = _load(target)
    if overrides:
        apply_overrides(config, overrides)
        validate(config)
    classes = _classes(state, checkpoint)

    from ecl.data import build_datasets
    from ecl.engine.run import final_metrics, make_eval_loader
    from ecl.engine.trainer import evaluate

    bundle = build_datasets(config.data)
    data_classes = [str(c) for c in bundle.classes]
    if len(data_classes) != len(classes):
        raise CheckpointError(checkpoint, f"it has {len(classes)} classes but dataset {config.data.name} "
                                          f"has {len(data_classes)}")
    if data_classes != classes:
        wrong = [(i, a, b) for i, (a, b) in enumerate(zip(classes, data_classes)) if a != b]
        i, a, b = wrong[0]
        raise CheckpointError(checkpoint, f"its class names differ from dataset {config.data.name}'s "
                                          f"({len(wrong)} differ; first: class {i} is {a!r} in the checkpoint, "
                                          f"{b!r} in the data)")

    device = torch.device("cuda" if torch.cuda.is_available() and config.train.device != "cpu" else "cpu")
    network = network.to(device)
    if config.model.channels_last:
        network = network.to(memory_format=torch.channels_last)
    loader = make_eval_loader(config, bundle, bundle.test)
    result = evaluate(network, loader, len(classes), device=device, precision=config.train.precision,
                      channels_last=config.model.channels_last, collect=True)
    final = final_metrics(config, bundle, result, network)
    if out_path is not None:
        from ecl.engine.run_folder import write_json

        if out_path.exists() or out_path.is_symlink():
            raise RunFolderError(f"{out_path} already exists: refusing to overwrite it")
        write_json(out_path, final)
    return final


# --- predict ----------------------------------------------------------------------------------------

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


def _load_safetensors(path: Path) -> tuple[nn.Module, list[str], Preprocess]:
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
    if PREPROCESS_KEY not in raw:
        raise CheckpointError(path, "the export has no preprocessing metadata (view style, mean, std); "
                                    "export it again with `ecl export`")
    try:
        preprocess = Preprocess.from_dict(json.loads(raw[PREPROCESS_KEY]), str(path))
    except ValueError as exc:
        raise CheckpointError(path, f"bad preprocessing metadata: {exc}") from None
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
        model, config, state, ckpt, run_dir = _load(path)
        classes = _classes(state, ckpt)
        preprocess = _preprocess(state, config, ckpt, run_dir)
    files = collect_images(inputs)

    from ecl.data import load_rgb

    transform = preprocess.transform()
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


# --- export -----------------------------------------------------------------------------------------

def default_export_path(checkpoint: Path, run_dir: Path | None, fmt: str) -> Path:
    """<run>/export/model.<ext> for a run folder or its last.pt (<stem>.<ext> for other checkpoints
    of a run), else the checkpoint's path with the format's suffix."""
    suffix = EXPORT_SUFFIXES[fmt]
    if run_dir is None and checkpoint.parent.name == "checkpoints" and (checkpoint.parent.parent / "config.yaml").is_file():
        run_dir = checkpoint.parent.parent
    if run_dir is not None:
        stem = "model" if checkpoint.name == "last.pt" else checkpoint.stem
        return run_dir / "export" / f"{stem}{suffix}"
    target = checkpoint.with_suffix(suffix)
    if target == checkpoint:  # torchscript of a .pt checkpoint: never beside itself under its own name
        target = checkpoint.with_name(f"{checkpoint.stem}.torchscript{suffix}")
    return target


def _add_metadata(path: Path, fmt: str, extra: dict[str, str]) -> None:
    """Add string metadata entries to an export written by `export_model` (in place)."""
    if fmt == "safetensors":
        from safetensors import safe_open
        from safetensors.torch import save_file

        with safe_open(str(path), framework="pt") as handle:
            meta = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        meta.update(extra)
        save_file(tensors, str(path), metadata=meta)
    elif fmt == "onnx":
        import onnx

        proto = onnx.load(str(path))
        for key, value in extra.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(path))
    else:
        import warnings

        files = {"metadata.json": ""}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=files)
        meta = json.loads(files["metadata.json"] or "{}")
        meta.update(extra)
        module.save(str(path), _extra_files={"metadata.json": json.dumps(meta)})


def export_checkpoint(checkpoint: str, fmt: str, output: str | None = None) -> Path:
    """Write the inference model (encoder + cosine classifier) of a run folder or checkpoint.

    Formats: safetensors | onnx | torchscript; metadata holds the class names, image size and the
    preprocessing (`preprocess`: JSON {image_size, style, mean, std}). An existing output file is
    refused (RunFolderError). Returns the written path.
    """
    if fmt not in EXPORT_SUFFIXES:
        raise ConfigError(f"format must be one of {', '.join(EXPORT_SUFFIXES)}; got {fmt!r}")
    network, config, state, ckpt, run_dir = _load(checkpoint)
    classes = _classes(state, ckpt)
    preprocess = _preprocess(state, config, ckpt, run_dir)
    target = Path(output).expanduser() if output is not None else default_export_path(ckpt, run_dir, fmt)
    if target.exists() or target.is_symlink():
        raise RunFolderError(f"{target} already exists: refusing to overwrite it")
    if target.parent.exists() and not target.parent.is_dir():
        raise RunFolderError(f"{target.parent} is not a folder")
    target.parent.mkdir(parents=True, exist_ok=True)

    from ecl.models import export_model

    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=EXPORT_SUFFIXES[fmt])
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        export_model(network, tmp, fmt, preprocess.image_size, class_names=classes)
        _add_metadata(tmp, fmt, {PREPROCESS_KEY: json.dumps(preprocess.as_dict())})
        try:
            os.link(tmp, target)  # fails if target appeared meanwhile: never overwrite
        except FileExistsError:
            raise RunFolderError(f"{target} already exists: refusing to overwrite it") from None
        except OSError:  # no hard links on this file system
            if target.exists():
                raise RunFolderError(f"{target} already exists: refusing to overwrite it") from None
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target
