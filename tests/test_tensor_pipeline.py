"""The tensor data path (data.pipeline): auto's choice, the loader's order/shards/seeding, the eval
views against the per-image path's, the same confusion matrix on both paths for a fixed network,
identical final.json twice and after kill -9 + --resume; the pil path's per-item seeding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import FAST
from ecl.config import load_config
from ecl.data import ArrayDataset, build_datasets, build_eval_transform
from ecl.engine.training.epoch import evaluate
from ecl.data.pil_loader import EpochSampler
from ecl.engine.training.context import build_run
from ecl.data.plan import PipelineError, choose_data_path, resolve_data_plan
from ecl.data.tensor_loader import TensorEvalLoader, TensorTrainLoader, eval_tensor

DEVICE = torch.device("cpu")


def _config(*overrides: str):
    return load_config(None, [*FAST, *overrides])


@pytest.fixture(scope="module")
def digits():
    return build_datasets(_config().data)


def test_array_dataset_tensor_equals_its_items() -> None:
    rng = np.random.default_rng(0)
    for shape in ((5, 7, 6), (5, 7, 6, 3)):
        ds = ArrayDataset(rng.integers(0, 256, shape, dtype=np.uint8), [0, 1, 2, 3, 4])
        images, labels = ds.as_uint8_tensor()
        assert images.shape == (5, 3, 7, 6) and images.dtype == torch.uint8 and ds.nbytes_uint8 == images.numel()
        for i in range(5):  # the per-item path: PIL RGB image
            img, label = ds[i]
            assert torch.equal(images[i], torch.from_numpy(np.array(img)).permute(2, 0, 1))
            assert labels[i] == label


def _choose(config, bundle):
    """(data path, its reason) that the plan picks on DEVICE."""
    path = choose_data_path(config.data.pipeline, config.data.storage, resolve_data_plan(config, bundle), bundle, DEVICE)
    return path.pipeline, path.pipeline_reason


def test_auto_picks_tensor_for_digits_and_says_so(digits, capsys) -> None:
    config = _config()
    assert config.data.pipeline == "auto"
    name, reason = _choose(config, digits)
    assert name == "tensor" and "auto" in reason and "MiB" in reason
    ctx = build_run(config, digits, device=DEVICE)
    assert ctx.plan.pipeline == "tensor" and ctx.plan.pipeline_reason == reason
    assert ctx.config.data.recipe == ctx.plan.recipe == "small"  # the run's config holds the values used
    from types import SimpleNamespace

    from ecl.engine.training.announce import startup_lines

    lines = [line for line in startup_lines(ctx, SimpleNamespace(path="run")) if line.startswith("data path")]
    assert lines == [f"data path: tensor ({reason}); storage: pixels ({ctx.plan.storage_reason})"]
    assert ctx.plan.storage == "pixels" and "auto → pixels" in ctx.plan.storage_reason
    assert _choose(_config("data.pipeline=pil"), digits)[0] == "pil"


def test_auto_falls_back_to_pil_when_memory_is_short(digits, monkeypatch) -> None:
    import ecl.data.plan as plan_module

    monkeypatch.setattr(plan_module, "free_memory", lambda device: 1000)
    name, reason = _choose(_config(), digits)
    assert name == "pil" and "> 25%" in reason
    assert _choose(_config("data.pipeline=tensor"), digits)[0] == "tensor"  # forced


def test_tensor_refuses_a_dataset_it_cannot_hold(digits) -> None:
    from dataclasses import replace

    other = replace(digits, train=torch.utils.data.TensorDataset(torch.zeros(3)))
    with pytest.raises(PipelineError, match="data.pipeline=tensor"):
        _choose(_config("data.pipeline=tensor"), other)
    assert _choose(_config(), other)[0] == "pil"


def _loader(n: int, batch: int, epoch: int, rank: int = 0, world: int = 1, seed: int = 0) -> TensorTrainLoader:
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 3, 4, 4).contiguous()
    bv = resolve_data_plan(_config(), _fake_bundle()).batched_views(2)
    return TensorTrainLoader(images, torch.arange(n), bv, batch, seed=seed, epoch=epoch, rank=rank, world=world)


def _fake_bundle():
    from types import SimpleNamespace

    return SimpleNamespace(recipe="small", image_size=8, mean=(0.5,) * 3, std=(0.25,) * 3)


def test_train_loader_order_drop_last_and_shards() -> None:
    loader = _loader(23, 5, epoch=0)
    batches = list(loader)
    assert len(loader) == len(batches) == 4  # drop_last: 23 // 5
    seen = torch.cat([labels for _, labels in batches])
    assert len(set(seen.tolist())) == 20 and all(v.shape == (3 * 5, 3, 8, 8) for v, _ in batches)  # 3 views, stacked
    other = torch.cat([labels for _, labels in _loader(23, 5, epoch=1)])
    assert not torch.equal(seen, other)  # a new order each epoch
    assert len(list(_loader(3, 5, epoch=0))) == 1  # fewer images than a batch: one partial batch
    shards = [torch.cat([lab for _, lab in _loader(23, 2, epoch=0, rank=r, world=2)]) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 10 and not set(shards[0].tolist()) & set(shards[1].tolist())
    g = torch.Generator().manual_seed(__import__("ecl.seeding", fromlist=["x"]).derive_seed(0, 0, "loader"))
    perm = torch.randperm(23, generator=g)[:22]
    assert torch.equal(torch.cat([shards[0][i:i + 2] for i in range(0, 10, 2)]), perm[0::2][:10])


def test_views_depend_only_on_seed_epoch_step() -> None:
    first = list(_loader(40, 8, epoch=3))
    again = list(_loader(40, 8, epoch=3))
    for (va, la), (vb, lb) in zip(first, again):
        assert torch.equal(la, lb) and all(torch.equal(a, b) for a, b in zip(va, vb))
    torch.manual_seed(123)  # the global generator plays no part
    third = next(iter(_loader(40, 8, epoch=3)))
    assert all(torch.equal(a, b) for a, b in zip(third[0], first[0][0]))
    other_seed = next(iter(_loader(40, 8, epoch=3, seed=1)))
    assert not torch.equal(other_seed[0][1], first[0][0][1])


def _same_image_loader(epoch: int, *, seed: int = 0, rank: int = 0, world: int = 1) -> TensorTrainLoader:
    """24 copies of ONE image, batches of 4, each step its own chunk (so the step is a seed input):
    the order cannot matter, so any difference between two loaders' views is their views' seed."""
    one = torch.randint(0, 256, (1, 3, 8, 8), generator=torch.Generator().manual_seed(9), dtype=torch.uint8)
    bv = resolve_data_plan(_config(), _fake_bundle()).batched_views(2)
    loader = TensorTrainLoader(one.expand(24, 3, 8, 8).contiguous(), torch.zeros(24, dtype=torch.long), bv, 4,
                               seed=seed, epoch=epoch, rank=rank, world=world)
    loader.chunk = 1
    return loader


def _views_of(loader: TensorTrainLoader) -> list[torch.Tensor]:
    """Per step: ((1+V)·B,3,S,S), all of the step's views stacked."""
    return [views.clone() for views, _ in loader]


def _all_samples_differ(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Every sample's view (row of (N,3,S,S)) differs between a and b."""
    return bool((a != b).flatten(1).any(1).all())


def test_tensor_views_are_fresh_each_epoch_step_rank_and_seed() -> None:
    """The views' seed is derive_seed(seed, epoch, step, rank, "views"): with identical images
    (order plays no part) changing any one input changes every sample's views; the same inputs
    repeat them."""
    base = _views_of(_same_image_loader(epoch=2))
    assert all(torch.equal(a, b) for a, b in zip(base, _views_of(_same_image_loader(epoch=2))))
    for other in (_same_image_loader(epoch=3), _same_image_loader(epoch=1), _same_image_loader(epoch=2, seed=1)):
        assert all(_all_samples_differ(a, b) for a, b in zip(base, _views_of(other)))
    assert all(_all_samples_differ(base[0], later) for later in base[1:])  # each step (chunk) its own draws
    first = base[0][:4]  # the classifier views of one step's 4 copies: each image its own draws
    assert all(_all_samples_differ(first[i:i + 1], first[j:j + 1]) for i in range(4) for j in range(i + 1, 4))
    ranks = [_views_of(_same_image_loader(epoch=2, rank=r, world=2)) for r in range(2)]
    assert all(_all_samples_differ(a, b) for a, b in zip(*ranks))


def test_tensor_loader_order_follows_seed_and_epoch() -> None:
    orders = {(s, e): torch.cat([lab for _, lab in _loader(40, 8, epoch=e, seed=s)]) for s in (0, 1) for e in (0, 1)}
    assert torch.equal(orders[0, 0], torch.cat([lab for _, lab in _loader(40, 8, epoch=0, seed=0)]))
    keys = list(orders)
    assert all(not torch.equal(orders[a], orders[b]) for i, a in enumerate(keys) for b in keys[i + 1:])


@pytest.mark.parametrize("recipe,size,shape", [("small", 16, (8, 8)), ("bcl", 32, (32, 32)),
                                               ("authors", 64, (70, 90)), ("bcl", 24, (40, 30))])
def test_eval_view_equals_the_per_image_eval_transform(recipe, size, shape) -> None:
    from types import SimpleNamespace

    rng = np.random.default_rng(1)
    arrays = rng.integers(0, 256, (6, *shape, 3), dtype=np.uint8)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    bundle = SimpleNamespace(recipe="small", image_size=size, mean=mean, std=std)
    plan = resolve_data_plan(_config(f"data.recipe={recipe}"), bundle)
    bv = plan.batched_views(0)
    images = torch.from_numpy(arrays).permute(0, 3, 1, 2).contiguous()
    got = next(iter(TensorEvalLoader(eval_tensor(images, plan.resize, size), torch.zeros(6), bv, 4)))[0]
    per_image = build_eval_transform(size, recipe, mean, std)
    want = torch.stack([per_image(Image.fromarray(a)) for a in arrays[:4]])
    assert got.shape == want.shape == (4, 3, size, size)
    # one 8-bit level at most (torch's uint8 antialiased resize vs PIL's), in normalised units
    assert (got - want).abs().max() <= 1.01 / 255 / min(bv.std.tolist())


def test_same_confusion_matrix_on_both_paths_for_a_fixed_network(digits) -> None:
    tensor_ctx = build_run(_config("data.pipeline=tensor"), digits, device=DEVICE)
    pil_ctx = build_run(_config("data.pipeline=pil"), digits, device=DEVICE)
    pil_ctx.network.load_state_dict(tensor_ctx.network.state_dict())
    with torch.no_grad():  # a non-trivial fixed network: perturb the freshly initialised weights
        g = torch.Generator().manual_seed(5)
        for net in (tensor_ctx.network, pil_ctx.network):
            for p in net.parameters():
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
            g.manual_seed(5)
    a = evaluate(tensor_ctx, tensor_ctx.loader.eval_batches(digits.test), collect=True)
    b = evaluate(pil_ctx, pil_ctx.loader.eval_batches(digits.test), collect=True)
    assert isinstance(tensor_ctx.loader.eval_batches(digits.test), TensorEvalLoader)
    assert np.array_equal(a.confusion, b.confusion) and a.confusion.sum() == len(digits.test)
    assert torch.allclose(a.probs, b.probs, atol=1e-4)


def test_pil_sampler_seeds_items_by_epoch_and_index() -> None:
    sampler = EpochSampler(10, seed=0, rank=1, world=3)
    sampler.set_epoch(4)
    items = list(sampler)
    assert len(items) == len(sampler) == 3 and all(epoch == 4 for epoch, _ in items)


def test_pil_sampler_order_follows_seed_and_epoch() -> None:
    def order(seed: int, epoch: int) -> list[int]:
        sampler = EpochSampler(30, seed=seed)
        sampler.set_epoch(epoch)
        return [index for _, index in sampler]

    assert order(0, 3) == order(0, 3) and sorted(order(0, 3)) == list(range(30))
    assert len({tuple(order(s, e)) for s in (0, 1) for e in (3, 4)}) == 4


def test_pil_views_are_fresh_each_epoch_index_and_seed() -> None:
    """SeededViewsDataset item (epoch, index): its views' generators are seeded from (seed, epoch,
    index). Six copies of one image: changing the epoch, the index or the seed changes the views,
    the same (seed, epoch, index) repeats them (the caller's global generators play no part)."""
    from ecl.data import build_train_transform
    from ecl.data.pil_loader import SeededViewsDataset

    one = np.random.default_rng(3).integers(0, 256, (1, 8, 8, 3), dtype=np.uint8)
    base = ArrayDataset(np.repeat(one, 6, axis=0), [0] * 6)
    transform = build_train_transform(8, "small", (0.5,) * 3, (0.25,) * 3, num_contrastive_views=2)

    def views(epoch: int, index: int, seed: int = 0) -> torch.Tensor:
        return torch.stack(SeededViewsDataset(base, transform, seed)[(epoch, index)][0])  # (1+V,3,S,S)

    first = views(2, 1)
    torch.manual_seed(77)
    assert torch.equal(first, views(2, 1))
    for other in (views(3, 1), views(1, 1), views(2, 4), views(2, 1, seed=1)):
        assert _all_samples_differ(first, other)


def _train(out: Path, *overrides: str) -> dict:
    from ecl.engine.commands.train import train

    train(_config("train.epochs=2", f"out={out}", *overrides), log=lambda text: None)
    return json.loads((out / "final.json").read_text())


@pytest.mark.slow
def test_two_tensor_runs_give_identical_final_json(tmp_path: Path) -> None:
    assert _train(tmp_path / "a", "data.pipeline=tensor") == _train(tmp_path / "b", "data.pipeline=tensor")


@pytest.mark.slow
def test_pil_views_do_not_depend_on_the_number_of_workers(tmp_path: Path) -> None:
    a = _train(tmp_path / "a", "data.pipeline=pil", "train.epochs=1")
    assert a == _train(tmp_path / "b", "data.pipeline=pil", "train.epochs=1", "train.num_workers=2")
