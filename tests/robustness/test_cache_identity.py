"""Second round, class 3 (wrong results, security): the video cache's identity. Its key must
identify what an answer depends on: every byte of the video and of each model file; and its
entries stay private."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from chronicon_mlx.analysis.analyze import Analyzer
from chronicon_mlx.analysis.params import GenerationConfig, SamplingConfig
from chronicon_mlx.analysis.result import AnalysisResult
from chronicon_mlx.analysis.spec import SessionSpec
from chronicon_mlx.analysis.videocache import VideoCache, content_digest
from chronicon_mlx.errors import OutputError
from chronicon_mlx.model.fingerprint import fingerprint

pytestmark = pytest.mark.slow
HIT = "read from the video cache"


def _run(model: Path, clip: Path, cache: VideoCache) -> AnalysisResult:
    session = Analyzer(SessionSpec(str(model), backend="mlx", device="cpu"), video_cache=cache)
    return session.analyze(clip, "What moves?", None, SamplingConfig(frames=3), GenerationConfig(6))


def test_two_files_that_agree_on_every_sampled_block_differ(tmp_path: Path) -> None:
    """The key read the file's size and 32 blocks of 64 KiB spread over it: a different
    video with the same size and the same sampled blocks got the cached video's answer."""
    size, block, blocks = 8 << 20, 64 << 10, 32
    original = np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8)
    forged = original.copy()
    step = (size - block) // (blocks - 1)
    between = step + block  # a byte no sampled block covers
    forged[between : between + 1000] ^= 0xFF
    first, second = tmp_path / "first.mp4", tmp_path / "second.mp4"
    first.write_bytes(original.tobytes())
    second.write_bytes(forged.tobytes())
    assert all(
        original[n * step : n * step + block].tobytes()
        == forged[n * step : n * step + block].tobytes()
        for n in range(blocks)
    )
    assert content_digest(first) != content_digest(second)
    memo = tmp_path / "memo"
    assert content_digest(first, memo) == content_digest(first) == content_digest(first, memo)


def test_a_model_folder_changed_in_place_gets_new_entries(
    tiny_model: Path, ball_clip: Path, tmp_path: Path
) -> None:
    """Weights replaced with their size and modification time kept (`cp -p`, `rsync -a`),
    or `preprocessor_config.json` edited: the old entries were reused."""
    model = Path(shutil.copytree(tiny_model, tmp_path / "model"))
    cache = VideoCache(tmp_path / "cache", 10**9)
    first = _run(model, ball_clip, cache)
    assert HIT in _run(model, ball_clip, cache).notes[-1]
    weights = model / "model.safetensors"
    kept = weights.stat()
    data = bytearray(weights.read_bytes())
    data[-4:] = bytes(4)  # the last weight's value changes, not its size
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(kept.st_atime_ns, kept.st_mtime_ns))
    assert weights.stat().st_size == kept.st_size and weights.stat().st_mtime_ns == kept.st_mtime_ns
    changed = _run(model, ball_clip, cache)
    assert not any(HIT in note for note in changed.notes)
    before = fingerprint(model, cache.memo)
    settings = model / "preprocessor_config.json"
    settings.write_text(
        settings.read_text().replace('"do_normalize": true', '"do_normalize": false')
    )
    assert fingerprint(model, cache.memo) != before
    edited = _run(model, ball_clip, cache)
    assert not any(HIT in note for note in edited.notes)
    assert first.analysis  # the first run answered


def test_entries_are_private_and_a_shared_folder_is_refused(
    tiny_model: Path, ball_clip: Path, tmp_path: Path
) -> None:
    """Entries were readable by every user, and a world-writable cache folder was used."""
    cache = VideoCache(tmp_path / "cache", 10**9)
    _run(tiny_model, ball_clip, cache)
    assert stat.S_IMODE(cache.root.stat().st_mode) == 0o700
    entries = list(cache.root.glob("*.safetensors"))
    assert len(entries) == 2
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in entries)
    cache.root.chmod(0o777)
    with pytest.raises(OutputError, match="can be written by any user") as refused:
        VideoCache(cache.root, 10**9)
    assert "chmod 700" in (refused.value.hint or "")
