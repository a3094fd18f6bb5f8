"""No host synchronisation in the training step: the read counter (benchmarks/host_syncs.py) counts
each kind of read; a step (finite or not) makes none; a non-finite step is undone exactly on the
device (parameters and optimizer state bit-identical); the stop rule still stops, at a read-back."""

from __future__ import annotations

import contextlib
import copy
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from host_syncs import HostSyncCounter  # noqa: E402

from ecl.engine.training import epoch as epoch_module  # noqa: E402
from ecl.engine.training.epoch import EpochControl, NonFiniteLossError, train_one_epoch  # noqa: E402


# --- the counter ------------------------------------------------------------------------------------

def test_counter_counts_each_kind_of_read() -> None:
    t = torch.tensor([1.5, 2.5])
    s = torch.tensor(3)
    with HostSyncCounter() as reads:
        for _ in range(3):
            t[0].item()
        f"{t[1]:.2f}"  # an f-string of a 0-dim tensor reads through item
        bool(s > 2)
        float(t[0])
        int(s)
        list(range(s))  # __index__
        t.tolist()
        t.numpy()
        t.cpu()  # already on the CPU: nothing is copied
        t.to("cpu")
        meta = torch.empty(2, device="meta")  # another device: a copy to the CPU counts
        for copy_out in (meta.cpu, lambda: meta.to("cpu"), lambda: torch.empty(2).copy_(meta)):
            with pytest.raises(NotImplementedError):  # the meta device holds no data to copy
                copy_out()
        t + t  # arithmetic reads nothing
    assert dict(reads.counts) == {"item": 4, "bool": 1, "float": 1, "int": 1, "index": 1, "tolist": 1,
                                  "numpy": 1, "to_cpu": 3}
    assert reads.total == 13
    t[0].item()  # after the block: not counted, methods restored
    assert reads.total == 13 and "item" not in vars(torch.Tensor) and "__bool__" not in vars(torch.Tensor)


def test_counter_pauses_when_inactive() -> None:
    with HostSyncCounter() as reads:
        reads.active = False
        torch.tensor(1.0).item()
        reads.active = True
        torch.tensor(1.0).item()
    assert reads.total == 1


# --- the training step ------------------------------------------------------------------------------

class Output:
    def __init__(self, logits: torch.Tensor):
        self.logits, self.projections, self.prototypes = logits, None, None


class Net(nn.Module):
    """A linear classifier (weight and bias) with the interface train_one_epoch uses."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)

    @property
    def classifier_weight(self) -> torch.Tensor:
        return self.linear.weight

    def forward(self, x: torch.Tensor) -> Output:
        return Output(self.linear(x))


class NaNAt:
    """Cross-entropy with a second component; NaN at the chosen (0-based) call numbers."""

    def __init__(self, bad: set[int]):
        self.bad, self.calls = bad, 0

    def __call__(self, logits, labels, projections, prototypes, weight):
        from ecl.engine.training.objective import ObjectiveOutput

        lc = nn.functional.cross_entropy(logits, labels)
        reg = (weight ** 2).sum()
        if self.calls in self.bad:
            lc = lc * float("nan")
        self.calls += 1
        total = lc + 0.01 * reg
        return ObjectiveOutput(total=total, components={"lc": lc.detach(), "reg": reg.detach()})


def batches(n: int = 6, size: int = 5) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(size, 4, generator=g), torch.randint(0, 3, (size,), generator=g)) for _ in range(n)]


def context(objective, *, max_nonfinite_steps: int = 20):
    """A CPU RunContext around Net with SGD (momentum 0.9, weight decay 5e-4), constant-ish lr."""
    from ecl.config import Config
    from ecl.data.plan import DataPlan
    from ecl.engine.training.context import RunContext

    torch.manual_seed(0)
    config = Config()
    config.train.lr, config.train.epochs, config.train.warmup_epochs = 0.1, 2, 0
    config.train.max_nonfinite_steps = max_nonfinite_steps
    config.model.channels_last = False
    net = Net()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    plan = DataPlan(image_size=4, recipe="small", mean=(0.5,) * 3, std=(0.25,) * 3, resize=4, flip=False,
                    erasing=False)
    return RunContext(config=config, bundle=None, spec=None, plan=plan, loader=None, device=torch.device("cpu"),
                      network=net, model=net, objective=objective, optimizer=optimizer,
                      scaler=torch.amp.GradScaler("cpu", enabled=False), autocast=contextlib.nullcontext())


def snapshot(ctx) -> list[torch.Tensor]:
    """Every parameter and every optimizer state tensor, copied."""
    params = list(ctx.network.parameters())
    state = [v for p in params for v in ctx.optimizer.state.get(p, {}).values()]
    return [t.detach().clone() for t in params + state]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def one_step(ctx, x: torch.Tensor, y: torch.Tensor) -> None:
    out = ctx.objective(ctx.model(x).logits, y, None, None, ctx.network.classifier_weight)
    epoch_module._step(ctx, out.total, torch.isfinite(out.total.detach()))


def test_a_nonfinite_step_leaves_params_and_optimizer_state_unchanged_without_a_read() -> None:
    ctx = context(NaNAt({2}))
    data = batches()
    one_step(ctx, *data[0])  # the first step makes the momentum buffers
    one_step(ctx, *data[1])
    before = snapshot(ctx)
    assert len(before) == 4  # weight, bias and their momentum buffers
    with HostSyncCounter() as reads:
        one_step(ctx, *data[2])  # NaN
    assert reads.total == 0, dict(reads.counts)
    assert same(snapshot(ctx), before)
    # a finite step after it follows SGD's formula from the state before the NaN batch:
    # buf ← 0.9·buf + (g + 5e-4·p), p ← p − 0.1·buf
    with HostSyncCounter() as reads:
        one_step(ctx, *data[3])
    assert reads.total == 0, dict(reads.counts)
    params = list(ctx.network.parameters())
    bufs = [0.9 * b + (p.grad + 5e-4 * w) for p, w, b in zip(params, before[:2], before[2:])]
    expected = [w - 0.1 * b for w, b in zip(before[:2], bufs)] + bufs
    assert all(torch.allclose(a, b, rtol=0, atol=1e-7) for a, b in zip(snapshot(ctx), expected))
    assert not same(snapshot(ctx), before)  # the finite step did move them


def test_a_nonfinite_first_step_leaves_no_optimizer_state() -> None:
    ctx = context(NaNAt({0}))
    before = snapshot(ctx)
    one_step(ctx, *batches()[0])
    assert same(snapshot(ctx), before) and not any(ctx.optimizer.state.get(p) for p in ctx.network.parameters())


def test_an_epoch_reads_back_once_per_interval_and_at_its_end() -> None:
    ctx = context(NaNAt({4}))
    train_one_epoch(ctx, batches(), 0)  # makes the optimizer state
    for every, expected in ((1000, 1), (2, 4), (1, 7)):  # 6 steps: reads at steps 2, 4, 6 and at the end
        ctx.objective = NaNAt({1})
        with HostSyncCounter() as reads:
            result = train_one_epoch(ctx, batches(), 1, EpochControl(readback_steps=every))
        assert dict(reads.counts) == {"tolist": expected}
        assert (result.steps, result.nonfinite_steps, result.images) == (5, 1, 25)


def test_epoch_means_are_the_host_sums_of_the_finite_steps() -> None:
    """Sample-weighted means as float64 host sums of float(loss)·batch over the finite steps."""
    from ecl.engine.training.schedule import lr_at

    from ecl.engine.training.schedule import lr_at

    ctx = context(NaNAt({2}))
    reference = context(NaNAt({2}))
    data = batches(5) + [(torch.randn(3, 4), torch.tensor([0, 1, 2]))]  # a short last batch
    result = train_one_epoch(ctx, data, 0)
    sums, images = {"lc": 0.0, "reg": 0.0, "total": 0.0}, 0
    for step, (x, y) in enumerate(data):  # replay: the same steps by hand, summed on the host
        out = reference.objective(reference.model(x).logits, y, None, None, reference.network.classifier_weight)
        if step == 2:
            continue
        train = reference.config.train
        reference.optimizer.param_groups[0]["lr"] = lr_at(train.schedule, 0, step, len(data), train.lr,
                                                           train.epochs, train.warmup_epochs)
        for key, value in (*out.components.items(), ("total", out.total.detach())):
            sums[key] += float(value) * y.shape[0]
        images += y.shape[0]
        reference.optimizer.zero_grad()
        out.total.backward()
        reference.optimizer.step()
    assert result.images == images == 23
    assert result.means == {key: value / images for key, value in sums.items()}


def test_the_stop_rule_stops_at_the_first_read_back_after_n_in_a_row() -> None:
    # NaN at steps 1, 2, 3 (0-based): the streak reaches 3 at step 3; a finite step 4 resets it, but
    # the read-back after step 5 (every 5 steps) still stops, naming step 4 (1-based)
    objective = NaNAt({1, 2, 3})
    ctx = context(objective, max_nonfinite_steps=3)
    with pytest.raises(NonFiniteLossError, match=r"3 steps in a row \(epoch 1, step 4\)"):
        train_one_epoch(ctx, batches(8), 0, EpochControl(readback_steps=5))
    assert objective.calls == 5  # one read-back interval late at most
    # two in a row never stop, whatever the interval; the streak is carried to the next epoch
    control = EpochControl(readback_steps=5)
    ctx = context(NaNAt({1, 2, 6, 7}), max_nonfinite_steps=3)
    result = train_one_epoch(ctx, batches(8), 0, control)
    assert result.nonfinite_steps == 4 and control.nonfinite_streak == 2
    ctx.objective = NaNAt({0})
    with pytest.raises(NonFiniteLossError, match=r"3 steps in a row \(epoch 2, step 1\)"):
        train_one_epoch(ctx, batches(8), 1, control)
