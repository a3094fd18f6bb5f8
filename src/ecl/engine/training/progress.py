"""Progress inside a training epoch: a tqdm bar on a terminal, otherwise a plain line every
`interval` seconds (step k/N, img/s, eta); and, once per run, a time estimate after the first steps,
followed on a CPU by one hint with the faster choices when the run would take over 15 minutes
(`speed_hint`).

The wrapper never calls iter(loader) before the epoch starts, so showing progress or not does
not change the loader's seeded order.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Iterable, Iterator

__all__ = ["EpochProgress", "format_duration", "speed_hint", "SLOW_RUN_S"]

Log = Callable[[str], None]
SLOW_RUN_S = 15 * 60  # a CPU run estimated longer than this gets the hint


def speed_hint(seconds: float, device: str, image_size: int, from_weights: bool) -> str | None:
    """The one hint after a time estimate of `seconds` for the whole run, or None.

    Only on a CPU (`device` "cpu") and over SLOW_RUN_S; it names the faster choices that exist:
    a smaller data.image_size (time grows about with the pixel count: 64 px above 64, 32 above 32)
    and, when the backbone does not already start from weights, a pretrained one (model.weights,
    or model.pretrained=true), which needs far fewer epochs.
    """
    if device != "cpu" or seconds <= SLOW_RUN_S:
        return None
    choices = []
    smaller = 64 if image_size > 64 else 32 if image_size > 32 else None
    if smaller is not None:
        choices.append(f"data.image_size={smaller} (about {(image_size / smaller) ** 2:.0f}× fewer pixels "
                       f"than {image_size} px)")
    if not from_weights:
        choices.append("a pretrained backbone, which needs far fewer epochs: model.weights=FILE "
                       "(.safetensors or a state dict), or model.pretrained=true with model.backbone=timm:NAME")
    if not choices:
        return None
    return f"hint: over {SLOW_RUN_S // 60} minutes on the CPU; faster: " + "; or ".join(choices)


def format_duration(seconds: float) -> str:
    """`42s`, `3m05s`, `2h07m`."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


class EpochProgress:
    """Iterate `loader` (items (views, labels (B,))) for 0-based `epoch` of `epochs`.

    `bar`: a tqdm bar (lines then go through tqdm.write); else a line every `interval` s of `clock`.
    `estimate`: after `estimate_steps` steps or `estimate_s` seconds, log the time per epoch and for
    the remaining epochs of the run (once), then `hint(seconds left)` when it returns a line.
    """

    def __init__(self, loader: Iterable, *, epoch: int, epochs: int, log: Log, bar: bool = False,
                 estimate: bool = False, interval: float = 30.0, clock: Callable[[], float] = time.monotonic,
                 estimate_steps: int = 10, estimate_s: float = 5.0,
                 hint: Callable[[float], str | None] | None = None) -> None:
        self.loader, self.epoch, self.epochs = loader, epoch, epochs
        self.total = len(loader)  # type: ignore[arg-type]
        self.interval, self.clock, self.estimate = interval, clock, estimate
        self.estimate_steps, self.estimate_s, self.hint = estimate_steps, estimate_s, hint
        self._log, self._bar = log, None
        if bar:
            from tqdm import tqdm  # tqdm.std: its constructor does not call iter(loader)

            self._bar = tqdm(total=self.total, desc=f"epoch {epoch + 1}/{epochs}", leave=False,
                             dynamic_ncols=True, file=sys.stderr)

    def __len__(self) -> int:
        return self.total

    def log(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=sys.stderr)
        else:
            self._log(text)

    def __iter__(self) -> Iterator[Any]:
        start = last = self.clock()
        images = 0
        for step, item in enumerate(self.loader, start=1):
            yield item
            images += _batch_size(item)
            now = self.clock()
            if self._bar is not None:
                self._bar.update(1)
            if self.estimate and (step >= min(self.estimate_steps, self.total) or now - start >= self.estimate_s):
                self.estimate = False
                per_epoch = (now - start) / step * self.total
                left = per_epoch * (self.epochs - self.epoch)
                self.log(f"time estimate: ~{format_duration(per_epoch)} per epoch, ~{format_duration(left)} "
                         f"for the {self.epochs - self.epoch} epoch(s) to go (from the first {step} steps)")
                hint = self.hint(left) if self.hint is not None else None
                if hint:
                    self.log(hint)
            if self._bar is None and now - last >= self.interval:
                last = now
                rate = images / max(now - start, 1e-9)
                eta = (now - start) / step * (self.total - step)
                self.log(f"epoch {self.epoch + 1}/{self.epochs} step {step}/{self.total}, {rate:.0f} img/s, "
                         f"eta {format_duration(eta)}")

    def set_postfix(self, **values: Any) -> None:
        if self._bar is not None:
            self._bar.set_postfix(**values)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _batch_size(item: Any) -> int:
    try:
        return int(len(item[1]))
    except (TypeError, IndexError):
        return 0
