"""Everything a run needs, built once from a Config and a DataBundle: `build_run` → `RunContext`.

Used by `ecl train`, `ecl evaluate` and benchmarks/throughput.py, so all three run the same
network, objective, optimiser, mixed-precision settings and loaders.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from typing import Any, ContextManager

import torch
from torch import nn

from ecl.config import Config
from ecl.data.loading import LoaderSettings, RunLoader, build_loader
from ecl.data.plan import DataPlan, resolve_data_plan
from ecl.engine.training.objective import Objective
from ecl.engine.training.protocol import resolve_protocol
from ecl.seeding import derive_seed, seed_everything
from ecl.losses.methods import METHODS, MethodSpec

__all__ = ["RunContext", "build_run", "with_plan", "resolve_device", "build_network", "build_objective", "PRECISION_DTYPES"]

PRECISION_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str, local_rank: int | None = None) -> torch.device:
    """`auto` → cuda (the local rank's GPU) when available, else cpu."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and local_rank is not None:
        return torch.device("cuda", local_rank)
    if name.startswith("cuda") and not torch.cuda.is_available():
        from ecl.config import ConfigError

        raise ConfigError(f"train.device={name} but CUDA is not available on this machine "
                          f"(use train.device=cpu or auto)")
    return torch.device(name)


def build_network(config: Config, num_classes: int, *, load_weights: bool = True) -> nn.Module:
    """The ECL network of `config.model` (projection head only when the method needs it), its backbone
    from model.pretrained / model.weights; `load_weights=False` (a resumed run: the checkpoint
    overwrites them) neither downloads nor reads weights."""
    from ecl.models import ECLNetwork
    from ecl.models.registry import build_backbone

    spec, model = METHODS[config.loss.method], config.model
    protocol = resolve_protocol(config)
    backbone = build_backbone(model.backbone, pretrained=bool(model.pretrained) and load_weights,
                              weights=model.weights if load_weights else None)
    return ECLNetwork(backbone, num_classes, projection_dim=protocol.projection_dim,
                      scale=model.scale, with_projection=spec.contrastive is not None or spec.ccge,
                      prototype_head=protocol.prototype_head)


def build_objective(config: Config, class_counts: list[int], gather: bool = False) -> Objective:
    """The total loss of `config.loss` (the method's λ / anchor weighting win over the config's; its
    τ, weighting and fixed weights fill the keys left null: :mod:`ecl.engine.training.protocol`)."""
    spec = METHODS[config.loss.method]
    loss, protocol = config.loss, resolve_protocol(config)
    return Objective(
        spec,
        class_counts,
        temperature=protocol.temperature,
        prototype_weight=spec.prototype_weight if spec.prototype_weight is not None else loss.prototype_weight,
        anchor_weighting=spec.anchor_weighting if spec.anchor_weighting is not None else loss.anchor_weighting,
        lc_tau=loss.lc_tau,
        weighting=protocol.weighting,
        weights=protocol.weights,
        gather=gather,
    )


@dataclass
class RunContext:
    """One run's built objects. `network` is the plain ECLNetwork (weights, classifier, checkpoints);
    `model` is what is called (DDP-wrapped and/or compiled, else `network` itself). `plan` is the
    run's data plan (ecl.data.plan) and `loader` its one loading interface (ecl.data.loading)."""

    config: Config
    bundle: Any
    spec: MethodSpec
    plan: DataPlan
    loader: RunLoader
    device: torch.device
    network: nn.Module
    model: nn.Module
    objective: Objective
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler  # always present; enabled only for fp16
    autocast: ContextManager[Any]  # built once, entered around every forward pass
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def num_classes(self) -> int:
        return len(self.bundle.classes)

    @property
    def num_contrastive_views(self) -> int:
        return self.config.data.contrastive_views if self.spec.contrastive is not None else 0


def _autocast(device: torch.device, precision: str) -> ContextManager[Any]:
    """Autocast for bf16/fp16; a no-op for fp32 (one object, re-entered at every forward pass)."""
    dtype = PRECISION_DTYPES[precision]
    return contextlib.nullcontext() if dtype is None else torch.autocast(device_type=device.type, dtype=dtype)


def _wrap(network: nn.Module, config: Config, device: torch.device, world: int) -> nn.Module:
    model = network
    if world > 1:
        model = nn.parallel.DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda" else None)
    return torch.compile(model) if config.train.compile else model


def _loader(config: Config, plan: DataPlan, bundle: Any, device: torch.device, rank: int, world: int,
            spec: MethodSpec) -> RunLoader:
    views = config.data.contrastive_views if spec.contrastive is not None else 0
    settings = LoaderSettings(seed=config.seed, batch_size=max(1, config.train.batch_size // world),
                              eval_batch_size=config.eval.batch_size, num_workers=config.train.num_workers,
                              num_contrastive_views=views, rank=rank, world=world, cache_dir=config.data.cache_dir)
    return build_loader(plan, bundle, settings, device)


def with_plan(config: Config, plan: DataPlan, device: torch.device | None = None) -> Config:
    """A copy of `config` holding the plan's image size, recipe, flip and erasing (what the run is); with
    `device`, also the choices made for this machine — the data path and the device — which the
    run's own config keeps as requested (a checkpoint moved elsewhere chooses them again there)."""
    out = copy.deepcopy(config)
    out.data.image_size, out.data.recipe, out.data.flip = plan.image_size, plan.recipe, plan.flip
    out.data.erasing = plan.erasing
    if device is not None:
        out.data.pipeline, out.train.device = plan.pipeline, str(device)
    return out


def build_run(config: Config, bundle: Any, *, rank: int = 0, world: int = 1, local_rank: int | None = None,
              device: torch.device | None = None, pretrained_download: bool = True,
              plan: DataPlan | None = None) -> RunContext:
    """Device, data plan and loader, network (seeded), wrapped model, objective, optimiser, scaler
    and autocast of a run. `plan`: the run's data plan (None: resolved here for this device).
    `pretrained_download=False`: the backbone's start weights are not fetched (a resumed run)."""
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    if device is None:
        device = resolve_device(config.train.device, local_rank if world > 1 else None)
    seed_everything(derive_seed(config.seed, "init"))
    network = build_network(config, len(bundle.classes), load_weights=pretrained_download).to(device)
    if config.model.channels_last:
        network = network.to(memory_format=torch.channels_last)
    objective = build_objective(config, list(bundle.train_counts), gather=world > 1).to(device)
    optimizer = torch.optim.SGD(network.parameters(), lr=config.train.lr, momentum=config.train.momentum,
                                weight_decay=config.train.weight_decay)
    scaler = torch.amp.GradScaler(device.type, enabled=config.train.precision == "fp16")
    plan = plan if plan is not None else resolve_data_plan(config, bundle, device)
    spec = METHODS[config.loss.method]
    return RunContext(config=with_plan(config, plan), bundle=bundle, spec=spec, plan=plan,
                      loader=_loader(config, plan, bundle, device, rank, world, spec), device=device, network=network,
                      model=_wrap(network, config, device, world), objective=objective, optimizer=optimizer,
                      scaler=scaler, autocast=_autocast(device, config.train.precision), rank=rank, world=world)
