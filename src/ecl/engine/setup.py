"""Everything a run needs, built once from a Config and a DataBundle: `build_run` → `RunContext`.

Used by `ecl train`, `ecl evaluate` and benchmarks/throughput.py, so all three run the same
network, objective, optimiser, mixed-precision settings and loaders.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, ContextManager

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from ecl.config import Config
from ecl.engine.objective import Objective
from ecl.engine.preprocess import Preprocess
from ecl.engine.protocol import resolve_protocol
from ecl.engine.seeding import derive_seed, seed_everything
from ecl.losses.methods import METHODS, MethodSpec

__all__ = ["RunContext", "build_run", "resolve_device", "build_network", "build_objective", "PRECISION_DTYPES"]

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
    τ, weighting and fixed weights fill the keys left null: :mod:`ecl.engine.protocol`)."""
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


def _draft(dataset: Any, image_size: int) -> None:
    """Let an image-file dataset decode JPEGs at reduced size, down to the eval resize side."""
    if hasattr(dataset, "draft_size"):  # the largest side any recipe reads (authors: S/0.875)
        dataset.draft_size = max(int(image_size), int(image_size / 0.875))


@dataclass
class RunContext:
    """One run's built objects. `network` is the plain ECLNetwork (weights, classifier, checkpoints);
    `model` is what is called (DDP-wrapped and/or compiled, else `network` itself)."""

    config: Config
    bundle: Any
    spec: MethodSpec
    preprocess: Preprocess
    device: torch.device
    network: nn.Module
    model: nn.Module
    objective: Objective
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler  # always present; enabled only for fp16
    autocast: ContextManager[Any]  # built once, entered around every forward pass
    rank: int = 0
    world: int = 1
    progress: bool = False  # a tqdm bar over each training epoch
    stop_requested: Callable[[], bool] = lambda: False
    nonfinite_streak: int = 0  # non-finite steps in a row, carried across epochs
    pipeline: str = "pil"  # the data path: "tensor" (engine/tensor_loader.py) or "pil"
    pipeline_reason: str = ""  # why (data.pipeline=auto: the memory it needs and has)
    tensor_data: Any = None  # TensorData on the tensor path (built once, on the device)
    pil_loader: Any = None  # the pil path's training DataLoader (built at the first epoch)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def num_classes(self) -> int:
        return len(self.bundle.classes)

    @property
    def num_contrastive_views(self) -> int:
        return self.config.data.contrastive_views if self.spec.contrastive is not None else 0

    def train_loader(self, epoch: int) -> Any:
        """A loader whose order and augmentation depend only on (seed, epoch)."""
        if self.pipeline == "tensor":
            from ecl.engine.tensor_loader import TensorTrainLoader, build_batched_views

            data = self.tensor_data
            return TensorTrainLoader(data.train_images, data.train_labels,
                                     build_batched_views(self.config, self.bundle, self.num_contrastive_views),
                                     max(1, self.config.train.batch_size // self.world), seed=self.config.seed,
                                     epoch=epoch, rank=self.rank, world=self.world)
        return self._pil_train_loader(epoch)

    def _pil_train_loader(self, epoch: int) -> DataLoader:
        from ecl.data import build_train_transform

        config, p = self.config, self.preprocess
        views = self.num_contrastive_views
        transform = build_train_transform(p.image_size, p.recipe, p.mean, p.std, num_contrastive_views=views,
                                          flip=config.data.flip, randaugment=config.data.randaugment,
                                          erasing=config.data.erasing)
        if self.pil_loader is None:  # one loader per run: its workers persist across epochs
            from ecl.engine.pil_loader import build_pil_train_loader

            _draft(self.bundle.train, p.image_size)
            self.pil_loader = build_pil_train_loader(
                self.bundle.train, transform, seed=config.seed, batch_size=max(1, config.train.batch_size // self.world),
                num_workers=config.train.num_workers, rank=self.rank, world=self.world)
        self.pil_loader.sampler.set_epoch(epoch)
        return self.pil_loader

    def eval_loader(self, dataset: Any, *, whole: bool = False) -> Any:
        """Each rank gets indices rank, rank+world, ... (every image once, no padding); `whole`:
        the whole set on this rank (the final evaluation on rank 0)."""
        if self.pipeline == "tensor" and id(dataset) in self.tensor_data.eval_sets:
            from ecl.engine.tensor_loader import TensorEvalLoader, build_batched_views

            images, labels = self.tensor_data.eval_sets[id(dataset)]
            if self.world > 1 and not whole:
                images, labels = images[self.rank :: self.world], labels[self.rank :: self.world]
            return TensorEvalLoader(images, labels, build_batched_views(self.config, self.bundle, 0),
                                    self.config.eval.batch_size)
        from ecl.data import ViewsDataset

        _draft(dataset, self.preprocess.image_size)
        data = ViewsDataset(dataset, self.preprocess.transform())
        if self.world > 1 and not whole:
            data = Subset(data, list(range(self.rank, len(data), self.world)))
        workers = self.config.train.num_workers
        return DataLoader(data, batch_size=self.config.eval.batch_size, shuffle=False, num_workers=workers,
                          pin_memory=torch.cuda.is_available(), persistent_workers=workers > 0,
                          prefetch_factor=4 if workers else None)


def _autocast(device: torch.device, precision: str) -> ContextManager[Any]:
    """Autocast for bf16/fp16; a no-op for fp32 (one object, re-entered at every forward pass)."""
    dtype = PRECISION_DTYPES[precision]
    return contextlib.nullcontext() if dtype is None else torch.autocast(device_type=device.type, dtype=dtype)


def _wrap(network: nn.Module, config: Config, device: torch.device, world: int) -> nn.Module:
    model = network
    if world > 1:
        model = nn.parallel.DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda" else None)
    return torch.compile(model) if config.train.compile else model


def _data_path(config: Config, bundle: Any, device: torch.device) -> tuple[str, str, Any]:
    """data.pipeline resolved for this bundle and device: (path, why — `ecl train` prints it with
    its start-up lines, the images on the device on the tensor path)."""
    from ecl.engine.tensor_loader import TensorData, choose_pipeline

    pipeline, reason = choose_pipeline(config, bundle, device)
    return pipeline, reason, (TensorData.build(config, bundle, device) if pipeline == "tensor" else None)


def build_run(config: Config, bundle: Any, *, rank: int = 0, world: int = 1, local_rank: int | None = None,
              device: torch.device | None = None, pretrained_download: bool = True) -> RunContext:
    """Device, network (seeded), wrapped model, objective, optimiser, scaler and autocast of a run.
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
    pipeline, reason, tensor_data = _data_path(config, bundle, device)
    return RunContext(config=config, bundle=bundle, spec=METHODS[config.loss.method],
                      preprocess=Preprocess.of_bundle(bundle, config.data.recipe), device=device, network=network,
                      model=_wrap(network, config, device, world), objective=objective, optimizer=optimizer,
                      scaler=scaler, autocast=_autocast(device, config.train.precision), rank=rank, world=world,
                      pipeline=pipeline, pipeline_reason=reason, tensor_data=tensor_data)
