"""The layout rules of docs/ARCHITECTURE.md and CONTRIBUTING.md, checked on the source tree (so they stay true)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "ecl"
RUN_FOLDER_FILES = ("config.yaml", "metrics.jsonl", "final.json", "data.json", "split.json", "last.pt",
                    "best_val.pt", "report.html")  # the PNGs inside plots/ are named by evaluation.plots


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_function_is_longer_than_80_lines_and_train_at_most_60() -> None:
    long = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                limit = 60 if (path.name, node.name) == ("train.py", "train") else 80
                if lines > limit:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long


@pytest.mark.parametrize("package, forbidden", [
    ("losses", ("ecl.",)),  # pure: nothing else from ecl
    ("config.py", ("ecl.engine", "ecl.cli")),
    ("data", ("ecl.engine", "ecl.cli")),
    ("models", ("ecl.engine", "ecl.cli")),
    ("evaluation", ("ecl.engine", "ecl.cli")),
    ("engine", ("ecl.cli",)),
])
def test_dependencies_flow_one_way(package: str, forbidden: tuple[str, ...]) -> None:
    target = SRC / package
    files = [target] if target.is_file() else sorted(target.rglob("*.py"))
    wrong = [f"{f.relative_to(SRC)} imports {name}" for f in files for name in _imports(f)
             if any(name.startswith(prefix) for prefix in forbidden)
             and not (package == "losses" and name.startswith("ecl.losses"))]
    assert not wrong, wrong


def test_run_folder_file_names_live_in_the_run_folder_module_only() -> None:
    owner = SRC / "engine" / "run_folder.py"
    pattern = re.compile("([\"'])(?:" + "|".join(re.escape(n) for n in RUN_FOLDER_FILES) + ")\\1")
    found = [f"{p.relative_to(SRC)}:{i}" for p in _modules() if p != owner
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert not found, found
    assert all(pattern.search(f'"{name}"') for name in RUN_FOLDER_FILES)  # the check can fire
