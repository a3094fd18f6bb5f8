import numpy as np
import pytest
import torch

from ecl.evaluation.geometry import geometry_metrics


def _regular_simplex(num_classes, dim, rng):
    """(C, dim) rows forming a regular simplex centred at 0 (random rotation)."""
    e = np.eye(num_classes) - 1.0 / num_classes  # rows centred, pairwise cos -1/(C-1)
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    return e @ q[:num_classes]  # (C, dim), isometric embedding


def _loop_geometry(h, y, w):
    """Independent brute-force implementation of the documented conventions."""
    classes = sorted(set(y.tolist()))
    c = len(classes)
    d = h.shape[1]
    mus = []
    for k in classes:
        rows = [h[i] for i in range(len(y)) if y[i] == k]
        mus.append(sum(rows) / len(rows))
    mu_g = sum(mus) / c
    sw = np.zeros((d, d))
    for k, mu in zip(classes, mus):
        rows = [h[i] for i in range(len(y)) if y[i] == k]
        cov = np.zeros((d, d))
        for r in rows:
            cov += np.outer(r - mu, r - mu)
        sw += cov / len(rows) / c
    sb = np.zeros((d, d))
    for mu in mus:
        sb += np.outer(mu - mu_g, mu - mu_g) / c
    fc = np.trace(sw @ np.linalg.pinv(sb, rcond=1e-10)) / c
    cos_terms = []
    for a in range(c):
        for b in range(a + 1, c):
            u, v = mus[a] - mu_g, mus[b] - mu_g
            cos_terms.append(abs(u @ v / np.linalg.norm(u) / np.linalg.norm(v) + 1.0 / (c - 1)))
    m = np.stack([mu - mu_g for mu in mus])
    wp = w[classes]
    sd = np.linalg.norm(wp / np.linalg.norm(wp) - m / np.linalg.norm(m))
    return fc, float(np.mean(cos_terms)), sd


def test_collapsed_simplex_with_self_dual_classifier_is_zero():
    rng = np.random.default_rng(0)
    num_classes, dim = 6, 16
    simplex = 3.0 * _regular_simplex(num_classes, dim, rng) + rng.normal(size=dim)  # offset centre
    counts = [200, 80, 30, 10, 4, 1]  # imbalanced
    y = np.repeat(np.arange(num_classes), counts)
    h = simplex[y]
    w = 0.37 * (simplex - simplex.mean(0))
    out = geometry_metrics(h, y, w)
    assert set(out) == {"FC", "MS", "SD"}
    for k in ("FC", "MS", "SD"):
        assert abs(out[k]) < 1e-6, (k, out[k])
    # torch float32 input gives the same
    out_t = geometry_metrics(torch.from_numpy(h).float(), torch.from_numpy(y), torch.from_numpy(w).float())
    for k in ("FC", "MS", "SD"):
        assert abs(out_t[k]) < 1e-5, (k, out_t[k])


def test_noisy_misaligned_is_positive_and_matches_loops():
    rng = np.random.default_rng(1)
    num_classes, dim = 5, 8
    means = rng.normal(size=(num_classes, dim))
    counts = [30, 12, 7, 4, 3]
    y = np.repeat(np.arange(num_classes), counts)
    h = means[y] + 0.5 * rng.normal(size=(len(y), dim))
    w = rng.normal(size=(num_classes, dim))
    out = geometry_metrics(h, y, w)
    assert out["FC"] > 0.01 and out["MS"] > 0.01 and out["SD"] > 0.1
    fc, ms, sd = _loop_geometry(h, y, w)
    assert out["FC"] == pytest.approx(fc, rel=1e-8)
    assert out["MS"] == pytest.approx(ms, rel=1e-8)
    assert out["SD"] == pytest.approx(sd, rel=1e-8)


def test_fc_high_dim_small_c_matches_loops():
    # d > C: Σ_B is rank C-1, pinv must not invert round-off
    rng = np.random.default_rng(2)
    num_classes, dim = 4, 20
    y = np.repeat(np.arange(num_classes), [9, 5, 3, 2])
    h = rng.normal(size=(num_classes, dim))[y] + 0.1 * rng.normal(size=(len(y), dim))
    w = rng.normal(size=(num_classes, dim))
    out = geometry_metrics(h, y, w)
    fc, ms, sd = _loop_geometry(h, y, w)
    assert out["FC"] == pytest.approx(fc, rel=1e-6)
    assert out["MS"] == pytest.approx(ms, rel=1e-8)


def test_absent_classes_are_left_out():
    rng = np.random.default_rng(3)
    num_classes, dim = 6, 10
    means = rng.normal(size=(num_classes, dim))
    y = np.array([0] * 5 + [2] * 4 + [5] * 3)  # classes 1, 3, 4 absent
    h = means[y] + 0.2 * rng.normal(size=(len(y), dim))
    w = rng.normal(size=(num_classes, dim))
    out = geometry_metrics(h, y, w)
    fc, ms, sd = _loop_geometry(h, y, w)
    assert out["FC"] == pytest.approx(fc, rel=1e-6)
    assert out["MS"] == pytest.approx(ms, rel=1e-8)
    assert out["SD"] == pytest.approx(sd, rel=1e-8)


def test_degenerate_and_bad_input():
    h = np.ones((3, 4))
    out = geometry_metrics(h, [1, 1, 1], np.ones((3, 4)))
    assert all(np.isnan(v) for v in out.values())
    with pytest.raises(ValueError, match="features"):
        geometry_metrics(np.ones((3, 5)), [0, 1, 2], np.ones((3, 4)))
    with pytest.raises(ValueError, match="labels"):
        geometry_metrics(np.ones((3, 4)), [0, 1], np.ones((3, 4)))
    with pytest.raises(ValueError, match="labels"):
        geometry_metrics(np.ones((3, 4)), [0, 1, 3], np.ones((3, 4)))
    with pytest.raises(ValueError, match="classifier_weight"):
        geometry_metrics(np.ones((3, 4)), [0, 1, 2], np.ones(4))


def test_chunked_computation_and_low_precision_input(monkeypatch):
    import ecl.evaluation.geometry as geometry

    rng = np.random.default_rng(4)
    num_classes, dim = 5, 6
    y = np.repeat(np.arange(num_classes), [13, 8, 5, 3, 2])
    h = rng.normal(size=(num_classes, dim))[y] + 0.3 * rng.normal(size=(len(y), dim))
    w = rng.normal(size=(num_classes, dim))
    ref = _loop_geometry(h, y, w)
    monkeypatch.setattr(geometry, "_CHUNK", 7)  # several chunks, the last one partial
    out = geometry.geometry_metrics(h, y, w)
    assert (out["FC"], out["MS"], out["SD"]) == pytest.approx(ref, rel=1e-8)
    out_bf16 = geometry.geometry_metrics(torch.from_numpy(h).bfloat16(), torch.from_numpy(y), torch.from_numpy(w))
    assert out_bf16["MS"] == pytest.approx(ref[1], rel=0.05, abs=0.01)
    with pytest.raises(ValueError, match="non-finite"):
        bad = h.copy()
        bad[3, 2] = np.nan
        geometry.geometry_metrics(bad, y, w)
