"""The papers' protocols (issue 11): presets equal the README table, the method's protocol (bcl),
recipe resolution, calibration after warm-up from sample-weighted means, fp32 evaluation under bf16,
`ecl config show` / `ecl train --dry-run`."""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from torch import nn

from ecl.config import Config, load_config
from ecl.engine.training.protocol import resolve_config, resolve_protocol
from ecl.losses.methods import METHODS

README = Path(__file__).resolve().parents[1] / "README.md"
PRESETS = ["cifar100_lt_r34_224", "imagenet_lt_x50", "imagenet_lt_x50_bcl", "isic2019_r50", "cifar10_lt_r32",
           "cifar100_lt_r32", "digits_lt", "mnist_lt"]


def _cell(text: str):
    """A table cell's value: its first token (backticks dropped), `null` → None, numbers as float."""
    token = text.strip().strip("`").split()[0]
    if token == "null":
        return None
    try:
        return float(token)
    except ValueError:
        return token


def preset_table() -> dict[str, dict[str, object]]:
    """README's preset table: preset → {column: value}."""
    text = README.read_text(encoding="utf-8")
    block = text.split("<!-- presets:begin -->\n", 1)[1].split("\n<!-- presets:end -->", 1)[0]
    lines = [line.strip().strip("|").split("|") for line in block.strip().splitlines()]
    header = [h.strip() for h in lines[0]]
    rows = {}
    for cells in lines[2:]:
        row = dict(zip(header, cells))
        rows[row["preset"].strip().strip("`")] = {k: (v.strip() if k == "source" else _cell(v))
                                                   for k, v in row.items() if k != "preset"}
    return rows


def resolved_values(config: Config) -> dict[str, object]:
    """The table's columns, read from a loaded preset (recipe and method values resolved)."""
    protocol = resolve_protocol(config)
    t = config.train
    return {"epochs": t.epochs, "batch": t.batch_size, "lr": t.lr, "wd": t.weight_decay,
            "τ": protocol.temperature, "d_z": protocol.projection_dim, "backbone": config.model.backbone,
            "size": config.data.image_size, "recipe": protocol.recipe, "weights": protocol.weighting,
            "erasing": {True: "true", False: "false"}[protocol.erasing],
            "schedule": t.schedule, "warm-up": t.warmup_epochs}


def test_the_readme_table_lists_every_preset() -> None:
    from ecl.config import list_presets

    assert sorted(preset_table()) == sorted(name for name, _ in list_presets()) == sorted(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_each_preset_equals_its_row_of_the_readme_table(name: str) -> None:
    row = preset_table()[name]
    values = resolved_values(load_config(name))
    for column, value in values.items():
        expected = row[column]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert float(value) == pytest.approx(expected), f"{name}: {column}"
        else:
            assert value == expected, f"{name}: {column}"


def test_presets_name_their_recipe_and_match_the_sources() -> None:
    for name in PRESETS:  # each preset writes its recipe out
        raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "src/ecl/configs" / f"{name}.yaml").read_text())
        assert raw["data"]["recipe"] in ("authors", "bcl", "small"), name
    # the authors' scripts (main_cifar.py, main_imagenet.py, main_ISIC.py)
    for name, (backbone, batch, lr, wd, epochs) in {
        "cifar100_lt_r34_224": ("resnet34", 128, 0.15, 5e-4, 200),
        "imagenet_lt_x50": ("resnext50_32x4d", 128, 0.2, 1e-4, 180),
        "isic2019_r50": ("resnet50", 128, 0.1, 5e-4, 600),
    }.items():
        c = load_config(name)
        assert (c.model.backbone, c.train.batch_size, c.train.lr, c.train.weight_decay, c.train.epochs) == (
            backbone, batch, pytest.approx(lr), pytest.approx(wd), epochs), name
        p = resolve_protocol(c)
        assert (p.temperature, p.recipe, p.weighting, p.warmup_epochs, p.schedule) == (
            0.07, "authors", "auto", 0, "cosine_epoch"), name


# --- the method's protocol -----------------------------------------------------------------------

def test_bcl_is_bcl_as_bcl_runs_it() -> None:
    from ecl.engine.training.context import build_network, build_objective
    from ecl.models.heads import ProjectionHead, PrototypeMap

    config = load_config(None, ["loss.method=bcl"])
    protocol = resolve_protocol(config)
    assert (protocol.prototype_head, protocol.weighting, protocol.weights) == ("mlp", "fixed", (2.0, 0.6, 0.0))
    assert (protocol.temperature, protocol.projection_dim) == (0.1, 128)
    assert "loss.temperature=0.1" in protocol.line() and "model.projection_dim=128" in protocol.line()
    net = build_network(config, 10)
    assert isinstance(net.prototype_map, ProjectionHead) and net.projection_dim == 128
    linears = [m for m in net.prototype_map.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 2 and isinstance(net.prototype_map.mlp[1], nn.BatchNorm1d)
    objective = build_objective(config, [50, 20, 10, 5, 5, 4, 3, 3, 2, 2])
    assert objective.components == ("lc", "contrastive")  # no CC-GE
    assert objective.weighting == "fixed" and bool(objective.calibrated)
    assert objective.weights == pytest.approx({"alpha": 2.0, "beta": 0.6, "gamma": 0.0})
    assert objective.contrastive_loss.temperature == pytest.approx(0.1)
    assert objective.contrastive_loss.prototype_weight == "bcl"
    # the earlier variant, under its own name: linear map, d_z = d, auto weights, τ 0.07
    old = load_config(None, ["loss.method=la-bcl-linear"])
    net = build_network(old, 10)
    assert isinstance(net.prototype_map, PrototypeMap) and net.projection_dim == net.feature_dim
    objective = build_objective(old, [5] * 10)
    assert objective.weighting == "auto" and objective.contrastive_loss.temperature == pytest.approx(0.07)


def test_values_set_explicitly_win_over_the_method() -> None:
    # BCL on ImageNet-LT: CE 1.0 / BCL 0.35, d_z 1024
    config = load_config(None, ["loss.method=bcl", "loss.alpha=1.0", "loss.beta=0.35", "model.projection_dim=1024",
                                "loss.temperature=0.2"])
    p = resolve_protocol(config)
    assert (p.weights[:2], p.projection_dim, p.temperature) == ((1.0, 0.35), 1024, 0.2)
    assert "loss.alpha" not in p.line() and "loss.gamma=0.0" in p.line()
    resolved = resolve_config(config)
    assert (resolved.loss.alpha, resolved.loss.beta, resolved.model.projection_dim) == (1.0, 0.35, 1024)
    assert config.loss.weighting is None  # resolve_config returns a copy
    assert METHODS["ecl"].prototype_head == "linear" and METHODS["ecl"].weighting == "auto"


# --- recipes -------------------------------------------------------------------------------------

def test_recipe_resolution_and_the_data_plan() -> None:
    from ecl.data.plan import DataPlan, resolve_data_plan

    def plan(recipe: str, *overrides: str, size: int = 32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)) -> DataPlan:
        bundle = SimpleNamespace(image_size=size, recipe=recipe, mean=mean, std=std)  # the dataset's default
        return resolve_data_plan(load_config(None, list(overrides)), bundle)

    assert resolve_protocol(load_config(None)).recipe is None  # left to the data plan
    assert (plan("small").recipe, plan("bcl", "data.recipe=authors").recipe) == ("small", "authors")
    assert (plan("small").flip, plan("authors").flip, plan("bcl").flip) == (False, True, True)  # the recipe's default
    assert plan("small", "data.recipe=authors", "data.flip=false").flip is False
    assert plan("bcl").recipe_reason == "the dataset's default for 32 px images"
    assert plan("bcl", "data.recipe=small").recipe_reason == "data.recipe"
    pre = plan("authors", size=224)
    d = pre.as_dict()
    assert (d["recipe"], d["resize"], d["crop"]) == ("authors", 256, 224)
    assert d["mode"] == "resize_shorter_then_center_crop(256→224)"
    assert d["mean"] == pytest.approx([0.485, 0.456, 0.406])  # the authors normalise with ImageNet's
    again = DataPlan.from_dict(d)
    assert again == pre and again.as_dict() == d
    old = DataPlan.from_dict({"image_size": 32, "style": "cifar", "mean": [0.5] * 3, "std": [0.2] * 3})  # older records
    assert old.recipe == "bcl" and old.as_dict()["resize"] == 32
    small = plan("bcl", mean=(0.5,) * 3, std=(0.2,) * 3)
    assert small.recipe == "bcl" and small.mean == (0.5, 0.5, 0.5)


def test_the_engine_builds_views_with_the_resolved_recipe() -> None:
    from torchvision.transforms import v2

    from ecl.data import build_datasets
    from ecl.engine.training.context import build_run

    def ops(config: Config) -> list[type]:
        bundle = build_datasets(config.data)
        config.data.pipeline = "pil"  # the per-image transforms (the tensor path: test_tensor_pipeline.py)
        ctx = build_run(config, bundle, device=torch.device("cpu"))
        dataset = ctx.loader.train_epoch(0).loader.dataset
        transform = dataset.views.transform  # under the per-item seeding
        return [type(op) for op in transform.classifier.transforms], ctx.plan.recipe

    small_ops, recipe = ops(load_config(None))
    assert recipe == "small" and v2.RandomAffine in small_ops and v2.RandomHorizontalFlip not in small_ops
    bcl_ops, recipe = ops(load_config(None, ["data.recipe=bcl"]))
    assert recipe == "bcl" and v2.RandomCrop in bcl_ops and v2.RandomHorizontalFlip in bcl_ops
    no_flip, _ = ops(load_config(None, ["data.recipe=bcl", "data.flip=false"]))
    assert v2.RandomHorizontalFlip not in no_flip
    erased, _ = ops(load_config(None, ["data.recipe=authors"]))
    not_erased, _ = ops(load_config(None, ["data.recipe=authors", "data.erasing=false"]))
    assert v2.RandomErasing in erased and v2.RandomErasing not in not_erased


def test_the_tensor_path_takes_the_resolved_erasing() -> None:
    from ecl.data import build_datasets
    from ecl.data.plan import resolve_data_plan

    for erasing, expected in (("true", 0.5), ("false", 0.0)):
        config = load_config(None, ["data.recipe=authors", f"data.erasing={erasing}"])
        bv = resolve_data_plan(config, build_datasets(config.data)).batched_views(2)
        assert (bv.classifier_spec.erase_p, bv.contrastive_spec.erase_p) == (expected, expected)


# --- calibration after warm-up, from sample-weighted means ------------------------------------------

class _ScriptedObjective(nn.Module):
    """Returns scripted component losses step by step (a stand-in objective)."""

    def __init__(self, steps: list[dict[str, float]]) -> None:
        super().__init__()
        self.steps = list(steps)
        self.p = nn.Parameter(torch.zeros(()))

    def forward(self, logits, labels, projections, prototypes, classifier_weight):
        from ecl.engine.training.objective import ObjectiveOutput

        values = self.steps.pop(0)
        components = {k: torch.tensor(v) for k, v in values.items()}
        return ObjectiveOutput(self.p * 0 + sum(values.values()), components)


def _fake_ctx(objective, config: Config, world: int = 1):
    """A RunContext stand-in: a model with constant logits, the given objective, SGD, no autocast."""
    return SimpleNamespace(
        config=config, model=_Callable(lambda x: SimpleNamespace(logits=torch.zeros(x.shape[0], 2),
                                                                 projections=None, prototypes=None)),
        objective=objective, network=SimpleNamespace(classifier_weight=None), device=torch.device("cpu"),
        optimizer=torch.optim.SGD([objective.p] if hasattr(objective, "p") else [nn.Parameter(torch.zeros(()))],
                                  lr=0.1),
        scaler=torch.amp.GradScaler("cpu", enabled=False), autocast=contextlib.nullcontext(), world=world,
        is_main=True)


class _Callable:
    def __init__(self, fn) -> None:
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)

    def train(self) -> None:
        pass


def test_epoch_means_are_sample_weighted_and_weights_rounded() -> None:
    from ecl.engine.training.epoch import train_one_epoch
    from ecl.engine.training.objective import Objective

    batches = [5, 3, 8, 1]
    steps = [{"lc": 2.0, "contrastive": 5.0, "ccge": 0.3}, {"lc": 1.0, "contrastive": 4.0, "ccge": 0.2},
             {"lc": 3.0, "contrastive": 6.5, "ccge": 0.4}, {"lc": 0.1, "contrastive": 1.0, "ccge": 0.9}]
    loader = [(torch.zeros(b, 3, 4, 4), torch.zeros(b, dtype=torch.long)) for b in batches]
    ctx = _fake_ctx(_ScriptedObjective(steps), load_config(None, ["train.epochs=3"]))
    result = train_one_epoch(ctx, loader, 0)
    n = sum(batches)
    for key in ("lc", "contrastive", "ccge"):  # brute force: Σ loss·batch / Σ batch
        brute = sum(s[key] * b for s, b in zip(steps, batches)) / n
        unweighted = sum(s[key] for s in steps) / len(steps)
        assert result.means[key] == pytest.approx(brute, rel=1e-6) and not math.isclose(brute, unweighted)
    assert result.images == n and result.lr == pytest.approx(0.05 * 0.5 * (1 + math.cos(math.pi / 4)))
    objective = Objective(METHODS["ecl"], [5, 3])
    objective.end_epoch({k: v for k, v in result.means.items() if k != "total"})
    lc = sum(s["lc"] * b for s, b in zip(steps, batches)) / n
    con = sum(s["contrastive"] * b for s, b in zip(steps, batches)) / n
    cc = sum(s["ccge"] * b for s, b in zip(steps, batches)) / n
    assert objective.weights == pytest.approx({"alpha": round(0.7 / lc, 2), "beta": round(0.3 / con, 2),
                                               "gamma": round(0.5 / cc, 2)}, abs=1e-6)


def _result(means: dict[str, float], images: int):
    from ecl.engine.training.epoch import EpochResult

    return EpochResult(means=dict(means, total=sum(means.values())), images=images, steps=1,
                       nonfinite_steps=0, seconds=1.0, lr=0.1)


def test_calibration_happens_on_the_first_epoch_after_warmup() -> None:
    from ecl.engine.training.loop import _end_epoch
    from ecl.engine.training.objective import Objective

    config = load_config(None, ["train.warmup_epochs=2", "train.epochs=5"])
    objective = Objective(METHODS["ecl"], [5, 3])
    ctx, lines = _fake_ctx(objective, config), []
    for epoch, means in enumerate([{"lc": 9.0, "contrastive": 9.0, "ccge": 9.0},
                                   {"lc": 8.0, "contrastive": 8.0, "ccge": 8.0}]):
        _end_epoch(ctx, _result(means, 10), epoch, lines.append)
        assert not bool(objective.calibrated) and objective.weights["alpha"] == 1.0, epoch
    _end_epoch(ctx, _result({"lc": 1.4, "contrastive": 3.0, "ccge": 0.25}, 10), 2, lines.append)
    assert objective.weights == pytest.approx({"alpha": 0.5, "beta": 0.1, "gamma": 2.0})
    assert len(lines) == 1 and "epoch 3" in lines[0] and "2 warm-up epochs" in lines[0]
    _end_epoch(ctx, _result({"lc": 7.0, "contrastive": 7.0, "ccge": 7.0}, 10), 3, lines.append)
    assert objective.weights["alpha"] == pytest.approx(0.5) and len(lines) == 1  # frozen


def test_calibration_means_are_weighted_by_each_ranks_images(monkeypatch: pytest.MonkeyPatch) -> None:
    from ecl.engine.training import loop
    from ecl.engine.training.objective import Objective

    other = torch.tensor([3.0 * 30, 6.0 * 30, 1.0 * 30, 30.0], dtype=torch.float64)  # rank 1: 30 images
    monkeypatch.setattr(loop.dist_utils, "all_reduce_sum", lambda t: t + other)
    objective = Objective(METHODS["ecl"], [5, 3])
    ctx = _fake_ctx(objective, load_config(None), world=2)
    loop._end_epoch(ctx, _result({"ccge": 0.5, "contrastive": 2.0, "lc": 1.0}, 10), 0, lambda s: None)
    # keys sorted: ccge, contrastive, lc
    lc, con, cc = (1.0 * 10 + 1.0 * 30) / 40, (2.0 * 10 + 6.0 * 30) / 40, (0.5 * 10 + 3.0 * 30) / 40
    assert objective.weights == pytest.approx({"alpha": round(0.7 / lc, 2), "beta": round(0.3 / con, 2),
                                               "gamma": round(0.5 / cc, 2)})


# --- evaluation in float32 under bf16 ------------------------------------------------------------

class _TieNet(nn.Module):
    """Features (N, 2) = the input's first two pixels; a cosine classifier whose two logits at
    h = (1, 0) are 30·cos(a) and 30·cos(b), closer than bf16's resolution at 30 (0.125)."""

    def __init__(self) -> None:
        super().__init__()
        from ecl.models.heads import CosineClassifier

        self.classifier = CosineClassifier(2, 2, scale=30.0)
        a, b = 0.020, 0.010  # class 1 is closer to h: logit 29.9985 > 29.9940
        with torch.no_grad():
            self.classifier.weight.copy_(torch.tensor([[math.cos(a), math.sin(a)], [math.cos(b), math.sin(b)]]))
        self.lift = nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.lift.weight.copy_(torch.eye(2))

    def forward(self, x):
        h = self.lift(x[:, 0, 0, :2])
        return SimpleNamespace(features=h, logits=self.classifier(h), projections=None, prototypes=None)


def test_evaluation_logits_are_float32_under_bf16() -> None:
    from ecl.engine.training.epoch import evaluate

    net = _TieNet().eval()
    images = torch.zeros(4, 3, 2, 2)
    images[:, 0, 0, 0] = 1.0
    labels = torch.ones(4, dtype=torch.long)
    autocast = torch.autocast(device_type="cpu", dtype=torch.bfloat16)
    with torch.no_grad(), autocast:  # the bug this guards against: bf16 logits tie, argmax → class 0
        assert net(images).logits.dtype == torch.bfloat16
        assert int(net(images).logits.argmax(dim=1)[0]) == 0
    ctx = SimpleNamespace(network=net, model=net, num_classes=2, device=torch.device("cpu"),
                          config=load_config(None), autocast=autocast)
    out = evaluate(ctx, [(images, labels)], collect=True)
    assert out.confusion.tolist() == [[0, 0], [0, 4]]
    assert out.probs.dtype == torch.float32 and bool((out.probs[:, 1] > out.probs[:, 0]).all())


# --- ecl config show / ecl train --dry-run ----------------------------------------------------------

@pytest.mark.parametrize("argv", [["config", "show", "--config", "cifar100_lt_r34_224"],
                                  ["train", "--config", "cifar100_lt_r34_224", "--dry-run"]])
def test_config_show_prints_the_table_values_and_writes_nothing(argv, tmp_path, monkeypatch, capsys) -> None:
    from ecl.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(argv) == 0
    assert os.listdir(tmp_path) == []
    text = capsys.readouterr().out
    shown = yaml.safe_load(text)
    row = preset_table()["cifar100_lt_r34_224"]
    t, m, d, loss = shown["train"], shown["model"], shown["data"], shown["loss"]
    assert (t["epochs"], t["batch_size"], t["lr"], t["weight_decay"]) == (row["epochs"], row["batch"], row["lr"],
                                                                        row["wd"])
    assert (loss["temperature"], m["projection_dim"], m["backbone"], d["image_size"]) == (
        row["τ"], row["d_z"], row["backbone"], row["size"])
    assert (d["recipe"], loss["weighting"], t["schedule"], t["warmup_epochs"]) == (
        row["recipe"], row["weights"], row["schedule"], row["warm-up"])
    protocol = [line for line in text.splitlines() if line.startswith("# protocol:")]
    assert len(protocol) == 1
    assert "recipe authors" in protocol[0] and "schedule cosine_epoch" in protocol[0]
    assert "weights auto (calibrated at the end of epoch 1)" in protocol[0]


def test_dry_run_of_a_resume_prints_the_saved_config_and_changes_nothing(trained_run, capsys) -> None:
    from ecl.cli import main

    before = sorted((p.relative_to(trained_run), p.stat().st_mtime_ns) for p in trained_run.rglob("*"))
    assert main(["train", "--resume", str(trained_run), "--dry-run"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["data"]["recipe"] == "small" and shown["loss"]["temperature"] == pytest.approx(0.07)
    assert sorted((p.relative_to(trained_run), p.stat().st_mtime_ns) for p in trained_run.rglob("*")) == before


@pytest.mark.parametrize("name", [n for n in PRESETS if n != "imagenet_lt_x50_bcl"])
def test_the_bcl_row_of_a_comparison_on_any_preset_is_bcl(name: str) -> None:
    p = resolve_protocol(load_config(name, ["loss.method=bcl"]))
    # BCL's published values per family: ImageNet-LT (BCL's main.py) 1.0 / 0.35, τ 0.07, d_z 1024
    expected = ((1.0, 0.35), 0.07, 1024) if name.startswith("imagenet") else ((2.0, 0.6), 0.1, 128)
    assert (p.prototype_head, p.weighting, (p.weights[:2], p.temperature, p.projection_dim)) == (
        "mlp", "fixed", expected), name
    assert p.family == ("imagenet-lt" if name.startswith("imagenet") else "cifar")
    assert f"family {p.family}" in p.line()


def test_the_bcl_imagenet_preset_is_bcls_main_py() -> None:
    # BCL's main.py defaults (its public code): --temp 0.07 -b 256 --lr 0.1 --wd 5e-4 --epochs 90
    # --alpha 1.0 --beta 0.35 --feat_dim 1024 --arch resnext50, no RandomErasing
    c = load_config("imagenet_lt_x50_bcl")
    p = resolve_protocol(c)
    assert (c.loss.method, c.train.batch_size, c.train.lr, c.train.weight_decay, c.train.epochs) == (
        "bcl", 256, pytest.approx(0.1), pytest.approx(5e-4), 90)
    assert (p.temperature, p.weighting, p.weights[:2], p.projection_dim, p.erasing) == (
        pytest.approx(0.07), "fixed", (1.0, 0.35), 1024, False)
    assert (c.model.backbone, p.prototype_head, p.family) == ("resnext50_32x4d", "mlp", "imagenet-lt")


@pytest.mark.parametrize("method", ["ce", "la"])
def test_single_loss_methods_train_at_weight_one(method: str) -> None:
    from ecl.engine.training.context import build_objective

    p = resolve_protocol(load_config(None, [f"loss.method={method}"]))
    assert (p.weighting, p.weights[0]) == ("fixed", 1.0)
    objective = build_objective(load_config(None, [f"loss.method={method}"]), [5, 3])
    assert bool(objective.calibrated) and objective.weights["alpha"] == 1.0
    # loss.weighting still overrides: the authors' auto weighting on request
    auto = build_objective(load_config(None, [f"loss.method={method}", "loss.weighting=auto"]), [5, 3])
    assert auto.weighting == "auto" and not bool(auto.calibrated)


@pytest.mark.parametrize("method", ["supcon", "procondual", "ecl", "ecl-no-ccge", "la-bcl-linear"])
def test_methods_without_published_weights_keep_auto(method: str) -> None:
    for preset in ("cifar100_lt_r34_224", "imagenet_lt_x50"):
        assert resolve_protocol(load_config(preset, [f"loss.method={method}"])).weighting == "auto"


@pytest.mark.parametrize("name, erasing", [("imagenet_lt_x50", False), ("imagenet_lt_x50_bcl", False),
                                           ("cifar100_lt_r34_224", True), ("isic2019_r50", True),
                                           ("cifar10_lt_r32", True), ("digits_lt", False)])
def test_config_show_shows_the_protocols_erasing(name, erasing, capsys) -> None:
    from ecl.cli import main

    assert main(["config", "show", "--config", name]) == 0
    text = capsys.readouterr().out
    assert yaml.safe_load(text)["data"]["erasing"] is erasing
    line = next(line for line in text.splitlines() if line.startswith("# protocol:"))
    assert f"erasing {'on' if erasing else 'off'}" in line
    # an explicit data.erasing wins over the protocol's default
    assert resolve_protocol(load_config(name, [f"data.erasing={str(not erasing).lower()}"])).erasing is (not erasing)


def test_presets_lists_the_bcl_imagenet_preset_with_its_values(capsys) -> None:
    from ecl.cli import main

    assert main(["presets"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.split()[0] == "imagenet_lt_x50_bcl")
    assert "τ 0.07" in line and "1.0 / BCL 0.35" in line and "main.py" in line
