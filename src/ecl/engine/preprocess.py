"""The one description of how an image becomes the network's eval input (size, recipe, resize mode, mean, std).

Carried in every checkpoint (`data`), in data.json (`preprocess`) and in every export's metadata,
so `ecl predict` and a user's own code reproduce the evaluation view exactly. It wraps
:class:`ecl.data.views.Preprocessing` (the recipe's eval view): ``as_dict`` also carries its
``resize``/``crop``/``mode`` (e.g. ``resize_shorter_then_center_crop(256→224)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ecl.data.views import Preprocessing, eval_preprocessing, recipe_for_style, recipe_statistics, resolve_recipe

__all__ = ["Preprocess", "PREPROCESS_KEY"]

PREPROCESS_KEY = "preprocess"  # the key in data.json and in export metadata


@dataclass(frozen=True)
class Preprocess:
    """What the eval view of an image needs: size S, view style, recipe and the normalisation it applies.

    `mean`/`std` are the statistics the recipe normalises with (ImageNet's for "authors", else the
    dataset's). `recipe` "" means the dataset style's default recipe (old checkpoints carry no recipe).
    """

    image_size: int
    style: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    recipe: str = ""

    def __post_init__(self) -> None:
        recipe = resolve_recipe(self.recipe) if self.recipe else recipe_for_style(self.style)
        object.__setattr__(self, "recipe", recipe)

    @classmethod
    def of_bundle(cls, bundle: Any, recipe: str | None = None) -> "Preprocess":
        """The preprocessing of a DataBundle's eval view under `recipe` (None: the style's default)."""
        name = resolve_recipe(recipe) if recipe else recipe_for_style(str(bundle.style))
        mean, std = recipe_statistics(name, bundle.mean, bundle.std)
        return cls(int(bundle.image_size), str(bundle.style), mean, std, name)  # type: ignore[arg-type]

    @property
    def view(self) -> Preprocessing:
        """The recipe's eval view (resize, crop, normalisation)."""
        return eval_preprocessing(self.image_size, self.recipe, self.mean, self.std)

    def as_dict(self) -> dict[str, Any]:
        """image_size, style, recipe, resize, crop, mode, mean, std (JSON-ready)."""
        view = self.view.as_dict()
        return {"image_size": self.image_size, "style": self.style, "recipe": self.recipe,
                "resize": view["resize"], "crop": view["crop"], "mode": view["mode"],
                "mean": view["mean"], "std": view["std"]}

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> "Preprocess":
        """From {"image_size", "style", "mean", "std"[, "recipe"]}; CheckpointError naming `where` otherwise."""
        from ecl.engine.checkpoint import CheckpointError

        try:
            size = raw["image_size"]
            if isinstance(size, bool) or int(size) != size or int(size) < 1:
                raise ValueError(f"image_size {size!r}")
            mean = tuple(float(v) for v in raw["mean"])
            std = tuple(float(v) for v in raw["std"])
            if len(mean) != 3 or len(std) != 3:
                raise ValueError("mean and std need 3 values")
            return cls(int(size), str(raw["style"]), mean, std, str(raw.get("recipe") or ""))  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(where, f"bad preprocessing metadata ({type(exc).__name__}: {exc})") from None

    def transform(self):
        """PIL image → (3,S,S) float32 eval view."""
        return self.view.transform()
