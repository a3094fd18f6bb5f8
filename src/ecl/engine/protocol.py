"""The resolved protocol of a run: the configuration's nulls filled by the method and the dataset.

Rule (DESIGN.md §1, issue 11): a method's :class:`~ecl.losses.methods.MethodSpec` carries its
protocol (prototype map, weighting, fixed weights, τ, d_z). It fills the keys the user left null
(`loss.temperature`, `loss.weighting`, `loss.alpha/beta/gamma`, `model.projection_dim`); a value
set explicitly (in a preset or an override) always wins. The view recipe and flip are the data
plan's (:func:`ecl.data.plan.resolve_data_plan`, written into the run's config by
:func:`ecl.engine.setup.build_run`); before the data is read they are shown as the dataset's default.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from ecl.config import Config
from ecl.losses.methods import METHODS

__all__ = ["Protocol", "resolve_protocol", "resolve_config"]


@dataclass(frozen=True)
class Protocol:
    """Everything that decides how a run trains, resolved.

    `recipe`/`flip` are None while they are left to the data plan (a config before the data is read).
    `projection_dim` None means d_z = d. `from_method`: config keys the method filled.
    """

    method: str
    recipe: str | None
    flip: bool | None
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
        flip = "" if self.flip is None else f" (flip {'on' if self.flip else 'off'})"
        if self.weighting == "auto":
            weights = f"auto (calibrated at the end of epoch {self.warmup_epochs + 1})"
        else:
            weights = "fixed α={:g} β={:g} γ={:g}".format(*self.weights)
        dz = "d" if self.projection_dim is None else str(self.projection_dim)
        text = (f"protocol: method {self.method}, recipe {recipe}{flip}, schedule {self.schedule}, "
                f"warm-up {self.warmup_epochs}, weights {weights}, τ {self.temperature:g}, d_z {dz}, "
                f"prototype head {self.prototype_head}")
        if self.from_method:
            text += f"; set by the method: {', '.join(self.from_method)}"
        return text


def resolve_protocol(config: Config) -> Protocol:
    """The protocol of a (validated) config."""
    spec = METHODS[config.loss.method]
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
        method=spec.name, recipe=config.data.recipe, flip=config.data.flip, schedule=config.train.schedule,
        warmup_epochs=config.train.warmup_epochs, temperature=float(temperature), weighting=weighting,
        weights=tuple(weights), projection_dim=projection_dim,  # type: ignore[arg-type]
        prototype_head=spec.prototype_head, from_method=tuple(filled),
    )


def resolve_config(config: Config) -> Config:
    """A copy of `config` with the method's protocol values written in (config.yaml records them)."""
    protocol = resolve_protocol(config)
    out = copy.deepcopy(config)
    out.loss.temperature, out.loss.weighting = protocol.temperature, protocol.weighting
    out.loss.alpha, out.loss.beta, out.loss.gamma = protocol.weights
    out.model.projection_dim = protocol.projection_dim
    return out
