"""The CLI end to end on the tiny checkpoint, and every bad input with its message and code."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chronicon_mlx.cli.app import app
from chronicon_mlx.media.synthetic import write_sample_video

pytestmark = pytest.mark.slow

LEGACY_KEYS = {
    "video_path",
    "prompt",
    "num_frames",
    "resize",
    "max_tokens",
    "analysis",
    "timestamp",
    "model",
    "inference_parameters",
    "timing",
    "video_info",
}
NEW_KEYS = {
    "schema_version",
    "system",
    "backend",
    "device",
    "dtype",
    "frames",
    "tokens",
    "peak_memory_gb",
    "chronicon_version",
}


def _analyze(runner: CliRunner, *args: str) -> object:
    return runner.invoke(app, ["analyze", *args])


def test_analyze_prints_the_answer_and_saves_the_record(
    runner: CliRunner, tiny_model: Path, ball_clip: Path, in_tmp: Path
) -> None:
    result = _analyze(
        runner,
        str(ball_clip),
        "-m",
        str(tiny_model),
        "-t",
        "10",
        "-s",
        "Be terse.",
        "-p",
        "What moves?",
        "--backend",
        "mlx",
    )
    assert result.exit_code == 0, result.output
    saved = list((in_tmp / "results").glob("ball clip_*.json"))
    assert len(saved) == 1
    record = json.loads(saved[0].read_text())
    assert set(record) >= LEGACY_KEYS | NEW_KEYS
    assert record["analysis"] and record["analysis"] in result.stdout
    assert record["prompt"] == "What moves?" and record["system"] == "Be terse."
    assert record["inference_parameters"] == {
        "num_frames": 8,
        "requested_frames": 8,
        "resize": 64,
        "max_tokens": 10,
        "temperature": 0.0,
        "seed": None,
        "custom_prompt": True,
        "start_s": 0.0,
        "end_s": None,
        "fps": None,
        "sampling": "uniform",
        "seek": "exact",
        "decoder": "opencv",
    }
    assert [f["index"] for f in record["frames"]] == [5, 16, 28, 39, 50, 61, 73, 84]
    assert [f["timestamp_s"] for f in record["frames"]] == pytest.approx(
        [i / 30 for i in (5, 16, 28, 39, 50, 61, 73, 84)], abs=1e-3
    )
    assert record["backend"] == "mlx" and record["device"] == "cpu"
    assert record["dtype"] == "float32"
    # 8 frames x (4 image tokens + 3 wrappers) plus the text around them.
    assert record["tokens"]["prompt"] > 8 * 7 and record["tokens"]["generated"] == 10
    assert set(record["timing"]) == {"model_load_time", "inference_time", "total_time", "stages"}
    assert set(record["timing"]["stages"]) == {
        "probe",
        "sample",
        "import",
        "load",
        "cache",
        "preprocess",
        "vision",
        "prefill",
        "generate",
    }
    assert record["timing"]["total_time"] >= record["timing"]["inference_time"] > 0
    info = record["video_info"]
    assert (info["width"], info["height"], info["frame_count"], info["fps"]) == (320, 180, 90, 30)
    assert info["duration_s"] == 3.0 and info["file_size_mb"] > 0 and info["last_modified"]
    assert record["random_weights"] is True
    assert "random weights" in result.stderr


def test_json_on_stdout_and_no_save(
    runner: CliRunner, tiny_model: Path, ball_clip: Path, in_tmp: Path
) -> None:
    result = _analyze(
        runner, str(ball_clip), "-m", str(tiny_model), "-t", "4", "--json", "--no-save", "-f", "3"
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["num_frames"] == 3 and [f["index"] for f in record["frames"]] == [15, 45, 75]
    assert not (in_tmp / "results").exists()


def test_output_option_and_verbose_table(
    runner: CliRunner, tiny_model: Path, ball_clip: Path, in_tmp: Path
) -> None:
    out = in_tmp / "nested" / "run.json"
    result = _analyze(
        runner, str(ball_clip), "-m", str(tiny_model), "-t", "4", "-o", str(out), "-v", "-r", "32"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["resize"] == 32
    assert "Timing" in result.stderr and "peak memory" in result.stderr
    assert [p.name for p in out.parent.iterdir()] == ["run.json"]


def test_short_clip_gives_all_its_frames_with_a_note(
    runner: CliRunner, tiny_model: Path, tmp_path: Path, in_tmp: Path
) -> None:
    clip = write_sample_video(tmp_path / "short.mp4", seconds=0.2, fps=30, size=(64, 48))
    result = _analyze(runner, str(clip), "-m", str(tiny_model), "-t", "2", "--json", "--no-save")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert [f["index"] for f in record["frames"]] == [0, 1, 2, 3, 4, 5]
    assert "using 6 of 8 requested frames: the clip has only 6 frames" in result.stderr
    assert "using 6 of 8 requested frames: the clip has only 6 frames" in record["notes"]


def test_no_socket_is_opened_for_a_local_model(
    runner: CliRunner,
    tiny_model: Path,
    ball_clip: Path,
    in_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    result = _analyze(runner, str(ball_clip), "-m", str(tiny_model), "-t", "3", "--no-save")
    assert result.exit_code == 0, result.output
    assert attempts == []


def test_ctrl_c_exits_130_and_leaves_no_file(
    runner: CliRunner,
    tiny_model: Path,
    ball_clip: Path,
    in_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chronicon_mlx.backends import mlx_backend

    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(mlx_backend.MLXBackend, "generate", interrupt)
    result = _analyze(
        runner, str(ball_clip), "-m", str(tiny_model), "-o", "out.json", "--backend", "mlx"
    )
    assert result.exit_code == 130
    assert "interrupted" in result.stderr
    assert list(in_tmp.iterdir()) == []


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "video not found"),
        ("text", "is not a video OpenCV can read"),
        ("png", "is a still PNG image, not a video"),
        ("png_as_mp4", "is a still PNG image, not a video"),
        ("empty", "is empty (0 bytes)"),
        ("truncated", "is not a video OpenCV can read (damaged, truncated"),
        ("undecodable", "has no decodable video frames"),
    ],
)
def test_bad_videos(
    runner: CliRunner,
    tiny_model: Path,
    bad_files: dict[str, Path],
    in_tmp: Path,
    case: str,
    message: str,
) -> None:
    result = _analyze(runner, str(bad_files[case]), "-m", str(tiny_model))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and message in lines[0]
    assert lines[1].startswith("hint: ")
    assert "Traceback" not in result.output
    assert list(in_tmp.iterdir()) == []


def test_a_folder_without_videos(runner: CliRunner, tiny_model: Path, in_tmp: Path) -> None:
    (in_tmp / "notes").mkdir()
    (in_tmp / "notes" / "a.txt").write_text("x")
    result = _analyze(runner, str(in_tmp / "notes"), "-m", str(tiny_model))
    assert result.exit_code == 2
    assert "no video files in" in result.stderr and "--recursive" in result.stderr
    assert not (in_tmp / "results").exists()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["-f", "0"], 2, "--frames must be between 1 and 64 (got 0)"),
        (["-f", "65"], 2, "--frames must be between 1 and 64 (got 65)"),
        (["-p", ""], 2, "--prompt is empty"),
        (["-p", "   "], 2, "--prompt is empty"),
        (["-s", " \n"], 2, "--system is empty"),
        (["-t", "0"], 2, "--max-tokens must be between"),
        (["-m", "13b"], 2, "unknown model '13b'"),
        (["-m", "./no/such/folder"], 1, "model folder not found"),
    ],
)
def test_bad_options(
    runner: CliRunner,
    tiny_model: Path,
    ball_clip: Path,
    in_tmp: Path,
    args: list[str],
    code: int,
    message: str,
) -> None:
    result = _analyze(runner, str(ball_clip), "-m", str(tiny_model), *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr.splitlines()[0]
    assert result.stderr.splitlines()[1].startswith("hint: ")
    assert list(in_tmp.iterdir()) == []


def test_model_folders_that_are_not_usable(
    runner: CliRunner, tiny_model: Path, ball_clip: Path, in_tmp: Path
) -> None:
    import shutil

    partial = in_tmp / "partial"
    shutil.copytree(tiny_model, partial)
    (partial / "preprocessor_config.json").unlink()
    result = _analyze(runner, str(ball_clip), "-m", str(partial))
    assert result.exit_code == 1
    assert "is missing preprocessor_config.json" in result.stderr

    other = in_tmp / "other"
    shutil.copytree(tiny_model, other)
    (other / "config.json").write_text(json.dumps({"model_type": "llava"}))
    result = _analyze(runner, str(ball_clip), "-m", str(other))
    assert result.exit_code == 1
    assert "holds a 'llava' model, not SmolVLM2" in result.stderr
    assert sorted(p.name for p in in_tmp.iterdir()) == ["other", "partial"]


@pytest.mark.parametrize("target", ["a_file/out.json", "a_file/deeper/out.json"])
def test_unwritable_output_fails_before_any_work(
    runner: CliRunner, tiny_model: Path, ball_clip: Path, in_tmp: Path, target: str
) -> None:
    (in_tmp / "a_file").write_text("x")
    result = _analyze(runner, str(ball_clip), "-m", str(tiny_model), "-o", target)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "Load model" not in result.stderr
    assert sorted(p.name for p in in_tmp.iterdir()) == ["a_file"]


def test_an_existing_folder_as_output_gets_an_auto_named_record(
    runner: CliRunner, tiny_model: Path, ball_clip: Path, in_tmp: Path
) -> None:
    result = _analyze(runner, str(ball_clip), "-m", str(tiny_model), "-t", "2", "-o", ".")
    assert result.exit_code == 0, result.output
    (saved,) = in_tmp.glob("ball clip_*.json")
    assert json.loads(saved.read_text())["video_path"] == str(ball_clip)


def test_uncached_hub_id_while_offline(tmp_path: Path, ball_clip: Path) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "chronicon_mlx",
            "analyze",
            str(ball_clip),
            "-m",
            "500m",
            "--backend",
            "mlx",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 1
    first, hint = proc.stderr.strip().splitlines()[:2]
    assert first == (
        "error: mlx-community/SmolVLM2-500M-Video-Instruct-mlx is not in the Hugging Face cache"
        " and the Hub is offline"
    )
    assert "hf download mlx-community/SmolVLM2-500M-Video-Instruct-mlx" in hint
    assert "--model" in hint
    assert not (tmp_path / "results").exists()


def test_real_subprocess_end_to_end(tiny_model: Path, ball_clip: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "chronicon_mlx",
            "analyze",
            str(ball_clip),
            "-m",
            str(tiny_model),
            "-t",
            "5",
            "-f",
            "4",
            "--json",
            "-o",
            "r.json",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record == json.loads((tmp_path / "r.json").read_text())
    assert record["num_frames"] == 4 and record["tokens"]["generated"] == 5
    assert "Traceback" not in proc.stderr


def test_list_models_and_models_command(runner: CliRunner) -> None:
    listed = runner.invoke(app, ["analyze", "--list-models"])
    assert listed.exit_code == 0
    for alias in ("256m", "500m", "2.2b"):
        assert alias in listed.stdout
    data = json.loads(runner.invoke(app, ["models", "--json"]).stdout)
    assert [m["alias"] for m in data["models"]] == ["256m", "500m", "2.2b"]
    assert data["models"][2]["tokens_per_frame"] == 81
    assert data["machine"]["memory_bytes"] > 0
    assert all(m["cached"] is False for m in data["models"])


def test_help_is_fast_and_lists_every_option(runner: CliRunner) -> None:
    result = runner.invoke(app, ["analyze", "--help"])
    assert result.exit_code == 0
    for option in (
        "--frames",
        "--prompt",
        "--system",
        "--resize",
        "--max-tokens",
        "--temperature",
        "--seed",
        "--model",
        "--output",
        "--no-save",
        "--json",
        "--verbose",
        "--list-models",
    ):
        assert option in result.stdout
    code = (
        "import sys, chronicon_mlx.cli.app; heavy = ('mlx', 'torch', 'cv2', 'transformers');"
        " print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_start_end_and_fps_options(
    runner: CliRunner, tiny_model: Path, ball_clip: Path, in_tmp: Path
) -> None:
    result = _analyze(
        runner,
        str(ball_clip),
        "-m",
        str(tiny_model),
        "-t",
        "2",
        "--json",
        "--no-save",
        "--start",
        "0:01",
        "--end",
        "2.5",
        "--fps",
        "2",
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert [f["index"] for f in record["frames"]] == [37, 52, 67]
    params = record["inference_parameters"]
    assert (params["start_s"], params["end_s"], params["fps"]) == (1.0, 2.5, 2.0)
    many = _analyze(
        runner,
        str(ball_clip),
        "-m",
        str(tiny_model),
        "-t",
        "2",
        "--json",
        "--no-save",
        "--fps",
        "30",
    )
    assert many.exit_code == 0, many.output
    assert json.loads(many.stdout)["num_frames"] == 64
    assert "--fps 30 asks for more than 64 frames; using 64" in many.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "0:09"], "--start 9 s is past the end of the video (3.0 s)"),
        (["--start", "2", "--end", "1"], "--end (1 s) must come after --start (2 s)"),
        (["--fps", "0"], "--fps must be above 0 and at most 60 (got 0)"),
        (["--end", "soon"], "--end 'soon' is not a time"),
    ],
)
def test_bad_ranges(
    runner: CliRunner,
    tiny_model: Path,
    ball_clip: Path,
    in_tmp: Path,
    args: list[str],
    message: str,
) -> None:
    result = _analyze(runner, str(ball_clip), "-m", str(tiny_model), *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr.splitlines()[0]
    assert list(in_tmp.iterdir()) == []


def test_sampling_and_seek_modes_are_recorded(
    runner: CliRunner, tiny_model: Path, ball_clip: Path, in_tmp: Path
) -> None:
    result = _analyze(
        runner,
        str(ball_clip),
        "-m",
        str(tiny_model),
        "-t",
        "2",
        "--json",
        "--no-save",
        "-f",
        "4",
        "--sampling",
        "scene",
        "--seek",
        "keyframe",
    )
    assert result.exit_code == 0, result.output
    params = json.loads(result.stdout)["inference_parameters"]
    assert (params["sampling"], params["seek"], params["decoder"]) == ("scene", "keyframe", "pyav")
    bad = _analyze(runner, str(ball_clip), "-m", str(tiny_model), "--sampling", "random")
    assert bad.exit_code == 2 and "unknown --sampling strategy 'random'" in bad.stderr
