import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ecl.evaluation.geometry import geometry_metrics
from ecl.evaluation.metrics import classification_metrics, confusion_matrix
from ecl.evaluation.plots import make_plots
from ecl.engine.training.run_folder import RunFolder

IMG_RE = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def write_report(run: Path) -> Path:
    """The report of a run folder, as `ecl report` writes it."""
    return RunFolder(run).write_report()


def _make_run(run_dir, num_classes=12, with_plots=True):
    rng = np.random.default_rng(0)
    counts = np.round(500 * 0.01 ** (np.arange(num_classes) / (num_classes - 1))).astype(int)
    labels = np.repeat(np.arange(num_classes), 8)
    preds = np.where(rng.random(labels.size) < 0.6, labels, rng.integers(0, num_classes, labels.size))
    means = rng.normal(size=(num_classes, 8))
    feats = means[labels] + 0.3 * rng.normal(size=(labels.size, 8))
    final = classification_metrics(preds, labels, counts)
    final.update(geometry=geometry_metrics(feats, labels, means), method="ecl <&>", dataset="cifar100_lt",
                 epochs=3, seed=0, ece=0.05, classes=[f"class {c} <i>" for c in range(num_classes)],
                 train_counts=counts.tolist())
    final["few"] = None
    records = [{"epoch": e, "lr": 0.1, "loss/total": 3.0 / e, "eval/top1": 0.1 * e} for e in range(1, 4)]
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "final.json").write_text(json.dumps(final))
    (run_dir / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    (run_dir / "config.yaml").write_text("method: ecl\nnote: \"<script>alert(1)</script>\"\n")
    if with_plots:
        make_plots(run_dir / "plots", final=final, train_counts=counts, class_names=final["classes"],
                   confusion=confusion_matrix(preds, labels, num_classes), features=feats, labels=labels,
                   classifier_weight=means, prototypes=None, records=records)
    return final


def test_report_embeds_every_plot_and_is_self_contained(tmp_path):
    run = tmp_path / "run"
    _make_run(run)
    pngs = sorted((run / "plots").glob("*.png"))
    assert len(pngs) == 4
    out = write_report(run)
    assert out == run / "report.html"
    page = out.read_text(encoding="utf-8")
    imgs = IMG_RE.findall(page)
    assert len(imgs) == len(pngs) == page.count("<img")
    import base64

    embedded = sorted(base64.b64decode(b) for b in imgs)
    assert embedded == sorted(p.read_bytes() for p in pngs)
    # no external references of any kind
    lowered = page.lower()
    for needle in ("http://", "https://", "<script", "<link", "@import", "url(", "//cdn", "src=\"/", "href="):
        assert needle not in lowered, needle
    # every src is a data URI
    assert all(s.startswith("data:image/png;base64,") for s in re.findall(r'src="([^"]*)"', page))


def test_report_content_and_escaping(tmp_path):
    run = tmp_path / "run"
    final = _make_run(run, with_plots=False)
    page = write_report(run).read_text(encoding="utf-8")
    assert "ecl &lt;&amp;&gt;" in page and "ecl <&>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # config shown, escaped
    assert "class 0 &lt;i&gt;" in page
    assert f"{100 * final['top1']:.2f}%" in page
    assert f"{100 * final['balanced_accuracy']:.2f}%" in page
    assert f"{100 * final['macro_f1']:.2f}%" in page
    for k in ("FC", "MS", "SD"):
        assert f"{final['geometry'][k]:.4f}" in page
    # few group is None -> em dash in the shot-group table
    few_row = re.search(r"<tr><th>few-shot</th>.*?</tr>", page).group(0)
    assert few_row.endswith('<td class="num">\u2014</td></tr>')
    assert "None" not in re.sub(r"<pre>.*?</pre>", "", page, flags=re.S)
    assert "plots/ not found" in page


def test_missing_files_give_notes_not_crashes(tmp_path):
    run = tmp_path / "empty"
    run.mkdir()
    page = write_report(run).read_text(encoding="utf-8")
    for name in ("final.json", "metrics.jsonl", "config.yaml", "plots/"):
        assert f"{name} not found" in page
    (run / "final.json").write_text("{not json")
    (run / "metrics.jsonl").write_text('{"epoch": 1}\nbroken\n[1]\n')
    (run / "plots").mkdir()
    page = write_report(run).read_text(encoding="utf-8")
    assert "final.json could not be read" in page
    assert "2 line(s)" in page and "line 2, 3" in page
    assert "plots/ holds no PNG" in page
    with pytest.raises(ValueError, match="nope.*not a directory"):
        write_report(tmp_path / "nope")


@pytest.mark.chromium
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_report_renders_in_headless_chromium_without_broken_images(tmp_path):
    run = tmp_path / "run"
    _make_run(run)
    page = write_report(run).read_text(encoding="utf-8")
    n_png = len(list((run / "plots").glob("*.png")))
    probe = (
        "<script>window.addEventListener('load', function () {"
        "var imgs = Array.from(document.images);"
        "var broken = imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; }).length;"
        "var p = document.createElement('p'); p.id = 'probe';"
        "p.textContent = 'IMAGES=' + imgs.length + ' BROKEN=' + broken; document.body.appendChild(p);"
        "});</script>"
    )
    probe_page = tmp_path / "probe.html"
    probe_page.write_text(page.replace("</body>", probe + "</body>"), encoding="utf-8")
    cmd = [
        shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000", "--dump-dom", probe_page.as_uri(),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    m = re.search(r"IMAGES=(\d+) BROKEN=(\d+)", res.stdout)
    assert m is not None, res.stdout[-2000:]
    assert int(m.group(1)) == n_png == 4
    assert int(m.group(2)) == 0


def test_report_names_no_best_epoch_on_the_test_set(tmp_path: Path) -> None:
    """Per-epoch test metrics are shown, never a 'best epoch' picked on them; a validation best is."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "final.json").write_text(json.dumps({"method": "ecl", "dataset": "digits-lt", "top1": 0.5}))
    lines = [{"epoch": 1, "eval/top1": 0.9, "val/balanced_accuracy": 0.4},
             {"epoch": 2, "eval/top1": 0.5, "val/balanced_accuracy": 0.6}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    html = write_report(run).read_text(encoding="utf-8")
    assert "Best eval" not in html
    assert "Best validation balanced accuracy 60.00% at epoch 2" in html


def _text(page: str) -> str:
    """The page without its embedded pictures (base64 may hold any letters)."""
    return re.sub(r'<img [^>]*>', "", page)


def _row(page: str, name: str) -> str:
    found = re.search(r"<tr><th>" + re.escape(name) + r"</th>.*?</tr>", page)
    assert found is not None, name
    return found.group(0)


def _hand_made_run(run: Path, balanced: float, num_classes: int = 4) -> None:
    """final.json / metrics.jsonl / data.json / config.yaml written by hand (no ecl code)."""
    run.mkdir(parents=True)
    counts = [150, 60, 30, 10][:num_classes]
    final = {"method": "ecl", "dataset": "own", "top1": balanced, "balanced_accuracy": balanced, "macro_f1": 0.2,
             "ece": 0.1, "many": 0.5, "medium": 0.4, "few": 0.1, "many_threshold": 100, "few_threshold": 20,
             "train_counts": counts, "classes": [f"c{i}" for i in range(num_classes)],
             "per_class_accuracy": [balanced] * num_classes, "geometry": {"FC": 0.5, "MS": 0.1, "SD": 0.3}}
    (run / "final.json").write_text(json.dumps(final))
    records = [{"epoch": 1, "lr": 0.05, "loss/total": 2.0, "loss/lc": 1.5, "loss/contrastive": 5.0, "loss/ccge": 0.4,
                "weights/alpha": 0.47, "weights/beta": 0.06, "weights/gamma": 1.25, "eval/top1": 0.3,
                "val/balanced_accuracy": 0.3, "seconds": 2.0}]
    (run / "metrics.jsonl").write_text(json.dumps(records[0]) + "\n")
    (run / "data.json").write_text(json.dumps({"image_size": 64, "preprocess": {"image_size": 64, "recipe": "authors"}}))
    (run / "config.yaml").write_text("data:\n  name: folder\n  pipeline: tensor\n  root: imgs\n")


def test_report_explains_every_metric_in_one_plain_sentence(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _hand_made_run(run, balanced=0.8)
    page = _text(write_report(run).read_text(encoding="utf-8"))
    expected = {  # metric row → words its sentence must hold (range and direction, written here by hand)
        "top-1 accuracy": ("0–100%", "higher is better"),
        "balanced accuracy": ("mean per-class recall", "0–100%", "higher is better", "1/C"),
        "macro-F1": ("precision", "recall", "higher is better"),
        "expected calibration error (ECE)": ("confidence", "0–1", "lower is better", "0.05"),
        "FC — feature collapse": ("class mean", "lower is better", "0 or more"),
        "MS — mean spacing": ("regular simplex", "lower is better", "−1/(C−1)"),
        "SD — self-duality": ("classifier", "0 to 2", "lower is better", "1.41"),
    }
    for name, words in expected.items():
        row = _row(page, name)
        assert row.count('<td class="meaning">') == 1, name
        for word in words:
            assert word in row, (name, word)
    # one shot-group vocabulary with the thresholds, also in the plots' titles; no head/tail wording
    assert "more than 100 training images" in _row(page, "many-shot")
    assert "20 to 100 training images" in _row(page, "medium-shot")
    assert "fewer than 20 training images" in _row(page, "few-shot")
    words = re.sub(r"<[^>]+>", " ", page.split("<body>", 1)[1])
    assert re.search(r"\b(head|tail)\b", words) is None
    # the data the run used, from data.json and config.yaml
    assert "64×64 pixels" in _row(page, "image size")
    assert _row(page, "view recipe").startswith("<tr><th>view recipe</th><td>authors (")
    assert "tensor" in _row(page, "data path")


def test_training_records_under_human_names_not_raw_keys(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _hand_made_run(run, balanced=0.8)
    page = _text(write_report(run).read_text(encoding="utf-8"))
    for raw in ("loss/", "weights/", "val/", "eval/", "weights_", "images_per_s"):
        assert raw not in page, raw
    for name in ("learning rate", "L_LC", "L_CC-GE", "α (weight of", "validation balanced accuracy", "test top-1"):
        assert name in page, name
    # the last epoch's numbers sit beside their names
    assert '0.4700</td>' in _row(page, "α (weight of L_LC, classification)")
    assert '30.00%</td>' in _row(page, "validation balanced accuracy")


@pytest.mark.parametrize("balanced, classes, warned", [
    (0.25, 4, True),    # exactly chance: 1/4
    (0.10, 4, True),    # below chance
    (0.80, 4, False),   # a good run
    (0.34, 3, False),   # just above 1/3
    (0.3333, 3, True),  # just below 1/3
])
def test_chance_warning_only_at_or_below_chance(tmp_path: Path, balanced: float, classes: int, warned: bool) -> None:
    run = tmp_path / "run"
    _hand_made_run(run, balanced=balanced, num_classes=classes)
    page = _text(write_report(run).read_text(encoding="utf-8"))
    warnings = re.findall(r'<p class="warn">(.*?)</p>', page)
    assert len(warnings) == (1 if warned else 0)
    if warned:
        assert f"{100 * balanced:.2f}%" in warnings[0] and f"1/{classes}" in warnings[0]
        # at the top of the page, before the first section
        assert page.index('class="warn"') < page.index("<h2>")


def test_report_without_data_record_skips_the_data_rows(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "final.json").write_text(json.dumps({"method": "ce", "balanced_accuracy": 0.5}))
    page = _text(write_report(run).read_text(encoding="utf-8"))
    assert "<th>method</th><td>ce</td>" in page
    assert "image size" not in page and "view recipe" not in page and "data path" not in page
    assert 'class="warn"' not in page  # C unknown: no chance level to compare with


def test_report_takes_the_data_rows_from_the_runs_data_plan(tmp_path: Path) -> None:
    # data.json's plan (`preprocess`) is what the run resolved: it wins over config.yaml's data section
    run = tmp_path / "run"
    _hand_made_run(run, balanced=0.8)
    plan = {"image_size": 32, "recipe": "authors", "erasing": False, "pipeline": "pil"}
    (run / "data.json").write_text(json.dumps({"image_size": 32, "preprocess": plan}))
    page = _text(write_report(run).read_text(encoding="utf-8"))
    assert "32×32 pixels" in _row(page, "image size")
    assert "random erasing off for this run" in _row(page, "view recipe")
    assert "pil" in _row(page, "data path") and "tensor" not in _row(page, "data path")
