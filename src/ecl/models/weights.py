"""Backbone weights: local files (``model.weights=PATH``) and download failures of ``model.pretrained``.

A weights file is a ``.safetensors`` file or a ``torch.save``d state dict read with
``torch.load(weights_only=True)`` (never arbitrary pickles). Keys may carry a wrapper prefix
(``module.``, ``encoder.``, ``backbone.``, ``model.``); classifier keys (``fc.``, ``head.``,
``classifier.``) that the headless backbone lacks are ignored and listed in the summary.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch
from torch import Tensor, nn

__all__ = ["WeightsError", "PREFIXES", "HEAD_PREFIXES", "read_weights_file", "load_backbone_weights",
           "download_errors"]

PREFIXES = ("module.", "encoder.", "backbone.", "model.")
HEAD_PREFIXES = ("fc.", "head.", "classifier.")
_SHOWN = 4


class WeightsError(ValueError):
    """Backbone weights could not be obtained or do not fit the backbone (one-line message)."""


def _first(keys: list[str]) -> str:
    more = f" … (+{len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else ""
    return ", ".join(keys[:_SHOWN]) + more


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


def _download_exceptions() -> tuple[type[BaseException], ...]:
    kinds: list[type[BaseException]] = [OSError, RuntimeError, ConnectionError, TimeoutError]
    try:  # huggingface_hub's errors derive from these, but list them explicitly when available
        from huggingface_hub import errors as hf_errors

        kinds += [getattr(hf_errors, n) for n in ("LocalEntryNotFoundError", "HfHubHTTPError",
                                                     "OfflineModeIsEnabled") if hasattr(hf_errors, n)]
    except ImportError:  # pragma: no cover - timm depends on huggingface_hub
        pass
    return tuple(kinds)


@contextlib.contextmanager
def download_errors(backbone: str) -> Iterator[None]:
    """Turn a failed download of ``backbone``'s pretrained weights into a one-line :class:`WeightsError`.

    Catches URLError (an OSError), OSError, huggingface_hub errors and torch.hub's RuntimeError.
    """
    try:
        yield
    except WeightsError:
        raise
    except _download_exceptions() as exc:
        raise WeightsError(
            f"model.pretrained: could not download the ImageNet weights of model.backbone={backbone!r} "
            f"({_one_line(exc)}); download them on a machine with network access and pass "
            f"model.weights=PATH (a .safetensors file or a state dict)"
        ) from None


def _unwrap(obj: Any, path: Path) -> dict[str, Tensor]:
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not obj:
        raise WeightsError(f"model.weights: {path} does not hold a state dict (a mapping of names to tensors)")
    bad = [str(k) for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        raise WeightsError(f"model.weights: {path} has entries that are not named tensors: {_first(bad)}")
    return dict(obj)


def read_weights_file(path: str | Path) -> dict[str, Tensor]:
    """Read a state dict from ``path`` (.safetensors, or torch.load with weights_only=True) on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"model.weights: {path} is not a file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(path), device="cpu")
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any reader failure (bad header, refused pickle, truncation) is one line
        kind = "safetensors file" if path.suffix == ".safetensors" else "weights_only state dict"
        raise WeightsError(f"model.weights: {path} could not be read as a {kind} ({_one_line(exc)})") from None
    return _unwrap(obj, path)


def _strip(key: str, own: set[str]) -> str:
    """``key`` without leading wrapper prefixes, unless it is already one of the module's keys."""
    while key not in own:
        for prefix in PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        else:
            break
    return key


def _match(state: dict[str, Tensor], own: dict[str, Tensor], path: Path) -> tuple[dict[str, Tensor], list[str]]:
    matched: dict[str, Tensor] = {}
    ignored: list[str] = []
    unexpected: list[str] = []
    for key, value in state.items():
        name = _strip(key, set(own))
        if name in own:
            if name in matched:
                raise WeightsError(f"model.weights: {path} holds the backbone key {name!r} twice (as {key!r})")
            matched[name] = value
        elif name.startswith(HEAD_PREFIXES):
            ignored.append(key)
        else:
            unexpected.append(key)
    if unexpected:
        raise WeightsError(f"model.weights: {path} has {len(unexpected)} keys the backbone does not have: "
                           f"{_first(unexpected)}")
    missing = [k for k in own if k not in matched and not k.endswith("num_batches_tracked")]
    if missing:
        raise WeightsError(f"model.weights: {path} lacks {len(missing)} backbone keys: {_first(missing)}")
    return matched, ignored


def load_backbone_weights(module: nn.Module, path: str | Path) -> dict[str, Any]:
    """Copy the weights in ``path`` into ``module`` (a headless backbone); return a summary.

    Summary keys: ``path`` (str), ``loaded`` (number of tensors), ``ignored`` (classifier keys
    skipped), ``note`` (one line for the log). Raises :class:`WeightsError` naming the file and the
    first keys when backbone keys are missing or unexpected, or the key and both shapes on a
    shape mismatch.
    """
    path = Path(path)
    state = read_weights_file(path)
    own = module.state_dict()
    matched, ignored = _match(state, own, path)
    for key, value in matched.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise WeightsError(f"model.weights: {path}: key {key!r} has shape {tuple(value.shape)}, "
                               f"the backbone expects {tuple(own[key].shape)}")
    module.load_state_dict(matched, strict=False)
    note = f"loaded {len(matched)} backbone tensors from {path}"
    if ignored:
        note += f"; ignored {len(ignored)} classifier keys ({_first(ignored)})"
    return {"path": str(path), "loaded": len(matched), "ignored": ignored, "note": note}
