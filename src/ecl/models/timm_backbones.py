"""Any timm model as a feature extractor: ``model.backbone=timm:NAME``.

``timm.create_model(NAME, num_classes=0)`` removes the classifier, so ``forward``:
(N,3,H,W) -> (N, out_dim) pooled features with ``out_dim = model.num_features``.
"""

from __future__ import annotations

import difflib

from torch import nn

from .weights import WeightsSource, hub_source, pretrained_download, url_source

__all__ = ["TIMM_PREFIX", "is_timm_name", "timm_name_error", "timm_weights_source", "timm_backbone"]

TIMM_PREFIX = "timm:"


def is_timm_name(name: str) -> bool:
    """Whether ``name`` asks for a timm model (``timm:NAME``)."""
    return isinstance(name, str) and name.startswith(TIMM_PREFIX)


def _suggestions(model: str, limit: int = 5) -> list[str]:
    import timm

    names = timm.list_models()
    close = difflib.get_close_matches(model, names, n=limit, cutoff=0.6)
    if len(close) < limit:
        stem = model.split("_")[0].split(".")[0]
        if stem:
            close += [n for n in timm.list_models(f"*{stem}*") if n not in close][: limit - len(close)]
    return close


def timm_name_error(name: str) -> str | None:
    """``None`` when ``timm:NAME`` names a timm model, else a one-line message with close names."""
    import timm

    model = name[len(TIMM_PREFIX):] if is_timm_name(name) else name
    if model and timm.is_model(model):
        return None
    close = _suggestions(model) if model else []
    hint = f"; close names: {', '.join(close)}" if close else "; see timm.list_models()"
    return f"model.backbone: unknown timm model {model!r} in {name!r}{hint}"


def timm_weights_source(model: str) -> WeightsSource | None:
    """Where timm fetches ``model``'s pretrained weights: its hub repository (the safetensors file
    first, then the .bin, as timm tries them), else its URL through torch.hub; None for a local file."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(model)
    if cfg is None:
        return None
    if cfg.hf_hub_id:
        names = (cfg.hf_hub_filename,) if cfg.hf_hub_filename else ("model.safetensors", "pytorch_model.bin")
        return hub_source(cfg.hf_hub_id, names)
    return url_source(cfg.url) if cfg.url else None


def timm_backbone(name: str, pretrained: bool = False, **kwargs: object) -> nn.Module:
    """timm model ``name`` (with or without the ``timm:`` prefix) without classifier; sets ``out_dim``.

    ``pretrained=True`` loads timm's weights from the local cache or downloads them; no cache and no
    network, or a failed download, raises ``WeightsError`` (:func:`~ecl.models.weights.pretrained_download`).
    """
    import timm

    error = timm_name_error(name)
    if error is not None:
        raise ValueError(error)
    model = name[len(TIMM_PREFIX):] if is_timm_name(name) else name
    full = TIMM_PREFIX + model
    kwargs["num_classes"] = 0
    if pretrained:
        with pretrained_download(full, timm_weights_source(model)):
            net = timm.create_model(model, pretrained=True, **kwargs)
    else:
        net = timm.create_model(model, pretrained=False, **kwargs)
    net.out_dim = int(net.num_features)
    return net
