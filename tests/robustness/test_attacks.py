"""Attacks and faults from the wild: model folders that try to run code, outputs planted with
links and device nodes, model text that tries to become markup, untrusted checkpoints,
undecodable names, FIFOs, a silent Hub, lying containers, huge prompts. Each is refused or
handled with a clear message, and nothing runs, hangs or crashes."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chronicon_mlx.backends.base import GenerationOutput
from chronicon_mlx.backends.mlx_backend import MLXBackend
from chronicon_mlx.cli.app import app
from chronicon_mlx.media.synthetic import read_frame_code, write_av_video, write_sample_video

pytestmark = pytest.mark.slow
MARKER_CODE = "import pathlib\npathlib.Path({marker!r}).write_text('ran')\n"


@pytest.fixture()
def marker(tmp_path: Path) -> Path:
    return tmp_path / "MARKER"


def _folder_with(
    tiny_model: Path, tmp_path: Path, marker: Path, file: str, key: str, value: Any
) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    for name in ("evil.py", "processing_evil.py", "modeling_evil.py"):
        (folder / name).write_text(MARKER_CODE.format(marker=str(marker)))
    (tmp_path / "evil.py").write_text(MARKER_CODE.format(marker=str(marker)))
    data = json.loads((folder / file).read_text())
    data[key] = value
    (folder / file).write_text(json.dumps(data))
    return folder


AUTO_MAP = {
    "AutoProcessor": "processing_evil.EvilProcessor",
    "AutoModelForImageTextToText": "modeling_evil.Evil",
    "AutoImageProcessor": "processing_evil.EvilProcessor",
}
CASES = [
    ("config.json", "model_file", "evil.py"),
    ("config.json", "model_file", "../evil.py"),
    ("config.json", "auto_map", AUTO_MAP),
    ("tokenizer_config.json", "auto_map", {"AutoTokenizer": ["processing_evil.Evil", None]}),
    ("processor_config.json", "auto_map", AUTO_MAP),
    ("preprocessor_config.json", "auto_map", AUTO_MAP),
    ("preprocessor_config.json", "auto_map", {"AutoProcessor": "org/repo--processing.Evil"}),
]


@pytest.mark.parametrize(
    ("file", "key", "value"), CASES, ids=[f"{c[0]}:{c[1]}:{i}" for i, c in enumerate(CASES)]
)
@pytest.mark.parametrize("backend", ["mlx", "transformers"])
def test_a_model_folder_never_runs_or_fetches_code(
    runner: CliRunner,
    tiny_model: Path,
    ball_clip: Path,
    tmp_path: Path,
    marker: Path,
    monkeypatch: pytest.MonkeyPatch,
    file: str,
    key: str,
    value: Any,
    backend: str,
) -> None:
    folder = _folder_with(tiny_model, tmp_path, marker, file, key, value)
    sockets: list[object] = []
    monkeypatch.setattr(socket.socket, "connect", lambda s, a: sockets.append(a))
    for extra in ([], ["--quantize", "4bit"]):
        result = runner.invoke(
            app,
            [
                "analyze",
                str(ball_clip),
                "-m",
                str(folder),
                "-b",
                backend,
                "-t",
                "2",
                "--no-save",
                *extra,
            ],
        )
        assert result.exit_code == 1, result.output
        first = result.stderr.splitlines()[0]
        assert file in first and f"'{key}'" in first and "run Python code" in first
    assert not marker.exists() and sockets == []


@pytest.mark.mlx
def test_the_backends_never_trust_remote_code_even_unchecked(
    tiny_model: Path, tmp_path: Path, marker: Path
) -> None:
    """Past the folder check too: the libraries are told not to run a folder's code."""
    from chronicon_mlx.backends import Candidate, create
    from chronicon_mlx.backends.mlx_quantize import quantized_copy
    from chronicon_mlx.model.resolver import ModelRef

    folder = _folder_with(
        tiny_model, tmp_path, marker, "processor_config.json", "auto_map", AUTO_MAP
    )
    for name in ("preprocessor_config.json", "tokenizer_config.json"):
        data = json.loads((folder / name).read_text())
        data["auto_map"] = AUTO_MAP
        (folder / name).write_text(json.dumps(data))
    ref = ModelRef(folder, "folder", None, None, json.loads((folder / "config.json").read_text()))
    for backend in ("mlx", "transformers"):
        create(Candidate(backend, "cpu")).load(ref)
    os.environ["CHRONICON_CACHE"] = str(tmp_path / "cache")
    try:
        quantized_copy(ref, 4)
    finally:
        os.environ["CHRONICON_CACHE"] = str(Path(__file__).parents[2] / ".cache")
    assert not marker.exists()


def test_path_like_model_values_are_folders_never_hub_ids(
    runner: CliRunner, ball_clip: Path, in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (in_tmp / "ckpt").mkdir()
    os.symlink("loop", in_tmp / "loop")
    calls: list[object] = []
    monkeypatch.setattr("chronicon_mlx.model.hub.fetch", lambda *a, **k: calls.append(a))
    for value, message in (
        ("ckpt/smolvlm", "model folder not found"),
        ("loop", "leads nowhere (or in a loop)"),
    ):
        result = runner.invoke(app, ["analyze", str(ball_clip), "-m", value])
        assert result.exit_code == 1, result.output
        assert message in result.stderr.splitlines()[0]
    assert calls == []


def test_links_planted_in_the_output_folder_are_never_followed(
    runner: CliRunner, tiny_model: Path, ball_clip: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    os.symlink(victim, folder / ".lock")
    args = [
        "highlights",
        str(ball_clip),
        "-m",
        str(tiny_model),
        "-b",
        "mlx",
        "--window",
        "1.5",
        "--overlap",
        "0",
        "-o",
        str(folder),
    ]
    locked = runner.invoke(app, args)
    assert locked.exit_code == 1 and "is a symbolic link" in locked.stderr
    (folder / ".lock").unlink()
    os.symlink(tmp_path / "created-by-run", folder / ".lock.tmp")
    os.symlink(victim, folder / ".checkpoint.jsonl.tmp")
    os.symlink(victim, folder / "checkpoint.jsonl")
    done = runner.invoke(app, [*args, "--reel", str(folder / "reel.mp4")])
    assert done.exit_code == 0, done.output
    assert victim.read_text() == "keep me\n"
    assert not (tmp_path / "created-by-run").exists()
    assert (folder / "checkpoint.jsonl").is_file() and not (
        folder / "checkpoint.jsonl"
    ).is_symlink()


def test_outputs_onto_fifos_and_devices_are_refused_before_any_work(
    runner: CliRunner, tiny_model: Path, ball_clip: Path, tmp_path: Path
) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    targets = [fifo]
    if os.geteuid() == 0:
        device = tmp_path / "null-copy"
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        targets.append(device)
    for target in targets:
        for args in (["analyze", "-o", str(target)], ["highlights", "--reel", str(target)]):
            result = runner.invoke(app, [args[0], str(ball_clip), "-m", str(tiny_model), *args[1:]])
            assert result.exit_code == 1, result.output
            assert "not a regular file" in result.stderr and "Load model" not in result.stderr
        assert not target.is_file()
    (tmp_path / "a folder").mkdir()
    folder = runner.invoke(
        app,
        ["highlights", str(ball_clip), "-m", str(tiny_model), "--reel", str(tmp_path / "a folder")],
    )
    assert folder.exit_code == 1 and "is a folder" in folder.stderr


INJECTED = (
    "A <script>alert(1)</script> [x](javascript:alert(1))\n# heading\n`code` &"
    " <img src=x onerror=alert(1)> --> \x1b[31mred\x1b[0m"
)


def test_model_text_never_becomes_markup_or_escapes(
    runner: CliRunner, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = json.dumps({"description": INJECTED, "significance": 9})

    def generate(self: MLXBackend, request: Any, on_token: Any = None) -> GenerationOutput:
        text = answer if request.json_schema is not None else INJECTED
        return GenerationOutput(text, [1], 10, 1, 1.0, 1.0, 0.0, "stop", constrained=True)

    monkeypatch.setattr(MLXBackend, "generate", generate)
    clip = write_sample_video(
        tmp_path / "c [x](javascript:1).mp4", seconds=1, fps=10, size=(64, 48)
    )
    folder = tmp_path / "out"
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
            str(folder),
            "--format",
            "json,md,srt,vtt,html",
        ],
    )
    assert result.exit_code == 0, result.output
    stem = "c [x](javascript:1)_highlights"
    markdown = (folder / f"{stem}.md").read_text()
    assert "<script>" not in markdown and not re.search(r"(?<!\\)\]\(javascript:", markdown)
    assert "\n# heading" not in markdown and "\x1b" not in markdown
    assert "\\<script\\>" in markdown and "\\[x\\](javascript:alert(1))" in markdown
    vtt = (folder / f"{stem}.vtt").read_text()
    assert "&lt;script&gt;" in vtt and "<script>" not in vtt and "&amp;" in vtt
    srt = (folder / f"{stem}.srt").read_text()
    assert "<script>" not in srt and "\x1b" not in srt
    for text in (vtt, srt):
        cues = text.strip().split("\n\n")[-1].splitlines()
        assert len(cues) == 3 and cues[2].count("-->") == 0  # number, timing, one text line
    assert _active_html((folder / f"{stem}.html").read_text()) == []
    assert "\x1b" not in result.stdout
    analyzed = runner.invoke(
        app, ["analyze", str(clip), "-m", str(tiny_model), "-b", "mlx", "--no-save"]
    )
    assert "\x1b" not in analyzed.stdout and "[31mred" in analyzed.stdout


def _active_html(page: str) -> list[str]:
    """Tags and attributes in `page` that would run or link to script text (an event
    handler, or a URL attribute holding `javascript:`; text in a label is only text)."""
    from html.parser import HTMLParser

    found: list[str] = []
    urls = {"href", "src", "action", "formaction", "xlink:href", "poster", "srcset", "data"}

    class Finder(HTMLParser):
        in_script = False

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.in_script = tag == "script"
            for name, value in attrs:
                script = "javascript:" in (value or "").lower()
                if name.startswith("on") or (name in urls and script):
                    found.append(f"{tag}.{name}")

        def handle_data(self, data: str) -> None:
            if self.in_script and "alert(1)" in data:
                found.append("script with the model's text")

        def handle_endtag(self, tag: str) -> None:
            self.in_script = False

    Finder().feed(page)
    return found


BAD_LINES = {
    "significance 99": {"significance": 99},
    "significance 9.7": {"significance": 9.7},
    "significance true": {"significance": True},
    "significance text": {"significance": "8"},
    "far times": {"start_s": 1000.0, "end_s": 2000.0},
    "score without text": {"description": None, "significance": 7},
    "list description": {"description": ["a"], "significance": 7},
    "other thumbnail": {"thumbnail": "../../etc/passwd"},
    "foreign frames": {"frames": [1, 2, 3, 999999]},
}


@pytest.mark.parametrize("case", [*BAD_LINES, "duplicate", "non-utf8"])
def test_untrusted_checkpoint_lines_are_checked(
    runner: CliRunner, tiny_model: Path, ball_clip: Path, tmp_path: Path, case: str
) -> None:
    folder = tmp_path / "out"
    args = [
        "highlights",
        str(ball_clip),
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
        "--json",
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    checkpoint = folder / "checkpoint.jsonl"
    lines = checkpoint.read_bytes().splitlines()
    window = json.loads(lines[2])
    if case == "duplicate":
        bad = json.dumps({**json.loads(lines[1]), "window": window["window"]}).encode()
        lines[2] = bad  # window 1's line replaced by a second window 0
    elif case == "non-utf8":
        lines[2] = lines[2][:-2] + b'\xff"}'
    else:
        lines[2] = json.dumps({**window, **BAD_LINES[case]}).encode()
    checkpoint.write_bytes(b"\n".join(lines) + b"\n")
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "has 1 invalid line (skipped" in again.stderr and "--fresh" in again.stderr
    record = json.loads(again.stdout)
    assert record["counts"]["resumed"] == 2 and record["counts"]["windows"] == 3
    assert record["windows"] == json.loads(first.stdout)["windows"]


def test_a_full_disk_while_checkpointing_is_a_clear_error(
    runner: CliRunner,
    tiny_model: Path,
    ball_clip: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chronicon_mlx.highlight import resume

    real_write = os.write

    def full(fd: int, data: bytes) -> int:
        if data.startswith(b'{"window"'):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(resume.os, "write", full)
    args = [
        "highlights",
        str(ball_clip),
        "-m",
        str(tiny_model),
        "-b",
        "mlx",
        "--window",
        "1",
        "--overlap",
        "0",
        "-o",
        str(tmp_path / "out"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "cannot write the checkpoint" in result.stderr and "No space left" in result.stderr
    assert "unexpected" not in result.stderr


def test_undecodable_file_names_are_read(
    runner: CliRunner, tiny_model: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    plain = write_sample_video(folder / "plain.mp4", seconds=1, fps=10, size=(64, 48))
    odd = os.fsencode(folder) + b"/clip\xff\xfe.mp4"
    os.rename(os.fsencode(plain), odd)
    write_sample_video(folder / "second.mp4", seconds=1, fps=10, size=(64, 48))
    for videos in ([os.fsdecode(odd)], [str(folder)]):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "chronicon_mlx",
                "analyze",
                *videos,
                "-m",
                str(tiny_model),
                "-b",
                "mlx",
                "-t",
                "2",
                "--json",
                "--no-save",
            ],
            capture_output=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        data = json.loads(result.stdout)
        records = data if isinstance(data, list) else [data]
        assert all(r["num_frames"] == 8 or r["num_frames"] == 10 for r in records)
        assert os.fsencode(records[0]["video_path"]) == odd


def test_a_fifo_as_input_is_refused_at_once(runner: CliRunner, tmp_path: Path) -> None:
    fifo = tmp_path / "stream.mp4"
    os.mkfifo(fifo)
    start = time.perf_counter()
    result = runner.invoke(app, ["analyze", str(fifo), "-m", "tiny-random"])
    assert result.exit_code == 1 and "not a regular file" in result.stderr
    assert time.perf_counter() - start < 10


@pytest.fixture()
def silent_hub() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_silent_hub_meets_a_deadline(silent_hub: str, ball_clip: Path, tmp_path: Path) -> None:
    env = dict(os.environ, HF_ENDPOINT=silent_hub, HF_HOME=str(tmp_path / "hf"))
    env.pop("HF_HUB_OFFLINE", None)
    start = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "chronicon_mlx",
            "analyze",
            str(ball_clip),
            "-m",
            "256m",
            "-b",
            "mlx",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1
    assert "contacting the Hugging Face Hub" in result.stderr
    assert "the Hub did not answer within 15 s" in result.stderr
    assert time.perf_counter() - start < 60


def _lying_mkv(path: Path) -> Path:
    """A 2 s Matroska file whose header claims 10 hours."""
    clip = write_av_video(path.with_name("honest.mkv"), size=(160, 120), fps=30, frames=60)
    data = bytearray(clip.read_bytes())
    at = data.find(b"\x44\x89\x88")
    data[at + 3 : at + 11] = struct.pack(">d", 36_000_000.0)
    path.write_bytes(bytes(data))
    return path


def test_a_container_that_lies_about_its_length(
    runner: CliRunner, tiny_model: Path, tmp_path: Path
) -> None:
    clip = _lying_mkv(tmp_path / "lying.mkv")
    note = "the container says 10:00:00 but its video stream ends at 0:00:02"
    analyzed = runner.invoke(
        app,
        [
            "analyze",
            str(clip),
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
    assert analyzed.exit_code == 0, analyzed.output
    record = json.loads(analyzed.stdout)
    assert record["num_frames"] == 8 and any(note in n for n in record["notes"])
    assert record["video_info"]["frame_count"] == 60
    found = runner.invoke(
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
            str(tmp_path / "h"),
            "--json",
        ],
    )
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)["counts"]["windows"] == 2


def test_prompts_that_cannot_fit_or_hold_special_tokens(
    runner: CliRunner, tiny_model: Path, ball_clip: Path
) -> None:
    from chronicon_mlx import SessionSpec, UsageError, analyze

    start = time.perf_counter()
    with pytest.raises(UsageError, match=r"the prompt is [\d,]+ tokens .* reads at most 8,192"):
        spec = SessionSpec(str(tiny_model), backend="mlx")
        analyze(ball_clip, "word " * 200_000, model=spec)
    assert time.perf_counter() - start < 60
    for option in ("-p", "-s"):
        result = runner.invoke(
            app,
            [
                "analyze",
                str(ball_clip),
                "-m",
                str(tiny_model),
                option,
                "What is <image> here?",
                "--no-save",
            ],
        )
        assert result.exit_code == 2
        assert "contains '<image>'" in result.stderr.splitlines()[0]
    hl = runner.invoke(
        app,
        ["highlights", str(ball_clip), "-m", str(tiny_model), "-p", "Rate <end_of_utterance> this"],
    )
    assert hl.exit_code == 2 and "contains '<end_of_utterance>'" in hl.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--end", "inf"], 2, "--end must be a time, not infinity"),
        (["--fps", "61"], 2, "--fps must be above 0 and at most 60"),
    ],
)
def test_bad_values_fail_before_the_model(
    runner: CliRunner,
    tiny_model: Path,
    ball_clip: Path,
    args: list[str],
    code: int,
    message: str,
) -> None:
    result = runner.invoke(app, ["analyze", str(ball_clip), "-m", str(tiny_model), *args])
    assert result.exit_code == code and message in result.stderr.splitlines()[0]
    help_text = runner.invoke(app, ["analyze", "--help"], env={"COLUMNS": "200"}).stdout
    assert "at most 60" in help_text


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            {"vision_config": {"patch_size": "sixteen"}},
            "'vision_config.patch_size' must be a whole",
        ),
        ({"vision_config": {"patch_size": 0}}, "'vision_config.patch_size' must be a whole"),
        ({"scale_factor": None}, "'scale_factor' must be a whole number above 0 (got None)"),
        ({"text_config": {"hidden_size": 64.5}}, "'text_config.hidden_size' must be a whole"),
        ({"vision_config": []}, "'vision_config' must be an object"),
    ],
)
def test_wrong_types_in_a_model_config_name_the_file_and_key(
    runner: CliRunner,
    tiny_model: Path,
    ball_clip: Path,
    tmp_path: Path,
    edit: dict[str, Any],
    message: str,
) -> None:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    config = json.loads((folder / "config.json").read_text())
    for key, value in edit.items():
        if isinstance(value, dict):
            config[key].update(value)
        else:
            config[key] = value
    (folder / "config.json").write_text(json.dumps(config))
    result = runner.invoke(app, ["analyze", str(ball_clip), "-m", str(folder)])
    assert result.exit_code == 1
    assert "config.json" in result.stderr and message in result.stderr
    assert "unexpected" not in result.stderr


def test_damaged_weights_and_disagreeing_files_are_named(
    runner: CliRunner, tiny_model: Path, ball_clip: Path, tmp_path: Path
) -> None:
    cases = [
        ("truncate", "model.safetensors is damaged"),
        ("garbage", "model.safetensors is damaged"),
        ("seq_len", "says image_seq_len 13 but config.json gives 4"),
    ]
    for damage, message in cases:
        folder = tmp_path / damage
        shutil.copytree(tiny_model, folder)
        weights = folder / "model.safetensors"
        if damage == "truncate":
            weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
        elif damage == "garbage":
            weights.write_bytes(b"\xff" * 64)
        else:
            (folder / "processor_config.json").write_text('{"image_seq_len": 13}')
        for backend in ("mlx", "transformers"):
            result = runner.invoke(
                app, ["analyze", str(ball_clip), "-m", str(folder), "-b", backend]
            )
            assert result.exit_code == 1 and message in result.stderr, result.output


def test_an_extends_loop_is_named(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[profiles.a]\nextends = "b"\n[profiles.b]\nextends = "a"\n')
    result = runner.invoke(app, ["profiles", "--profiles-file", str(path)])
    assert result.exit_code == 2 and "profiles.a.extends makes a loop: a → b → a" in result.stderr


def test_a_variable_frame_rate_gap_still_gives_every_frame_asked_for(tmp_path: Path) -> None:
    from chronicon_mlx.media import decode, plan, probe

    times = [i / 30 for i in range(85)] + [4.5 + i / 30 for i in range(20)]
    info = probe.probe(write_av_video(tmp_path / "joined.mp4", size=(160, 120), times=times))
    assert info.variable_frame_rate and info.frame_count == 105
    indices = plan.plan(info, 0, info.frame_count, 8)
    assert len(indices) == len(set(indices)) == 8
    frames = decode.sample(info, indices)
    assert [read_frame_code(f.image) for f in frames] == indices
