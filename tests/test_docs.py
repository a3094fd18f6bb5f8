"""The documentation never sends a reader to a file the repository does not have.

Checked on README.md, CONTRIBUTING.md, docs/*.md, and on the docstrings and help text of src/
(which users read with `help()` and `--help`):

* every relative Markdown link target ``[text](path)`` exists, relative to the page;
* every project document named like ``NAME.md`` (upper-case, e.g. ``METHOD.md``) exists;
* every back-quoted repository path (`` `src/...` ``, `` `tests/...` ``, `` `docs/...` ``,
  `` `benchmarks/...` ``) exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
SOURCES = sorted((ROOT / "src").rglob("*.py")) + sorted((ROOT / "src").rglob("*.yaml"))

LINK = re.compile(r"\]\(([^)\s]+)\)")
DOC_NAME = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[A-Z][A-Z0-9_]*\.md)\b")
REPO_PATH = re.compile(r"`((?:src|tests|docs|benchmarks)/[\w./-]*)`")


def _repo_files() -> set[str]:
    """Every file's name in the repository (outside .git and virtual environments)."""
    skip = {".git", ".venv", "__pycache__", ".pytest_cache"}
    return {p.name for p in ROOT.rglob("*") if p.is_file() and not skip.intersection(p.relative_to(ROOT).parts)}


def _doc_exists(name: str, page: Path, names: set[str]) -> bool:
    if "/" not in name:
        return name in names
    return (ROOT / name).exists() or (page.parent / name).exists()


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_relative_links_resolve(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    missing = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a URL or an anchor on the same page
        if not (page.parent / target.split("#", 1)[0]).exists():
            missing.append(target)
    assert not missing, f"{_rel(page)} links to missing files: {missing}"


@pytest.mark.parametrize("page", PAGES + SOURCES, ids=_rel)
def test_named_documents_and_repository_paths_exist(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    names = _repo_files()
    missing = [n for n in DOC_NAME.findall(text) if not _doc_exists(n, page, names)]
    missing += [p for p in REPO_PATH.findall(text) if not (ROOT / p).exists()]
    assert not missing, f"{_rel(page)} names files the repository does not have: {sorted(set(missing))}"


def test_readme_points_to_the_method_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/METHOD.md)" in readme
    method = (ROOT / "docs" / "METHOD.md").read_text(encoding="utf-8")
    for heading in ("## Loss 1", "## Loss 2", "## Loss 3", "## The total loss and its weights", "## Views",
                    "## Evaluation conventions", "## What comes from where"):
        assert heading in method, heading
