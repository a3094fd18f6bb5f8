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
    owner = SRC / "engine" / "training" / "run_folder.py"
    pattern = re.compile("([\"'])(?:" + "|".join(re.escape(n) for n in RUN_FOLDER_FILES) + ")\\1")
    found = [f"{p.relative_to(SRC)}:{i}" for p in _modules() if p != owner
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert not found, found
    assert all(pattern.search(f'"{name}"') for name in RUN_FOLDER_FILES)  # the check can fire


# --- the import graph of src/ecl: no circle, no upward import ------------------------------------
# Layers, lowest first: a module may import its own package and any lower layer, never a higher one.
LAYERS = {"atomic": 0, "seeding": 0, "ecl": 0, "losses": 1, "models": 1, "evaluation": 1, "data": 2,
          "config": 3, "engine": 4, "cli": 5, "__main__": 5}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """module → the ecl modules it imports (anywhere in the file, type-checking imports included)."""
    modules = {_module_name(p): p for p in _modules()}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:  # `from ecl.engine.training import loop` imports the module …training.loop
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1] if len(parts) > 1 else parts[0]]


def test_the_import_graph_has_no_circle() -> None:
    assert not _cycles(_import_graph())
    # the check can fire: a two-module circle and a three-module one
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_a_higher_layer() -> None:
    graph = _import_graph()
    assert {_module_name(p).split(".")[1] if "." in _module_name(p) else "ecl" for p in _modules()} <= set(LAYERS)
    upward = [f"{m} imports {t}" for m, targets in graph.items() for t in targets if _layer(t) > _layer(m)]
    assert not upward, upward
    assert _layer("ecl.config") > _layer("ecl.data.registry")  # config checks names against data's table


def test_one_place_resolves_the_recipe_and_the_size() -> None:
    """Only data/plan.py reads the dataset's default recipe or image size for a run (everything else
    reads the DataPlan); the summary only reports the size."""
    pattern = re.compile(r"_STYLE_RECIPE|recipe_for_style|resolve_recipe|bundle\.recipe|bundle\.image_size")
    places = sorted({str(p.relative_to(SRC)) for p in _modules() if "readers" not in p.parts
                     for line in p.read_text(encoding="utf-8").splitlines() if pattern.search(line)})
    assert places == ["data/plan.py", "data/summary.py"], places


def test_engine_commands_sit_above_training() -> None:
    """engine/commands/ (one module per subcommand) may import engine/training/, never the reverse."""
    graph = _import_graph()
    engine = {m for m in graph if m.startswith("ecl.engine.")}
    assert {m.split(".")[2] for m in engine} == {"commands", "training"}  # no loose engine module
    upward = [f"{m} imports {t}" for m in engine if m.startswith("ecl.engine.training")
              for t in graph[m] if t.startswith("ecl.engine.commands")]
    assert not upward, upward
