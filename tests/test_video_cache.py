"""The video cache: a second run on the same clip reads the frames' features and the
prefilled prompt back instead of decoding, encoding and prefilling, with identical tokens;
damaged, foreign or outdated entries are ignored and rebuilt; the folder stays under its
limit; --no-cache, cache_gb = 0 and `cache clear` do what they say."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file
from typer.testing import CliRunner

from chronicon_mlx.analysis.analyze import Analyzer
from chronicon_mlx.analysis.params import GenerationConfig, SamplingConfig
from chronicon_mlx.analysis.result import AnalysisResult
from chronicon_mlx.analysis.spec import SessionSpec
from chronicon_mlx.analysis.videocache import VideoCache, content_digest
from chronicon_mlx.cli.app import app
from chronicon_mlx.media.synthetic import write_sample_video

SAMPLING = SamplingConfig(frames=4)
GENERATION = GenerationConfig(max_tokens=10)
HIT = "frames, their features and the prefilled prompt read from the video cache"


def _run(
    model: Path,
    clip: Path,
    cache: VideoCache | None,
    question: str = "What moves?",
    backend: str = "mlx",
) -> AnalysisResult:
    """One analysis in a fresh session: a new backend, nothing kept in memory (as a second
    process would start)."""
    session = Analyzer(
        SessionSpec(model=str(model), backend=backend, device="cpu"), video_cache=cache
    )
    return session.analyze(clip, question, None, SAMPLING, GENERATION)


def _entries(folder: Path) -> dict[str, Path]:
    return {p.name.split("-")[0]: p for p in sorted(folder.glob("*.safetensors"))}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["mlx", "transformers"])
def test_a_second_run_reads_the_video_back_with_identical_tokens(
    tiny_model: Path, ball_clip: Path, tmp_path: Path, backend: str
) -> None:
    cache = VideoCache(tmp_path / "cache", 10**9)
    plain = _run(tiny_model, ball_clip, None, backend=backend)
    first = _run(tiny_model, ball_clip, cache, backend=backend)
    assert set(_entries(cache.root)) == {"frames", "prefix"}
    assert first.usage.encoded_frames == 4 and HIT not in first.notes
    second = _run(tiny_model, ball_clip, cache, backend=backend)
    assert HIT in second.notes
    assert second.usage.encoded_frames == 0
    assert second.usage.cached_tokens == first.usage.cached_tokens > 16
    assert plain.analysis == first.analysis == second.analysis
    assert [(f.index, f.timestamp_s) for f in second.frames] == [
        (f.index, f.timestamp_s) for f in first.frames
    ]
    other = _run(tiny_model, ball_clip, cache, "Which colour is it?", backend)
    alone = _run(tiny_model, ball_clip, None, "Which colour is it?", backend)
    assert HIT in other.notes and other.analysis == alone.analysis
    assert other.usage.prompt_tokens == alone.usage.prompt_tokens


def test_the_key_is_the_content_not_the_name(
    tiny_model: Path, ball_clip: Path, tmp_path: Path
) -> None:
    cache = VideoCache(tmp_path / "cache", 10**9)
    _run(tiny_model, ball_clip, cache)
    copy = shutil.copy(ball_clip, tmp_path / "renamed copy.mp4")
    assert content_digest(Path(copy)) == content_digest(ball_clip)
    assert HIT in _run(tiny_model, Path(copy), cache).notes
    other = write_sample_video(
        tmp_path / "other.mp4", seconds=3, fps=30, size=(320, 180), coded=True
    )
    assert content_digest(other) != content_digest(ball_clip)
    assert HIT not in _run(tiny_model, other, cache).notes
    fewer = Analyzer(
        SessionSpec(model=str(tiny_model), backend="mlx", device="cpu"), video_cache=cache
    )
    result = fewer.analyze(ball_clip, "What moves?", None, SamplingConfig(frames=3), GENERATION)
    assert HIT not in result.notes  # another frame plan is another entry
    assert len(_entries(cache.root)) == 2 and len(list(cache.root.glob("*.safetensors"))) == 6


def _damage_data(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))


def _rewrite(path: Path, **meta: str) -> None:
    with safe_open(str(path), framework="np") as handle:
        header = dict(handle.metadata() or {})
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    save_file(tensors, str(path), {**header, **meta})


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (_damage_data, "its checksum does not match"),
        (lambda p: p.write_bytes(p.read_bytes()[:100]), "it is damaged"),
        (lambda p: p.write_bytes(b""), "it is damaged"),
        (lambda p: _rewrite(p, version="0"), "it was written by another version"),
        (lambda p: _rewrite(p, key="0" * 40), "it belongs to another video or model"),
        (lambda p: _rewrite(p, format="something else"), "it was written by another version"),
    ],
)
def test_a_spoilt_entry_is_ignored_and_rebuilt(
    tiny_model: Path, ball_clip: Path, tmp_path: Path, spoil: object, reason: str
) -> None:
    cache = VideoCache(tmp_path / "cache", 10**9)
    first = _run(tiny_model, ball_clip, cache)
    frames = _entries(cache.root)["frames"]
    spoil(frames)  # type: ignore[operator]
    second = _run(tiny_model, ball_clip, cache)
    assert any(note.startswith(f"ignored a video cache entry ({reason}") for note in second.notes)
    assert second.usage.encoded_frames == 4 and second.analysis == first.analysis
    third = _run(tiny_model, ball_clip, cache)
    assert HIT in third.notes and third.analysis == first.analysis


def test_features_that_do_not_fit_the_model_are_refused(
    tiny_model: Path, ball_clip: Path, tmp_path: Path
) -> None:
    cache = VideoCache(tmp_path / "cache", 10**9)
    first = _run(tiny_model, ball_clip, cache)
    frames = _entries(cache.root)["frames"]
    with safe_open(str(frames), framework="np") as handle:
        header = dict(handle.metadata() or {})
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    tensors = {name: np.ascontiguousarray(a[:, :-1]) for name, a in tensors.items()}
    from chronicon_mlx.analysis.videocache import _checksum

    save_file(tensors, str(frames), {**header, "checksum": _checksum(tensors)})
    second = _run(tiny_model, ball_clip, cache)
    assert any("frame features are not 4 arrays of" in note for note in second.notes)
    assert second.usage.encoded_frames == 4 and second.analysis == first.analysis


def test_the_folder_stays_under_its_limit(tiny_model: Path, tmp_path: Path) -> None:
    clips = [
        write_sample_video(tmp_path / f"clip{n}.mp4", seconds=1 + n, fps=10, size=(64, 48))
        for n in range(3)
    ]
    probe = VideoCache(tmp_path / "probe", 10**9)
    _run(tiny_model, clips[0], probe)
    one_video = probe.info().bytes
    cache = VideoCache(tmp_path / "cache", int(one_video * 2.5))
    for clip in clips:
        _run(tiny_model, clip, cache)
        assert cache.info().bytes <= cache.limit_bytes
    assert cache.info().entries == 4  # the first clip's two entries went first
    assert HIT in _run(tiny_model, clips[2], cache).notes
    assert HIT not in _run(tiny_model, clips[0], cache).notes
    tiny = VideoCache(tmp_path / "tiny", 1000)
    _run(tiny_model, clips[0], tiny)
    assert tiny.info().entries == 0  # an entry larger than the whole limit is not written


def _analyze(runner: CliRunner, clip: Path, *extra: str) -> dict[str, object]:
    args = [
        "analyze",
        str(clip),
        "--model",
        "tiny-random",
        "-b",
        "mlx",
        "--frames",
        "3",
        "--max-tokens",
        "4",
        "--no-save",
        "--json",
        *extra,
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_cache_flags_settings_and_commands(
    runner: CliRunner,
    ball_clip: Path,
    video_cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    _analyze(runner, ball_clip, "--no-cache")
    assert list(video_cache.glob("*.safetensors")) == []
    first = _analyze(runner, ball_clip)
    assert len(list(video_cache.glob("*.safetensors"))) == 2
    second = _analyze(runner, ball_clip)
    assert HIT in second["notes"] and first["analysis"] == second["analysis"]  # type: ignore[operator]
    third = _analyze(runner, ball_clip, "--no-cache")
    assert HIT not in third["notes"]  # type: ignore[operator]
    info = runner.invoke(app, ["cache", "info", "--json"])
    data = json.loads(info.stdout)
    assert data["entries"] == 2 and data["path"] == str(video_cache)
    assert data["bytes"] == sum(p.stat().st_size for p in video_cache.glob("*.safetensors"))
    shown = runner.invoke(app, ["cache", "info"])
    assert f"folder:  {video_cache}" in shown.stdout and "2 entries" in shown.stdout
    cleared = runner.invoke(app, ["cache", "clear"])
    assert cleared.exit_code == 0 and cleared.stdout.startswith("removed 2 entries")
    assert list(video_cache.glob("*.safetensors")) == []
    (tmp_path / "config" / "chronicon-mlx").mkdir(parents=True)
    (tmp_path / "config" / "chronicon-mlx" / "config.toml").write_text("cache_gb = 0\n")
    _analyze(runner, ball_clip)
    assert list(video_cache.glob("*.safetensors")) == []
    (tmp_path / "config" / "chronicon-mlx" / "config.toml").write_text("cache_gb = -1\n")
    refused = runner.invoke(app, ["cache", "info"])
    assert refused.exit_code == 2 and "'cache_gb' must be a number from 0" in refused.output


def test_a_damaged_prefix_is_computed_again_from_the_kept_frames(
    tiny_model: Path, ball_clip: Path, tmp_path: Path
) -> None:
    cache = VideoCache(tmp_path / "cache", 10**9)
    first = _run(tiny_model, ball_clip, cache)
    _damage_data(_entries(cache.root)["prefix"])
    second = _run(tiny_model, ball_clip, cache)
    assert "ignored a video cache entry (its checksum does not match); building it again" in (
        second.notes
    )
    assert "frames and their features read from the video cache" in second.notes
    assert second.usage.encoded_frames == 0 and second.analysis == first.analysis
    assert HIT in _run(tiny_model, ball_clip, cache).notes


def test_a_prefix_the_backend_still_keeps_is_not_read_back(
    tiny_model: Path, ball_clip: Path, tmp_path: Path
) -> None:
    """A second question in the same session (a server's follow-up) takes the prefix the
    backend keeps in memory and leaves the cache's copy unread; a new session reads it."""
    cache = VideoCache(tmp_path / "cache", 10**9)
    session = Analyzer(SessionSpec(model=str(tiny_model), backend="cpu"), video_cache=cache)
    first = session.analyze(ball_clip, "What moves?", None, SAMPLING, GENERATION)
    prefix = _entries(cache.root)["prefix"]
    _damage_data(prefix)  # a read would find it spoilt, note it and remove it
    second = session.analyze(ball_clip, "What moves?", None, SAMPLING, GENERATION)
    assert HIT in second.notes and not any("ignored" in note for note in second.notes)
    assert second.analysis == first.analysis and second.usage.cached_tokens > 0
    assert prefix.is_file()
    fresh = _run(tiny_model, ball_clip, cache, backend="cpu")
    assert "ignored a video cache entry (its checksum does not match); building it again" in (
        fresh.notes
    )
    assert fresh.analysis == first.analysis
