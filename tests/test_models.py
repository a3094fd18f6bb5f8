"""Backbones and the ECL network: shapes, independent math for logits/prototypes, validation."""

from __future__ import annotations

import math
import socket

import pytest
import torch
from torch import nn

from ecl.models import (
    BACKBONES,
    CosineClassifier,
    ECLNetwork,
    ECLOutput,
    ProjectionHead,
    PrototypeMap,
    build_backbone,
)

EXPECTED_DIM = {
    "resnet32": 64,
    "resnet18": 512,
    "resnet34": 512,
    "resnet50": 2048,
    "resnext50_32x4d": 2048,
    "small_cnn": 128,
    "small_cnn_w16": 128,
}
HEAVY = {"resnet50", "resnext50_32x4d"}


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any download attempt (torch.hub or a raw socket) fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a backbone tried to download something")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    import torchvision.models._api as tv_api

    if hasattr(tv_api, "load_state_dict_from_url"):
        monkeypatch.setattr(tv_api, "load_state_dict_from_url", refuse)


def brute_cosine_logits(h: torch.Tensor, w: torch.Tensor, s: float) -> torch.Tensor:
    """s·cos(h_n, w_c) by explicit loops in float64."""
    h, w = h.double(), w.double()
    out = torch.empty(h.shape[0], w.shape[0], dtype=torch.float64)
    for n in range(h.shape[0]):
        for c in range(w.shape[0]):
            out[n, c] = s * torch.dot(h[n], w[c]) / (h[n].norm() * w[c].norm())
    return out


def brute_prototypes(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """p_c = (A w_c + b)/‖A w_c + b‖ by a loop over classes, float64."""
    a, b, w = a.double(), b.double(), w.double()
    rows = []
    for c in range(w.shape[0]):
        v = torch.mv(a, w[c]) + b
        rows.append(v / math.sqrt(float((v * v).sum())))
    return torch.stack(rows)


def test_registry_names() -> None:
    assert set(BACKBONES) == set(EXPECTED_DIM)
    assert all(callable(f) for f in BACKBONES.values())


def test_unknown_backbone_names_it() -> None:
    with pytest.raises(ValueError, match="resnet999") as err:
        build_backbone("resnet999")
    assert "resnet32" in str(err.value) and "small_cnn" in str(err.value)
    with pytest.raises(ValueError, match="resnet999"):
        ECLNetwork("resnet999", 10)


@pytest.mark.parametrize("name", sorted(EXPECTED_DIM))
def test_network_forward_every_backbone(name: str, no_network: None) -> None:
    b = 2 if name in HEAVY else 4
    c = 7
    net = ECLNetwork(name, c).train()
    d = EXPECTED_DIM[name]
    assert net.feature_dim == d and net.backbone.out_dim == d
    x = torch.randn(3 * b, 3, 32, 32)
    out = net(x)
    assert isinstance(out, ECLOutput)
    assert out.features.shape == (3 * b, d)
    assert out.logits.shape == (3 * b, c)
    assert out.projections is not None and out.projections.shape == (3 * b, d)
    assert out.prototypes is not None and out.prototypes.shape == (c, d)
    assert net.classifier_weight.shape == (c, d)
    ones_n = torch.ones(3 * b, dtype=torch.float64)
    torch.testing.assert_close(out.projections.double().norm(dim=1), ones_n, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.prototypes.double().norm(dim=1), torch.ones(c, dtype=torch.float64), atol=1e-5, rtol=0)
    expected = brute_cosine_logits(out.features.detach(), net.classifier_weight.detach(), 30.0)
    torch.testing.assert_close(out.logits.detach().double(), expected, atol=1e-4, rtol=1e-5)
    assert float(out.logits.detach().abs().max()) <= 30.0 + 1e-4


def test_backbone_features_are_per_image() -> None:
    """Eval mode: each row of the batch output depends on its own image only."""
    for name in ("small_cnn", "resnet32"):
        net = build_backbone(name).eval()
        x = torch.randn(5, 3, 16, 16)
        full = net(x)
        for i in range(5):
            torch.testing.assert_close(net(x[i : i + 1])[0], full[i], atol=1e-5, rtol=1e-5)


def test_logits_scale_and_without_projection() -> None:
    net = ECLNetwork("small_cnn", 4, scale=12.5, with_projection=False)
    out = net(torch.randn(6, 3, 16, 16))
    assert out.projections is None and out.prototypes is None
    assert net.projection_head is None and net.prototype_map is None
    expected = brute_cosine_logits(out.features.detach(), net.classifier_weight.detach(), 12.5)
    torch.testing.assert_close(out.logits.detach().double(), expected, atol=1e-4, rtol=1e-5)
    with pytest.raises(RuntimeError, match="with_projection"):
        net.prototypes()


def test_prototypes_match_independent_computation_and_get_gradients() -> None:
    net = ECLNetwork("small_cnn", 5)
    lin = net.prototype_map.linear
    p = net.prototypes()
    torch.testing.assert_close(
        p.detach().double(),
        brute_prototypes(lin.weight.detach(), lin.bias.detach(), net.classifier_weight.detach()),
        atol=1e-6,
        rtol=1e-6,
    )
    # the forward returns the same prototypes
    torch.testing.assert_close(net(torch.randn(3, 3, 16, 16)).prototypes, p)
    target = torch.randn_like(p)
    loss = (p * target).sum()
    loss.backward()
    for name, param in (("A", lin.weight), ("b", lin.bias), ("W", net.classifier_weight)):
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert float(param.grad.abs().sum()) > 0, name


def test_prototype_gradient_matches_finite_difference() -> None:
    """d loss / d W from autograd equals a central finite difference (float64)."""
    pm = PrototypeMap(6, 4).double()
    w = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    target = torch.randn(3, 4, dtype=torch.float64)
    (pm(w) * target).sum().backward()
    eps = 1e-6
    for c in range(3):
        for k in range(6):
            wp, wm = w.detach().clone(), w.detach().clone()
            wp[c, k] += eps
            wm[c, k] -= eps
            with torch.no_grad():
                fd = ((pm(wp) * target).sum() - (pm(wm) * target).sum()) / (2 * eps)
            assert abs(float(fd) - float(w.grad[c, k])) < 1e-6


def test_projection_dim_default_and_custom() -> None:
    net = ECLNetwork("small_cnn", 3)
    assert net.projection_dim == net.feature_dim == 128
    net = ECLNetwork("resnet32", 3, projection_dim=32)
    out = net(torch.randn(6, 3, 32, 32))
    assert out.projections.shape == (6, 32) and out.prototypes.shape == (3, 32)
    assert net.prototypes().shape == (3, 32)
    assert out.features.shape == (6, 64) and net.classifier_weight.shape == (3, 64)


def test_projection_head_math() -> None:
    """z = norm(L2(ReLU(BN(L1 h)))) recomputed by hand in eval mode."""
    head = ProjectionHead(8, 5).eval()
    l1, bn, _, l2 = head.mlp
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    nn.init.normal_(bn.weight)
    nn.init.normal_(bn.bias)
    h = torch.randn(4, 8)
    z = head(h)
    for n in range(4):
        a = l1.weight @ h[n] + l1.bias
        a = (a - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
        a = torch.clamp(a, min=0)
        v = l2.weight @ a + l2.bias
        torch.testing.assert_close(z[n], v / v.norm(), atol=1e-5, rtol=1e-5)


def test_cosine_classifier_invariant_to_feature_scale() -> None:
    clf = CosineClassifier(10, 4, scale=30.0)
    h = torch.randn(5, 10)
    torch.testing.assert_close(clf(h), clf(7.0 * h), atol=1e-5, rtol=1e-5)
    assert clf.weight.shape == (4, 10)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": 0}, "num_classes"),
        ({"num_classes": 3, "projection_dim": 0}, "projection_dim"),
        ({"num_classes": 3, "scale": 0.0}, "scale"),
        ({"num_classes": 3, "scale": -2.0}, "scale"),
    ],
)
def test_network_validation(kwargs: dict, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        ECLNetwork("small_cnn", **kwargs)


def test_custom_backbone_module() -> None:
    class Tiny(nn.Module):
        out_dim = 6

        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 6)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x.mean(dim=(2, 3)))

    net = ECLNetwork(Tiny(), 3)
    assert net.feature_dim == 6 and net.backbone_name is None
    assert net(torch.randn(4, 3, 8, 8)).projections.shape == (4, 6)
    with pytest.raises(ValueError, match="out_dim"):
        ECLNetwork(nn.Identity(), 3)
    with pytest.raises(ValueError, match="x must be"):
        net(torch.randn(4, 3, 8))


def test_resnet32_architecture() -> None:
    net = build_backbone("resnet32")
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 31  # stem + 3 stages × 5 blocks × 2 convs (option-A shortcuts have no conv)
    assert sum(isinstance(m, nn.Module) and type(m).__name__ == "BasicBlock" for m in net.modules()) == 15
    # parameter count from the architecture: convs + BN affine
    expected = 3 * 16 * 9 + 2 * 16
    for cin, cout in ((16, 16), (16, 32), (32, 64)):
        expected += cin * cout * 9 + cout * cout * 9 + 4 * cout  # first block of the stage
        expected += 4 * (2 * cout * cout * 9 + 4 * cout)  # four more blocks
    assert sum(p.numel() for p in net.parameters()) == expected
    assert [c.out_channels for c in convs[1::10]] == [16, 32, 64]
    # kaiming normal, fan_out: std = sqrt(2 / (k·k·out_channels))
    w = convs[-1].weight.detach()
    assert abs(float(w.std()) - math.sqrt(2 / (9 * 64))) < 0.1 * math.sqrt(2 / (9 * 64))
    x = torch.randn(2, 3, 32, 32)
    assert net(x).shape == (2, 64)


def test_small_cnn_sizes_and_config() -> None:
    net = build_backbone("small_cnn").train()
    for h, w in ((8, 8), (16, 16), (28, 28), (32, 32), (8, 20)):
        assert net(torch.randn(4, 3, h, w)).shape == (4, 128)
    small = build_backbone("small_cnn", out_dim=48)
    assert small.out_dim == 48 and small(torch.randn(2, 3, 16, 16)).shape == (2, 48)
    assert sum(p.numel() for p in net.parameters()) < 500_000
    with pytest.raises(ValueError, match="out_dim"):
        build_backbone("small_cnn", out_dim=0)


def test_torchvision_backbones_no_download(no_network: None) -> None:
    with pytest.raises(ValueError, match="weights"):
        build_backbone("resnet18", weights="IMAGENET1K_V1")
    net = build_backbone("resnet18")
    assert isinstance(net.fc, nn.Identity)


def test_one_forward_shares_batchnorm_statistics() -> None:
    """Concatenated views in one forward == BN stats over all 3B rows (train mode)."""
    net = build_backbone("small_cnn").train()
    bn = net.features[1]
    x = torch.randn(12, 3, 16, 16)
    before = bn.running_mean.clone()
    net(x)
    conv_out = net.features[0](x)
    expected = (1 - bn.momentum) * before + bn.momentum * conv_out.mean(dim=(0, 2, 3))
    torch.testing.assert_close(bn.running_mean, expected.detach(), atol=1e-6, rtol=1e-5)


# ------------------------------------------------ classifier initialisation (authors' NormedLinear)


def mean_pairwise_cosine(w: torch.Tensor) -> float:
    """Mean of cos(w_a, w_b) over the C(C−1)/2 pairs a < b, by explicit loops in float64."""
    w = w.double()
    total, pairs = 0.0, 0
    for a in range(w.shape[0]):
        for b in range(a + 1, w.shape[0]):
            total += float(torch.dot(w[a], w[b]) / (w[a].norm() * w[b].norm()))
            pairs += 1
    return total / pairs


def test_classifier_default_init_gives_unit_class_vectors() -> None:
    for d, c in [(16, 3), (64, 10), (512, 100)]:
        clf = CosineClassifier(d, c)
        assert clf.init == "normed"
        norms = clf.weight.detach().double().norm(dim=1)
        torch.testing.assert_close(norms, torch.ones(c, dtype=torch.float64), atol=1e-6, rtol=0)
    net = ECLNetwork("small_cnn", 7)
    norms = net.classifier_weight.detach().double().norm(dim=1)
    torch.testing.assert_close(norms, torch.ones(7, dtype=torch.float64), atol=1e-6, rtol=0)


def test_normed_init_is_near_orthogonal_at_d512_c100() -> None:
    import numpy as np

    torch.manual_seed(3)
    ours = mean_pairwise_cosine(CosineClassifier(512, 100).weight.detach())
    # independent: the same distribution drawn with NumPy, normalised by hand
    rng = np.random.default_rng(3)
    v = rng.uniform(-1.0, 1.0, size=(100, 512))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    g = v @ v.T
    reference = float(g[np.triu_indices(100, k=1)].mean())
    # E[cos] = 0 by symmetry; the mean over 4950 pairs has std ≈ 1/sqrt(512·4950) ≈ 6e-4
    assert abs(reference) < 5e-3 and abs(ours) < 5e-3 and abs(ours - reference) < 1e-2
    # the old Kaiming rows are not unit vectors (norm ≈ sqrt(1/3) ≈ 0.58 per row at any d)
    kaiming = CosineClassifier(512, 100, init="kaiming").weight.detach().norm(dim=1)
    assert abs(float(kaiming.mean()) - math.sqrt(1 / 3)) < 0.02


def test_logits_are_scale_times_cosine_with_normed_init() -> None:
    clf = CosineClassifier(12, 5, scale=30.0)
    h = torch.randn(4, 12) * 7.0
    expected = brute_cosine_logits(h, clf.weight.detach(), 30.0)
    torch.testing.assert_close(clf(h).detach().double(), expected, atol=1e-5, rtol=1e-6)
    # unit rows: the logits are s · norm(h) · W^T with W used as it is
    direct = 30.0 * (h.double() / h.double().norm(dim=1, keepdim=True)) @ clf.weight.detach().double().t()
    torch.testing.assert_close(clf(h).detach().double(), direct, atol=1e-5, rtol=1e-6)


def test_classifier_init_validation() -> None:
    with pytest.raises(ValueError, match="init"):
        CosineClassifier(8, 3, init="xavier")
    with pytest.raises(ValueError, match="init"):
        ECLNetwork("small_cnn", 3, classifier_init="zeros")


# ------------------------------------------------ BCL's prototype map (MLP "head_fc")


def brute_mlp_prototypes(mlp: nn.Sequential, w: torch.Tensor, train: bool) -> torch.Tensor:
    """norm(L2(ReLU(BN(L1 w_c)))) class by class in float64; BN over the C rows (biased variance)
    in train mode, with the running averages in eval mode."""
    l1, bn, _, l2 = (m for m in mlp)
    with torch.no_grad():
        return _brute_mlp(l1, bn, l2, w.double(), train)


def _brute_mlp(l1: nn.Linear, bn: nn.BatchNorm1d, l2: nn.Linear, w: torch.Tensor, train: bool) -> torch.Tensor:
    u = torch.stack([torch.mv(l1.weight.double(), w[c]) + l1.bias.double() for c in range(w.shape[0])])
    if train:
        mean = u.mean(dim=0)
        var = ((u - mean) ** 2).mean(dim=0)
    else:
        mean, var = bn.running_mean.double(), bn.running_var.double()
    rows = []
    for c in range(w.shape[0]):
        a = (u[c] - mean) / torch.sqrt(var + bn.eps) * bn.weight.double() + bn.bias.double()
        v = torch.mv(l2.weight.double(), a.clamp_min(0)) + l2.bias.double()
        rows.append(v / math.sqrt(float((v * v).sum())))
    return torch.stack(rows)


def test_mlp_prototype_head_shapes_and_structure() -> None:
    net = ECLNetwork("small_cnn", 10, projection_dim=32, prototype_head="mlp")
    assert net.prototype_head == "mlp" and isinstance(net.prototype_map, ProjectionHead)
    l1, bn, relu, l2 = net.prototype_map.mlp
    d = net.feature_dim
    assert (l1.in_features, l1.out_features, bn.num_features, l2.in_features, l2.out_features) == (d, d, d, d, 32)
    assert isinstance(bn, nn.BatchNorm1d) and isinstance(relu, nn.ReLU)
    out = net(torch.randn(6, 3, 16, 16))
    assert out.prototypes.shape == (10, 32) and out.projections.shape == (6, 32)
    torch.testing.assert_close(out.prototypes.double().norm(dim=1), torch.ones(10, dtype=torch.float64), atol=1e-6, rtol=0)
    # the default stays ECL's linear map; BCL's CIFAR d_z = 128 may exceed d
    assert isinstance(ECLNetwork("small_cnn", 3).prototype_map, PrototypeMap)
    bcl = ECLNetwork("resnet32", 100, projection_dim=128, prototype_head="mlp")
    assert bcl.prototypes().shape == (100, 128)


def test_mlp_prototypes_match_brute_force_in_train_and_eval_mode() -> None:
    pm = ProjectionHead(6, 4)
    nn.init.normal_(pm.mlp[1].weight)
    nn.init.normal_(pm.mlp[1].bias)
    w = torch.randn(5, 6)
    pm.train()
    before = pm.mlp[1].running_mean.clone()
    expected_train = brute_mlp_prototypes(pm.mlp, w, train=True)
    torch.testing.assert_close(pm(w).detach().double(), expected_train, atol=1e-5, rtol=1e-5)
    # train mode updated the running averages from the C rows (momentum 0.1, unbiased variance)
    u = (w.double() @ pm.mlp[0].weight.double().t() + pm.mlp[0].bias.double())
    torch.testing.assert_close(pm.mlp[1].running_mean.double(), 0.9 * before.double() + 0.1 * u.mean(0), atol=1e-6, rtol=0)
    torch.testing.assert_close(pm.mlp[1].running_var.double(), 0.9 + 0.1 * u.var(0, unbiased=True), atol=1e-5, rtol=0)
    pm.eval()
    expected_eval = brute_mlp_prototypes(pm.mlp, w, train=False)
    got = pm(w).detach().double()
    torch.testing.assert_close(got, expected_eval, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got.norm(dim=1), torch.ones(5, dtype=torch.float64), atol=1e-6, rtol=0)
    assert not torch.allclose(got, expected_train, atol=1e-3)  # eval uses running stats, not these rows'


def test_mlp_prototype_gradients_reach_w_and_the_mlp() -> None:
    net = ECLNetwork("small_cnn", 5, projection_dim=8, prototype_head="mlp")
    p = net.prototypes()
    (p * torch.randn_like(p)).sum().backward()
    l1, bn, _, l2 = net.prototype_map.mlp
    for name, param in (("W", net.classifier_weight), ("L1", l1.weight), ("b1", l1.bias), ("gamma", bn.weight),
                        ("beta", bn.bias), ("L2", l2.weight), ("b2", l2.bias)):
        assert param.grad is not None and torch.isfinite(param.grad).all() and float(param.grad.abs().sum()) > 0, name


def test_mlp_prototype_gradient_matches_finite_difference() -> None:
    """d loss / d W through BN (train-mode batch statistics over the C rows), float64."""
    pm = ProjectionHead(5, 3).double()
    w = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    target = torch.randn(4, 3, dtype=torch.float64)
    (pm(w) * target).sum().backward()
    eps = 1e-6
    for c in range(4):
        for k in range(5):
            wp, wm = w.detach().clone(), w.detach().clone()
            wp[c, k] += eps
            wm[c, k] -= eps
            with torch.no_grad():
                fd = ((pm(wp) * target).sum() - (pm(wm) * target).sum()) / (2 * eps)
            assert abs(float(fd) - float(w.grad[c, k])) < 1e-5


def test_prototype_head_validation() -> None:
    with pytest.raises(ValueError, match="prototype_head"):
        ECLNetwork("small_cnn", 3, prototype_head="conv")
