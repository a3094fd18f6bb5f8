"""Small helpers shared by the readers: config access, roots, image size/style, notes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecl.data.errors import DataError

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "cfg_get",
    "require_root",
    "resolve_config_file",
    "file_image_size_style",
    "ignored_imbalance_note",
    "lt_test_note",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def cfg_get(cfg: Any, name: str, default: Any) -> Any:
    """`cfg.name`, or `default` when the config has no such field or it is None."""
    value = getattr(cfg, name, default)
    return default if value is None else value


def require_root(cfg: Any, dataset: str) -> Path:
    """The resolved `data.root` directory; DataError if unset or missing."""
    root = getattr(cfg, "root", None)
    if not root:
        raise DataError(f"data.root: dataset {dataset!r} needs data.root (the folder that holds its files)")
    path = Path(str(root)).expanduser()
    if not path.is_dir():
        raise DataError(f"data.root: {path} does not exist or is not a directory (dataset {dataset!r})")
    return path.resolve()


def resolve_config_file(root: Path, value: str | None, key: str, required: bool) -> Path | None:
    """A list/CSV file given in the config: absolute, or relative to data.root. DataError if missing."""
    if not value:
        if required:
            raise DataError(f"data.{key}: required for this dataset")
        return None
    path = Path(str(value)).expanduser()
    if not path.is_absolute():
        path = root / path
    if not path.is_file():
        raise DataError(f"data.{key}: {path} does not exist or is not a file")
    return path


def file_image_size_style(cfg: Any, default_size: int = 224, by_size: bool = False) -> tuple[int, str]:
    """(image size, view style) of a file-based dataset: "cifar" at ≤ 64 px when `by_size`."""
    size = int(cfg_get(cfg, "image_size", default_size))
    style = "cifar" if (by_size and size <= 64) else "imagenet"
    return size, style


def ignored_imbalance_note(cfg: Any, what: str) -> list[str]:
    """A note when data.imbalance_factor/profile is set for a dataset whose files fix the split."""
    notes = []
    if getattr(cfg, "imbalance_factor", None) is not None:
        notes.append(f"data.imbalance_factor ignored: the {what} define the class distribution")
    if getattr(cfg, "test_profile", "balanced") == "lt":
        notes.append(f"data.test_profile=lt ignored: the {what} define the test set")
    return notes


def lt_test_note(test_count: int) -> str:
    return (
        "non-standard: long-tailed test set (data.test_profile=lt, "
        f"max {test_count} per class); the standard protocol uses the balanced test set"
    )
