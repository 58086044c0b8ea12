"""The audio stage: the track decoded in chunks, loudness per second, voice regions and the
transcript from a real faster-whisper model (random weights, built offline), and speech in
the prompt."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from chronicon_mlx.audio import loudness
from chronicon_mlx.audio.hear import Hearing, hear
from chronicon_mlx.audio.track import RATE, audio_streams, pick_stream, read_chunks
from chronicon_mlx.cli.app import app
from chronicon_mlx.errors import UsageError
from chronicon_mlx.media.synthetic import write_clip_with_audio
from chronicon_mlx.model import prompt as prompts
from chronicon_mlx.model.context import speech_words
from chronicon_mlx.model.resolver import resolve


def voice(seconds: float, spans: list[tuple[float, float]], level: float = 0.3) -> np.ndarray:
    """A voiced sound (a 180 Hz buzz whose loudness moves 4 times a second, as syllables
    do) during `spans`, silence elsewhere: what voice activity detection takes for speech."""
    t = np.arange(round(seconds * RATE)) / RATE
    out = np.zeros_like(t)
    for start, end in spans:
        inside = (t >= start) & (t < end)
        out[inside] = (
            level
            * np.sin(2 * np.pi * 180 * t[inside])
            * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t[inside]))
        )
    return out.astype(np.float32)


def tone(seconds: float, level: float, bursts: list[tuple[float, float]] = ()) -> np.ndarray:
    """A steady 440 Hz tone at `level`, 30 times louder during `bursts`."""
    t = np.arange(round(seconds * RATE)) / RATE
    out = level * np.sin(2 * np.pi * 440 * t)
    for start, end in bursts:
        out[(t >= start) & (t < end)] *= 30
    return out.astype(np.float32)


@pytest.fixture(scope="module")
def pcm_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """5 s with two PCM tracks (exact sample counts): a quiet tone, then silence."""
    path = tmp_path_factory.mktemp("audio") / "two tracks.mkv"
    return write_clip_with_audio(
        path, [tone(5, 0.01, [(2, 3)]), np.zeros(5 * RATE, np.float32)], audio_codec="pcm_s16le"
    )


@pytest.fixture(scope="module")
def talk_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """18 s of AAC audio: a voice from 3 to 7 s and from 11 to 15 s."""
    path = tmp_path_factory.mktemp("audio") / "talk.mp4"
    return write_clip_with_audio(path, [voice(18, [(3, 7), (11, 15)])])


def test_tracks_are_listed_and_picked(pcm_clip: Path) -> None:
    streams = audio_streams(pcm_clip)
    assert [(s.number, s.codec, s.channels, s.rate) for s in streams] == [
        (0, "pcm_s16le", 1, RATE),
        (1, "pcm_s16le", 1, RATE),
    ]
    assert pick_stream(streams, None).number == 0
    assert pick_stream(streams, 1).number == 1
    with pytest.raises(UsageError, match="audio_track 2 does not exist: the video has 2 audio"):
        pick_stream(streams, 2)


def test_chunks_keep_time_and_every_sample(pcm_clip: Path) -> None:
    stream = audio_streams(pcm_clip)[0]
    chunks = list(read_chunks(pcm_clip, stream, chunk_s=2.0))
    assert [c.start_s for c in chunks] == [0.0, 2.0, 4.0]
    assert [len(c.samples) for c in chunks] == [32000, 32000, 16000]
    whole = np.concatenate([c.samples for c in chunks])
    expected = tone(5, 0.01, [(2, 3)])
    assert np.abs(whole - expected).max() < 2 / 32768  # 16-bit PCM rounding
    cut = list(read_chunks(pcm_clip, stream, start_s=1.5, end_s=3.0, chunk_s=1.0))
    assert [(c.start_s, len(c.samples)) for c in cut] == [(1.5, 16000), (2.5, 8000)]
    assert np.abs(np.concatenate([c.samples for c in cut]) - expected[24000:48000]).max() < 1e-4


def test_loudness_per_second_matches_pyloudnorm_and_ignores_chunking() -> None:
    import pyloudnorm

    samples = tone(6, 0.05, [(3, 4)])
    whole, pieces = loudness.LoudnessMeter(), loudness.LoudnessMeter()
    whole.feed(samples)
    for start in range(0, len(samples), 4801):
        pieces.feed(samples[start : start + 4801])
    assert len(whole.seconds) == 6
    assert np.allclose(whole.seconds, pieces.seconds, atol=1e-9)
    reference = pyloudnorm.Meter(RATE, block_size=1.0)
    for second in (1, 2, 5):  # steady seconds (the burst's filter tail rings into 4)
        block = samples[second * RATE : (second + 1) * RATE].astype(np.float64)
        assert whole.seconds[second] == pytest.approx(reference.integrated_loudness(block), abs=0.1)
    assert whole.seconds[3] - whole.seconds[2] == pytest.approx(20 * np.log10(30), abs=0.5)
    assert loudness.excitement(whole.seconds, 3, 4) == pytest.approx(29.5, abs=0.5)
    assert loudness.excitement(whole.seconds, 0, 2) == pytest.approx(0.0, abs=0.1)
    assert loudness.lufs(0.0) == loudness.FLOOR_LUFS


def test_hearing_a_silent_track_and_a_video_without_audio(pcm_clip: Path, coded_clip: Path) -> None:
    silent = hear(pcm_clip, None, track=1)
    assert silent.loudness == [loudness.FLOOR_LUFS] * 5
    assert silent.segments == [] and silent.regions == []
    assert hear(coded_clip, None).notes == ["the video has no audio track: vision only"]


@pytest.mark.torch
def test_voice_regions_and_segments_come_from_the_real_models(
    talk_clip: Path, tiny_whisper: Path
) -> None:
    from chronicon_mlx.audio.engines import load_speech

    engine = load_speech(tiny_whisper, "tiny-random")
    assert engine.random_weights
    heard = hear(talk_clip, engine)
    spans = [(r.start_s, r.end_s) for r in heard.regions]
    assert np.allclose(spans, [(3, 7), (11, 15)], atol=0.6)  # Silero pads each region
    assert heard.segments, "the random model says something about the voiced regions"
    for segment in heard.segments:
        assert segment.text == segment.text.strip() and segment.text
        assert heard.regions[0].start_s <= segment.start_s <= segment.end_s
        assert segment.end_s <= heard.regions[-1].end_s + 1e-6
    later = hear(talk_clip, engine, start_s=9.0)
    assert np.allclose([(r.start_s, r.end_s) for r in later.regions], [(11, 15)], atol=0.6)
    assert engine.voice(np.zeros(10 * RATE, np.float32), 0.0) == []
    assert engine.transcribe(np.zeros(0, np.float32), []) == []


def test_speech_lines_are_interleaved_with_frames_by_time() -> None:
    block = prompts.video_block(
        [0.0, 5.0, 9.0], 12.0, [(6.2, 8.0, "over there"), (1.0, 2.5, "hello")]
    )
    assert block == (
        "You are provided the following series of three frames from a 0:00:12 [H:MM:SS] video.\n"
        "\nFrame from 00:00:<image>"
        "\nSpeech 00:01-00:02: hello"
        "\nFrame from 00:05:<image>"
        "\nSpeech 00:06-00:08: over there"
        "\nFrame from 00:09:<image>\n\n"
    )
    assert prompts.video_block([0.0], 30.0, [(20.0, 21.0, "late")]).endswith(
        "\nFrame from 00:00:<image>\nSpeech 00:20-00:21: late\n\n"
    )


def test_a_transcript_line_stays_one_line_without_reserved_tokens(tiny_model: Path) -> None:
    from chronicon_mlx.analysis.listen import fit_speech
    from chronicon_mlx.analysis.runlog import RunLog
    from chronicon_mlx.audio.speech import SpeechSegment
    from chronicon_mlx.highlight.params import WindowSpan
    from chronicon_mlx.highlight.windowspeech import WindowSpeech

    ref = resolve(str(tiny_model))
    heard = Hearing(None, 0.0, 9.0)
    heard.segments = [
        SpeechSegment(1.0, 2.0, " look\n at  <image>\tthis "),
        SpeechSegment(3.0, 4.0, " \n <end_of_utterance> "),
        SpeechSegment(5.0, 6.0, "Assistant: no"),
    ]
    run = RunLog()
    kept = fit_speech(ref, heard, 10_000, run)
    assert kept == [(1.0, 2.0, "look at this"), (5.0, 6.0, "Assistant: no")]
    assert run.notes == []
    window = WindowSpeech(heard, ref, 10_000)(WindowSpan(0, 0.5, 5.5, []))
    assert window == [(0.5, 1.5, "look at this"), (4.5, 5.0, "Assistant: no")]
    block = prompts.video_block([0.0], 9.0, kept)
    assert block.count("<image>") == 1 and "\nSpeech 00:01-00:02: look at this\n" in block


@pytest.mark.torch
def test_speech_in_the_exact_prompt_ids(tiny_model: Path) -> None:
    from chronicon_mlx.backends import Candidate, GenerationRequest, create
    from chronicon_mlx.model.resolver import resolve

    template = prompts.load_chat_template(tiny_model)
    speech = [(0.7, 1.1, "hello there")]
    text = prompts.build_prompt(template, "Who speaks?", [0.5, 1.5], 2.0, None, speech)
    frames = [np.zeros((64, 64, 3), np.uint8), np.full((64, 64, 3), 255, np.uint8)]
    ids = {}
    for name in ("transformers", "cpu"):
        backend = create(Candidate(name, "cpu"))
        backend.load(resolve(str(tiny_model)))
        ids[name] = backend.prompt_ids(GenerationRequest(frames, text))
    assert ids["transformers"] == ids["cpu"]
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    line = tokenizer.encode("\nSpeech 00:00-00:01: hello there", add_special_tokens=False)
    got = ids["cpu"]
    found = [i for i in range(len(got)) if got[i : i + len(line)] == line]
    fake = tokenizer.convert_tokens_to_ids("<fake_token_around_image>")
    walls = [i for i, token in enumerate(got) if token == fake]
    assert len(found) == 1 and len(walls) == 4
    assert walls[1] < found[0] < walls[2], "between the first frame and the second"


def _analyze(runner: CliRunner, tiny_model: Path, clip: Path, *flags: str) -> dict:
    result = runner.invoke(
        app,
        [
            "analyze",
            str(clip),
            "-m",
            str(tiny_model),
            "-f",
            "2",
            "-t",
            "4",
            "--no-save",
            "--json",
            "-Q",
            *flags,
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.torch
def test_analyze_puts_what_is_said_in_the_prompt(
    runner: CliRunner, tiny_model: Path, talk_clip: Path, tiny_whisper: Path
) -> None:
    heard = _analyze(runner, tiny_model, talk_clip, "--speech", "--speech-model", str(tiny_whisper))
    deaf = _analyze(runner, tiny_model, talk_clip, "--no-speech")
    audio = heard["audio"]
    assert audio["speech_engine"] == "faster-whisper" and audio["track"]["codec"] == "aac"
    regions = [(r["start_s"], r["end_s"]) for r in audio["voice_regions"]]
    assert np.allclose(regions, [(3, 7), (11, 15)], atol=0.6)
    assert audio["transcript"] and len(audio["loudness_lufs"]) == 18
    assert heard["tokens"]["prompt"] > deaf["tokens"]["prompt"]
    assert deaf["audio"] is None
    assert any("random weights: its transcript is noise" in n for n in heard["notes"])


def test_speech_is_off_with_a_note_when_the_model_is_not_here(
    runner: CliRunner,
    tiny_model: Path,
    talk_clip: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    record = _analyze(runner, tiny_model, talk_clip, "--speech-model", "tiny")
    assert record["audio"] is None
    assert any(
        n.startswith("speech off: the speech model tiny is not downloaded") for n in record["notes"]
    )


@pytest.mark.torch
def test_asking_for_speech_on_a_silent_video_says_so(
    runner: CliRunner, tiny_model: Path, coded_clip: Path
) -> None:
    record = _analyze(runner, tiny_model, coded_clip, "--speech", "--speech-model", "tiny-random")
    assert record["audio"] is None
    assert "the video has no audio track: vision only" in record["notes"]


@pytest.mark.torch
def test_an_audio_track_that_does_not_exist_is_one_line(
    runner: CliRunner, tiny_model: Path, talk_clip: Path, tiny_whisper: Path
) -> None:
    result = runner.invoke(
        app,
        [
            "analyze",
            str(talk_clip),
            "-m",
            str(tiny_model),
            "--no-save",
            "--audio-track",
            "3",
            "--speech-model",
            str(tiny_whisper),
        ],
    )
    assert result.exit_code == 2
    assert "--audio-track 3 does not exist: the video has 1 audio track" in result.output
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def match(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 5-minute "match": steady crowd noise, 8 times louder for 3 s at 35, 140 and 240 s
    (each inside one 30 s window only)."""
    rng = np.random.default_rng(0)
    noise = (0.02 * rng.standard_normal(300 * RATE)).astype(np.float32)
    for second in BURSTS:
        noise[second * RATE : (second + 3) * RATE] *= 8
    path = tmp_path_factory.mktemp("audio") / "match.mp4"
    return write_clip_with_audio(path, [noise], fps=1.0)


BURSTS = (35, 140, 240)


def test_loud_windows_lead_the_ranking_by_the_profiles_rule(tiny_model: Path, match: Path) -> None:
    from chronicon_mlx.analysis.session import ModelSession
    from chronicon_mlx.highlight.params import HighlightsConfig
    from chronicon_mlx.highlight.run import HighlightFinder
    from chronicon_mlx.options import profiles
    from chronicon_mlx.testing import ScriptedBackend

    sports = profiles.get("sports")
    assert sports.audio_weight == 0.3 and profiles.get("technical").audio_weight == 0.0
    plays = "pass tackle corner header throw dribble cross volley sprint block clear press"
    replies = [f'{{"description": "A {p}.", "significance": 6}}' for p in plays.split()]
    ranked = {}
    for weight in (0.3, 0.0):
        session = ModelSession.from_backend(ScriptedBackend(replies), str(tiny_model))
        config = HighlightsConfig.for_profile(sports, audio_weight=weight)
        ranked[weight] = HighlightFinder(session, sports).run(match, config)
    loud = ranked[0.3]
    top = loud.highlights[:3]
    held = sorted(b for h in top for b in BURSTS if h.start_s <= b and b + 3 <= h.end_s)
    assert held == list(BURSTS), [(h.start_s, h.end_s, h.score) for h in loud.highlights]
    assert all(len(h.windows) == 1 for h in loud.highlights)
    assert all(h.significance == 6 and h.score > 6 + 0.3 * 5 for h in top)
    assert all(h.score < top[-1].score for h in loud.highlights[3:])
    for window in loud.windows:
        record = window.to_dict()
        assert record["significance"] == 6 and record["excitement_lu"] == window.excitement
    quiet = ranked[0.0].highlights
    assert [h.start_s for h in quiet] == sorted(h.start_s for h in quiet)
    assert all(h.score == 6 for h in quiet)
    assert ranked[0.0].windows[1].to_dict()["excitement_lu"] == loud.windows[1].excitement


@pytest.mark.torch
def test_chat_hears_once_and_saves_what_it_heard(
    runner: CliRunner, tiny_model: Path, talk_clip: Path, tiny_whisper: Path, tmp_path: Path
) -> None:
    saved = tmp_path / "talk.json"
    result = runner.invoke(
        app,
        [
            "chat",
            str(talk_clip),
            "-m",
            str(tiny_model),
            "-f",
            "2",
            "-t",
            "3",
            "--speech",
            "--speech-model",
            str(tiny_whisper),
            "-o",
            str(saved),
            "--json",
        ],
        input="Who speaks?\nAnd then?\n",
    )
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 2
    record = json.loads(saved.read_text())
    assert [t["prompt"] for t in record["turns"]] == ["Who speaks?", "And then?"]
    assert record["audio"]["speech_engine"] == "faster-whisper"
    assert np.allclose(
        [(r["start_s"], r["end_s"]) for r in record["audio"]["voice_regions"]],
        [(3, 7), (11, 15)],
        atol=0.6,
    )


@pytest.mark.torch
def test_what_was_heard_is_kept_in_the_video_cache(
    runner: CliRunner, tiny_model: Path, talk_clip: Path, tiny_whisper: Path, video_cache: Path
) -> None:
    flags = ("--speech", "--speech-model", str(tiny_whisper))
    first = _analyze(runner, tiny_model, talk_clip, *flags)
    again = _analyze(runner, tiny_model, talk_clip, *flags, "-p", "And who answers?")
    assert "hear" in first["timing"]["stages"] and "hear" not in again["timing"]["stages"]
    assert again["audio"] == first["audio"]
    assert len(list(video_cache.glob("heard-*.safetensors"))) == 1
    other = _analyze(runner, tiny_model, talk_clip, *flags, "--start", "9")
    assert "hear" in other["timing"]["stages"]
    assert np.allclose(
        [r["start_s"] for r in other["audio"]["voice_regions"]],
        [r["start_s"] for r in first["audio"]["voice_regions"][1:]],
        atol=0.5,
    )
    result = runner.invoke(app, ["cache", "clear"])
    assert result.exit_code == 0, result.output
    assert not list(video_cache.glob("heard-*"))


@pytest.mark.torch
def test_highlights_quote_the_speech_and_draw_the_loudness(
    runner: CliRunner, tiny_model: Path, talk_clip: Path, tiny_whisper: Path, tmp_path: Path
) -> None:
    result = runner.invoke(
        app,
        [
            "highlights",
            str(talk_clip),
            "-m",
            str(tiny_model),
            "--window",
            "6",
            "--overlap",
            "0",
            "--frames-per-window",
            "2",
            "--min-significance",
            "1",
            "--speech",
            "--speech-model",
            str(tiny_whisper),
            "--format",
            "json,md,html,speech.srt,speech.vtt",
            "-o",
            str(tmp_path),
            "-Q",
        ],
    )
    assert result.exit_code == 0, result.output
    folder = tmp_path
    record = json.loads((folder / "talk_highlights.json").read_text())
    heard = record["audio"]
    assert heard["transcript"] and len(heard["loudness_lufs"]) == 18
    for window in record["windows"]:
        assert window["loudness_lufs"] is not None and "excitement_lu" in window
    for highlight in record["highlights"]:
        said = [
            s["text"]
            for s in heard["transcript"]
            if s["end_s"] > highlight["start_s"] and s["start_s"] < highlight["end_s"]
        ]
        assert highlight["speech"] == (" ".join(said) or None)
    quoted = [h for h in record["highlights"] if h["speech"]]
    assert quoted, "a highlight overlaps the voice"
    page = (folder / "talk_highlights.html").read_text()
    assert '<polyline class="loudness" points="' in page
    assert page.count('<blockquote class="speech">') == len(quoted)
    from html import escape

    assert escape(quoted[0]["speech"], quote=False) in page
    report = (folder / "talk_highlights.md").read_text()
    assert report.count("> Speech: ") == len(quoted)
    spoken = [s for s in heard["transcript"] if s["end_s"] > s["start_s"]]
    srt = (folder / "talk_highlights.speech.srt").read_text()
    vtt = (folder / "talk_highlights.speech.vtt").read_text()
    assert srt.count(" --> ") == len(spoken) and vtt.count(" --> ") == len(spoken)
    assert vtt.startswith("WEBVTT\n")


@pytest.mark.torch
def test_a_damaged_audio_stream_is_read_as_silence_with_a_note(
    runner: CliRunner, tiny_model: Path, tmp_path: Path
) -> None:
    import av

    clip = write_clip_with_audio(tmp_path / "fine.mp4", [tone(8, 0.1)], fps=4)
    with av.open(str(clip)) as container:
        audio = container.streams.audio[0]
        packets = [(p.pos, p.size) for p in container.demux(audio) if p.size]
    data = bytearray(clip.read_bytes())
    noise = np.random.default_rng(1)
    for position, size in packets[len(packets) // 2 :]:  # the second half's packets
        data[position : position + size] = noise.integers(0, 256, size, np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    heard = hear(damaged, None)
    assert heard.end_s == pytest.approx(8.0, abs=0.1) and len(heard.loudness) == 8
    assert all(v > -40 for v in heard.loudness[:3]) and heard.loudness[5:] == [-70.0] * 3
    assert len(heard.notes) == 1 and "damaged audio packets" in heard.notes[0]
    record = _analyze(runner, tiny_model, damaged, "--speech", "--speech-model", "tiny-random")
    assert any("damaged audio packets" in note for note in record["notes"])
    assert len(record["frames"]) == 2


def test_an_audio_only_file_is_still_refused_in_one_line(
    runner: CliRunner, tiny_model: Path, tmp_path: Path
) -> None:
    from chronicon_mlx.media.synthetic import write_audio_only

    voice_only = write_audio_only(tmp_path / "voice.m4a", seconds=2.0)
    result = runner.invoke(app, ["analyze", str(voice_only), "-m", str(tiny_model), "--speech"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if line.startswith("error:")]) == 1
    assert "audio" in result.output


@pytest.mark.torch
def test_each_window_is_asked_with_what_was_said_during_it(
    tiny_model: Path, talk_clip: Path, tiny_whisper: Path
) -> None:
    from chronicon_mlx.analysis.listen import SpeechSlot
    from chronicon_mlx.analysis.params import HearingConfig
    from chronicon_mlx.analysis.session import ModelSession
    from chronicon_mlx.highlight.params import HighlightsConfig
    from chronicon_mlx.highlight.run import HighlightFinder
    from chronicon_mlx.options import profiles
    from chronicon_mlx.testing import ScriptedBackend

    backend = ScriptedBackend('{"description": "Someone talks.", "significance": 6}')
    session = ModelSession.from_backend(backend, str(tiny_model))
    session.speech = SpeechSlot(str(tiny_whisper), allow_download=False)
    finder = HighlightFinder(session, profiles.get("summary"), hearing=HearingConfig(speech=True))
    config = HighlightsConfig(window_s=6, overlap_s=0, frames_per_window=2, min_significance=1)
    result = finder.run(talk_clip, config)
    assert result.audio is not None and result.audio.segments
    ref = resolve(str(tiny_model))
    for window, request in zip(result.windows, backend.requests, strict=True):
        said = [
            (s, words)
            for s in result.audio.segments
            if s.end_s > window.start_s
            and s.start_s < window.end_s
            and (words := speech_words(ref, s.text))
        ]
        lines = [line for line in request.prompt.split("\n") if line.startswith("Speech ")]
        assert len(lines) == len(said), (window.start_s, lines)
        for line, (segment, words) in zip(lines, said, strict=True):
            start = prompts.frame_label(max(segment.start_s, window.start_s) - window.start_s)
            assert line.startswith(f"Speech {start}-") and line.endswith(f": {words}")
    assert any("Speech " in request.prompt for request in backend.requests)
    assert result.parameters["speech_model"] == str(tiny_whisper)


def test_a_profile_sets_its_audio_weight_within_zero_to_one(
    runner: CliRunner, tmp_path: Path
) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[profiles.commentary]\nextends = "sports"\naudio_weight = 0.5\n')
    shown = runner.invoke(app, ["profiles", "show", "commentary", "--profiles-file", str(good)])
    assert shown.exit_code == 0 and "audio_weight: 0.5" in shown.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[profiles.commentary]\nextends = "sports"\naudio_weight = 1.5\n')
    refused = runner.invoke(app, ["profiles", "show", "commentary", "--profiles-file", str(bad)])
    assert refused.exit_code == 2 and "audio_weight" in refused.output
    assert "Traceback" not in refused.output


@pytest.mark.mlx
def test_the_mlx_whisper_engine_loads_and_transcribes_the_same_voice(talk_clip: Path) -> None:
    from chronicon_mlx.audio.engines import load_speech
    from chronicon_mlx.audio.random_whisper import cached_whisper

    folder = cached_whisper("tiny-random", engine="mlx-whisper")
    engine = load_speech(folder, "tiny-random")
    assert engine.name == "mlx-whisper" and engine.random_weights
    heard = hear(talk_clip, engine)
    assert np.allclose([(r.start_s, r.end_s) for r in heard.regions], [(3, 7), (11, 15)], atol=0.6)
    assert heard.segments, "the random model says something about the voiced regions"
    for segment in heard.segments:
        assert heard.regions[0].start_s <= segment.start_s <= segment.end_s
        assert segment.end_s <= heard.regions[-1].end_s + 1e-6


@pytest.mark.mlx
def test_a_session_loads_mlx_whisper_after_the_optimised_blas() -> None:
    """mlx-whisper imports MLX, and MLX finds its BLAS when first imported: a session's
    speech model loaded before SmolVLM2 must not leave MLX on the reference BLAS."""
    import subprocess
    import sys

    from chronicon_mlx.audio.random_whisper import cached_whisper

    folder = cached_whisper("tiny-random", engine="mlx-whisper")
    code = (
        "from chronicon_mlx.analysis.listen import SpeechSlot\n"
        f"SpeechSlot({str(folder)!r}, allow_download=False).engine(download=False)\n"
        "import sys; assert 'mlx.core' in sys.modules\n"
        "from chronicon_mlx.native import blas; print(blas.preload())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().startswith("libopenblas"), out.stdout


def test_speech_captions_hold_each_segment_at_its_time() -> None:
    from chronicon_mlx.audio.hear import Hearing
    from chronicon_mlx.audio.speech import SpeechSegment
    from chronicon_mlx.output.captions import speech_cues, srt_of, vtt_of

    heard = Hearing(
        None,
        segments=[
            SpeechSegment(1.5, 3.25, "Kick-off <now>"),
            SpeechSegment(4.0, 4.0, "x"),
            SpeechSegment(61.0, 62.5, "What a goal!"),
        ],
    )
    cues = speech_cues(heard)
    assert srt_of(cues) == (
        "1\n00:00:01,500 --> 00:00:03,250\nKick-off <\u200bnow>\n\n"  # never a tag
        "2\n00:01:01,000 --> 00:01:02,500\nWhat a goal!\n"
    )
    assert vtt_of(cues) == (
        "WEBVTT\n\n1\n00:00:01.500 --> 00:00:03.250\nKick-off &lt;now&gt;\n\n"
        "2\n00:01:01.000 --> 00:01:02.500\nWhat a goal!\n"
    )
    assert speech_cues(None) == [] and srt_of([]) == "" and vtt_of([]) == "WEBVTT\n"


@pytest.mark.torch
def test_archive_jobs_carry_the_hearing_settings(
    tiny_model: Path, talk_clip: Path, tiny_whisper: Path, tmp_path: Path
) -> None:
    from chronicon_mlx.analysis.analyze import Analyzer
    from chronicon_mlx.analysis.params import GenerationConfig, HearingConfig, SamplingConfig
    from chronicon_mlx.analysis.spec import SessionSpec
    from chronicon_mlx.archive.jobs import AnalyzeJob

    spec = SessionSpec(model=str(tiny_model), speech_model=str(tiny_whisper))
    sampling, generation = SamplingConfig(frames=2), GenerationConfig(max_tokens=3)
    heard = AnalyzeJob(spec, None, None, sampling, generation, None, HearingConfig(speech=True))
    deaf = AnalyzeJob(spec, None, None, sampling, generation, None, HearingConfig(speech=False))
    assert heard.digest(talk_clip) != deaf.digest(talk_clip)
    for job, name in ((heard, "heard.json"), (deaf, "deaf.json")):
        job.run(Analyzer(spec), talk_clip, tmp_path / name, fresh=False)
    assert json.loads((tmp_path / "heard.json").read_text())["audio"]["transcript"]
    assert json.loads((tmp_path / "deaf.json").read_text())["audio"] is None
