"""What a new user meets in the first hour: names with brackets shown as they are, help that
shows its defaults, an offline model name, quiet and readable output."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import pytest
from rich.console import Console
from typer.testing import CliRunner

from chronicon_mlx.backends.base import GenerationOutput
from chronicon_mlx.backends.mlx_backend import MLXBackend
from chronicon_mlx.cli.app import app
from chronicon_mlx.cli.render import RichReporter
from chronicon_mlx.media.synthetic import write_sample_video

pytestmark = pytest.mark.slow
TRICKY = "[crowd cheers] then [/credits] and [bold]loud[/bold]"


@pytest.fixture()
def scripted_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The MLX backend answers with text full of markup-like brackets."""

    def generate(self: MLXBackend, request: Any, on_token: Any = None) -> GenerationOutput:
        if on_token is not None:
            on_token(TRICKY)
        return GenerationOutput(TRICKY, [1], 10, 1, 1.0, 1.0, 0.0, "stop")

    monkeypatch.setattr(MLXBackend, "generate", generate)


def test_brackets_in_names_and_answers_are_shown_literally(
    runner: CliRunner, tiny_model: Path, in_tmp: Path, scripted_answer: None
) -> None:
    clip = write_sample_video(in_tmp / "Title [abc123].mp4", seconds=1, fps=10, size=(64, 48))
    other = write_sample_video(in_tmp / "clip [bold].mp4", seconds=1, fps=10, size=(64, 48))
    result = runner.invoke(
        app, ["analyze", str(clip), str(other), "-m", str(tiny_model), "-b", "mlx", "-o", "out"]
    )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    assert f"1/2 {clip}" in result.stderr and f"2/2 {other}" in result.stderr
    assert re.search(r"saved out/Title \[abc123\]_\d{8}T\d{6}Z\.json", result.stderr)
    assert "== Title [abc123].mp4 ==" in result.stdout and "== clip [bold].mp4 ==" in result.stdout
    assert result.stdout.count(TRICKY) == 2  # each answer, verbatim, on stdout
    assert "Title [abc123].mp4" in result.stdout  # the summary table
    assert "[crowd cheers]" in result.stdout.split("Summary")[1]
    missing = runner.invoke(app, ["analyze", "match [final].mp4", "-m", str(tiny_model)])
    assert missing.exit_code == 1
    assert missing.stderr.splitlines()[0] == "error: video not found: match [final].mp4"
    broken = runner.invoke(app, ["analyze", "ep[/1]x.mp4", "-m", str(tiny_model)])
    assert broken.exit_code == 1 and "ep[/1]x.mp4" in broken.stderr
    assert "MarkupError" not in broken.output and "Traceback" not in broken.output


def test_highlights_title_and_notes_keep_their_brackets(
    runner: CliRunner, tiny_model: Path, in_tmp: Path
) -> None:
    clip = write_sample_video(in_tmp / "Match [final].mp4", seconds=2, fps=10, size=(64, 48))
    folder = in_tmp / "out [1]"
    args = [
        "highlights",
        str(clip),
        "-m",
        str(tiny_model),
        "-b",
        "mlx",
        "--window",
        "1",
        "--overlap",
        "0",
        "-o",
        str(folder),
        "--min-significance",
        "1",
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "Highlights of Match [final].mp4" in first.stdout
    again = runner.invoke(app, args)
    assert f"note: resuming from {folder}/checkpoint.jsonl" in again.stderr


def test_progress_lines_show_streamed_text_literally() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200, color_system=None)
    reporter = RichReporter(console, verbose=True)
    with reporter:
        reporter.stage_started("generate", total=3)
        reporter.stage_advanced("generate", 1, TRICKY[:40])
        reporter.note("a note about [red]this[/] file [x].mp4")
        reporter.stage_finished("generate", 0.1)
    text = out.getvalue()
    assert "[crowd cheers] then [/credits]" in text
    assert "note: a note about [red]this[/] file [x].mp4" in text


COMMANDS = [
    ["analyze"],
    ["highlights"],
    ["bench"],
    ["models"],
    ["profiles"],
    ["profiles", "show"],
    ["config", "show"],
    ["doctor"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_shows_every_default_and_no_type_tags(runner: CliRunner, command: list[str]) -> None:
    import typer.main

    group = typer.main.get_command(app)
    cmd: Any = group
    for name in command:
        cmd = cmd.commands[name]
    valued = [
        p
        for p in cmd.params
        if not getattr(p, "is_flag", False) and p.param_type_name == "option" and p.name != "help"
    ]
    help_text = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).stdout
    assert "<bool>" not in help_text  # flags take no value
    for param in valued:
        assert param.show_default, f"{param.opts[0]} shows no default"
    assert help_text.count("[default:") >= len(valued), help_text


def test_help_keeps_bracketed_text(runner: CliRunner) -> None:
    help_text = runner.invoke(app, ["analyze", "--help"], env={"COLUMNS": "200"}).stdout
    assert "[default: (500m, or the config file's)]" in help_text
    assert "[default: (8, or the profile's or config file's)]" in help_text
    highlights = runner.invoke(app, ["highlights", "--help"], env={"COLUMNS": "200"}).stdout
    assert "[default: (json,md, or the config file's)]" in highlights
    assert "[default: 6]" in highlights  # --min-significance


def test_tiny_random_runs_offline_and_is_named_when_nothing_is_cached(tmp_path: Path) -> None:
    clip = write_sample_video(tmp_path / "clip.mp4", seconds=1, fps=10, size=(64, 48))
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "chronicon_mlx",
            "analyze",
            str(clip),
            "--model",
            "tiny-random",
            "-t",
            "3",
            "--json",
            "--no-save",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    record = json.loads(run.stdout)
    assert record["model"] == "tiny-random" and record["random_weights"] is True
    assert "random weights" in run.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "chronicon_mlx", "analyze", str(clip), "-m", "256m"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert missing.returncode == 1
    assert "--model tiny-random" in missing.stderr.splitlines()[1]


def test_no_library_warning_reaches_the_terminal(tiny_model: Path, tmp_path: Path) -> None:
    clip = write_sample_video(tmp_path / "clip.mp4", seconds=2, fps=10, size=(64, 48))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "chronicon_mlx",
            "highlights",
            str(clip),
            "-m",
            str(tiny_model),
            "-b",
            "transformers",
            "--window",
            "1",
            "--overlap",
            "0",
            "-o",
            str(tmp_path / "hl"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "Warning" not in run.stderr and "warn(" not in run.stderr
    assert not (tmp_path / "hl" / ".lock").exists()


def test_models_reads_at_80_columns(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "chronicon_mlx", "models"],
        capture_output=True,
        text=True,
        env=dict(os.environ, COLUMNS="80"),
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    from chronicon_mlx.model.catalog import MODELS

    for spec in MODELS:
        assert any(spec.hub_id in line for line in lines)
        assert any(spec.mlx_hub_id in line for line in lines)
    assert "tiny-random" in run.stdout


def test_thumbnails_come_from_the_source_frame(
    runner: CliRunner, tiny_model: Path, in_tmp: Path
) -> None:
    clip = write_sample_video(in_tmp / "wide.mp4", seconds=2, fps=10, size=(640, 360))
    result = runner.invoke(
        app,
        [
            "highlights",
            str(clip),
            "-m",
            str(tiny_model),
            "-b",
            "mlx",
            "--window",
            "1",
            "--overlap",
            "0",
            "-o",
            "hl",
        ],
    )
    assert result.exit_code == 0, result.output
    thumbs = sorted((in_tmp / "hl" / "thumbs").glob("*.jpg"))
    assert len(thumbs) == 2
    for thumb in thumbs:
        image = cv2.imread(str(thumb))
        assert image.shape[:2] == (180, 320)  # 640x360 shrunk once, not the 64 px model frame


def test_small_things(runner: CliRunner, tiny_model: Path, in_tmp: Path) -> None:
    url = runner.invoke(app, ["analyze", "https://example.com/v.mp4", "-m", str(tiny_model)])
    assert url.exit_code == 1
    assert "looks like a URL" in url.stderr and "download it first" in url.stderr
    flag_value = runner.invoke(app, ["analyze", "true", "-m", str(tiny_model)])
    assert "flags take no value" in flag_value.stderr
    unknown = runner.invoke(app, ["analyze", "x.mp4", "--frame", "3"])
    assert unknown.exit_code == 2
    lines = unknown.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: No such option: --frame")
    assert lines[1].startswith("hint: see `") and "╭" not in unknown.stderr
    clip = write_sample_video(in_tmp / "c.mp4", seconds=2, fps=10, size=(64, 48))
    args = [
        "highlights",
        str(clip),
        "-m",
        str(tiny_model),
        "-b",
        "mlx",
        "--window",
        "1",
        "--overlap",
        "0",
        "-o",
        "hl",
    ]
    runner.invoke(app, [*args, "--format", "json,md,html"])
    fewer = runner.invoke(app, [*args, "--format", "json"])
    assert fewer.exit_code == 0, fewer.output
    assert sorted(p.name for p in (in_tmp / "hl").glob("c_highlights.*")) == ["c_highlights.json"]
    assert "removed hl/c_highlights.md" in fewer.stderr
    assert "2 windows, 0 unscored" in fewer.stdout and "1 windows" not in fewer.stdout


def test_a_note_when_nothing_reaches_the_minimum(
    runner: CliRunner, tiny_model: Path, in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = '{"description": "Grass.", "significance": 3}'

    def generate(self: MLXBackend, request: Any, on_token: Any = None) -> GenerationOutput:
        return GenerationOutput(answer, [1], 10, 1, 1.0, 1.0, 0.0, "stop", constrained=True)

    monkeypatch.setattr(MLXBackend, "generate", generate)
    clip = write_sample_video(in_tmp / "c.mp4", seconds=1, fps=10, size=(64, 48))
    result = runner.invoke(
        app,
        [
            "highlights",
            str(clip),
            "-m",
            str(tiny_model),
            "-b",
            "mlx",
            "--window",
            "1",
            "--overlap",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "no window reached --min-significance 6 (the best scored 3)" in result.stderr
    assert "1 window, 0 unscored" in result.stdout


@pytest.mark.mlx
def test_the_cuda_hint_never_suggests_cuda_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from chronicon_mlx.native import blas

    blas.preload()  # as the package does before MLX is imported (later tests' BLAS)
    import mlx.core as mx

    from chronicon_mlx.backends import mlx_support
    from chronicon_mlx.cli.flags import FLAGS
    from chronicon_mlx.errors import BackendError

    monkeypatch.setattr(mlx_support, "nvidia_gpu_present", lambda: False)
    with pytest.raises(BackendError) as caught:
        mlx_support.select_device(mx, "cuda")
    message, hint = caught.value.rendered(FLAGS)
    assert message.startswith("--device cuda was asked for")
    assert hint is not None and "--device cpu" in hint and "cuda" not in hint.split(":")[-1]


_HIDE_TORCH = "import sys; sys.modules['torch'] = None\n"
_RUN_CLI = "from chronicon_mlx.cli.app import main; sys.argv[0] = 'chronicon-mlx'; main()\n"
OUR_STDERR = re.compile(r"^(note: |saved |error: |hint: |\d+/\d+ |$)")


@pytest.mark.parametrize("torch", ["hidden", "installed"])
def test_a_first_run_shows_no_library_warning(ball_clip: Path, tmp_path: Path, torch: str) -> None:
    """The demo's first run in a fresh process and a fresh cache (the tiny checkpoint is
    built, so transformers is imported): stderr holds only the tool's own lines. With torch
    hidden, as in the demo's environment without torch, transformers would announce that
    PyTorch was not found."""
    env = dict(os.environ, CHRONICON_CACHE=str(tmp_path / "cache"))
    env.pop("CHRONICON_DEBUG", None)
    code = (_HIDE_TORCH if torch == "hidden" else "import sys\n") + _RUN_CLI
    args = ["analyze", str(ball_clip), "--model", "tiny-random", "--frames", "2"]
    args += ["--max-tokens", "4", "--output", str(tmp_path / "record.json")]
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    foreign = [line for line in done.stderr.splitlines() if not OUR_STDERR.match(line)]
    assert foreign == []
    assert (tmp_path / "record.json").is_file() and "random weights" in done.stderr


@pytest.mark.parametrize("width", [80, 120])
def test_help_lines_are_never_broken_mid_sentence(width: int) -> None:
    """Each command's one-line help is one sentence ending in a full stop; at 120 columns it
    fits on its line of the command list, at 80 its wrapped lines read back as it."""
    from chronicon_mlx.cli.app import app as application

    group = typer_main(application)
    runner = CliRunner()
    shown = runner.invoke(
        application, ["--help"], terminal_width=width, env={"COLUMNS": str(width)}
    )
    assert shown.exit_code == 0
    rows = _command_rows(shown.stdout)
    for name, command in group.commands.items():
        short = command.get_short_help_str(limit=1000)
        assert "\n" not in (command.help or "").split("\n\n")[0], name
        assert short.endswith("."), name
        assert " ".join(rows[name]) == short, (name, rows[name])
        if width >= 120:
            assert len(rows[name]) == 1, (name, rows[name])


def typer_main(application: Any) -> Any:
    """The click group behind a Typer application."""
    import typer.main

    return typer.main.get_command(application)


def _command_rows(text: str) -> dict[str, list[str]]:
    """Each command's description lines in the help's command list."""
    rows: dict[str, list[str]] = {}
    inside, current = False, ""
    for line in text.splitlines():
        if "Commands" in line and line.lstrip().startswith("╭"):
            inside = True
            continue
        if not inside:
            continue
        if line.lstrip().startswith("╰"):
            break
        body = line.strip().strip("│").rstrip()
        name, _, rest = body.strip().partition(" ")
        if body[:2].strip() and name:
            current = name
            rows[current] = [rest.strip()]
        elif current:
            rows[current].append(body.strip())
    return rows
