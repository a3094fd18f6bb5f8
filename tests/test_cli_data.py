"""`ecl data summary` and `ecl data check` through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ecl.cli import main
from ecl.data import long_tail_counts


def test_summary_json_of_digits_lt(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "summary", "data.name=digits-lt", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    counts = summary["train"]["counts"]
    assert len(summary["classes"]) == 10 and len(counts) == 10
    assert sorted(counts, reverse=True) == counts and counts[0] / counts[-1] == pytest.approx(
        summary["imbalance_ratio"])
    assert counts == long_tail_counts(counts[0], 10, 10)  # the default IF of digits-lt is 10
    assert len(summary["train"]["indices"]) == sum(counts) == summary["train"]["size"]
    assert len(set(summary["train"]["indices"])) == sum(counts)
    assert len(set(summary["test"]["counts"])) == 1  # balanced test set
    groups = summary["shot_groups"]
    assert sum(len(v) if isinstance(v, list) else v for v in groups.values()) == 10


def test_summary_table_is_readable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "summary", "data.name=digits-lt", "data.imbalance_factor=5"]) == 0
    out = capsys.readouterr().out
    assert "digits-lt" in out and "train" in out and "test" in out


def _folder(root: Path, bad: int) -> Path:
    rng = np.random.default_rng(0)
    for split, per_class in (("train", 3), ("test", 2)):
        for name in ("benign", "malignant"):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                array = rng.integers(0, 255, size=(12, 12, 3), dtype=np.uint8)
                Image.fromarray(array).save(folder / f"{i}.png")
    for i in range(bad):
        (root / "train" / "benign" / f"broken{i:02d}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 20)
    return root


def test_check_passes_on_good_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _folder(tmp_path / "derm", bad=0)
    assert main(["data", "check", "data.name=folder", f"data.root={root}", "data.image_size=16"]) == 0


def test_check_lists_the_first_twenty_bad_files_then_a_count(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    root = _folder(tmp_path / "derm", bad=23)
    code = main(["data", "check", "data.name=folder", f"data.root={root}", "data.image_size=16"])
    err = capsys.readouterr().err
    assert code != 0
    named = [line for line in err.splitlines() if "broken" in line]
    assert len(named) == 20
    assert "3 more" in err and "23 problem" in err
    assert "Traceback" not in err
