"""Reliability of `ecl` (issue 7): each scenario below, end to end on the embedded digits-lt data.

1. Unsafe files: checkpoints and exported weights are read with `torch.load(weights_only=True)` only
   (no fallback, checked in the source); a pickle carrying code (torch.save'd or raw) is refused with
   a message by `ecl evaluate`, `ecl predict` and `ecl train --resume`, and runs nothing (marker file
   absent); `ecl predict model.safetensors img` works; pyproject.toml's torch floor is ≥ 2.10
   (CVE-2025-32434 < 2.6, CVE-2026-24747 < 2.10).
2. Bad checkpoints (zero bytes, truncated, random bytes, a plain torch.save'd dict, JSON): `ecl
   evaluate X` and `ecl train --resume DIR` print "not a valid ecl checkpoint: <path>: <reason>",
   exit 2, no traceback. A checkpoint of another dataset or number of classes is refused on resume,
   naming the mismatch.
3. YAML is read with safe_load: `ecl train --config evil.yaml` with a Python tag, and a tampered
   config.yaml on --resume, exit 2 and run nothing.
4. kill -9 during a checkpoint write (the process SIGKILLs itself after half of the temporary file
   is written, before os.replace) or during the final evaluation never leaves a partial last.pt;
   --resume removes the leftover .tmp and ends with the uninterrupted run's final.json. (kill -9
   during training: tests/test_train.py::test_sigkill_then_resume_gives_the_same_final_json.)
5. SIGTERM / SIGINT to a real `python -m ecl train` process: exit 143 / 130 with a message, last.pt
   holds the last complete epoch; --resume ends identical to the uninterrupted run. The Ctrl-C
   message says what --resume does, before the first checkpoint (starts again from epoch 1 with
   the saved configuration) and after it (continues), and --resume then does that.
6. Non-finite losses: the step is skipped and counted (train_one_epoch unit test against a hand
   replay; "nonfinite_steps" in metrics.jsonl); N in a row (train.max_nonfinite_steps) stop with
   exit 2 and keep the last good checkpoint; a NaN validation metric never counts as best.
7. Run folders: --resume on a finished run prints "already finished" and touches nothing; an
   unwritable folder or a full disk is reported before training; a checkpoint write failing with
   ENOSPC mid-run keeps the last good checkpoint and exits 2 with a message.
8. Data paths: a CSV row `../escape.png` or an absolute path makes `ecl data check` and `ecl train`
   exit 2 naming the row (more in tests/test_data_bad_input.py: bombs, symlinks, archives).
9. A DataLoader worker that dies (os._exit in the worker, train.num_workers=2) is reported as such,
   exit 2, no hang; train.num_workers=0 (the default) is what every other test here uses.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from conftest import FAST
from ecl.cli import main
from ecl.engine.training.epoch import EpochControl, NonFiniteLossError, train_one_epoch
from ecl.engine.training.loop import is_new_best

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["train.epochs=3", *FAST]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
CHECKPOINT_ERROR = "not a valid ecl checkpoint: "


def cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """`ecl ARGS` in this process: (exit code, stdout, stderr). An unexpected exception propagates."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def spawn(patch: str, *args: str) -> subprocess.Popen:
    """`python -c "<patch>; sys.exit(ecl.cli.main(args))"` in a fresh process (stderr piped)."""
    code = "import os, signal, sys, io\n" + textwrap.dedent(patch) + (
        "\nfrom ecl.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    return subprocess.Popen([sys.executable, "-c", code, *args], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


def final_json(run: Path) -> dict:
    return json.loads((run / "final.json").read_text())


def epochs_in(run: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def saved_epoch(run: Path) -> int:
    return int(torch.load(run / "checkpoints" / "last.pt", weights_only=True)["epoch"])


def snapshot(run: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(run)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(run.rglob("*")) if p.is_file()}


def unfinished_copy(reference: Path, dest: Path) -> Path:
    """A copy of the finished reference run without final.json (so that --resume would continue it)."""
    shutil.copytree(reference, dest)
    (dest / "final.json").unlink()
    return dest


class Evil:
    """Unpickling this runs `touch MARKER`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted 3-epoch run every interrupted one must reproduce."""
    out = tmp_path_factory.mktemp("ref") / "reference"
    assert main(["train", *ARGS, f"out={out}"]) == 0
    return out


# --- 1. unsafe files --------------------------------------------------------------------------------

def test_every_torch_load_is_weights_only() -> None:
    for path in (ROOT / "src" / "ecl").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "weights_only=False" not in text, path
        for match in re.finditer(r"torch\.load\(", text):
            depth, end = 1, match.end()
            while depth:  # the whole call, nested parentheses included
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                end += 1
            call = text[match.start(): end]
            assert "weights_only=True" in call, f"{path}: {call}"


def test_torch_floor_excludes_weights_only_cves() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    floors = [re.fullmatch(r"torch\s*>=\s*(\d+)\.(\d+)(?:\.\d+)?\s*(?:,.*)?", dep.split(";")[0].strip())
              for dep in project["dependencies"] if re.match(r"torch\s*[<>=!~]", dep)]
    assert floors and floors[0] is not None, project["dependencies"]
    assert (int(floors[0].group(1)), int(floors[0].group(2))) >= (2, 10)


@pytest.mark.parametrize("kind", ["torch.save", "raw pickle"])
def test_code_carrying_pickle_is_refused_and_runs_nothing(reference: Path, tmp_path: Path, capsys,
                                                          kind: str) -> None:
    marker = tmp_path / "MARKER"
    evil = tmp_path / "evil.pt"
    if kind == "torch.save":
        torch.save({"format": "ecl-checkpoint-v1", "model": Evil(marker)}, evil)
    else:
        evil.write_bytes(pickle.dumps(Evil(marker)))
    run = unfinished_copy(reference, tmp_path / "run")
    shutil.copy(evil, run / "checkpoints" / "last.pt")
    image = tmp_path / "x.png"
    Image.new("L", (8, 8), 128).save(image)
    for args in (["evaluate", str(evil)], ["predict", str(evil), str(image)], ["train", "--resume", str(run)]):
        code, out, err = cli(capsys, *args)
        assert code == 2, (args, err)
        assert CHECKPOINT_ERROR in err and ("posix.system" in err or "raw pickle" in err), err
    assert not marker.exists()


def test_predict_accepts_a_safetensors_export(reference: Path, tmp_path: Path, capsys) -> None:
    weights = tmp_path / "model.safetensors"
    code, _, err = cli(capsys, "export", str(reference), "--format", "safetensors", "--output", str(weights))
    assert code == 0, err
    image = tmp_path / "digit.png"
    Image.fromarray(np.tile(np.arange(8, dtype=np.uint8) * 30, (8, 1))).save(image)
    code, out, err = cli(capsys, "predict", str(weights), str(image), "--json")
    assert code == 0, err
    [prediction] = json.loads(out)
    assert prediction["path"] == str(image) and len(prediction["top_k"]) == 3
    assert {p["class"] for p in prediction["top_k"]} <= set(final_json(reference)["classes"])
    assert sum(p["probability"] for p in prediction["top_k"]) <= 1 + 1e-6


# --- 2. bad checkpoints ---------------------------------------------------------------------------

def write_bad(path: Path, kind: str, good: Path) -> None:
    if kind == "zero bytes":
        path.write_bytes(b"")
    elif kind == "truncated":
        data = good.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    elif kind == "random bytes":
        path.write_bytes(np.random.default_rng(7).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    elif kind == "plain dict":
        torch.save({"model": {"w": torch.zeros(3)}, "epoch": 1}, path)
    else:
        path.write_text(json.dumps({"model": "json"}))


BAD = ["zero bytes", "truncated", "random bytes", "plain dict", "json"]
REASONS = {"zero bytes": "empty", "truncated": "truncated or corrupt", "random bytes": "not a torch.save",
           "plain dict": "ecl-checkpoint-v1", "json": "JSON"}


@pytest.mark.parametrize("kind", BAD)
def test_bad_checkpoint_exit_2_on_evaluate_and_resume(reference: Path, tmp_path: Path, capsys, kind: str) -> None:
    bad = tmp_path / "bad.pt"
    write_bad(bad, kind, reference / "checkpoints" / "last.pt")
    code, out, err = cli(capsys, "evaluate", str(bad))
    assert code == 2 and out == ""
    assert f"{CHECKPOINT_ERROR}{bad}: " in err and REASONS[kind] in err, err
    run = unfinished_copy(reference, tmp_path / "run")
    last = run / "checkpoints" / "last.pt"
    write_bad(last, kind, reference / "checkpoints" / "last.pt")
    before = snapshot(run)
    code, _, err = cli(capsys, "train", "--resume", str(run))
    assert code == 2 and f"{CHECKPOINT_ERROR}{last}: " in err and REASONS[kind] in err, err
    assert snapshot(run) == before


@pytest.mark.parametrize("change, needle", [("classes", "checkpoint classes ['0', '1', '2', '3', '4'] (5) differ "
                                                        "from the data's"), ("dataset", "data.name=mnist-lt")])
def test_resume_refuses_a_checkpoint_of_other_data(reference: Path, tmp_path: Path, capsys, change: str,
                                                   needle: str) -> None:
    run = unfinished_copy(reference, tmp_path / "run")
    last = run / "checkpoints" / "last.pt"
    state = torch.load(last, weights_only=True)
    if change == "classes":
        state["classes"], state["train_counts"] = state["classes"][:5], state["train_counts"][:5]
    else:
        state["config"]["data"]["name"] = "mnist-lt"
    torch.save(state, last)
    code, _, err = cli(capsys, "train", "--resume", str(run))
    assert code == 2 and needle in err and "digits-lt" in err, err
    assert (CHECKPOINT_ERROR in err) == (change == "dataset"), err  # other classes: not "not a valid checkpoint"


# --- 3. YAML ----------------------------------------------------------------------------------------

def test_yaml_python_tags_are_refused(reference: Path, tmp_path: Path, capsys) -> None:
    marker = tmp_path / "MARKER"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f"train:\n  epochs: !!python/object/apply:os.system [\"touch {marker}\"]\n")
    code, _, err = cli(capsys, "train", "--config", str(evil), f"out={tmp_path / 'run'}", *FAST)
    assert code == 2 and "evil.yaml" in err, err
    assert not (tmp_path / "run" / "checkpoints" / "last.pt").exists()
    run = unfinished_copy(reference, tmp_path / "tampered")
    text = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(f"pwn: !!python/object/apply:os.system [\"touch {marker}\"]\n{text}")
    before = snapshot(run)
    code, _, err = cli(capsys, "train", "--resume", str(run))
    assert code == 2 and "config.yaml" in err, err
    assert snapshot(run) == before
    assert not marker.exists()


# --- 4. kill -9 during a checkpoint write or during evaluation -------------------------------------

KILL_IN_CHECKPOINT_WRITE = """
import torch
_save = torch.save
def save(obj, f, *args, **kwargs):
    if isinstance(obj, dict) and obj.get("epoch") == 2 and hasattr(f, "write"):
        buffer = io.BytesIO()
        _save(obj, buffer, *args, **kwargs)
        data = buffer.getvalue()
        f.write(data[: len(data) // 2])
        f.flush()
        os.fsync(f.fileno())
        os.kill(os.getpid(), signal.SIGKILL)
    return _save(obj, f, *args, **kwargs)
torch.save = save
"""

KILL_IN_FINAL_EVALUATION = """
import ecl.engine.training.results as results
_evaluate = results.evaluate
def evaluate(*args, collect=False, **kwargs):
    if collect:
        os.kill(os.getpid(), signal.SIGKILL)
    return _evaluate(*args, collect=collect, **kwargs)
results.evaluate = evaluate
"""


def test_kill9_during_checkpoint_write_then_resume(reference: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "killed"
    code, err = finish(spawn(KILL_IN_CHECKPOINT_WRITE, "train", *ARGS, f"out={out}"))
    assert code == -signal.SIGKILL, err
    leftovers = list((out / "checkpoints").glob(".last.pt.*.tmp"))
    assert len(leftovers) == 1 and leftovers[0].stat().st_size > 0  # the half-written file
    assert saved_epoch(out) == 1  # last.pt: the previous, complete epoch
    assert epochs_in(out) == [1] and not (out / "final.json").exists()
    code, _, err = cli(capsys, "train", "--resume", str(out))
    assert code == 0, err
    assert not list(out.rglob("*.tmp"))
    assert final_json(out) == final_json(reference)
    assert epochs_in(out) == [1, 2, 3]


def test_kill9_during_final_evaluation_then_resume(reference: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "killed"
    code, err = finish(spawn(KILL_IN_FINAL_EVALUATION, "train", *ARGS, f"out={out}"))
    assert code == -signal.SIGKILL, err
    assert saved_epoch(out) == 3 and not (out / "final.json").exists()
    code, _, err = cli(capsys, "train", "--resume", str(out))
    assert code == 0, err
    assert final_json(out) == final_json(reference)
    assert epochs_in(out) == [1, 2, 3]


# --- 5. SIGTERM / SIGINT ----------------------------------------------------------------------------

def test_sigterm_and_sigint_stop_cleanly_and_resume_identically(reference: Path, tmp_path: Path, capsys) -> None:
    runs = {signal.SIGTERM: tmp_path / "term", signal.SIGINT: tmp_path / "int"}
    procs = {signum: spawn("", "train", *ARGS, f"out={out}") for signum, out in runs.items()}
    try:
        pending = dict(procs)
        deadline = time.monotonic() + 240
        while pending and time.monotonic() < deadline:  # signal each run as soon as epoch 1 is logged
            for signum, proc in list(pending.items()):
                metrics = runs[signum] / "metrics.jsonl"
                if metrics.exists() and metrics.read_text().count("\n") >= 1:
                    proc.send_signal(signum)
                    del pending[signum]
                elif proc.poll() is not None:
                    raise AssertionError(f"training ended early: {proc.stderr.read()}")
            time.sleep(0.05)
        assert not pending, "timed out waiting for metrics.jsonl"
        results = {signum: finish(proc, timeout=120) for signum, proc in procs.items()}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    for signum, (code, err) in results.items():
        assert code == 128 + signum, err  # 143 for SIGTERM, 130 for SIGINT
        assert f"interrupted: {signal.Signals(signum).name} received" in err and "--resume" in err, err
        assert "Traceback" not in err
        run = runs[signum]
        assert not (run / "final.json").exists()
        assert 1 <= saved_epoch(run) < 3 and epochs_in(run) == list(range(1, saved_epoch(run) + 1))
    code, _, err = cli(capsys, "train", "--resume", str(runs[signal.SIGTERM]))
    assert code == 0, err
    assert final_json(runs[signal.SIGTERM]) == final_json(reference)
    assert epochs_in(runs[signal.SIGTERM]) == [1, 2, 3]


#: a Ctrl-C as 0-based epoch EPOCH begins (the process signals itself: the run's own SIGINT handler
#: takes it, exactly as a key press in the terminal)
CTRL_C_IN_EPOCH = """
import ecl.engine.training.loop as loop
_real = loop.train_one_epoch
def _ctrl_c(ctx, loader, epoch, control):
    if epoch == {epoch}:
        os.kill(os.getpid(), signal.SIGINT)
    return _real(ctx, loader, epoch, control)
loop.train_one_epoch = _ctrl_c
"""


def test_ctrl_c_after_the_first_checkpoint_says_resume_continues(reference: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "after"
    code, err = finish(spawn(CTRL_C_IN_EPOCH.format(epoch=1), "train", *ARGS, f"out={run}"))
    assert code == 130 and "Traceback" not in err, err
    assert f"holds epoch 1 — `ecl train --resume {run}` continues from epoch 2" in err, err
    assert saved_epoch(run) == 1 and epochs_in(run) == [1]
    code, _, err = cli(capsys, "train", "--resume", str(run))
    assert code == 0 and f"resuming {run} after epoch 1/3" in err, err
    assert epochs_in(run) == [1, 2, 3] and final_json(run) == final_json(reference)


def test_ctrl_c_before_the_first_checkpoint_says_resume_starts_again(tmp_path: Path, capsys) -> None:
    """--resume on a run stopped in epoch 1 trains it from epoch 1 with its saved configuration —
    start weights (model.weights) included — and ends as the uninterrupted run does."""
    from ecl.models import build_backbone

    torch.manual_seed(99)  # start weights unlike any seed's random initialisation
    weights = tmp_path / "start.pt"
    torch.save({k: v * 1.5 if v.is_floating_point() else v for k, v in build_backbone("small_cnn").state_dict().items()},
               weights)
    args = ["train.epochs=2", "model.backbone=small_cnn", f"model.weights={weights}", *FAST]
    reference = tmp_path / "reference"
    assert main(["train", *args, f"out={reference}"]) == 0
    run = tmp_path / "before"
    code, err = finish(spawn(CTRL_C_IN_EPOCH.format(epoch=0), "train", *args, f"out={run}"))
    assert code == 130 and "Traceback" not in err, err
    assert "stopped in epoch 1, before the first checkpoint" in err, err
    assert f"`ecl train --resume {run}` starts the run again from epoch 1 with its saved configuration" in err, err
    assert "nothing to resume" not in err
    assert (run / "config.yaml").is_file() and not (run / "checkpoints" / "last.pt").exists()
    code, _, err = cli(capsys, "train", "--resume", str(run))
    assert code == 0 and "starting from epoch 1 with its saved configuration" in err, err
    assert epochs_in(run) == [1, 2] and final_json(run) == final_json(reference)


# --- 6. non-finite losses ---------------------------------------------------------------------------

class TinyOutput:
    def __init__(self, logits: torch.Tensor):
        self.logits, self.projections, self.prototypes = logits, None, None


class TinyNet(nn.Module):
    """A linear classifier with the ECLNetwork interface train_one_epoch uses."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3, bias=False)

    @property
    def classifier_weight(self) -> torch.Tensor:
        return self.linear.weight

    def forward(self, x: torch.Tensor) -> TinyOutput:
        return TinyOutput(self.linear(x))


class NaNAt:
    """Cross-entropy, but NaN at the chosen call numbers."""

    def __init__(self, bad: set[int]):
        self.bad, self.calls = bad, 0

    def __call__(self, logits, labels, projections, prototypes, weight):
        from ecl.engine.training.objective import ObjectiveOutput

        loss = nn.functional.cross_entropy(logits, labels)
        if self.calls in self.bad:
            loss = loss * float("nan")
        self.calls += 1
        return ObjectiveOutput(total=loss, components={"lc": loss.detach()})


def batches(n: int = 6) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(5, 4, generator=g), torch.randint(0, 3, (5,), generator=g)) for _ in range(n)]


def tiny_context(objective, *, lr: float, max_nonfinite_steps: int = 20):
    """A RunContext around TinyNet (CPU, fp32, plain SGD without momentum, 2 epochs, no warm-up)."""
    import contextlib

    from ecl.config import Config
    from ecl.data.plan import DataPlan
    from ecl.engine.training.context import RunContext

    config = Config()
    config.train.lr, config.train.epochs, config.train.warmup_epochs = lr, 2, 0
    config.train.schedule = "cosine_step"  # the hand replay below follows the per-step lr
    config.train.max_nonfinite_steps = max_nonfinite_steps
    config.model.channels_last = False
    net = TinyNet()
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.0)
    plan = DataPlan(image_size=4, recipe="small", mean=(0.5,) * 3, std=(0.25,) * 3, resize=4, flip=False,
                    erasing=False)  # the progress's speed hint reads the image size
    return RunContext(config=config, bundle=None, spec=None, plan=plan, loader=None, device=torch.device("cpu"),
                      network=net, model=net, objective=objective, optimizer=optimizer,
                      scaler=torch.amp.GradScaler("cpu", enabled=False), autocast=contextlib.nullcontext())


def test_nonfinite_steps_are_skipped_and_counted() -> None:
    from ecl.engine.training.schedule import cosine_lr

    torch.manual_seed(0)
    ctx = tiny_context(NaNAt({1, 4}), lr=0.5)
    net = ctx.network
    start = net.linear.weight.detach().clone()
    data = batches()
    result = train_one_epoch(ctx, data, 0)
    assert (result.nonfinite_steps, result.steps, result.images) == (2, 4, 20)
    # hand replay: plain gradient steps on the finite batches only, the lr following the schedule
    w = start.clone()
    losses = []
    for step, (x, y) in enumerate(data):
        if step in (1, 4):
            continue
        w_ = w.clone().requires_grad_(True)
        loss = nn.functional.cross_entropy(x @ w_.T, y)
        loss.backward()
        losses.append(float(loss.detach()))
        w = w - cosine_lr(step / len(data), 0.5, 2, 0) * w_.grad
    torch.testing.assert_close(net.linear.weight.detach(), w)
    assert result.means["total"] == pytest.approx(sum(losses) / len(losses), rel=1e-6)


def test_too_many_nonfinite_steps_in_a_row_stop() -> None:
    ctx = tiny_context(NaNAt({4, 5}), lr=0.1, max_nonfinite_steps=3)
    # 2 NaN steps at the end of one epoch + 1 at the start of the next = 3 in a row
    control = EpochControl()  # the loop's state, handed to every epoch
    result = train_one_epoch(ctx, batches(), 0, control)
    assert result.nonfinite_steps == 2 and control.nonfinite_streak == 2
    ctx.objective = NaNAt({0})
    with pytest.raises(NonFiniteLossError, match="3 steps in a row"):
        train_one_epoch(ctx, batches(), 1, control)
    # a finite step resets the streak
    control.nonfinite_streak, ctx.objective = 0, NaNAt({0, 1, 3, 4})
    train_one_epoch(ctx, batches(), 0, control)
    assert control.nonfinite_streak == 0


def test_progress_bar_draws_the_loader_once() -> None:
    """A bar must not call iter(loader) beyond the loop's own call: each call draws a new base seed
    from a DataLoader's seeded generator (tqdm.auto's constructor did: results differed in a terminal)."""

    class CountingLoader:
        def __init__(self, data):
            self.data, self.iterations = data, 0

        def __len__(self) -> int:
            return len(self.data)

        def __iter__(self):
            self.iterations += 1
            return iter(self.data)

    for progress in (False, True):
        ctx = tiny_context(NaNAt(set()), lr=0.1)
        control = EpochControl(progress_log=lambda text: None, progress_bar=progress)
        loader = CountingLoader(batches())
        result = train_one_epoch(ctx, loader, 0, control)
        assert loader.iterations == 1 and result.steps == 6


def test_nan_never_counts_as_best() -> None:
    assert is_new_best(0.5, -float("inf")) and is_new_best(0.6, 0.5)
    assert not is_new_best(float("nan"), -float("inf"))
    assert not is_new_best(float("inf"), 0.5) and not is_new_best(None, -float("inf"))
    assert not is_new_best(0.4, 0.5)


def test_nonfinite_run_stops_with_exit_2_and_keeps_the_last_good_checkpoint(tmp_path: Path, capsys,
                                                                            monkeypatch) -> None:
    import ecl.engine.training.loop as loop_module

    real = loop_module.train_one_epoch

    def poisoned(ctx, loader, epoch, control):
        objective = ctx.objective

        def forward(*args):
            output = objective(*args)
            forward.calls += 1
            if (epoch == 0 and forward.calls == 1) or epoch >= 1:  # one NaN step, then NaN from epoch 2 on
                return output._replace(total=output.total * float("nan"))
            return output

        forward.calls = 0
        ctx.objective = forward
        try:
            return real(ctx, loader, epoch, control)
        finally:
            ctx.objective = objective

    monkeypatch.setattr(loop_module, "train_one_epoch", poisoned)
    out = tmp_path / "nan"
    code, _, err = cli(capsys, "train", *ARGS, "train.max_nonfinite_steps=3", f"out={out}")
    assert code == 2, err
    assert "not finite at 3 steps in a row" in err and "keeps epoch 1" in err, err
    [record] = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert record["epoch"] == 1 and record["nonfinite_steps"] == 1
    assert saved_epoch(out) == 1 and not (out / "final.json").exists()


# --- 7. run folders, permissions, disk space --------------------------------------------------------

def test_resume_of_a_finished_run_touches_nothing(reference: Path, capsys) -> None:
    before = snapshot(reference)
    code, _, err = cli(capsys, "train", "--resume", str(reference))
    assert code == 0 and "already finished" in err, err
    assert snapshot(reference) == before


def test_unwritable_folder_is_reported_before_training(tmp_path: Path, capsys, monkeypatch) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    if os.geteuid() != 0:  # a real read-only folder (root writes through chmod)
        parent.chmod(0o500)
        try:
            code, _, err = cli(capsys, "train", *ARGS, f"out={parent / 'run'}")
        finally:
            parent.chmod(0o700)
        assert code == 2 and "cannot write" in err and str(parent) in err, err
    import ecl.engine.training.run_folder as run_folder

    real = run_folder.tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).is_relative_to(parent):
            raise PermissionError(errno.EACCES, "Permission denied", str(dir))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(run_folder.tempfile, "mkstemp", refuse)
    code, _, err = cli(capsys, "train", *ARGS, f"out={parent / 'run'}")
    assert code == 2 and "cannot write to the run folder" in err and "Permission denied" in err, err
    assert not list(parent.rglob("last.pt"))


def test_full_disk_is_reported_before_training(tmp_path: Path, capsys, monkeypatch) -> None:
    import ecl.engine.training.run_folder as run_folder

    monkeypatch.setattr(run_folder.shutil, "disk_usage",
                        lambda path: shutil._ntuple_diskusage(10 * 2**30, 10 * 2**30 - 2**20, 2**20))
    code, _, err = cli(capsys, "train", *ARGS, f"out={tmp_path / 'run'}")
    assert code == 2 and "not enough free disk space" in err and "1 MiB free" in err, err
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_enospc_during_a_checkpoint_write_keeps_the_last_good_one(tmp_path: Path, capsys, monkeypatch) -> None:
    real = torch.save

    def save(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("epoch") == 2:
            f.write(b"PK\x03\x04 partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    out = tmp_path / "full"
    code, _, err = cli(capsys, "train", *ARGS, f"out={out}")
    assert code == 2 and "No space left on device" in err and "--resume" in err, err
    monkeypatch.undo()
    assert saved_epoch(out) == 1 and epochs_in(out) == [1]
    assert not list(out.rglob("*.tmp")) and not (out / "final.json").exists()


# --- 8. data paths ----------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["../escape.png", "ABSOLUTE"])
def test_csv_paths_must_stay_inside_data_root(tmp_path: Path, capsys, bad: str) -> None:
    root = tmp_path / "data"
    root.mkdir()
    rows = []
    for label in ("cat", "dog"):
        for i in range(3):
            Image.new("RGB", (8, 8), (60 * i, 0, 0)).save(root / f"{label}{i}.png")
            rows.append(f"{label}{i}.png,{label}")
    Image.new("RGB", (8, 8)).save(tmp_path / "escape.png")
    path = str(tmp_path / "escape.png") if bad == "ABSOLUTE" else bad
    (root / "train.csv").write_text("path,label\n" + "\n".join(rows) + f"\n{path},cat\n")
    (root / "test.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    data = ["data.name=csv", f"data.root={root}", "data.train_csv=train.csv", "data.test_csv=test.csv"]
    why = "is absolute" if bad == "ABSOLUTE" else "escapes data.root"
    code, _, err = cli(capsys, "data", "check", *data)
    assert code == 2 and "train.csv line 8" in err and why in err, err
    code, _, err = cli(capsys, "train", *data, *ARGS, f"out={tmp_path / 'run'}")
    assert code == 2 and "train.csv line 8" in err and why in err, err
    assert not (tmp_path / "run" / "checkpoints" / "last.pt").exists()


# --- 9. a DataLoader worker that dies ---------------------------------------------------------------

WORKER_DIES = """
import torch.utils.data
import ecl.data
_getitem = ecl.data.ViewsDataset.__getitem__
def getitem(self, index):
    if torch.utils.data.get_worker_info() is not None:
        os._exit(3)  # the worker process vanishes, as if killed by the OOM killer
    return _getitem(self, index)
ecl.data.ViewsDataset.__getitem__ = getitem
"""


def test_dead_dataloader_worker_is_reported_without_hanging(tmp_path: Path) -> None:
    code, err = finish(spawn(WORKER_DIES, "train", *ARGS, "train.num_workers=2", "data.pipeline=pil",
                             f"out={tmp_path / 'run'}"),
                       timeout=180)
    assert code == 2, err
    assert "data-loading worker process died" in err and "train.num_workers=0" in err, err
    assert "Traceback" not in err  # finish() fails the test when the run hangs past its timeout
