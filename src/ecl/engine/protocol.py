"""The resolved protocol of a run: the configuration's nulls filled by the method and the dataset.

Rule (docs/METHOD.md, "The total loss and its weights"; issue 11): a method's :class:`~ecl.losses.methods.MethodSpec` carries its
protocol (prototype map, weighting, fixed weights, τ, d_z). It fills the keys the user left null
(`loss.temperature`, `loss.weighting`, `loss.alpha/beta/gamma`, `model.projection_dim`); a value
set explicitly (in a preset or an override) always wins. The view recipe comes from `data.recipe`,
or, when null, from the dataset's view style (:func:`ecl.data.views.recipe_for_style`); `data.flip`
null means the recipe's default (on, off for `small`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from ecl.config import Config
from ecl.data.views import recipe_for_style
from ecl.losses.methods import METHODS

__all__ = ["Protocol", "resolve_protocol", "resolve_config", "classifier_rate"]


@dataclass(frozen=True)
class Protocol:
    """Everything that decides how a run trains, resolved.

    `recipe`/`flip` are None only when the recipe is left to a dataset not read yet.
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


def classifier_rate(lr: float, alpha: float | None, calibration_epoch: int = 1) -> str:
    """The classifier loss's effective rate lr × α as a phrase of the log (`alpha` None: auto weights
    not calibrated yet). Methods trained at one nominal lr differ by their α (auto ≈ 0.2, fixed 1–2)."""
    if alpha is None:
        return f"classifier loss rate lr×α: α set at the end of epoch {calibration_epoch} (auto)"
    return f"classifier loss rate lr×α = {lr:g}×{alpha:g} = {lr * alpha:.4g}"


def _recipe(config: Config, style: str | None) -> str | None:
    if config.data.recipe is not None:
        return config.data.recipe
    return recipe_for_style(style) if style is not None else None


def resolve_protocol(config: Config, style: str | None = None) -> Protocol:
    """The protocol of a (validated) config; `style`: the dataset's view style when known."""
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
    recipe = _recipe(config, style)
    flip = config.data.flip if config.data.flip is not None else (None if recipe is None else recipe != "small")
    return Protocol(
        method=spec.name, recipe=recipe, flip=flip, schedule=config.train.schedule,
        warmup_epochs=config.train.warmup_epochs, temperature=float(temperature), weighting=weighting,
        weights=tuple(weights), projection_dim=projection_dim,  # type: ignore[arg-type]
        prototype_head=spec.prototype_head, from_method=tuple(filled),
    )


def resolve_config(config: Config, style: str | None = None) -> Config:
    """A copy of `config` with the protocol's values written in (what config.yaml records)."""
    protocol = resolve_protocol(config, style)
    out = copy.deepcopy(config)
    out.data.recipe, out.data.flip = protocol.recipe, protocol.flip
    out.loss.temperature, out.loss.weighting = protocol.temperature, protocol.weighting
    out.loss.alpha, out.loss.beta, out.loss.gamma = protocol.weights
    out.model.projection_dim = protocol.projection_dim
    return out
