"""`highlights`: scoring with retries (scripted backend), the whole command on the tiny
checkpoint, resume after an interruption, and every output format parsed back."""

from __future__ import annotations

import json
import os
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from chronicon_mlx.analysis.session import ModelSession
from chronicon_mlx.backends import GenerationRequest
from chronicon_mlx.backends.mlx_backend import MLXBackend
from chronicon_mlx.cli.app import app
from chronicon_mlx.highlight.params import HighlightsConfig, plan_windows
from chronicon_mlx.highlight.run import HighlightFinder
from chronicon_mlx.media import probe
from chronicon_mlx.media.synthetic import write_sample_video
from chronicon_mlx.options import profiles
from chronicon_mlx.testing import ScriptedBackend

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def five_minutes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 5-minute clip (10 fps, 160x120): a ball crossing the scene."""
    path = tmp_path_factory.mktemp("videos") / "five minutes.mp4"
    return write_sample_video(path, seconds=300, fps=10, size=(160, 120))


def _finder(tiny_model: Path, backend: ScriptedBackend, profile: str = "sports") -> HighlightFinder:
    session = ModelSession.from_backend(backend, str(tiny_model))
    return HighlightFinder(session, profiles.get(profile))


def test_windows_are_planned_over_the_range(five_minutes: Path) -> None:
    info = probe.probe(five_minutes)
    spans = plan_windows(info, HighlightsConfig())
    assert [(s.start_s, s.end_s) for s in spans][:2] == [(0, 30), (25, 55)]
    assert (spans[-1].start_s, spans[-1].end_s, len(spans)) == (275, 300, 12)
    assert spans[0].indices == [25, 75, 125, 175, 225, 275]
    ranged = plan_windows(info, HighlightsConfig(start_s=60, end_s=120, window_s=40, overlap_s=10))
    assert [(s.start_s, s.end_s) for s in ranged] == [(60, 100), (90, 120)]
    assert all(600 <= i < 1200 for s in ranged for i in s.indices)


def test_a_last_window_shorter_than_the_grid_pitch_still_gets_its_frame(
    tmp_path: Path,
) -> None:
    clip = write_sample_video(tmp_path / "tail.mp4", seconds=2.1, fps=10, size=(96, 64))
    spans = plan_windows(probe.probe(clip), HighlightsConfig(window_s=1, overlap_s=0))
    last = spans[-1]
    assert (last.start_s, last.end_s) == (2.0, pytest.approx(2.1))
    assert last.indices == [20]  # the one frame inside it, where the grid had none


def test_retry_once_then_unscored_never_invented(
    tiny_model: Path, ball_clip: Path, tmp_path: Path
) -> None:
    replies = [
        '{"description": "A ball rolls in.", "significance": 7}',
        "Significance 9/10: a ball!",  # not JSON: retried with a firmer instruction
        '{"description": "The ball crosses.", "significance": 9}',
        "8/10",  # twice wrong: unscored
        "still not json",
    ]
    backend = ScriptedBackend(replies, json_schema=False)
    finder = _finder(tiny_model, backend)
    config = HighlightsConfig(window_s=1.2, overlap_s=0.2, frames_per_window=3)
    result = finder.run(ball_clip, config, tmp_path / "out")
    assert [(w.significance, w.attempts) for w in result.windows] == [(7, 1), (9, 2), (None, 2)]
    assert result.windows[2].description is None and result.windows[2].raw == "still not json"
    assert result.unscored == 1
    firm = [r.prompt for r in backend.requests]
    assert "exactly one JSON object" not in firm[0] and "exactly one JSON object" in firm[2]
    # Every prompt starts with the shared prefix: the profile's system prompt and rubric.
    assert all(r.prefix and r.prompt.startswith(r.prefix) for r in backend.requests)
    assert "fouls, cards, substitutions" in backend.requests[0].prefix
    assert all(r.json_schema is None for r in backend.requests)
    # Windows 0 and 1 overlap and both describe the ball: one highlight, the better score.
    assert [(h.windows, h.significance) for h in result.highlights] == [([0, 1], 9)]
    assert result.highlights[0].description == "The ball crosses."
    record = result.to_dict()
    assert [w["significance"] for w in record["windows"]] == [7, 9, None]
    assert record["counts"] == {
        "windows": 3,
        "scored": 2,
        "unscored": 1,
        "resumed": 0,
        "highlights": 1,
    }


def test_constrained_backends_get_the_schema(tiny_model: Path, ball_clip: Path) -> None:
    backend = ScriptedBackend(['{"description": "x", "significance": 5}'] * 3, json_schema=True)
    config = HighlightsConfig(window_s=1.5, overlap_s=0.5)
    result = _finder(tiny_model, backend).run(ball_clip, config)
    assert all(r.json_schema is not None for r in backend.requests)
    assert all(r.max_tokens >= 200 for r in backend.requests)
    assert [w.significance for w in result.windows] == [5, 5, 5] and result.highlights == []


def _run(runner: CliRunner, *args: str) -> object:
    return runner.invoke(app, ["highlights", *args])


def test_end_to_end_on_the_tiny_checkpoint(
    runner: CliRunner, tiny_model: Path, five_minutes: Path, in_tmp: Path
) -> None:
    result = _run(
        runner,
        str(five_minutes),
        "-m",
        str(tiny_model),
        "-b",
        "mlx",
        "--min-significance",
        "1",
        "--format",
        "json,srt,vtt,md,html",
        "--reel",
        "reel.mp4",
        "--sort",
        "time",
    )
    assert result.exit_code == 0, result.output
    folder = in_tmp / "results" / "five minutes_highlights"
    record = json.loads((folder / "five minutes_highlights.json").read_text())
    assert record["counts"]["windows"] == 12 and len(record["windows"]) == 12
    for window in record["windows"]:
        assert set(window) >= {"start_s", "end_s", "description", "significance"}
        assert window["significance"] is None or 1 <= window["significance"] <= 10
        assert window["cached_tokens"] > 0 and window["constrained"] is True
    assert record["backend"] == "mlx" and record["random_weights"] is True
    highlights = record["highlights"]
    assert 1 <= len(highlights) <= 10
    assert [h["rank"] for h in highlights] == list(range(1, len(highlights) + 1))
    assert [h["significance"] for h in highlights] == sorted(
        (h["significance"] for h in highlights), reverse=True
    )
    for h in highlights:
        assert re.fullmatch(r"\d:\d\d:\d\d", h["start"]) and h["end_s"] > h["start_s"]
        assert (folder / h["frame"]["thumbnail"]).is_file()
        assert cv2.imread(str(folder / h["frame"]["thumbnail"])) is not None
    _check_srt((folder / "five minutes_highlights.srt").read_text(), record["windows"])
    _check_vtt((folder / "five minutes_highlights.vtt").read_text(), record["windows"])
    _check_html(folder / "five minutes_highlights.html", highlights)
    markdown = (folder / "five minutes_highlights.md").read_text()
    assert markdown.startswith("# Highlights of five minutes.mp4")
    assert all(f"]({h['frame']['thumbnail']})" in markdown for h in highlights)
    reel = cv2.VideoCapture(str(in_tmp / "reel.mp4"))
    frames = int(reel.get(cv2.CAP_PROP_FRAME_COUNT))
    reel.release()
    spans = sorted((h["start_s"], h["end_s"]) for h in highlights)
    joined: list[list[float]] = []
    for start, end in spans:
        if joined and start <= joined[-1][1]:
            joined[-1][1] = max(joined[-1][1], end)
        else:
            joined.append([start, end])
    assert frames == sum(round((end - start) * 10) for start, end in joined)


def _check_srt(text: str, windows: list[dict[str, object]]) -> None:
    blocks = text.strip().split("\n\n")
    assert len(blocks) == len(windows)
    previous_end = -1.0
    for number, block in enumerate(blocks, start=1):
        lines = block.split("\n")
        assert lines[0] == str(number)
        match = re.fullmatch(
            r"(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})", lines[1]
        )
        assert match, lines[1]
        h1, m1, s1, ms1, h2, m2, s2, ms2 = (int(g) for g in match.groups())
        start = h1 * 3600 + m1 * 60 + s1 + ms1 / 1000
        end = h2 * 3600 + m2 * 60 + s2 + ms2 / 1000
        assert end > start >= previous_end
        previous_end = end
        window = windows[number - 1]
        assert start == pytest.approx(window["start_s"], abs=1e-3)
        assert lines[2].startswith("[") or lines[2] == "(unscored)"


def _check_vtt(text: str, windows: list[dict[str, object]]) -> None:
    assert text.startswith("WEBVTT\n\n")
    timings = re.findall(r"^(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})$", text, re.M)
    assert len(timings) == len(windows)


class _Checker(HTMLParser):
    VOID = frozenset({"meta", "img", "br", "link", "hr", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()


def _check_html(path: Path, highlights: list[dict[str, object]]) -> None:
    checker = _Checker()
    checker.feed(path.read_text())
    checker.close()
    assert checker.stack == []
    wanted = {h["frame"]["thumbnail"] for h in highlights}  # type: ignore[index]
    assert wanted <= set(checker.images)
    assert all(src.startswith("thumbs/window-") for src in checker.images)
    assert all((path.parent / src).is_file() for src in checker.images)


def test_resume_after_an_interruption_gives_the_same_result(
    runner: CliRunner,
    tiny_model: Path,
    five_minutes: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = [
        str(five_minutes),
        "-m",
        str(tiny_model),
        "-b",
        "mlx",
        "--min-significance",
        "1",
        "--end",
        "2:00",
    ]
    whole = _run(runner, *args, "-o", str(tmp_path / "whole"))
    assert whole.exit_code == 0, whole.output
    calls = {"n": 0}
    original = MLXBackend.generate

    def interrupted(
        self: MLXBackend, request: GenerationRequest, on_token: object = None
    ) -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, request)

    monkeypatch.setattr(MLXBackend, "generate", interrupted)
    broken = _run(runner, *args, "-o", str(tmp_path / "resumed"))
    assert broken.exit_code == 130
    checkpoint = tmp_path / "resumed" / "checkpoint.jsonl"
    assert len(checkpoint.read_text().splitlines()) == 1 + 2  # header + 2 finished windows
    assert not (tmp_path / "resumed" / "five minutes_highlights.json").exists()
    monkeypatch.setattr(MLXBackend, "generate", original)
    resumed = _run(runner, *args, "-o", str(tmp_path / "resumed"))
    assert resumed.exit_code == 0, resumed.output
    assert "resuming" in resumed.output and "2 of 5 windows already done" in resumed.output
    a = json.loads((tmp_path / "whole" / "five minutes_highlights.json").read_text())
    b = json.loads((tmp_path / "resumed" / "five minutes_highlights.json").read_text())
    assert b["counts"]["resumed"] == 2
    assert a["windows"] == b["windows"] and a["highlights"] == b["highlights"]
    changed = _run(runner, *args, "-o", str(tmp_path / "resumed"), "--window", "20")
    assert changed.exit_code == 0
    assert "different parameters (window_s changed); starting over" in changed.output


def test_analyze_with_a_profile(
    runner: CliRunner, tiny_model: Path, ball_clip: Path, in_tmp: Path
) -> None:
    args = ["analyze", str(ball_clip), "-m", str(tiny_model), "-b", "mlx", "--json", "--no-save"]
    result = runner.invoke(app, [*args, "--profile", "summary", "-t", "4"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    summary = profiles.get("summary")
    assert record["profile"] == "summary" and record["system"] == summary.system
    assert record["prompt"] == summary.prompt and record["max_tokens"] == 4
    assert record["inference_parameters"]["requested_frames"] == summary.frames == 12
    explicit = runner.invoke(app, [*args, "--profile", "sports", "-s", "Mine.", "-f", "2"])
    record = json.loads(explicit.stdout)
    assert record["system"] == "Mine." and record["prompt"] == profiles.get("sports").prompt
    assert record["num_frames"] == 2 and record["max_tokens"] == profiles.get("sports").max_tokens
    unknown = runner.invoke(app, [*args, "--profile", "nope"])
    assert unknown.exit_code == 2 and "unknown profile 'nope'" in unknown.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--overlap", "30"], "--overlap must be at least 0 and less than --window"),
        (["--window", "0"], "--window must be above 0"),
        (["--format", "json,pdf"], "unknown --format 'pdf'"),
        (["--min-significance", "11"], "--min-significance must be between 1 and 10"),
        (["--sort", "size"], "unknown --sort 'size'"),
        (["--profile", "nope"], "unknown profile 'nope'"),
    ],
)
def test_bad_highlights_options(
    runner: CliRunner,
    tiny_model: Path,
    ball_clip: Path,
    in_tmp: Path,
    extra: list[str],
    message: str,
) -> None:
    result = _run(runner, str(ball_clip), "-m", str(tiny_model), *extra)
    assert result.exit_code == 2, result.output
    assert message in result.output and "hint:" in result.output
    assert not (in_tmp / "results").exists()


def test_reel_uses_ffmpeg_when_it_is_on_path(
    tmp_path: Path, ball_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an ffmpeg binary on PATH the reel is cut by it (keeping audio); here a stand-in
    records its arguments and writes the output file."""
    from chronicon_mlx.highlight.result import Highlight
    from chronicon_mlx.output.reel import write_reel

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "args.json"
    fake = bin_dir / "ffmpeg"
    fake.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"json.dump(sys.argv[1:], open({str(log)!r}, 'w'))\n"
        "open(sys.argv[-1], 'wb').write(b'cut')\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    spans = [(2.0, 2.5), (0.5, 1.5), (1.0, 1.8)]
    highlights = [Highlight(s, e, "x", 7, [0], 0, s, None) for s, e in spans]
    reel = write_reel(probe.probe(ball_clip), highlights, tmp_path / "reel.mp4")
    assert reel.method == "ffmpeg" and reel.segments == [(0.5, 1.8), (2.0, 2.5)]
    assert (tmp_path / "reel.mp4").read_bytes() == b"cut"
    args = json.loads(log.read_text())
    graph = args[args.index("-filter_complex") + 1]
    assert "trim=start=0.500:end=1.800" in graph and "trim=start=2.000:end=2.500" in graph
    assert "concat=n=2:v=1:a=0" in graph  # the generated clip has no audio track
    assert not list(tmp_path.glob(".reel*"))
    opencv = write_reel(probe.probe(ball_clip), highlights, tmp_path / "cv.mp4", use_ffmpeg=False)
    assert opencv.method == "opencv"
    assert probe.probe(tmp_path / "cv.mp4").frame_count == round(1.3 * 30) + round(0.5 * 30)
    from chronicon_mlx.output.reel import ffmpeg_command

    with_audio = ffmpeg_command("ffmpeg", Path("in.mp4"), [(0.0, 1.0)], Path("o.mp4"), True)
    assert "[0:a]atrim=start=0.000:end=1.000,asetpts=PTS-STARTPTS[a0]" in with_audio[8]
    assert with_audio[-3:] == ["-map", "[a]", "o.mp4"]
