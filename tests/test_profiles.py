"""Prompt profiles: built-ins, the user's TOML file, and every way the file can be wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chronicon_mlx.cli.app import app
from chronicon_mlx.errors import UsageError
from chronicon_mlx.options import profiles


@pytest.fixture(autouse=True)
def no_user_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point XDG_CONFIG_HOME at an empty folder so the user's real file is never read."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config" / "chronicon-mlx" / "profiles.toml"


def test_builtins() -> None:
    known = profiles.load()
    assert {"general", "highlights", "sports", "summary", "technical"} <= set(known)
    assert "fouls" in known["sports"].system and "cards" in known["sports"].system
    assert "camera movement" in known["technical"].system.lower()
    assert "scene-setting" in known["highlights"].system
    assert profiles.DEFAULT_PROFILE == "general"


def test_user_file_overrides_and_adds(no_user_file: Path) -> None:
    no_user_file.parent.mkdir(parents=True)
    no_user_file.write_text(
        "[profiles.sports]\nwindow = 20\n\n"
        '[profiles.lecture]\nsystem = "You watch lectures."\nprompt = "What is taught?"\n'
        'rubric = "10: a key result."\nframes_per_window = 4\n\n'
        '[profiles.derby]\nextends = "sports"\noverlap = 2.5\n'
    )
    known = profiles.load()
    assert known["sports"].window == 20.0 and known["sports"].overlap == 5.0
    assert "fouls" in known["sports"].system
    assert "overridden in" in known["sports"].source
    assert known["lecture"].frames_per_window == 4 and known["lecture"].source == str(no_user_file)
    assert known["derby"].window == 20.0 and known["derby"].overlap == 2.5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[profiles.x\n", "is not valid TOML"),
        ("[profiles.sports]\nwindw = 3\n", "profiles.sports.windw is not a profile setting"),
        ("[profiles.sports]\nwindow = 'long'\n", "profiles.sports.window must be a number"),
        ("[profiles.sports]\nframes = 0\n", "profiles.sports.frames must be a whole number"),
        ("[profiles.new]\nsystem = 'a'\nprompt = 'b'\n", "profiles.new is missing 'rubric'"),
        ("[profiles.new]\nextends = 'nope'\n", "profiles.new.extends names an unknown profile"),
        ("[other]\nx = 1\n", "unknown top-level key 'other'"),
        ("[profiles.sports]\nsystem = ''\n", "profiles.sports.system must be a non-empty string"),
    ],
)
def test_malformed_files_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(UsageError) as caught:
        profiles.load(path)
    assert message in caught.value.message
    assert str(path) in caught.value.message


def test_unknown_profile_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown profile 'nope'"):
        profiles.get("nope")
    with pytest.raises(UsageError, match="profiles file not found"):
        profiles.load(tmp_path / "missing.toml")


def test_profiles_command(tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["profiles", "--json"])
    assert listed.exit_code == 0, listed.output
    names = [p["name"] for p in json.loads(listed.stdout)]
    assert names[:5] == ["general", "highlights", "sports", "summary", "technical"]
    shown = runner.invoke(app, ["profiles", "show", "sports", "--json"])
    assert json.loads(shown.stdout)["frames_per_window"] == 8
    table = runner.invoke(app, ["profiles"])
    assert table.exit_code == 0 and "technical" in table.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[profiles.general]\nframes = 100\n")
    failed = runner.invoke(app, ["profiles", "--profiles-file", str(bad)])
    assert failed.exit_code == 2
    assert "profiles.general.frames" in failed.output and "hint:" in failed.output
    unknown = runner.invoke(app, ["profiles", "show", "nope"])
    assert unknown.exit_code == 2 and "unknown profile 'nope'" in unknown.output
