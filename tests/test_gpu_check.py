"""benchmarks/gpu_check.py --smoke: the prepared GPU check runs end to end on the CPU (< 1 minute)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_smoke_writes_its_json(tmp_path: Path) -> None:
    out = tmp_path / "check.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHON": sys.executable}
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), str(out), "--smoke"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["smoke"] is True
    for path in ("tensor", "pil"):
        row = report["imagenet_lt_resnext50"][path]
        assert row["pipeline"] == path and row["train_images_per_s"] > 0 and row["projected_imagenet_lt_epoch_min"] > 0
        assert report["cifar100_lt_resnet32"]["variants"]["bf16"][path]["model_only_images_per_s"] > 0
