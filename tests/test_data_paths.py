"""benchmarks/data_paths.py: the generated JPEG folder (shapes, content, resumable) and a --smoke run."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import data_paths  # noqa: E402


def test_image_shapes_cover_the_stated_ranges() -> None:
    rng = np.random.default_rng(0)
    shapes = [data_paths.image_shape(rng) for _ in range(2000)]
    short = np.array([min(s) for s in shapes])
    aspect = np.array([w / h for h, w in shapes])
    assert short.min() >= 200 and short.max() <= 600
    assert short.min() < 220 and short.max() > 580 and 350 < np.median(short) < 450  # uniform on [200, 600]
    assert aspect.min() >= 3 / 4 - 0.01 and aspect.max() <= 16 / 9 + 0.01
    span = np.log(16 / 9) - np.log(3 / 4)  # log-uniform: P(ratio < r) = (ln r − ln 3/4) / span
    assert abs((aspect < 1).mean() - np.log(4 / 3) / span) < 0.04  # portrait ≈ 1/3
    assert abs((aspect > 1.5).mean() - np.log(16 / 9 / 1.5) / span) < 0.04  # wide ≈ 0.2
    # log-uniform: the median ratio is the geometric mean of the bounds
    assert abs(np.median(aspect) - np.sqrt(3 / 4 * 16 / 9)) < 0.05


def test_generated_content_is_smooth_not_white_noise() -> None:
    rng = np.random.default_rng(1)
    image = data_paths.smooth_image(rng, 240, 320).astype(np.float64)
    noise = np.random.default_rng(2).integers(0, 256, image.shape).astype(np.float64)
    neighbour = lambda x: np.corrcoef(x[:, 1:].ravel(), x[:, :-1].ravel())[0, 1]  # noqa: E731
    assert neighbour(image) > 0.9 and abs(neighbour(noise)) < 0.05
    sizes = []
    for x in (image, noise):
        buffer = io.BytesIO()
        Image.fromarray(x.astype(np.uint8)).save(buffer, format="JPEG", quality=90)
        sizes.append(buffer.tell())
    assert sizes[0] < sizes[1] / 3  # compresses like a photograph, far better than noise
    assert image.std() > 20  # not flat either


def test_folder_is_deterministic_resumable_and_refuses_other_parameters(tmp_path: Path) -> None:
    first = data_paths.generate_folder(tmp_path / "a", 12, classes=3, test_per_class=1)
    files = sorted((tmp_path / "a").rglob("*.jpg"))
    assert len(files) == 12 + 3 and first["train_images"] == 12
    lost = files[4]
    original = lost.read_bytes()
    lost.unlink()
    (tmp_path / "a" / "generated.json").unlink()  # an interrupted generation: resumed, same bytes
    data_paths.generate_folder(tmp_path / "a", 12, classes=3, test_per_class=1)
    assert lost.read_bytes() == original
    with Image.open(files[0]) as im:
        assert 200 <= min(im.size) <= 600
    with pytest.raises(ValueError, match="generated.json"):
        data_paths.generate_folder(tmp_path / "a", 13, classes=3, test_per_class=1)


def test_smoke_run_measures_every_path_and_writes_its_section(tmp_path: Path) -> None:
    out, doc = tmp_path / "dp.json", tmp_path / "page.md"
    doc.write_text("# Page\n\nkept\n", encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "data_paths.py"), "--smoke", "--root",
                             str(tmp_path / "jpegs"), "--json", str(out), "--doc", str(doc), "--speed-doc", ""],
                            capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    smoke = data_paths.SMOKE
    known = data_paths.storage_key_exists()
    for name in ("pixels", "pil-w0", "pil-w1", *(("encoded",) if known else ())):
        row = report["paths"][name]
        assert row["views"] == smoke["batches"] * smoke["batch_size"] * 3  # B images × (1 + 2) views a batch
        assert row["pipeline"] == ("pil" if name.startswith("pil") else "tensor")
        if known and not name.startswith("pil"):
            assert row["storage"] == name
        assert row["views_per_core_s"] > 0
        assert report["cores_needed"][name] == pytest.approx(data_paths.GPU_RATE / row["views_per_core_s"], abs=0.06)
    encoded = report["paths"]["encoded"]
    assert ("unavailable" in encoded) == (not data_paths.storage_key_exists())
    page = doc.read_text(encoding="utf-8")
    assert page.startswith("# Page\n\nkept\n") and page.count(data_paths.BEGIN) == 1
    assert "| pixels |" in page and "| pil-w1 |" in page and "| encoded |" in page
    assert ("data.storage unknown" in page) == ("unavailable" in encoded)
    # --docs-only rebuilds the section in place from the JSON
    again = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "data_paths.py"), "--docs-only", "--json",
                            str(out), "--doc", str(doc), "--speed-doc", ""], capture_output=True, text=True,
                           timeout=120, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert doc.read_text(encoding="utf-8") == page


def test_section_sits_after_the_scale_curves_as_the_rebuilt_page_has_it() -> None:
    from scale_curves import BEGIN as SC_BEGIN, END as SC_END

    page = f"# Results\n\n## Reproducing the paper protocols\n\n## Speed\n\n{SC_BEGIN}\nscale\n{SC_END}\n\ntail\n"
    text = f"{data_paths.BEGIN}\nmine\n{data_paths.END}\n"
    placed = data_paths.place(page, text)
    assert placed.index(SC_END) < placed.index(data_paths.BEGIN) < placed.index("tail")
    assert data_paths.place(placed, text.replace("mine", "new")).count("new") == 1  # replaced in place
    assert "mine" not in data_paths.place(placed, text.replace("mine", "new"))
