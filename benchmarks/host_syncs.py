"""Count the reads of tensor values back to the host (each one a synchronisation on a GPU).

    with HostSyncCounter() as reads:
        ...
    reads.total, reads.counts  # e.g. 3, {"item": 2, "bool": 1}

While active, the counter patches the Tensor methods that hand a value to Python or copy a tensor
to the CPU, and counts each call by kind:

* ``item``, ``tolist``, ``numpy`` and the conversions ``bool`` / ``float`` / ``int`` / ``index``
  (``if t:``, ``float(t)``, ``int(t)``, ``range(t)``; an f-string of a tensor goes through ``item``)
  — on any device: on a CPU run they mark where a GPU run would wait (an upper bound: a tensor that
  stays on the CPU in a GPU run does not wait);
* ``to_cpu``: ``.cpu()``, ``.to("cpu")`` and ``cpu_tensor.copy_(other)`` when the source is on
  another device (a CPU tensor's ``.cpu()`` reads nothing).

Hidden synchronisations inside native operators (boolean-mask indexing, ``nonzero``) are not seen;
``torch.cuda.set_sync_debug_mode`` reports those on a GPU. Used by benchmarks/throughput.py
(``host_syncs_per_step``) and by the tests of the training step.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any, Callable

import torch

__all__ = ["HostSyncCounter"]

_VALUE_READS = {"item": "item", "tolist": "tolist", "numpy": "numpy", "__bool__": "bool",
                "__float__": "float", "__int__": "int", "__index__": "index"}


def _is_cpu(device: Any) -> bool:
    return torch.device(device).type == "cpu"


def _to_target(args: tuple, kwargs: dict) -> Any:
    """The device a ``Tensor.to(...)`` call names, or None (dtype only, or another tensor's device)."""
    if "device" in kwargs:
        return kwargs["device"]
    for arg in args:
        if isinstance(arg, torch.Tensor):
            return arg.device
        if isinstance(arg, (str, torch.device)):
            return arg
    return None


def _cpu_reads(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> bool:
    """``t.cpu()`` copies to the host unless `t` is already there."""
    return not _is_cpu(tensor.device)


def _to_reads(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> bool:
    """``t.to(...)`` names the CPU while `t` lives elsewhere."""
    target = _to_target(args, kwargs)
    return target is not None and _is_cpu(target) and not _is_cpu(tensor.device)


def _copy_reads(tensor: torch.Tensor, src: Any = None, *args: Any, **kwargs: Any) -> bool:
    """``cpu_tensor.copy_(src)`` with `src` on another device."""
    return _is_cpu(tensor.device) and isinstance(src, torch.Tensor) and not _is_cpu(src.device)


class HostSyncCounter:
    """Context manager: ``counts`` (kind → calls) and ``total`` of the host reads made while active.

    Re-entrant use is not supported; one counter at a time. ``active`` can be toggled to pause
    counting without restoring the methods (the patches stay in place until ``__exit__``).
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.active = False
        self._saved: dict[str, Callable] = {}
        self._own: set[str] = set()

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def _count(self, kind: str) -> None:
        if self.active:
            self.counts[kind] += 1

    def _wrap(self, name: str, kind: str, reads: Callable[..., bool] = lambda tensor, *a, **k: True) -> Callable:
        """`Tensor.<name>` that counts one `kind` read when `reads(tensor, *args, **kwargs)` holds."""
        original = self._saved[name]

        @functools.wraps(original)
        def patched(tensor, *args, **kwargs):
            if reads(tensor, *args, **kwargs):
                self._count(kind)
            return original(tensor, *args, **kwargs)

        return patched

    def __enter__(self) -> "HostSyncCounter":
        if self._saved:
            raise RuntimeError("HostSyncCounter is already active")
        names = [*_VALUE_READS, "cpu", "to", "copy_"]
        self._saved = {name: getattr(torch.Tensor, name) for name in names}
        self._own = {name for name in names if name in vars(torch.Tensor)}  # else inherited from TensorBase
        patches = {name: self._wrap(name, kind) for name, kind in _VALUE_READS.items()}
        patches.update(cpu=self._wrap("cpu", "to_cpu", _cpu_reads), to=self._wrap("to", "to_cpu", _to_reads),
                       copy_=self._wrap("copy_", "to_cpu", _copy_reads))
        for name, patch in patches.items():
            setattr(torch.Tensor, name, patch)
        self.active = True
        return self

    def __exit__(self, *exc: Any) -> None:
        self.active = False
        for name, original in self._saved.items():
            if name in self._own:
                setattr(torch.Tensor, name, original)
            else:
                delattr(torch.Tensor, name)
        self._saved = {}
