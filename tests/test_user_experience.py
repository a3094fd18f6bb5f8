"""Issue 14, "as a user finds it": the same seed gives the same result everywhere, own images get
sensible defaults, progress is honest, failed starts leave nothing behind, clear interruption and
error messages, pretrained/local backbone weights, readable comparison plots, complete ONNX metadata."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import FAST

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def _ecl(*args: str, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ecl", *args], capture_output=True, text=True,
                          timeout=timeout, env=ENV, cwd=cwd)


def _ecl_in_terminal(*args: str, timeout: float = 300) -> tuple[int, str]:
    """Run `ecl` with stdout and stderr on a pseudo-terminal; (exit code, everything it printed)."""
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ecl", *args], stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, env=ENV, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(timeout=10)
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


# -- 1. same seed → same result with and without a terminal, with 0 and 2 loader workers ------------

@pytest.mark.slow
def test_final_json_is_identical_with_and_without_a_terminal_and_workers(tmp_path: Path) -> None:
    base = ["train", "train.epochs=2", "eval.plots=false", "eval.report=false", "train.threads=1",
            "train.progress=true"]
    finals = {}
    for workers in (0, 2):
        plain = tmp_path / f"plain{workers}"
        done = _ecl(*base, f"train.num_workers={workers}", f"out={plain}")
        assert done.returncode == 0, done.stderr
        finals[("plain", workers)] = json.loads((plain / "final.json").read_text())
        term = tmp_path / f"tty{workers}"
        code, text = _ecl_in_terminal(*base, f"train.num_workers={workers}", f"out={term}")
        assert code == 0, text
        finals[("tty", workers)] = json.loads((term / "final.json").read_text())
    reference = finals[("plain", 0)]
    for key, final in finals.items():
        assert final == reference, f"{key} differs from a redirected run with 0 workers"
