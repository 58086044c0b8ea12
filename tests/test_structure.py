"""The package's shape: imports run one way through the stages, nothing imports in a
circle, modules and functions stay small, and the top level stays short."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "chronicon_mlx"
BASE = {"errors", "timecodes", "machine", "paths", "progress", "files", "text", "native"}
LAYERS = [
    "base",
    "options",
    "media",
    "model",
    "audio",
    "engine",
    "backends",
    "analysis",
    "testing",
    "highlight",
    "output",
    "library",
    "archive",
    "tools",
    "serve",
    "cli",
]


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _layer(module: str) -> int:
    top = module.split(".")[0]
    if top == "__main__":
        return LAYERS.index("cli")
    return LAYERS.index("base" if top in BASE else top)


def _imports(module: str, path: Path) -> set[str]:
    """Every package module `module` imports, anywhere in it (type-checking blocks and
    function bodies included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                stem = ".".join([*base, *(node.module.split(".") if node.module else [])])
            elif node.module and node.module.startswith("chronicon_mlx"):
                stem = node.module.removeprefix("chronicon_mlx").lstrip(".")
            else:
                continue
            for alias in node.names:
                child = f"{stem}.{alias.name}" if stem else alias.name
                targets.add(child if child in MODULES else stem)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("chronicon_mlx."):
                    targets.add(alias.name.removeprefix("chronicon_mlx."))
    return {t for t in targets if t and t in MODULES and t != module}


GRAPH = {m: _imports(m, p) for m, p in MODULES.items() if m}  # the facade is left out


def test_imports_run_one_way_through_the_stages() -> None:
    upward = [
        f"{m} -> {t}" for m, targets in GRAPH.items() for t in targets if _layer(t) > _layer(m)
    ]
    assert upward == []


def test_no_module_imports_in_a_circle() -> None:
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH.get(module, ())):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert cycles == []


SKIP_MARKER = re.compile(r"\s*#\s*fmt:\s*(skip|off|on)\b.*$", re.MULTILINE)


def formatted(source: str) -> str:
    """`source` as the formatter lays it out, with every `# fmt: skip/off/on` marker removed
    first (packing statements onto one line cannot keep a module under its limit)."""
    unmarked = SKIP_MARKER.sub("", source)
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", "module.py", "-"],
        input=unmarked,
        capture_output=True,
        text=True,
        check=True,
        cwd=PACKAGE.parent,
    )
    return done.stdout


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.startswith("cli")))
def test_modules_and_functions_outside_the_cli_stay_small(module: str) -> None:
    source = formatted(MODULES[module].read_text())
    assert len(source.splitlines()) <= 400
    long = [
        f"{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > 60
    ]
    assert long == []


def test_no_formatter_markers_in_the_package() -> None:
    marked = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in MODULES.values()
        for number, text in enumerate(path.read_text().splitlines(), start=1)
        if SKIP_MARKER.search(text)
    ]
    assert marked == []


def test_the_top_level_holds_at_most_ten_entries_besides_packages() -> None:
    entries = [p.name for p in PACKAGE.iterdir() if not (p / "__init__.py").is_file()]
    entries = [name for name in entries if name != "__pycache__"]
    assert len(entries) <= 10, entries


def test_the_facade_exports_every_name_it_lists() -> None:
    import chronicon_mlx

    for name in chronicon_mlx.__all__:
        assert getattr(chronicon_mlx, name) is not None
    before = {
        "AnalysisResult",
        "Analyzer",
        "ChroniconError",
        "GenerationConfig",
        "Highlight",
        "HighlightFinder",
        "HighlightsConfig",
        "HighlightsResult",
        "Profile",
        "SamplingConfig",
        "WindowResult",
        "__version__",
        "analyze",
        "highlights",
    }
    added = {
        "ModelSession",
        "Reporter",
        "UsageError",
        "VideoError",
        "write_highlights",
        "VideoChat",
        "VideoCache",
        "Answer",
    }
    assert before | added <= set(chronicon_mlx.__all__)
    assert callable(chronicon_mlx.highlights) and callable(chronicon_mlx.analyze)
