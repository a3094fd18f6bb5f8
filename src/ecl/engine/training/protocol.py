"""The resolved protocol of a run: the configuration's nulls filled by the method and the dataset.

Rule (docs/METHOD.md, "The total loss and its weights"; issue 11): a method's :class:`~ecl.losses.methods.MethodSpec` carries its
protocol (prototype map, weighting, fixed weights, τ, d_z). It fills the keys the user left null
(`loss.temperature`, `loss.weighting`, `loss.alpha/beta/gamma`, `model.projection_dim`); a value
set explicitly (in a preset or an override) always wins. The view recipe and flip are the data
plan's (:func:`ecl.data.plan.resolve_data_plan`, written into the run's config by
:func:`ecl.engine.training.context.build_run`); before the data is read they are shown as the dataset's default.

The protocol *family* is the dataset's: `imagenet-lt` for ImageNet-LT, `cifar` for every other
dataset (:func:`protocol_family`). It picks the method's published values where a source publishes
them per family (BCL: CE 2.0 / BCL 0.6 on CIFAR, 1.0 / 0.35 on ImageNet-LT). `data.erasing`'s
default (off on ImageNet-LT, the recipe's elsewhere) is the data plan's rule
(:func:`ecl.data.plan.resolve_erasing`); the protocol shows it once the recipe is known.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from ecl.config import Config
from ecl.data.plan import protocol_family as dataset_family, resolve_erasing
from ecl.losses.methods import method_protocol

__all__ = ["Protocol", "protocol_family", "resolve_protocol", "resolve_config", "classifier_rate"]


@dataclass(frozen=True)
class Protocol:
    """Everything that decides how a run trains, resolved.

    `recipe`/`flip` are None while they are left to the data plan (a config before the data is read);
    `erasing` too, unless `data.erasing` or the dataset decides it without the recipe.
    `projection_dim` None means d_z = d. `from_method`: config keys the method filled.
    `family`: the protocol family (:func:`protocol_family`); `erasing`: RandomErasing in the views.
    """

    method: str
    family: str
    recipe: str | None
    flip: bool | None
    erasing: bool | None
    schedule: str
    warmup_epochs: int
    temperature: float
    weighting: str
    weights: tuple[float, float, float]
    projection_dim: int | None
    prototype_head: str
    from_method: tuple[str, ...]

    def line(self) -> str:
        """One line: recipe, schedule, weights mode (and what the method imposed)."""
        recipe = "the dataset's default" if self.recipe is None else self.recipe
        flip = "" if self.flip is None else f"flip {'on' if self.flip else 'off'}, "
        erasing = "the recipe's" if self.erasing is None else "on" if self.erasing else "off"
        views = f" ({flip}erasing {erasing})"
        if self.weighting == "auto":
            weights = f"auto (calibrated at the end of epoch {self.warmup_epochs + 1})"
        else:
            weights = "fixed α={:g} β={:g} γ={:g}".format(*self.weights)
        dz = "d" if self.projection_dim is None else str(self.projection_dim)
        text = (f"protocol: family {self.family}, method {self.method}, recipe {recipe}{views}, "
                f"schedule {self.schedule}, "
                f"warm-up {self.warmup_epochs}, weights {weights}, τ {self.temperature:g}, d_z {dz}, "
                f"prototype head {self.prototype_head}")
        if self.from_method:
            text += f"; set by the method: {', '.join(self.from_method)}"
        return text


def classifier_rate(lr: float, alpha: float | None, calibration_epoch: int = 1) -> str:
    """The classifier loss's effective rate lr × α as a phrase of the log (`alpha` None: auto weights
    not calibrated yet). Methods trained at one nominal lr differ by their α (auto ≈ 0.2, fixed 1–2)."""
    if alpha is None:
        return f"classifier loss rate lr×α: α set at the end of epoch {calibration_epoch} (auto)"
    return f"classifier loss rate lr×α = {lr:g}×{alpha:g} = {lr * alpha:.4g}"


def protocol_family(config: Config) -> str:
    """The protocol family of the config's dataset: "imagenet-lt" or "cifar" (see the module doc)."""
    return dataset_family(config.data.name)


def resolve_protocol(config: Config) -> Protocol:
    """The protocol of a (validated) config."""
    family = protocol_family(config)
    spec = method_protocol(config.loss.method, family)
    loss, filled = config.loss, []

    def pick(key: str, value, default):
        if value is None:
            filled.append(f"{key}={default}")
            return default
        return value

    temperature = pick("loss.temperature", loss.temperature, spec.temperature)
    weighting = pick("loss.weighting", loss.weighting, spec.weighting)
    weights = []
    for name, default in zip(("alpha", "beta", "gamma"), spec.weights):
        value = getattr(loss, name)
        if weighting == "fixed":
            value = pick(f"loss.{name}", value, default)
        weights.append(float(default if value is None else value))
    projection_dim = config.model.projection_dim
    if projection_dim is None and spec.projection_dim is not None:
        projection_dim = pick("model.projection_dim", None, spec.projection_dim)
    return Protocol(
        method=spec.name, family=family, recipe=config.data.recipe, flip=config.data.flip,
        erasing=resolve_erasing(config.data.erasing, config.data.name, config.data.recipe),
        schedule=config.train.schedule,
        warmup_epochs=config.train.warmup_epochs, temperature=float(temperature), weighting=weighting,
        weights=tuple(weights), projection_dim=projection_dim,  # type: ignore[arg-type]
        prototype_head=spec.prototype_head, from_method=tuple(filled),
    )


def resolve_config(config: Config) -> Config:
    """A copy of `config` with the method's protocol values written in (config.yaml records them)."""
    protocol = resolve_protocol(config)
    out = copy.deepcopy(config)
    out.data.erasing = protocol.erasing
    out.loss.temperature, out.loss.weighting = protocol.temperature, protocol.weighting
    out.loss.alpha, out.loss.beta, out.loss.gamma = protocol.weights
    out.model.projection_dim = protocol.projection_dim
    return out
