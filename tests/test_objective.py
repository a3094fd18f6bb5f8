"""Objective: METHODS table drives the components; auto/fixed weights; state_dict round trip."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from ecl.engine.training.objective import Objective
from ecl.losses import METHODS, MethodSpec
from ecl.losses import BCECLLoss, CCGELoss, LogitCompensatedCE, SupConLoss

COUNTS = [50, 20, 5, 2]


def _batch(seed: int = 0, b: int = 8, c: int = 4, d: int = 6):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, c, generator=g, requires_grad=True)
    labels = torch.randint(0, c, (b,), generator=g)
    proj = F.normalize(torch.randn(b, 2, d, generator=g), dim=-1).requires_grad_(True)
    protos = F.normalize(torch.randn(c, d, generator=g), dim=-1).requires_grad_(True)
    weight = torch.randn(c, d, generator=g, requires_grad=True)
    return logits, labels, proj, protos, weight


EXPECTED = {
    # name: (classifier tau, contrastive kind, prototype_weight, anchor_weighting, ccge)
    "ce": (0.0, None, None, None, False),
    "la": (1.0, None, None, None, False),
    "supcon": (1.0, "supcon", None, None, False),
    "bcl": (1.0, "bc-ecl", "bcl", "sample", False),
    "la-bcl-linear": (1.0, "bc-ecl", "bcl", "sample", False),
    "procondual": (1.0, "bc-ecl", "bcl", "sample", True),
    "ecl": (1.0, "bc-ecl", 0.5, "sample", True),
    "ecl-no-ccge": (1.0, "bc-ecl", 0.5, "sample", False),
    "ecl-no-lc": (0.0, "bc-ecl", 0.5, "sample", True),
    "ecl-bcl-weighting": (1.0, "bc-ecl", "bcl", "sample", True),
    "ecl-class-anchors": (1.0, "bc-ecl", 0.5, "class", True),
    "ecl-lambda0.25": (1.0, "bc-ecl", 0.25, "sample", True),
    "ecl-lambda0.5": (1.0, "bc-ecl", 0.5, "sample", True),
    "ecl-lambda0.75": (1.0, "bc-ecl", 0.75, "sample", True),
}


def test_table_has_exactly_the_methods():
    assert set(METHODS) == set(EXPECTED)
    for name, spec in METHODS.items():
        assert spec.name == name
    with pytest.raises(dataclasses.FrozenInstanceError):
        METHODS["ecl"].ccge = False  # type: ignore[misc]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_components_follow_the_table(name):
    lc_tau, kind, pw, aw, ccge = EXPECTED[name]
    obj = Objective(METHODS[name], COUNTS, temperature=0.2, weighting="fixed", weights=(1.0, 1.0, 1.0))
    logits, labels, proj, protos, weight = _batch()
    out = obj(logits, labels, proj, protos, weight)
    keys = {"lc"} | ({"contrastive"} if kind else set()) | ({"ccge"} if ccge else set())
    assert set(out.components) == keys == set(obj.components)
    # each component equals the loss computed directly
    expected_lc = LogitCompensatedCE(COUNTS, tau=lc_tau)(logits, labels)
    if lc_tau == 0.0:
        expected_lc = F.cross_entropy(logits, labels)
    torch.testing.assert_close(out.components["lc"], expected_lc.detach())
    total = expected_lc
    if kind == "supcon":
        ref = SupConLoss(0.2)(proj, labels)
        torch.testing.assert_close(out.components["contrastive"], ref.detach())
        total = total + ref
    elif kind == "bc-ecl":
        ref = BCECLLoss(0.2, pw, aw)(proj, labels, protos)
        torch.testing.assert_close(out.components["contrastive"], ref.detach())
        total = total + ref
    if ccge:
        ref = CCGELoss()(weight, protos)
        torch.testing.assert_close(out.components["ccge"], ref.detach())
        total = total + ref
    torch.testing.assert_close(out.total, total)
    assert out.total.requires_grad and all(not v.requires_grad for v in out.components.values())
    out.total.backward()
    assert logits.grad is not None
    assert (proj.grad is not None) == (kind is not None)
    assert (weight.grad is not None) == ccge


def test_config_values_used_when_spec_leaves_them_none():
    obj = Objective(METHODS["ecl"], COUNTS, temperature=0.3, prototype_weight=0.8, anchor_weighting="class")
    assert obj.contrastive_loss.prototype_weight == 0.8
    assert obj.contrastive_loss.anchor_weighting == "class"
    assert obj.contrastive_loss.temperature == 0.3
    obj = Objective(METHODS["ecl-lambda0.25"], COUNTS, prototype_weight=0.8)
    assert obj.contrastive_loss.prototype_weight == 0.25
    obj = Objective(METHODS["la"], COUNTS, lc_tau=2.0)
    assert obj.classifier_loss.tau == 2.0


def test_auto_weights():
    obj = Objective(METHODS["ecl"], COUNTS)
    assert obj.weights == {"alpha": 1.0, "beta": 1.0, "gamma": 1.0}
    logits, labels, proj, protos, weight = _batch()
    out = obj(logits, labels, proj, protos, weight)
    torch.testing.assert_close(out.total.detach(), sum(out.components.values()))
    obj.end_epoch({"lc": 2.0, "contrastive": 6.0, "ccge": 0.25})
    w = obj.weights
    assert w["alpha"] == pytest.approx(0.35, rel=1e-6)  # round(0.7 / 2.0, 2)
    assert w["beta"] == pytest.approx(0.05, rel=1e-6)  # round(0.3 / 6.0, 2)
    assert w["gamma"] == pytest.approx(2.0, rel=1e-6)
    out = obj(logits, labels, proj, protos, weight)
    c = out.components
    expected = 0.35 * c["lc"] + 0.05 * c["contrastive"] + 2.0 * c["ccge"]
    torch.testing.assert_close(out.total.detach(), expected)
    obj.end_epoch({"lc": 1.0, "contrastive": 1.0, "ccge": 1.0})  # frozen after the first epoch
    assert obj.weights == w


def test_auto_weights_only_active_components():
    obj = Objective(METHODS["supcon"], COUNTS)
    obj.end_epoch({"lc": 1.4, "contrastive": 3.0})
    assert obj.weights["alpha"] == pytest.approx(0.5, rel=1e-6)  # round(0.7 / 1.4, 2)
    assert obj.weights["beta"] == pytest.approx(0.1, rel=1e-6)  # round(0.3 / 3.0, 2)
    assert obj.weights["gamma"] == 1.0


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_auto_weights_guard_bad_means(bad):
    obj = Objective(METHODS["ecl"], COUNTS)
    with pytest.raises(ValueError, match="ccge"):
        obj.end_epoch({"lc": 1.0, "contrastive": 1.0, "ccge": bad})
    assert not bool(obj.calibrated) and obj.weights["alpha"] == 1.0
    with pytest.raises(ValueError, match="contrastive"):
        obj.end_epoch({"lc": 1.0, "ccge": 1.0})


def test_fixed_weights():
    obj = Objective(METHODS["ecl"], COUNTS, weighting="fixed", weights=(2.0, 0.5, 0.1))
    assert obj.weights == pytest.approx({"alpha": 2.0, "beta": 0.5, "gamma": 0.1})
    obj.end_epoch({"lc": 3.0, "contrastive": 3.0, "ccge": 3.0})
    assert obj.weights == pytest.approx({"alpha": 2.0, "beta": 0.5, "gamma": 0.1})
    logits, labels, proj, protos, weight = _batch(1)
    out = obj(logits, labels, proj, protos, weight)
    c = out.components
    torch.testing.assert_close(out.total.detach(), 2.0 * c["lc"] + 0.5 * c["contrastive"] + 0.1 * c["ccge"])


def test_state_dict_round_trip_keeps_weights():
    obj = Objective(METHODS["ecl"], COUNTS)
    obj.end_epoch({"lc": 1.7, "contrastive": 4.2, "ccge": 0.9})
    state = obj.state_dict()
    assert {"alpha", "beta", "gamma", "calibrated"} <= set(state)
    fresh = Objective(METHODS["ecl"], COUNTS)
    fresh.load_state_dict(state)
    assert fresh.weights == obj.weights and bool(fresh.calibrated)
    fresh.end_epoch({"lc": 1.0, "contrastive": 1.0, "ccge": 1.0})  # still frozen after resume
    assert fresh.weights == obj.weights
    assert math.isclose(fresh.weights["beta"], 0.07, rel_tol=1e-6)  # round(0.3 / 4.2 = 0.0714, 2)


def test_auto_weights_are_rounded_to_two_decimals():
    obj = Objective(METHODS["ecl"], COUNTS)
    obj.end_epoch({"lc": 1.3, "contrastive": 4.7, "ccge": 0.37})
    # 0.7/1.3 = 0.5385 → 0.54; 0.3/4.7 = 0.0638 → 0.06; 0.5/0.37 = 1.3514 → 1.35
    assert obj.weights == pytest.approx({"alpha": 0.54, "beta": 0.06, "gamma": 1.35}, abs=1e-6)


def test_invalid_settings():
    with pytest.raises(ValueError, match="weighting"):
        Objective(METHODS["ecl"], COUNTS, weighting="adaptive")
    with pytest.raises(ValueError, match="weights"):
        Objective(METHODS["ecl"], COUNTS, weighting="fixed", weights=(1.0, 2.0))
    with pytest.raises(ValueError, match="temperature"):
        Objective(METHODS["ecl"], COUNTS, temperature=0.0)
    with pytest.raises(ValueError, match="prototype_weight"):
        Objective(METHODS["ecl"], COUNTS, prototype_weight=1.2)
    with pytest.raises(ValueError, match="anchor_weighting"):
        Objective(METHODS["ecl"], COUNTS, anchor_weighting="per-class")
    with pytest.raises(ValueError, match="class 3 has count 0"):
        Objective(METHODS["ecl"], [4, 3, 2, 0])
    with pytest.raises(ValueError, match="classifier_loss"):
        MethodSpec("x", "focal", None, None, None, False)
    with pytest.raises(ValueError, match="contrastive"):
        MethodSpec("x", "la", "simclr", None, None, False)
    obj = Objective(METHODS["ecl"], COUNTS)
    logits, labels, proj, protos, weight = _batch()
    with pytest.raises(ValueError, match="projections"):
        obj(logits, labels, None, protos, weight)
    with pytest.raises(ValueError, match="prototypes"):
        obj(logits, labels, proj, None, weight)
    with pytest.raises(ValueError, match="d_z must equal d"):
        obj(logits, labels, proj, protos, torch.randn(4, 5))
