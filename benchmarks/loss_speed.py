"""Forward+backward speed of BCECLLoss against the dense BCL formulation of research code.

The reference (``bcl_dense``) is written here from the description of BCL's published
implementation: one dense (2B)×(2B+C) logits matrix with the prototypes appended as extra
columns, per-column class counts built from a Python list over a bincount, and mask arithmetic.

    python benchmarks/loss_speed.py [--json] [--device cpu|cuda] [--repeats 20] [--threads N]

Memory: on CUDA the peak allocated memory of one forward+backward; on CPU the bytes of the
tensors autograd saves for backward (the activation memory of the loss), measured with
``torch.autograd.graph.saved_tensors_hooks``. ``_peak_memory`` (the peak of forward+backward on
either device; on CPU tracked op by op with a dispatch mode) and ``_times_interleaved`` (every
round's seconds) are shared with ``benchmarks/scale_curves.py``.
"""

from __future__ import annotations

import argparse
import json
import time
import weakref
from typing import Callable

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from ecl.losses import BCECLLoss

SIZES = [(128, 100, 128), (256, 100, 128), (256, 1000, 1024)]
TAU = 0.07


def bcl_dense(features: torch.Tensor, labels: torch.Tensor, prototypes: torch.Tensor, tau: float = TAU) -> torch.Tensor:
    """BCL as research code computes it. features (B, 2, d), labels (B,), prototypes (C, d) → scalar."""
    batch = features.shape[0]
    num_classes = prototypes.shape[0]
    views = torch.cat(torch.unbind(features, dim=1), dim=0)  # (2B, d), view-major
    targets = torch.cat([labels.repeat(2), torch.arange(num_classes, device=labels.device)])  # (2B+C,)
    class_count = torch.bincount(targets, minlength=num_classes)  # each class + its prototype
    column_count = torch.tensor([class_count[t] for t in targets.tolist()], device=features.device)  # python list
    same = torch.eq(targets[: 2 * batch, None], targets[None, :]).float()  # (2B, 2B+C)
    not_self = torch.ones_like(same)
    not_self[torch.arange(2 * batch), torch.arange(2 * batch)] = 0.0
    positives = same * not_self
    everything = torch.cat([views, prototypes], dim=0)  # (2B+C, d)
    logits = views @ everything.T / tau
    logits = logits - logits.max(dim=1, keepdim=True).values.detach()
    exp_logits = torch.exp(logits) * not_self
    per_column = column_count[None, :].float() - positives  # m_c(i) + 1 for the column's class
    denominator = (exp_logits / per_column).sum(dim=1, keepdim=True)
    log_prob = logits - torch.log(denominator)
    per_anchor = -(positives * log_prob).sum(dim=1) / positives.sum(dim=1)
    return per_anchor.mean()


def _make(b: int, c: int, d: int, device: torch.device, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    features = F.normalize(torch.randn(b, 2, d, generator=g), dim=-1).to(device).requires_grad_(True)
    prototypes = F.normalize(torch.randn(c, d, generator=g), dim=-1).to(device).requires_grad_(True)
    labels = torch.randint(0, c, (b,), generator=g).to(device)
    return features, labels, prototypes


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _times_interleaved(fns: dict[str, Callable[[], torch.Tensor]], inputs, device: torch.device,
                       repeats: int, warmup: int = 3) -> dict[str, list[float]]:
    """Seconds of each of ``repeats`` forward+backward passes per method; the methods alternate in
    every round so that load from other processes hits all of them alike."""

    def step(fn: Callable[[], torch.Tensor]) -> float:
        for t in inputs:
            t.grad = None
        _sync(device)
        start = time.perf_counter()
        fn().backward()
        _sync(device)
        return time.perf_counter() - start

    for fn in fns.values():
        for _ in range(warmup):
            step(fn)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k].append(step(fn))
    return times


def _time_interleaved(fns: dict[str, Callable[[], torch.Tensor]], inputs, device: torch.device,
                      repeats: int) -> dict[str, float]:
    """Best-of-``repeats`` seconds per forward+backward (:func:`_times_interleaved`)."""
    return {k: min(v) for k, v in _times_interleaved(fns, inputs, device, repeats).items()}


class _PeakTracker(TorchDispatchMode):
    """Live and peak bytes of the tensor storages created while active (forward and backward ops
    alike): each new storage counts from the op that made it until it is freed (a finalizer on the
    storage object, which torch keeps alive as long as the storage itself). An output that shares
    an argument's storage (a view, an in-place op) allocates nothing and is not counted."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._seen: set[int] = set()

    def _free(self, key: int, nbytes: int) -> None:
        self.live -= nbytes
        self._seen.discard(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        given = {a.untyped_storage().data_ptr() for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)}
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor):
                continue
            storage = t.untyped_storage()
            key, nbytes = storage.data_ptr(), storage.nbytes()
            if nbytes == 0 or key in self._seen or key in given:  # a view or an in-place result
                continue
            self._seen.add(key)
            self.live += nbytes
            self.peak = max(self.peak, self.live)
            weakref.finalize(storage, self._free, key, nbytes)
        return out


def _peak_memory(fn: Callable[[], torch.Tensor], inputs, device: torch.device) -> int:
    """Peak bytes allocated by one forward+backward beyond what was alive before it (the inputs'
    gradients included). CUDA: ``torch.cuda.max_memory_allocated``; CPU: :class:`_PeakTracker`."""
    for t in inputs:
        t.grad = None
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn().backward()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base
    tracker = _PeakTracker()
    with tracker:
        fn().backward()
    return tracker.peak


def _memory(fn: Callable[[], torch.Tensor], inputs, device: torch.device) -> int:
    """CUDA: :func:`_peak_memory`; CPU: bytes of the storages autograd saves for backward."""
    if device.type == "cuda":
        return _peak_memory(fn, inputs, device)
    for t in inputs:
        t.grad = None
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor):
        seen[(t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = fn()
    loss.backward()
    return sum(seen.values())


def run(device: torch.device, repeats: int) -> list[dict]:
    rows = []
    ecl = BCECLLoss(temperature=TAU, prototype_weight=0.5)
    ecl_bcl = BCECLLoss(temperature=TAU, prototype_weight="bcl")
    for b, c, d in SIZES:
        features, labels, prototypes = _make(b, c, d, device)
        inputs = (features, prototypes)
        # sanity: the "bcl" weighting of BCECLLoss reproduces the dense reference
        ref_value = bcl_dense(features, labels, prototypes).item()
        ours_value = ecl_bcl(features, labels, prototypes).item()
        assert abs(ref_value - ours_value) <= 1e-4 * max(1.0, abs(ref_value)), (ref_value, ours_value)
        fns = {
            "bcl_dense": lambda: bcl_dense(features, labels, prototypes),
            "bc_ecl": lambda: ecl(features, labels, prototypes),
            "bc_ecl_bcl": lambda: ecl_bcl(features, labels, prototypes),
        }
        times = _time_interleaved(fns, inputs, device, repeats)
        mem = {k: _memory(f, inputs, device) for k, f in fns.items()}
        rows.append(
            dict(
                B=b, C=c, d=d, device=str(device),
                ms_bcl_dense=1e3 * times["bcl_dense"], ms_bc_ecl=1e3 * times["bc_ecl"],
                ms_bc_ecl_bcl=1e3 * times["bc_ecl_bcl"],
                ratio_bc_ecl=times["bc_ecl"] / times["bcl_dense"],
                ratio_bc_ecl_bcl=times["bc_ecl_bcl"] / times["bcl_dense"],
                mem_kind="peak_allocated" if device.type == "cuda" else "saved_for_backward",
                mib_bcl_dense=mem["bcl_dense"] / 2**20, mib_bc_ecl=mem["bc_ecl"] / 2**20,
                mib_bc_ecl_bcl=mem["bc_ecl_bcl"] / 2**20,
            )
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = run(torch.device(args.device), args.repeats)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    mem_kind = rows[0]["mem_kind"]
    print(f"device={rows[0]['device']} threads={torch.get_num_threads()} tau={TAU} repeats={args.repeats} "
          f"(best-of-repeats fwd+bwd, interleaved; memory = {mem_kind})")
    header = (f"{'B':>4} {'C':>5} {'d':>5} | {'BCL dense ms':>12} {'BC-ECL ms':>10} {'ratio':>6} "
              f"{'BC-ECL(bcl) ms':>14} {'ratio':>6} | {'MiB dense':>9} {'MiB ours':>8} {'MiB ours(bcl)':>13}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['B']:>4} {r['C']:>5} {r['d']:>5} | {r['ms_bcl_dense']:>12.2f} {r['ms_bc_ecl']:>10.2f} "
              f"{r['ratio_bc_ecl']:>6.2f} {r['ms_bc_ecl_bcl']:>14.2f} {r['ratio_bc_ecl_bcl']:>6.2f} | "
              f"{r['mib_bcl_dense']:>9.2f} {r['mib_bc_ecl']:>8.2f} {r['mib_bc_ecl_bcl']:>13.2f}")


if __name__ == "__main__":
    main()
