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
    imagenet = report["imagenet_lt_resnext50"]
    for path in ("tensor", "pil"):
        row = imagenet[path]
        assert row["pipeline"] == path and row["train_images_per_s"] > 0
        assert row["projected_imagenet_lt_epoch_min"] == pytest.approx(115_846 / row["train_images_per_s"] / 60, abs=0.01)
        assert report["cifar100_lt_resnet32"]["variants"]["bf16"][path]["model_only_images_per_s"] > 0
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from data_paths import storage_key_exists

    encoded = imagenet["tensor-encoded"]
    if storage_key_exists():
        assert encoded["pipeline"] == "tensor" and encoded["storage"] == "encoded" and encoded["train_images_per_s"] > 0
        assert imagenet["tensor"]["storage"] == "pixels"
    else:
        assert encoded == {"unavailable": "data.storage unknown"}
    assert imagenet["nvjpeg"] == {"skipped": "CUDA only (nvJPEG)"}  # the CPU smoke skips nvJPEG
    syncs = report["host_syncs"]
    assert syncs["steps"] > 0 and syncs["host_syncs_per_step"] == pytest.approx(syncs["host_reads"] / syncs["steps"], abs=1e-3)
    share = report["objective_share_resnext50"]
    assert 0 < share["objective_ms"] < share["step_ms"]
    assert share["share_percent"] == pytest.approx(100 * share["objective_ms"] / share["step_ms"], rel=0.02)
    assert share["passed"] is None  # no verdict from tiny CPU shapes
