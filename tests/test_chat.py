"""`chronicon-mlx chat`: questions from a pipe (one answer per line), a conversation whose
follow-ups see the earlier turns with the video's prefix reused, /reset, a transcript, and a
terminal session where Ctrl-C stops an answer but not the chat."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import signal
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chronicon_mlx.analysis.frames import sample_video
from chronicon_mlx.analysis.params import SamplingConfig
from chronicon_mlx.analysis.runlog import RunLog
from chronicon_mlx.backends import Candidate, GenerationRequest, create
from chronicon_mlx.cli.app import app
from chronicon_mlx.model.context import without_reserved
from chronicon_mlx.model.prompt import build_conversation, load_chat_template, render
from chronicon_mlx.model.resolver import resolve

ARGS = ["--model", "tiny-random", "-b", "mlx", "--frames", "3", "--max-tokens", "8"]


def _chat(runner: CliRunner, clip: Path, text: str, *extra: str) -> tuple[int, list[str], str]:
    result = runner.invoke(app, ["chat", str(clip), *ARGS, *extra], input=text)
    return result.exit_code, result.stdout.splitlines(), result.stderr


def test_questions_from_a_pipe_get_one_answer_each(
    runner: CliRunner, ball_clip: Path, tiny_model: Path
) -> None:
    code, lines, _ = _chat(runner, ball_clip, "What moves?\n\nAnd then?\n", "--json")
    assert code == 0
    turns = [json.loads(line) for line in lines]
    assert [(t["turn"], t["prompt"]) for t in turns] == [(1, "What moves?"), (2, "And then?")]
    first, second = turns
    assert second["tokens"]["reused"] == first["tokens"]["reused"] > 3 * 4
    assert second["encoded_frames"] == 0 and first["encoded_frames"] == 3
    # The follow-up saw the first turn: its prompt is the whole conversation, and its answer
    # is the one a fresh backend gives for that conversation with nothing reused.
    backend = create(Candidate("mlx", "cpu"))
    backend.load(resolve(str(tiny_model)))
    video = sample_video(ball_clip, SamplingConfig(frames=3), 64, RunLog())
    earlier = without_reserved(resolve(str(tiny_model)), first["analysis"])  # as fed back
    messages = build_conversation(
        [("What moves?", earlier)], "And then?", video.times, video.info.duration_s
    )
    prompt = render(load_chat_template(tiny_model), messages)
    fresh = backend.generate(GenerationRequest(video.images, prompt, max_tokens=8))
    assert fresh.text == second["analysis"] and fresh.prompt_tokens == second["tokens"]["prompt"]
    plain_code, plain, _ = _chat(runner, ball_clip, "What moves?\nAnd then?\n")
    assert plain_code == 0 and len(plain) >= 2
    assert plain[0] == first["analysis"].splitlines()[0]


def test_reset_forgets_the_conversation_and_a_transcript_is_kept(
    runner: CliRunner, ball_clip: Path, tmp_path: Path
) -> None:
    transcript = tmp_path / "chat.json"
    text = "What moves?\nAnd then?\n/reset\nWhat moves?\n/help\n/nonsense\n/quit\nNever asked\n"
    code, lines, err = _chat(runner, ball_clip, text, "--json", "-o", str(transcript))
    assert code == 0
    turns = [json.loads(line) for line in lines]
    assert [t["prompt"] for t in turns] == ["What moves?", "And then?", "What moves?"]
    assert turns[2]["tokens"]["prompt"] == turns[0]["tokens"]["prompt"]
    assert turns[2]["analysis"] == turns[0]["analysis"]
    assert "conversation cleared; the video stays" in err
    assert "/reset" in err and "error: unknown command '/nonsense'" in err
    saved = json.loads(transcript.read_text())
    assert saved["kind"] == "chat" and saved["model"] == "tiny-random"
    assert [t["prompt"] for t in saved["turns"]] == ["What moves?"]  # since the reset
    assert len(saved["frames"]) == 3
    assert not list(tmp_path.glob(".chat.json.*"))


def test_a_question_that_fails_is_reported_and_the_chat_goes_on(
    runner: CliRunner, ball_clip: Path
) -> None:
    code, lines, err = _chat(runner, ball_clip, "Look at <image> here\nWhat moves?\n", "--json")
    assert code == 1
    assert [json.loads(line)["prompt"] for line in lines] == ["What moves?"]
    assert "error:" in err and "<image>" in err


def test_bad_input_stops_before_the_model_loads(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["chat", str(tmp_path / "missing.mp4"), *ARGS], input="Q\n")
    assert result.exit_code == 1 and "video not found" in result.stderr
    assert result.stdout == ""


class Terminal:
    """The chat in a pseudo-terminal, as a person would run it."""

    def __init__(self, args: list[str]) -> None:
        env = {**os.environ, "TERM": "xterm", "COLUMNS": "100", "NO_COLOR": "1"}
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # pragma: no cover - the child
            os.execvpe(sys.executable, [sys.executable, "-m", "chronicon_mlx", *args], env)
        self.seen = ""

    def wait_for(self, text: str, timeout: float = 120.0) -> str:
        """Read until `text` has appeared after what earlier waits consumed."""
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{text!r} never appeared in {self.seen[-2000:]!r}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"the chat ended before {text!r}: {self.seen[-2000:]!r}")
                self.seen += chunk.decode("utf-8", "replace")
        before, _, self.seen = self.seen.partition(text)
        return before

    def send(self, data: str) -> None:
        os.write(self.fd, data.encode())

    def exit_code(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            with_data, _, _ = select.select([self.fd], [], [], 0.2)
            if with_data:
                with contextlib.suppress(OSError):
                    os.read(self.fd, 4096)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError("the chat did not end")


@pytest.mark.slow
def test_ctrl_c_stops_an_answer_not_the_chat(ball_clip: Path, tmp_path: Path) -> None:
    transcript = tmp_path / "chat.json"
    term = Terminal(
        [
            "chat",
            str(ball_clip),
            "--model",
            "tiny-random",
            "-b",
            "mlx",
            "--frames",
            "3",
            "--max-tokens",
            "4000",
            "-o",
            str(transcript),
        ]
    )
    term.wait_for("ready:")
    term.wait_for("> ")
    term.send("What moves?\r")
    term.wait_for("What moves?")
    time.sleep(0.3)  # the answer is streaming (4000 tokens take seconds)
    term.send("\x03")
    term.wait_for("answer interrupted")
    term.wait_for("> ")
    assert not transcript.exists()  # an interrupted answer is not a turn
    time.sleep(0.5)  # readline is waiting for a key (not still drawing the prompt)
    term.send("\x03")  # at the prompt: a fresh line, the chat goes on
    term.wait_for("> ")
    term.send("/reset\r")
    term.wait_for("conversation cleared")
    term.wait_for("> ")
    time.sleep(0.5)  # as above: the key goes to readline, not to the prompt being drawn
    term.send("\x04")
    assert term.exit_code() == 0
