"""benchmarks/scale_curves.py: the --smoke grid runs and regenerates its page; slope, per-unit check
and the CPU peak-memory tracker against hand computations."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import scale_curves  # noqa: E402
from loss_speed import _PeakTracker  # noqa: E402


def test_loglog_slope_matches_hand_computation() -> None:
    assert scale_curves.loglog_slope([1, 10, 100], [3, 30, 300]) == pytest.approx(1.0)
    assert scale_curves.loglog_slope([1, 10, 100], [2, 200, 20000]) == pytest.approx(2.0)
    # log x = 0, 1, 2; log y = 0, 1, 3: slope = Σ(x−x̄)(y−ȳ) / Σ(x−x̄)² = ((−1)(−4/3) + (1)(5/3)) / 2 = 1.5
    e = math.e
    assert scale_curves.loglog_slope([1, e, e * e], [1, e, e ** 3]) == pytest.approx(1.5)


def _rows(values: dict[tuple[int, int], float]) -> list[dict]:
    return [dict(method="ecl", B=b, C=c, bytes_per_unit=v) for (b, c), v in values.items()]


def test_growth_violations_flags_only_a_step_that_grows_past_the_tolerance() -> None:
    # along B at C=1: 100 → 120 (+20 %); along C at B=2: 100 → 90; along C at B=4: 120 → 100; B at C=3: 90 → 80
    rows = _rows({(2, 1): 100.0, (4, 1): 120.0, (2, 3): 90.0, (4, 3): 80.0})
    flagged = scale_curves.growth_violations(rows, tolerance=0.10)
    assert len(flagged) == 1 and "B=2, C=1" in flagged[0] and "B=4, C=1" in flagged[0] and "+20 %" in flagged[0]
    assert scale_curves.growth_violations(rows, tolerance=0.25) == []
    assert scale_curves.growth_violations(_rows({(2, 1): 100.0, (2, 3): 100.0 * 1.0999}), tolerance=0.10) == []
    assert scale_curves.growth_violations(rows, tolerance=0.10, methods=["bcl"]) == []


def test_peak_tracker_counts_new_storages_until_freed() -> None:
    tracker = _PeakTracker()
    with tracker:
        a = torch.ones(1000)  # 4,000 bytes
        b = torch.ones(3000)  # 12,000 → 16,000 alive
        a.add_(1.0)  # in place: nothing new
        view = b[:10].view(2, 5)  # a view: nothing new
        del a, view
        c = torch.ones(500)  # 12,000 + 2,000 alive
        del b, c
    assert tracker.peak == 16_000
    assert tracker.live == 0


def _smoke(tmp: Path, *extra: str) -> int:
    return scale_curves.main(["--smoke", "--json", str(tmp / "scale.json"), "--plot", str(tmp / "scale.png"),
                              "--doc", str(tmp / "RESULTS.md"), "--speed-doc", str(tmp / "SPEED.md"),
                              "--cell-seconds", "0.05", "--max-rounds", "2", *extra])


def test_smoke_grid_writes_json_plot_and_a_regenerable_section(tmp_path: Path) -> None:
    torch.manual_seed(0)
    (tmp_path / "RESULTS.md").write_text("# Results\n\nkept above\n", encoding="utf-8")
    assert _smoke(tmp_path) == 0
    report = json.loads((tmp_path / "scale.json").read_text())
    grid = scale_curves.SMOKE
    assert len(report["rows"]) == len(grid["classes"]) * len(grid["batches"]) * len(scale_curves.METHODS)
    for row in report["rows"]:
        assert row["units"] == row["B"] * (row["B"] + row["C"])
        assert row["peak_bytes"] > 0 and row["bytes_per_unit"] == pytest.approx(row["peak_bytes"] / row["units"])
        assert 1 <= row["repeats"] == len(row["seconds_all"]) <= 2
    assert set(report["summary"]["slopes"]) == set(scale_curves.METHODS)
    page = (tmp_path / "RESULTS.md").read_text(encoding="utf-8")
    assert page.startswith("# Results\n\nkept above\n") and page.count(scale_curves.BEGIN) == 1
    assert "## Scale: the objective against classes and batch" in page and "--smoke" in page
    png = (tmp_path / "scale.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    # --docs-only regenerates the same page (and plot) from the JSON, in place, byte for byte
    assert _smoke(tmp_path, "--docs-only") == 0
    assert (tmp_path / "RESULTS.md").read_text(encoding="utf-8") == page
    assert (tmp_path / "SPEED.md").read_text(encoding="utf-8").count(scale_curves.END) == 1
    assert (tmp_path / "scale.png").read_bytes() == png
