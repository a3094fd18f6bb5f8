"""Typed configuration of an `ecl` run, YAML presets and `section.key=value` overrides.

A configuration is a tree of dataclasses. It is read from YAML with `yaml.safe_load` only,
merged with command-line overrides, and validated before anything is built: an unknown key or a
bad value raises `ConfigError` naming the key (`train.batch_size`, not just "batch_size").
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "ConfigError",
    "DataConfig",
    "ModelConfig",
    "LossConfig",
    "TrainConfig",
    "EvalConfig",
    "Config",
    "PRESET_DIR",
    "preset_path",
    "list_presets",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "apply_overrides",
    "parse_override",
    "validate",
    "dump_yaml",
]

PRESET_DIR = Path(__file__).resolve().parent / "configs"  # package data: ships inside the wheel


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key or file."""


@dataclass
class DataConfig:
    """Which images, how they are made long-tailed, and how they are viewed."""

    name: str = "digits-lt"
    root: str | None = None
    imbalance_factor: float | None = None  # None: the dataset's default (digits 10, MNIST/CIFAR 100)
    profile: str = "exp"  # long-tail profile: "exp" | "step"
    test_profile: str = "balanced"  # "balanced" (standard) | "lt" (non-standard, opt-in)
    image_size: int | None = None  # None: the dataset's default
    train_list: str | None = None  # imagenet-lt / inat2018 / places-lt split lists; isic2019: the authors' CSVs
    test_list: str | None = None
    val_list: str | None = None
    train_csv: str | None = None  # csv dataset
    test_csv: str | None = None
    val_csv: str | None = None
    num_classes: int | None = None  # lists / integer-label CSV: fixes C (labels must be < C)
    split_seed: int = 0  # seed of the carved test/val splits (embedded data, ISIC, val_per_class)
    val_per_class: int = 0  # validation carved per class from the training images (ecl.data.validation); 0: none
    contrastive_views: int = 2  # views per image for the contrastive loss
    recipe: str | None = None  # view recipe: authors | bcl | small; None: the dataset's default
    flip: bool | None = None  # horizontal flip in the views; None: the recipe's default
    erasing: bool | None = None  # RandomErasing where the recipe places it; None: the protocol's default
    randaugment: bool = True  # RandAugment(n=2, m=10) in the classifier view
    verify_images: bool = True  # open every image header before training
    pipeline: str = "auto"  # auto | tensor (one uint8 tensor on the device, batched views) | pil (per-image workers)
    storage: str = "auto"  # tensor path: auto | pixels (decoded images) | encoded (the files' bytes, decoded per batch)
    cache_dir: str | None = None  # decode cache of file datasets on the tensor path; None: ~/.cache/ecl


@dataclass
class ModelConfig:
    """The ECL network: backbone, cosine classifier, projection head, prototype map."""

    backbone: str = "small_cnn"
    projection_dim: int | None = None  # None: d_z = d (CC-GE requires it)
    scale: float = 30.0  # cosine-classifier scale s
    channels_last: bool = False
    pretrained: bool = False  # start from the library's ImageNet weights (torchvision / timm; downloads)
    weights: str | None = None  # local backbone weights: .safetensors or a weights_only state dict


@dataclass
class LossConfig:
    """The objective: which method, its losses' settings and their weights."""

    method: str = "ecl"  # ce | la | supcon | bcl | la-bcl-linear | procondual | ecl | ablations
    temperature: float | None = None  # None: the method's (0.07; bcl 0.1)
    prototype_weight: float | str = 0.5  # λ in (0,1), or "bcl"
    anchor_weighting: str = "sample"  # "sample" (paper) | "class" (our extension)
    lc_tau: float = 1.0  # τ of the logit compensation
    weighting: str | None = None  # "auto" (authors' recipe) | "fixed"; None: the method's (ce, la, bcl: fixed)
    alpha: float | None = None  # fixed weights (weighting="fixed"); None: the method's (1; bcl 2.0 / ImageNet-LT 1.0)
    beta: float | None = None  # None: the method's (1; bcl 0.6 / ImageNet-LT 0.35)
    gamma: float | None = None  # None: the method's (1)


@dataclass
class TrainConfig:
    """Optimisation and the training loop."""

    epochs: int = 30
    batch_size: int = 32
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: int = 0
    schedule: str = "cosine_epoch"  # the authors' per-epoch cosine | cosine_step (per step)
    precision: str = "fp32"  # fp32 | bf16 | fp16
    num_workers: int = 0
    compile: bool = False
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    max_nonfinite_steps: int = 20  # stop after this many non-finite losses in a row
    progress: bool = True
    threads: int | None = None  # torch.set_num_threads; None: torch's default


@dataclass
class EvalConfig:
    """What is measured during and after training."""

    many_threshold: int = 100
    few_threshold: int = 20
    batch_size: int = 512
    every: int = 1  # evaluate every k epochs (and always at the last)
    geometry_every: int = 0  # also geometry metrics every k epochs (0: only at the end)
    plots: bool = True
    report: bool = True


@dataclass
class Config:
    """A whole run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    seed: int = 0
    out: str | None = None  # run folder; None: runs/<method>-<dataset>-seed<seed>-<time>


SECTIONS = ("data", "model", "loss", "train", "eval")
TOP_LEVEL = ("seed", "out")

# One line per configuration key: the README's table of keys is generated from this
# (`keys_markdown()`), and a test fails when a field of the dataclasses has no line here.
KEY_HELP: dict[str, str] = {
    "data.name": "dataset (`ecl data summary` lists them): digits-lt, mnist-lt, fashion-mnist-lt, cifar10-lt, cifar100-lt, imagenet-lt, inat2018, places-lt, isic2019, folder, csv",
    "data.root": "folder holding the dataset's files (none for the embedded sets)",
    "data.imbalance_factor": "n_max / n_min of the long-tailed training set (null: the dataset's default)",
    "data.profile": "long-tail profile: `exp` or `step`",
    "data.test_profile": "`balanced` test set (standard) or `lt` (opt-in)",
    "data.image_size": "training resolution S in px (null: the dataset's default; own images: their typical size)",
    "data.train_list": "split list of training images (imagenet-lt, inat2018, places-lt; isic2019: the authors' `ISIC2019_train.csv`, which fixes the split)",
    "data.test_list": "split list of test images (isic2019: `ISIC2019_test.csv`)",
    "data.val_list": "split list of validation images (isic2019: `ISIC2019_val.csv`)",
    "data.train_csv": "CSV (path,label) of training images (data.name=csv)",
    "data.test_csv": "CSV of test images",
    "data.val_csv": "CSV of validation images (optional)",
    "data.num_classes": "fixes C for split lists / integer-label CSVs (labels must be < C)",
    "data.split_seed": "seed of carved test / validation splits (embedded data, ISIC, val_per_class)",
    "data.val_per_class": "validation images per class carved from the training images (the pool's unused ones for the LT sets made from a balanced pool); not with a given val/, val_csv or val_list; 0: none",
    "data.contrastive_views": "augmented views per image for the contrastive loss",
    "data.randaugment": "RandAugment in the classifier view",
    "data.recipe": "view recipe: `authors` (ProConDual/ECL), `bcl` (BCL's CIFAR protocol) or `small` (null: the dataset's default)",
    "data.flip": "horizontal flip in the training views (null: the recipe's default: on, off for `small`)",
    "data.erasing": "RandomErasing where the recipe places it (`authors`: every view, `bcl`: the classifier view, `small`: none); null: the protocol's default: off for ImageNet-LT (as the authors and BCL), on elsewhere",
    "data.verify_images": "open every image header before training",
    "data.pipeline": "how views are made: `tensor` (images as one uint8 tensor on the training device, batched views, no per-image Python), `pil` (per-image transforms in DataLoader workers), `auto` (tensor when the images fit in 25% of free memory as pixels or, for image files, as their encoded bytes: see data.storage; says which)",
    "data.storage": "how the tensor path holds image files: `pixels` (decoded once, whole, aspect kept), `encoded` (the files' JPEG/PNG bytes in memory, decoded per batch on the training device: nvJPEG on CUDA), `auto` (pixels when they fit in 25% of free memory, else encoded when the bytes do, else the per-image path; says which). Not with data.pipeline=pil; encoded needs image files",
    "data.cache_dir": "folder of the tensor path's decode cache of image files (null: `$ECL_CACHE_DIR` or ~/.cache/ecl)",
    "model.backbone": "encoder: small_cnn, resnet32, resnet18/34/50, resnext50_32x4d, or timm:NAME",
    "model.projection_dim": "d_z of the projection head (null: the method's: d, which CC-GE requires; bcl 128, on ImageNet-LT 1024)",
    "model.scale": "cosine-classifier scale s",
    "model.channels_last": "channels-last memory format (GPUs)",
    "model.pretrained": "start from the library's ImageNet weights (torchvision / timm; needs a download)",
    "model.weights": "start from local backbone weights: a .safetensors file or a torch.save'd state dict",
    "loss.method": "ce, la, supcon, bcl, la-bcl-linear, procondual, ecl, or an ablation (see below)",
    "loss.temperature": "contrastive temperature τ (null: the method's: 0.07; bcl 0.1, on ImageNet-LT 0.07)",
    "loss.prototype_weight": "λ in (0, 1), the prototype's share in BC-ECL, or `bcl`",
    "loss.anchor_weighting": "`sample` (the paper) or `class` (our extension)",
    "loss.lc_tau": "τ of the logit compensation",
    "loss.weighting": "`auto` (calibrated at the end of the first epoch after warm-up, the authors' recipe) or `fixed` (null: the method's; ce, la, bcl: fixed)",
    "loss.alpha": "weight of L_LC when loss.weighting=fixed (null: the method's: 1; bcl 2.0, on ImageNet-LT 1.0)",
    "loss.beta": "weight of the contrastive loss when loss.weighting=fixed (null: the method's: 1; bcl 0.6, on ImageNet-LT 0.35)",
    "loss.gamma": "weight of L_CC-GE when loss.weighting=fixed (null: the method's: 1)",
    "train.epochs": "training epochs",
    "train.batch_size": "images per step (global under torchrun; each image gives three views)",
    "train.lr": "SGD learning rate",
    "train.momentum": "SGD momentum",
    "train.weight_decay": "SGD weight decay",
    "train.warmup_epochs": "linear warm-up epochs (the authors use none; auto weights calibrate after it)",
    "train.schedule": "`cosine_epoch` (the authors': lr·½(1+cos(π(e+1)/(E+1))) per epoch) or `cosine_step` (per step)",
    "train.precision": "fp32, bf16 or fp16 autocast (fp16 uses a GradScaler)",
    "train.num_workers": "DataLoader worker processes for the per-image path",
    "train.compile": "torch.compile the network (GPUs)",
    "train.device": "auto, cpu, cuda or cuda:N",
    "train.max_nonfinite_steps": "stop after this many non-finite losses in a row",
    "train.progress": "progress bar in a terminal, a line every ~30 s otherwise",
    "train.threads": "torch.set_num_threads (null: torch's default)",
    "eval.many_threshold": "many-shot classes have more training images than this",
    "eval.few_threshold": "few-shot classes have fewer training images than this",
    "eval.batch_size": "evaluation batch size",
    "eval.every": "evaluate every k epochs (and always at the last)",
    "eval.geometry_every": "also FC/MS/SD every k epochs (0: only at the end)",
    "eval.plots": "write plots/ at the end",
    "eval.report": "write report.html at the end",
    "seed": "seed of everything random in the run",
    "out": "run folder (null: runs/<method>-<dataset>-seed<seed>-<time>)",
}


def all_keys() -> list[str]:
    """Every configuration key as `section.key` (or `seed`, `out`), in dataclass order."""
    keys = [f"{section}.{f.name}" for section in SECTIONS
            for f in dataclasses.fields(typing.get_type_hints(Config)[section])]
    return keys + list(TOP_LEVEL)


def keys_markdown() -> str:
    """The README's table of configuration keys: key, default, meaning."""
    defaults = config_to_dict(Config())
    rows = ["| key | default | meaning |", "| --- | --- | --- |"]
    for key in all_keys():
        section, _, sub = key.partition(".")
        value = defaults[section][sub] if sub else defaults[section]
        shown = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        rows.append(f"| `{key}` | `{shown}` | {KEY_HELP.get(key, '')} |")
    return "\n".join(rows)


def suggest_key(text: str) -> str | None:
    """The closest known key to a misspelt one (`train.epoch` → `train.epochs`, `epochs` → `train.epochs`)."""
    import difflib

    keys = all_keys()
    text = text.strip().lstrip("-").replace("-", "_")
    by_leaf: dict[str, str] = {}
    for key in keys:  # the first section wins: batch_size → train.batch_size
        by_leaf.setdefault(key.rpartition(".")[2], key)
    if text in by_leaf:
        return by_leaf[text]
    close = difflib.get_close_matches(text, keys, n=1, cutoff=0.6)
    if close:
        return close[0]
    leaf = difflib.get_close_matches(text.rpartition(".")[2], list(by_leaf), n=1, cutoff=0.75)
    return by_leaf[leaf[0]] if leaf else None


def _unknown_key(source: str, key: str, known: list[str], shown: str | None = None) -> ConfigError:
    hint = suggest_key(key)
    did_you_mean = f"; did you mean {hint}?" if hint else ""
    return ConfigError(f"{source}: unknown key {shown or key}{did_you_mean} (known: {', '.join(known)})")


CHOICES: dict[str, tuple[str, ...]] = {
    "data.profile": ("exp", "step"),
    "data.test_profile": ("balanced", "lt"),
    "data.pipeline": ("auto", "tensor", "pil"),
    "data.storage": ("auto", "pixels", "encoded"),
    "loss.anchor_weighting": ("sample", "class"),
    "loss.weighting": ("auto", "fixed"),
    "train.precision": ("fp32", "bf16", "fp16"),
    "train.schedule": ("cosine_epoch", "cosine_step"),
    "data.recipe": ("authors", "bcl", "small"),
}
NULLABLE_CHOICES = ("loss.weighting", "data.recipe")  # null: resolved later (method / dataset)


def preset_path(name: str) -> Path:
    """The YAML file of a preset name (`digits_lt`) or a path; ConfigError when neither exists."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    for candidate in (PRESET_DIR / name, PRESET_DIR / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    known = sorted(p.stem for p in PRESET_DIR.glob("*.yaml")) if PRESET_DIR.is_dir() else []
    raise ConfigError(f"config file not found: {name!r} (presets: {', '.join(known) or 'none'})")


def list_presets() -> list[tuple[str, str]]:
    """(name, one-line description) of every preset shipped in the package, sorted by name.

    The description is the preset file's first comment line.
    """
    presets = []
    for path in sorted(PRESET_DIR.glob("*.yaml")):
        first = next((line for line in path.read_text(encoding="utf-8").splitlines()
                      if line.startswith("#")), "#")
        presets.append((path.stem, first.lstrip("#").strip()))
    return presets


def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """Check `value` against the annotation `hint`; convert int→float; ConfigError naming `key`."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(key, value, option)
            except ConfigError as exc:
                errors.append(str(exc))
        names = " or ".join("null" if o is type(None) else o.__name__ for o in options)
        raise ConfigError(f"{key}: expected {names}, got {value!r}")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if hint in (int, float) and isinstance(value, str):
        try:  # PyYAML reads `1e-4` as text; accept it as the number it spells
            value = float(value) if hint is float else int(value)
        except ValueError:
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported type {hint!r}")  # pragma: no cover


def config_from_dict(raw: dict[str, Any], base: Config | None = None, source: str = "config") -> Config:
    """Merge a nested dict (as read from YAML) into `base` (default: the defaults)."""
    config = base if base is not None else Config()
    if raw is None:
        return config
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    for key, value in raw.items():
        if key in TOP_LEVEL:
            setattr(config, key, _coerce(key, value, _type_hints(Config)[key]))
        elif key in SECTIONS:
            if value is None:
                continue
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {key}: expected a mapping, got {value!r}")
            section = getattr(config, key)
            hints = _type_hints(type(section))
            for sub, sub_value in value.items():
                if sub not in hints:
                    raise _unknown_key(source, f"{key}.{sub}", sorted(hints))
                setattr(section, sub, _coerce(f"{key}.{sub}", sub_value, hints[sub]))
        else:
            raise _unknown_key(source, str(key), list(SECTIONS + TOP_LEVEL), shown=repr(key))
    return config


def config_to_dict(config: Config) -> dict[str, Any]:
    """The nested plain dict of a configuration (YAML/JSON/checkpoint-safe)."""
    return dataclasses.asdict(config)


def parse_override(text: str) -> tuple[str, Any]:
    """`section.key=value` → (`section.key`, value parsed as a YAML scalar)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected section.key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {text!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {key}: cannot parse value {raw!r}: {exc}") from None
    if isinstance(value, (dict, list)):
        value = raw  # keep structured-looking strings (paths with brackets) as text
    return key, value


def apply_overrides(config: Config, overrides: list[str]) -> Config:
    """Apply `section.key=value` (or `seed=`, `out=`) overrides in order."""
    for text in overrides:
        key, value = parse_override(text)
        if "." in key:
            section, sub = key.split(".", 1)
            config_from_dict({section: {sub: value}}, config, source="override")
        else:
            config_from_dict({key: value}, config, source="override")
    return config


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a YAML preset/file (safe_load), apply overrides and validate."""
    config = Config()
    if path is not None:
        file = preset_path(str(path))
        try:
            raw = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{file}: not a valid YAML config: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: cannot read: {exc}") from None
        config = config_from_dict(raw, config, source=str(file))
    apply_overrides(config, overrides or [])
    validate(config)
    return config


def _positive(key: str, value: float | int | None, allow_zero: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        bound = "≥ 0" if allow_zero else "> 0"
        raise ConfigError(f"{key}: must be {bound}, got {value!r}")


def validate(config: Config) -> Config:
    """Check every value; ConfigError naming the first bad key."""
    for key, allowed in CHOICES.items():
        section, sub = key.split(".")
        value = getattr(getattr(config, section), sub)
        if value is None and key in NULLABLE_CHOICES:
            continue
        if value not in allowed:
            raise ConfigError(f"{key}: must be one of {', '.join(allowed)}, got {value!r}")

    from ecl.data import DATASETS
    from ecl.losses import METHODS
    from ecl.models import BACKBONES

    if config.data.name not in DATASETS:
        raise ConfigError(
            f"data.name: unknown dataset {config.data.name!r} (known: {', '.join(sorted(DATASETS))})"
        )
    if config.loss.method not in METHODS:
        raise ConfigError(
            f"loss.method: unknown method {config.loss.method!r} (known: {', '.join(sorted(METHODS))})"
        )
    if config.model.backbone not in BACKBONES:
        from ecl.models.registry import backbone_name_error

        problem = backbone_name_error(config.model.backbone)  # timm:NAME is checked against timm
        if problem is not None:
            raise ConfigError(problem)
    if config.model.pretrained and config.model.weights is not None:
        raise ConfigError("model.weights: set either model.pretrained=true or model.weights=PATH, not both")

    d, m, l, t, e = config.data, config.model, config.loss, config.train, config.eval
    if d.imbalance_factor is not None and d.imbalance_factor < 1:
        raise ConfigError(f"data.imbalance_factor: must be ≥ 1, got {d.imbalance_factor!r}")
    _positive("data.image_size", d.image_size)
    if d.num_classes is not None and d.num_classes < 2:
        raise ConfigError(f"data.num_classes: must be ≥ 2, got {d.num_classes!r}")
    _positive("data.contrastive_views", d.contrastive_views)
    _positive("model.projection_dim", m.projection_dim)
    _positive("model.scale", m.scale)
    _positive("loss.temperature", l.temperature)
    _positive("loss.lc_tau", l.lc_tau, allow_zero=True)
    for key in ("alpha", "beta", "gamma"):
        _positive(f"loss.{key}", getattr(l, key), allow_zero=True)
    if isinstance(l.prototype_weight, str):
        if l.prototype_weight != "bcl":
            raise ConfigError(
                f"loss.prototype_weight: must be a number in (0, 1) or 'bcl', got {l.prototype_weight!r}"
            )
    elif not 0 < l.prototype_weight < 1:
        raise ConfigError(f"loss.prototype_weight: must be in (0, 1), got {l.prototype_weight!r}")
    _positive("train.epochs", t.epochs)
    _positive("train.batch_size", t.batch_size)
    _positive("train.lr", t.lr)
    _positive("train.momentum", t.momentum, allow_zero=True)
    _positive("train.weight_decay", t.weight_decay, allow_zero=True)
    _positive("train.warmup_epochs", t.warmup_epochs, allow_zero=True)
    _positive("train.num_workers", t.num_workers, allow_zero=True)
    _positive("train.max_nonfinite_steps", t.max_nonfinite_steps)
    _positive("train.threads", t.threads)
    if t.warmup_epochs >= t.epochs and t.warmup_epochs > 0:
        raise ConfigError(
            f"train.warmup_epochs: must be < train.epochs ({t.epochs}), got {t.warmup_epochs}"
        )
    if not (t.device in ("auto", "cpu", "cuda") or t.device.startswith("cuda:")):
        raise ConfigError(f"train.device: must be auto, cpu, cuda or cuda:N, got {t.device!r}")
    _positive("eval.batch_size", e.batch_size)
    _positive("eval.every", e.every)
    _positive("eval.geometry_every", e.geometry_every, allow_zero=True)
    _positive("eval.many_threshold", e.many_threshold)
    _positive("eval.few_threshold", e.few_threshold)
    if e.few_threshold > e.many_threshold:
        raise ConfigError(
            f"eval.few_threshold: must be ≤ eval.many_threshold ({e.many_threshold}), "
            f"got {e.few_threshold}"
        )
    return config


def dump_yaml(config: Config) -> str:
    """The fully resolved configuration as YAML text."""
    return yaml.safe_dump(config_to_dict(config), sort_keys=False)
