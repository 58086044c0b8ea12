"""Everyday use: many videos in one run, the config file, doctor, the Python API, and
machine-readable, quiet, colourless output."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chronicon_mlx.backends.mlx_backend import MLXBackend
from chronicon_mlx.cli.app import app
from chronicon_mlx.media.synthetic import write_sample_video
from chronicon_mlx.options import userconfig as settings

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty config folder for each test; returns the config file's path."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "chronicon-mlx" / "config.toml"


@pytest.fixture()
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts MLX model loads."""
    calls: list[str] = []
    original = MLXBackend.load

    def counted(self: MLXBackend, model: object, quantize: str | None = None) -> list[str]:
        calls.append(str(model))
        return original(self, model, quantize)  # type: ignore[arg-type]

    monkeypatch.setattr(MLXBackend, "load", counted)
    return calls


def _clips(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [
        write_sample_video(folder / "a.mp4", seconds=1, fps=10, size=(64, 48)),
        write_sample_video(folder / "sub" / "b.mov", seconds=1, fps=10, size=(64, 48)),
    ]


def test_many_videos_load_once_and_skip_failures(
    runner: CliRunner, tiny_model: Path, in_tmp: Path, loads: list[str]
) -> None:
    a, b = _clips(in_tmp / "clips")
    (in_tmp / "clips" / "broken.mp4").write_text("not a video")
    (in_tmp / "clips" / "notes.txt").write_text("ignored")
    result = runner.invoke(
        app,
        [
            "analyze",
            str(in_tmp / "clips"),
            "--recursive",
            "-m",
            str(tiny_model),
            "-b",
            "mlx",
            "-t",
            "3",
            "-o",
            "out",
        ],
    )
    assert result.exit_code == 1, result.output
    assert len(loads) == 1
    assert "broken.mp4: " in result.stderr and "is not a video OpenCV can read" in result.stderr
    assert "1 of 3 videos failed" in result.stderr
    assert "Summary" in result.stdout and "a.mp4" in result.stdout and "b.mov" in result.stdout
    records = sorted((in_tmp / "out").glob("*.json"))
    assert [r.name.split("_")[0] for r in records] == ["a", "b"]
    assert {json.loads(r.read_text())["video_path"] for r in records} == {str(a), str(b)}
    listed = runner.invoke(
        app,
        [
            "analyze",
            str(a),
            str(b),
            "-m",
            str(tiny_model),
            "-b",
            "mlx",
            "-t",
            "2",
            "--json",
            "--no-save",
        ],
    )
    assert listed.exit_code == 0
    data = json.loads(listed.stdout)
    assert [d["status"] for d in data] == ["ok", "ok"] and len(loads) == 2
    assert not (in_tmp / "results").exists()


def test_many_videos_for_highlights(runner: CliRunner, tiny_model: Path, in_tmp: Path) -> None:
    a, b = _clips(in_tmp / "clips")
    result = runner.invoke(
        app,
        [
            "highlights",
            str(a),
            str(b),
            "-m",
            str(tiny_model),
            "-b",
            "mlx",
            "--window",
            "0.5",
            "--overlap",
            "0",
            "--frames-per-window",
            "2",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [Path(d["video_path"]).name for d in data] == ["a.mp4", "b.mov"]
    for stem in ("a", "b"):
        assert (in_tmp / "results" / f"{stem}_highlights" / f"{stem}_highlights.json").is_file()


def test_config_file_defaults_and_precedence(
    runner: CliRunner, tiny_model: Path, ball_clip: Path, in_tmp: Path, config_home: Path
) -> None:
    config_home.parent.mkdir(parents=True)
    config_home.write_text(
        f'model = "{tiny_model}"\nbackend = "mlx"\nframes = 3\nmax_tokens = 2\n'
        f'output = "{in_tmp / "mine"}"\nformats = ["json", "vtt"]\n\n'
        '[profiles.quick]\nextends = "general"\nframes = 2\n'
    )
    shown = runner.invoke(app, ["config", "show", "--json"])
    data = json.loads(shown.stdout)
    assert data["path"] == str(config_home) and data["exists"] is True
    assert data["settings"]["frames"] == {"value": 3, "source": str(config_home)}
    assert data["settings"]["device"] == {"value": "auto", "source": "built-in"}
    assert runner.invoke(app, ["config", "path"]).stdout.strip() == str(config_home)
    table = runner.invoke(app, ["config", "show"])
    assert table.exit_code == 0 and "built-in" in table.stdout
    result = runner.invoke(app, ["analyze", str(ball_clip), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["num_frames"] == 3 and record["max_tokens"] == 2 and record["backend"] == "mlx"
    assert len(list((in_tmp / "mine").glob("*.json"))) == 1
    flags = json.loads(
        runner.invoke(app, ["analyze", str(ball_clip), "--json", "-f", "4", "--no-save"]).stdout
    )
    assert flags["num_frames"] == 4
    profiled = json.loads(
        runner.invoke(app, ["analyze", str(ball_clip), "--json", "-P", "quick", "--no-save"]).stdout
    )
    assert profiled["num_frames"] == 2
    assert "quick" in runner.invoke(app, ["profiles"]).stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("frames = 'many'\n", "'frames' must be an integer from 1 to 64 (got 'many')"),
        ("frames = 0\n", "'frames' must be an integer from 1 to 64 (got 0)"),
        ("formats = 3\n", "'formats' must be a list of strings (got 3)"),
        ("formats = ['pdf']\n", "'formats' has an unknown format 'pdf'"),
        ("backend = 'gpu'\n", "'backend' must be one of auto, cpu, mlx, transformers"),
        ("colour = 'red'\n", "unknown setting 'colour'"),
        ("model = \n", "is not valid TOML"),
    ],
)
def test_invalid_config_names_file_key_and_type(
    runner: CliRunner, config_home: Path, ball_clip: Path, text: str, message: str
) -> None:
    config_home.parent.mkdir(parents=True)
    config_home.write_text(text)
    for args in (["config", "show"], ["analyze", str(ball_clip)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert message in result.stderr and str(config_home) in result.stderr
        assert "hint:" in result.stderr


def test_settings_resolution() -> None:
    current = settings.load(Path("/nonexistent/config.toml"))
    assert settings.resolve(None, "frames", current) == 8
    assert settings.resolve(12, "frames", current) == 12


def test_doctor_passes_and_never_hangs_on_the_hub(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[float] = []

    def unreachable(address: object, timeout: float | None = None, **_: object) -> socket.socket:
        asked.append(timeout or 0.0)
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    checks = {c["name"]: c for c in data["checks"]}
    assert data["ok"] is True
    assert checks["self-test mlx"]["status"] == "pass"
    assert checks["self-test transformers"]["status"] == "pass"
    assert checks["decode"]["status"] == "pass" and checks["python"]["status"] == "pass"
    assert checks["hub"]["status"] == "warn" and "not reachable" in checks["hub"]["detail"]
    assert asked and 0 < asked[0] <= 5
    assert {
        "mlx",
        "mlx-vlm",
        "torch",
        "transformers",
        "opencv-python",
        "mlx blas",
        "hf cache",
        "memory",
        "os",
    } <= set(checks)
    text = runner.invoke(app, ["doctor", "--no-self-test"])
    assert (
        "PASS python" in text.stdout and "fix: models must already be in the cache" in text.stdout
    )


def test_doctor_fails_when_a_backend_cannot_run(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: MLXBackend, model: object, quantize: str | None = None) -> list[str]:
        raise RuntimeError("no kernel for this CPU")

    monkeypatch.setattr(MLXBackend, "load", broken)
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "FAIL self-test mlx" in result.stdout and "fix:" in result.stdout
    assert "essential check(s) failed" in result.stdout


def test_python_api_never_prints(
    tiny_model: Path, ball_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from chronicon_mlx import HighlightsResult, SessionSpec, analyze, highlights

    spec = SessionSpec(str(tiny_model), backend="mlx")
    found = highlights(
        ball_clip,
        model=spec,
        window_s=1.5,
        overlap_s=0.5,
        frames_per_window=2,
        min_significance=1,
        output_dir=tmp_path / "api",
    )
    assert isinstance(found, HighlightsResult) and len(found.windows) == 3
    assert (tmp_path / "api" / "checkpoint.jsonl").is_file()
    answer = analyze(ball_clip, "What moves?", model=spec, frames=2, max_tokens=3)
    assert answer.generated_tokens == 3
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_json_quiet_color_and_completion(
    runner: CliRunner,
    tiny_model: Path,
    ball_clip: Path,
    in_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for args in (
        ["models", "--json"],
        ["profiles", "--json"],
        ["config", "show", "--json"],
        ["doctor", "--json", "--no-self-test"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, args
        json.loads(result.stdout)
    quiet = runner.invoke(
        app, ["analyze", str(ball_clip), "-m", str(tiny_model), "-b", "mlx", "-t", "2", "-Q"]
    )
    assert quiet.exit_code == 0 and quiet.stderr == "" and quiet.stdout.strip()
    failed = runner.invoke(app, ["analyze", "missing.mp4", "-Q"])
    assert failed.exit_code == 1 and "error: video not found" in failed.stderr
    assert "--install-completion" in runner.invoke(app, ["--help"]).stdout
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("FORCE_COLOR", "1")
    colour = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|4[0-8]|9[0-7])(?:;[0-9;]*)?m")
    plain = runner.invoke(app, ["doctor", "--no-self-test"], color=True)
    assert "PASS" in plain.stdout and not colour.search(plain.stdout)
    monkeypatch.delenv("NO_COLOR")
    coloured = runner.invoke(app, ["doctor", "--no-self-test"], color=True)
    assert colour.search(coloured.stdout)
