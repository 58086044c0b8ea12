"""The README is a true front page: every command and option it shows exists, its Python
example calls what the package has with the keywords it takes, its make targets and links
lead somewhere, and it stays short."""

from __future__ import annotations

import ast
import inspect
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

import chronicon_mlx
from chronicon_mlx.cli.app import app

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def _blocks(language: str) -> list[str]:
    return [body for kind, body in BLOCK.findall(README) if kind == language]


def _command_lines() -> list[list[str]]:
    """Every `chronicon-mlx ...` line of the README's bash and text blocks, split as a
    shell would (comments dropped)."""
    found = []
    for body in _blocks("bash") + _blocks("text"):
        for line in body.splitlines():
            text = line.removeprefix("$ ").strip()
            if text.startswith("chronicon-mlx"):
                found.append(shlex.split(text, comments=True))
    return found


def _resolve(words: list[str]) -> tuple[Any, list[str], list[str]]:
    """The click command the words name, its path, and the words after it."""
    command: Any = get_command(app)
    path: list[str] = []
    rest = words[1:]
    while rest and hasattr(command, "commands") and rest[0] in command.commands:
        command = command.commands[rest[0]]
        path.append(rest.pop(0))
    return command, path, rest


def test_the_readme_is_a_short_front_page() -> None:
    assert len(README.encode("utf-8")) <= 12_288
    assert "## Quick start" in README and "make demo" in README and "make test" in README


def test_every_command_and_option_the_readme_shows_exists() -> None:
    lines = _command_lines()
    assert len(lines) >= 6
    runner = CliRunner()
    for words in lines:
        command, path, rest = _resolve(words)
        assert not hasattr(command, "commands") or not rest, words
        names = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        options = [w.split("=")[0] for w in rest if w.startswith("-") and w != "-"]
        assert [o for o in options if o not in names] == [], words
        shown = runner.invoke(app, [*path, "--help"])
        assert shown.exit_code == 0, (words, shown.output)


def test_the_python_example_calls_what_the_package_has() -> None:
    (example,) = [block for block in _blocks("python") if "from chronicon_mlx" in block]
    tree = ast.parse(example)
    imported = {
        alias.asname or alias.name: getattr(chronicon_mlx, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "chronicon_mlx"
        for alias in node.names
    }
    assert imported
    calls = 0
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        target = node.func
        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            owner = imported.get(target.value.id)
            function = getattr(owner, target.attr, None) if owner is not None else None
        elif isinstance(target, ast.Name):
            function = imported.get(target.id)
        else:
            continue
        if function is None:
            continue
        keywords = {k.arg: None for k in node.keywords if k.arg}
        positional = [None] * len(node.args)
        inspect.signature(function).bind_partial(*positional, **keywords)
        calls += 1
    assert calls >= 5


@pytest.mark.parametrize("target", ["demo", "test", "install", "wheel", "docs", "lint"])
def test_make_targets_exist(target: str) -> None:
    makefile = (REPO / "Makefile").read_text()
    assert re.search(rf"^{target}:", makefile, re.MULTILINE)


def test_every_link_to_a_file_leads_to_one() -> None:
    links = re.findall(r"\]\(((?:docs/)[^)#]+)", README)
    assert links
    missing = [link for link in links if not (REPO / link).is_file()]
    assert missing == []
