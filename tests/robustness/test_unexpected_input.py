"""Second round, class 4 (crashes): input the code did not expect ended in "unexpected ..."
errors or tracebacks. Each now gets one clear line and the right exit code; a closed pipe
exits quietly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file
from typer.testing import CliRunner

from chronicon_mlx.analysis.analyze import Analyzer
from chronicon_mlx.analysis.conversation import VideoChat
from chronicon_mlx.analysis.params import GenerationConfig, SamplingConfig
from chronicon_mlx.analysis.result import Answer, Usage
from chronicon_mlx.analysis.spec import SessionSpec
from chronicon_mlx.analysis.videocache import VideoCache, _checksum
from chronicon_mlx.archive.manifest import Manifest
from chronicon_mlx.cli.app import app

pytestmark = pytest.mark.slow
DEEP = "[" * 100_000 + "]" * 100_000
CHAT = ["-b", "mlx", "--frames", "2", "--max-tokens", "4"]


def _cli(*args: str, **options: object) -> subprocess.CompletedProcess[bytes]:
    code = (
        "import sys; from chronicon_mlx.cli.app import main; sys.argv[0] = 'chronicon-mlx'; main()"
    )
    return subprocess.run(  # type: ignore[call-overload,no-any-return]
        [sys.executable, "-c", code, *args], capture_output=True, timeout=300, **options
    )


def test_text_that_is_not_utf8_is_refused_in_one_line(
    runner: CliRunner, tiny_model: Path, ball_clip: Path
) -> None:
    """A non-UTF-8 byte in `-p`, `-s` or a highlights prompt (TypeError, UnicodeEncodeError)."""
    bad = "caf\udce9?"  # how Python reads the byte 0xE9 of a Latin-1 command line
    for args in (["analyze", "-p", bad], ["analyze", "-s", bad], ["highlights", "-p", bad]):
        done = runner.invoke(app, [args[0], str(ball_clip), "-m", str(tiny_model), *args[1:]])
        assert done.exit_code == 2, done.output
        assert "holds bytes that are not UTF-8 text" in done.stderr
        assert "unexpected" not in done.stderr


def test_a_chat_line_that_is_not_utf8_is_one_error_and_the_chat_goes_on(
    tiny_model: Path, ball_clip: Path
) -> None:
    questions = b"What moves?\n\xff\xfe broken\nAnd then?\n"
    done = _cli("chat", str(ball_clip), "-m", str(tiny_model), *CHAT, "--json", input=questions)
    assert done.returncode == 1, done.stderr
    turns = [json.loads(line) for line in done.stdout.splitlines()]
    assert [t["prompt"] for t in turns] == ["What moves?", "And then?"]
    errors = [line for line in done.stderr.decode().splitlines() if line.startswith("error:")]
    assert errors == ["error: --prompt holds bytes that are not UTF-8 text"]


def test_an_earlier_answer_holding_image_does_not_break_follow_ups(
    tiny_model: Path, ball_clip: Path
) -> None:
    """`<image>` in an earlier answer broke every later follow-up (IndexError)."""
    session = Analyzer(SessionSpec(str(tiny_model), backend="mlx", device="cpu"))
    chat = VideoChat.open(session, ball_clip, None, SamplingConfig(frames=2), GenerationConfig(4))
    usage = Usage(10, 4, 0.0, 0.0, 0.0, "length")
    earlier = "It is an <image> of <end_of_utterance> a ball"
    chat.turns.append(Answer("What is it?", earlier, usage, {}))
    answer = chat.ask("And then?")
    assert answer.usage.generated_tokens == 4
    assert "<image>" not in chat.prompt("Next?").split("Assistant:")[1]


def test_lines_a_manifest_should_not_hold_are_skipped(tmp_path: Path) -> None:
    """Mistyped or 100,000-deep manifest lines (RecursionError, TypeError)."""
    good = {
        "command": "analyze",
        "video": "/v.mp4",
        "status": "ok",
        "output": "/v.json",
        "seconds": 1.0,
        "error": None,
        "digest": "0" * 16,
        "finished_at": "2026-12-04T10:00:00+00:00",
        "retry": False,
        "worker": "h:1",
    }
    lines = [DEEP, json.dumps({**good, "seconds": "fast"}), json.dumps({**good, "retry": 1})]
    lines += [json.dumps({**good, "extra": 1}), "[1, 2]", json.dumps(good)]
    (tmp_path / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    assert [e.video for e in Manifest(tmp_path).entries()] == ["/v.mp4"]


@pytest.mark.parametrize("kind", ["config", "profiles", "model", "checkpoint"])
def test_deep_nesting_is_one_clear_line(
    runner: CliRunner, tiny_model: Path, ball_clip: Path, tmp_path: Path, kind: str
) -> None:
    """100,000-deep nesting in config.toml, a profiles file, a model's config.json or a
    checkpoint line (RecursionError)."""
    deep_toml = "x = " + "[" * 100_000 + "]" * 100_000 + "\n"
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    if kind == "config":
        (tmp_path / "xdg" / "chronicon-mlx").mkdir(parents=True)
        (tmp_path / "xdg" / "chronicon-mlx" / "config.toml").write_text(deep_toml)
        done = runner.invoke(app, ["config", "show"], env=env)
        assert done.exit_code == 2 and "nests its tables or arrays too deeply" in done.stderr
    elif kind == "profiles":
        (tmp_path / "p.toml").write_text(deep_toml)
        done = runner.invoke(app, ["profiles", "--profiles-file", str(tmp_path / "p.toml")])
        assert done.exit_code == 2 and "nests its tables or arrays too deeply" in done.stderr
    elif kind == "model":
        model = Path(shutil.copytree(tiny_model, tmp_path / "model"))
        config = json.loads((model / "config.json").read_text())
        text = json.dumps(config)[:-1] + ', "deep": ' + DEEP + "}"
        (model / "config.json").write_text(text)
        done = runner.invoke(app, ["analyze", str(ball_clip), "-m", str(model)])
        assert done.exit_code == 1 and "nests its values too deeply" in done.stderr
    else:
        folder = tmp_path / "report"
        args = ["highlights", str(ball_clip), "-m", str(tiny_model), "-b", "mlx"]
        args += ["--window", "1.5", "--overlap", "0", "-o", str(folder)]
        assert runner.invoke(app, args).exit_code == 0
        checkpoint = folder / "checkpoint.jsonl"
        lines = checkpoint.read_text().splitlines()
        checkpoint.write_text("\n".join([lines[0], DEEP, *lines[2:]]) + "\n")
        done = runner.invoke(app, args)
        assert done.exit_code == 0 and "1 invalid line" in done.stderr
    assert "unexpected" not in done.stderr and "Traceback" not in done.output


def test_closed_standard_streams(tiny_model: Path, ball_clip: Path, tmp_path: Path) -> None:
    """stdin closed (`chat <&-`), stdout closed (`>&-`) and a reader that goes away
    (`chat | head -n 1`): BrokenPipeError and AttributeError before."""
    chat = ["chat", str(ball_clip), "-m", str(tiny_model), *CHAT]
    closed_in = _cli(*chat, preexec_fn=lambda: os.close(0))
    assert closed_in.returncode == 2
    assert b"standard input is closed" in closed_in.stderr and b"Traceback" not in closed_in.stderr
    record = tmp_path / "record.json"
    args = ["analyze", str(ball_clip), "-m", str(tiny_model), *CHAT, "-o", str(record)]
    closed_out = _cli(*args, preexec_fn=lambda: os.close(1))
    assert closed_out.returncode == 0, closed_out.stderr
    assert json.loads(record.read_text())["num_frames"] == 2
    code = (
        "import sys; from chronicon_mlx.cli.app import main; sys.argv[0] = 'chronicon-mlx'; main()"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *chat, "--json"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"What moves?\n" * 50)
    proc.stdin.close()
    assert json.loads(proc.stdout.readline())["turn"] == 1
    proc.stdout.close()  # the reader goes away, as `head -n 1` does
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.wait(timeout=300)
    assert proc.returncode == 141 and err.count(b"error") == 0 and b"Traceback" not in err


def test_a_cache_folder_that_is_a_file_is_one_line(
    runner: CliRunner, ball_clip: Path, tmp_path: Path
) -> None:
    """CHRONICON_CACHE pointing at a regular file."""
    plain = tmp_path / "a file"
    plain.write_text("not a folder")
    env = {"CHRONICON_CACHE": str(plain), "CHRONICON_VIDEO_CACHE": ""}
    done = runner.invoke(app, ["analyze", str(ball_clip), "-m", "tiny-random"], env=env)
    assert done.exit_code == 1
    assert "CHRONICON_CACHE" in done.stderr and "unexpected" not in done.stderr


@pytest.mark.parametrize("spoil", ["infinite time", "huge time", "nan features"])
@pytest.mark.parametrize("backend", ["mlx", "transformers"])
def test_a_re_signed_cache_entry_with_impossible_numbers_is_refused(
    tiny_model: Path, ball_clip: Path, tmp_path: Path, spoil: str, backend: str
) -> None:
    """A cache entry re-signed (checksum recomputed) with an infinite or 1e300 frame time,
    or NaN features."""
    cache = VideoCache(tmp_path / "cache", 10**9)

    def run() -> list[str]:
        spec = SessionSpec(str(tiny_model), backend=backend, device="cpu")  # type: ignore[arg-type]
        result = Analyzer(spec, video_cache=cache).analyze(
            ball_clip, "What moves?", None, SamplingConfig(frames=2), GenerationConfig(4)
        )
        return result.notes

    run()
    (entry,) = cache.root.glob("frames-*.safetensors")
    with safe_open(str(entry), framework="np") as handle:
        meta = dict(handle.metadata() or {})
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    frames = json.loads(meta["frames"])
    if spoil == "nan features":
        tensors["frame.0"] = np.full_like(tensors["frame.0"], np.nan)
    else:
        frames[0][1] = float("inf") if spoil == "infinite time" else 1e300
    meta.update(frames=json.dumps(frames), checksum=_checksum(tensors))
    save_file(tensors, str(entry), meta)
    notes = run()
    assert any(note.startswith("ignored a video cache entry") for note in notes), notes


def test_a_30_mb_chat_line_is_refused_before_it_is_read_as_tokens(
    tiny_model: Path, ball_clip: Path
) -> None:
    """One 30 MB line cost 6 GB and 108 s before it was refused."""
    questions = b"word " * 6_000_000 + b"\nWhat moves?\n"
    started = time.perf_counter()
    done = _cli("chat", str(ball_clip), "-m", str(tiny_model), *CHAT, "--json", input=questions)
    assert time.perf_counter() - started < 60
    assert done.returncode == 1
    assert b"characters, more than" in done.stderr
    assert [json.loads(line)["prompt"] for line in done.stdout.splitlines()] == ["What moves?"]
