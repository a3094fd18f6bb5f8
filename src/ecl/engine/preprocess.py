"""The one description of how an image becomes the network's eval input (size, style, mean, std).

Carried in every checkpoint (`data`), in data.json (`preprocess`) and in every export's metadata,
so `ecl predict` and a user's own code reproduce the evaluation view exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Preprocess", "PREPROCESS_KEY"]

PREPROCESS_KEY = "preprocess"  # the key in data.json and in export metadata


@dataclass(frozen=True)
class Preprocess:
    """What the eval view of an image needs: size S, view style, per-channel mean and std."""

    image_size: int
    style: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def of_bundle(cls, bundle: Any) -> "Preprocess":
        """The preprocessing of a DataBundle's eval view."""
        return cls(int(bundle.image_size), str(bundle.style), tuple(float(v) for v in bundle.mean),  # type: ignore[arg-type]
                   tuple(float(v) for v in bundle.std))  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, Any]:
        return {"image_size": self.image_size, "style": self.style, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> "Preprocess":
        """From {"image_size", "style", "mean", "std"}; CheckpointError naming `where` otherwise."""
        from ecl.engine.checkpoint import CheckpointError

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
