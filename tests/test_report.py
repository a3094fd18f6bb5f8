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
from ecl.engine.run_folder import RunFolder

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
    few_row = re.search(r"<tr><th>few</th>.*?</tr>", page).group(0)
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
