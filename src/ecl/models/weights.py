"""Backbone weights: local files (``model.weights=PATH``) and the downloads of ``model.pretrained``.

Before a library download starts, :func:`pretrained_download` looks for the weights in the local
cache (torch hub's ``checkpoints/`` or the Hugging Face hub cache) and, when they are not there,
for the download host (one TCP connection, a few seconds at most; ``HF_HUB_OFFLINE`` counts as no
network for the hub): offline, the run stops at once with one line instead of the libraries'
retries. Cached weights load without the network.

A weights file is a ``.safetensors`` file or a ``torch.save``d state dict read with
``torch.load(weights_only=True)`` (never arbitrary pickles). Keys may carry a wrapper prefix
(``module.``, ``encoder.``, ``backbone.``, ``model.``); classifier keys (``fc.``, ``head.``,
``classifier.``) that the headless backbone lacks are ignored and listed in the summary.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch
from torch import Tensor, nn

__all__ = ["WeightsError", "PREFIXES", "HEAD_PREFIXES", "read_weights_file", "load_backbone_weights",
           "download_errors", "WeightsSource", "hub_source", "url_source", "unreachable", "hub_offline",
           "require_pretrained", "pretrained_download", "PROBE_TIMEOUT_S"]

PREFIXES = ("module.", "encoder.", "backbone.", "model.")
HEAD_PREFIXES = ("fc.", "head.", "classifier.")
_SHOWN = 4
#: seconds the connectivity probe waits for the download host (name lookup included)
PROBE_TIMEOUT_S = 3.0
_ADVICE = ("download them on a machine with network access and pass model.weights=PATH "
           "(a .safetensors file or a state dict)")


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
            f"({_one_line(exc)}); {_ADVICE}"
        ) from None


@dataclass(frozen=True)
class WeightsSource:
    """Where a library would fetch a backbone's pretrained weights from.

    ``host``: the download host; ``cached``: the local copy, when there is one; ``cache``: where it
    was looked for (for the message); ``hub``: a Hugging Face hub download (``HF_HUB_OFFLINE`` applies).
    """

    host: str
    cached: Path | None
    cache: str
    hub: bool = False


def url_source(url: str) -> WeightsSource:
    """A torch.hub download of ``url``: cached as ``<torch hub dir>/checkpoints/<file name>``."""
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    local = folder / Path(urllib.parse.urlparse(url).path).name
    return WeightsSource(urllib.parse.urlparse(url).hostname or url, local if local.is_file() else None, str(folder))


def hub_source(repo_id: str, filenames: tuple[str, ...]) -> WeightsSource:
    """A Hugging Face hub download of the first of ``filenames`` in ``repo_id`` (the hub cache is checked)."""
    from huggingface_hub import constants, try_to_load_from_cache

    cached = None
    for name in filenames:
        found = try_to_load_from_cache(repo_id, name, cache_dir=constants.HF_HUB_CACHE)
        if isinstance(found, str):
            cached = Path(found)
            break
    host = urllib.parse.urlparse(constants.ENDPOINT).hostname or constants.ENDPOINT
    return WeightsSource(host, cached, str(constants.HF_HUB_CACHE), hub=True)


def hub_offline() -> bool:
    """Whether the Hugging Face hub is in offline mode (``HF_HUB_OFFLINE``, read now or at import)."""
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return bool(constants.HF_HUB_OFFLINE) or value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def unreachable(host: str, timeout: float = PROBE_TIMEOUT_S, port: int = 443) -> str | None:
    """None when a TCP connection to ``host``:``port`` (or to the HTTPS proxy) opens within
    ``timeout`` seconds, name lookup included; else the reason in a few words."""
    proxy = urllib.request.getproxies().get("https")
    target = (host, port)
    if proxy and not urllib.request.proxy_bypass(host):
        parsed = urllib.parse.urlparse(proxy if "//" in proxy else f"http://{proxy}")
        target = (parsed.hostname or host, parsed.port or 80)
    outcome: list[str | None] = []

    def connect() -> None:
        try:
            socket.create_connection(target, timeout=timeout).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=connect, daemon=True)  # getaddrinfo has no timeout of its own
    thread.start()
    thread.join(timeout)
    return outcome[0] if outcome else f"no answer from {target[0]} within {timeout:g} s"


@contextlib.contextmanager
def _hub_offline_mode() -> Iterator[None]:
    """The hub in offline mode for the duration (cached files load; nothing is requested or retried)."""
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


def _network_missing(source: WeightsSource) -> str | None:
    """Why ``source`` cannot be downloaded now (``HF_HUB_OFFLINE``, or the host does not answer); None: it can."""
    if source.hub and hub_offline():
        return "HF_HUB_OFFLINE is set"
    reason = unreachable(source.host)
    return None if reason is None else f"{source.host} cannot be reached ({reason})"


def require_pretrained(backbone: str, source: WeightsSource | None) -> str | None:
    """One-line :class:`WeightsError` at once when ``backbone``'s library weights are neither cached
    nor downloadable (no network, or ``HF_HUB_OFFLINE`` for the hub); a few seconds at most.

    Returns why the network is missing when the cached copy will be used instead (None: online, or
    ``source=None``: nothing to check).
    """
    if source is None:
        return None
    missing = _network_missing(source)
    if missing and source.cached is None:
        raise WeightsError(f"model.pretrained: the ImageNet weights of model.backbone={backbone!r} are not in "
                           f"the local cache ({source.cache}) and {missing}; {_ADVICE}")
    return missing


@contextlib.contextmanager
def pretrained_download(backbone: str, source: WeightsSource | None) -> Iterator[None]:
    """Load ``backbone``'s library weights inside this block, offline-safe (:func:`require_pretrained`
    first). Cached but offline: the hub is put in offline mode, so the cached copy loads without
    retries. Any failure of the download itself becomes a :class:`WeightsError` (:func:`download_errors`).
    """
    missing = require_pretrained(backbone, source)
    offline_hub = source is not None and source.hub and missing is not None
    with _hub_offline_mode() if offline_hub else contextlib.nullcontext(), download_errors(backbone):
        yield


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
