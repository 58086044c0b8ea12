"""Options that several commands share, declared once: names, metavars, defaults from
`options.choices`, help."""

from __future__ import annotations

from typing import Any

import typer

from ..options import choices


def value(default: Any, *names: str, help: str, metavar: str, shown: str | None = None) -> Any:
    """An option taking a value; `shown` is the default as help shows it (else `default`)."""
    return typer.Option(
        default, *names, help=help, metavar=metavar, show_default=shown if shown else True
    )


def flag(*names: str, help: str) -> Any:
    """An on/off flag (no value follows it)."""
    return typer.Option(False, *names, help=help, metavar="", show_default=False)


VIDEOS = typer.Argument(
    ...,
    help="Video files or folders of videos (several share one model load).",
    show_default=False,
    metavar="VIDEO",
)
RECURSIVE = flag("--recursive", "-R", help="Also look for videos in the folders' subfolders.")
START = value(
    None,
    "--start",
    help="From this time on (seconds, MM:SS or H:MM:SS).",
    metavar="TIME",
    shown="the start",
)
END = value(
    None,
    "--end",
    help="Up to this time (seconds, MM:SS or H:MM:SS).",
    metavar="TIME",
    shown="the end",
)
SEEK = value(
    "exact",
    "--seek",
    help="exact: the frames asked for; keyframe: the nearest keyframes (fast on long videos).",
    metavar="MODE",
)
RESIZE = value(
    None,
    "--resize",
    "-r",
    help="Longest edge (pixels) of the frames given to the model.",
    metavar="PX",
    shown="the model's frame size",
)
SYSTEM = value(None, "--system", "-s", help="A system prompt.", metavar="TEXT", shown="none")
TEMPERATURE = value(0.0, "--temperature", help="0 is greedy (reproducible).", metavar="T")
SEED = value(None, "--seed", help="Random seed for sampling.", metavar="N", shown="none")
MODEL = value(
    None,
    "--model",
    "-m",
    help="An alias (256m, 500m, 2.2b), tiny-random (offline, random weights), a Hub id, or a"
    " folder.",
    metavar="MODEL",
    shown=f"{choices.DEFAULT_MODEL}, or the config file's",
)
BACKEND = value(
    None,
    "--backend",
    "-b",
    help="auto, cpu (the CPU engine), mlx or transformers (auto falls back when one fails).",
    metavar="NAME",
    shown="auto",
)
DEVICE = value(None, "--device", help="auto, mps, cuda or cpu.", metavar="NAME", shown="auto")
DTYPE = value(
    None,
    "--dtype",
    help="auto (float32 on CPU/MPS, bfloat16 on CUDA), float32, float16, bfloat16.",
    metavar="NAME",
    shown="auto",
)
QUANTIZE = value(
    None,
    "--quantize",
    "-q",
    help="auto (quantized only when nothing else fits), none, 4bit, 8bit, int8 (cpu).",
    metavar="NAME",
    shown="auto",
)
QUIET = flag("--quiet", "-Q", help="No progress or notes on stderr (errors still show).")
PROFILES_FILE = value(
    None,
    "--profiles-file",
    help="A TOML file of profiles.",
    metavar="FILE",
    shown="profiles.toml in the config folder",
)
JSON_RECORD = flag("--json", help="Print the JSON record on stdout.")
VIDEO = typer.Argument(..., help="A video file.", show_default=False, metavar="VIDEO")
FRAMES = value(
    None,
    "--frames",
    "-f",
    help="Frames to sample, spread over the clip (1-64).",
    metavar="N",
    shown=f"{choices.DEFAULT_FRAMES}, or the profile's or config file's",
)
FPS = value(
    None,
    "--fps",
    help=f"Frames per second to sample instead of --frames (at most"
    f" {choices.FPS.high:g}; at most {choices.FRAMES.high:g} frames).",
    metavar="RATE",
    shown="off",
)
SAMPLING = value(
    "uniform",
    "--sampling",
    metavar="MODE",
    help="uniform: spread evenly; scene: prefer frames right after scene changes.",
)
MAX_TOKENS = value(
    None,
    "--max-tokens",
    "-t",
    help="Most tokens to generate.",
    metavar="N",
    shown=f"{choices.DEFAULT_MAX_TOKENS}, or the profile's or config file's",
)
PROFILE = value(
    None,
    "--profile",
    "-P",
    metavar="NAME",
    shown="none",
    help="A prompt profile (system prompt, question, defaults); --system/--prompt win.",
)
NO_CACHE = flag(
    "--no-cache",
    help="Neither read nor write the video cache (decoded frames' features and the video's"
    " prefilled prompt, kept on disk between runs).",
)
RAY = value(
    None,
    "--ray",
    metavar="[ADDRESS]",
    shown="off",
    help="Run the videos on Ray workers, each holding one loaded model: --ray alone starts"
    " a local Ray instance, --ray auto or --ray HOST:PORT joins a running cluster. Outputs"
    " get stable names, a manifest.jsonl, and a rerun skips what is done (needs the ray"
    " extra).",
)
WORKERS = value(
    None,
    "--workers",
    "-w",
    help="Ray workers (each loads the model once).",
    metavar="N",
    shown="one per CPU (per GPU) that the cluster's memory allows",
)
SPEECH = typer.Option(
    None,
    "--speech/--no-speech",
    help="Put what is said (speech to text, with times) into the prompt; --speech fetches"
    " the speech model if needed.",
    metavar="",
    show_default="on when the video has audio and the speech model is here",
)
SPEECH_MODEL = value(
    None,
    "--speech-model",
    help="tiny, base, small, large-v3-turbo, tiny-random (offline, random weights), a Hub id"
    " or a folder (faster-whisper).",
    metavar="MODEL",
    shown=f"{choices.DEFAULT_SPEECH_MODEL}, or the config file's",
)
AUDIO_TRACK = value(
    None,
    "--audio-track",
    help="The audio track to hear, numbered from 0.",
    metavar="N",
    shown="the default one",
)
ADD_TO_LIBRARY = value(
    None,
    "--library",
    help="Also store what the run describes (each window, each answer) in this library"
    " database (see `search`).",
    metavar="PATH",
    shown="off",
)
HIGHLIGHTS_PROFILE = value(
    None,
    "--profile",
    "-P",
    help="A prompt profile (see `chronicon-mlx profiles`).",
    metavar="NAME",
    shown=f"{choices.DEFAULT_PROFILE}, or the config file's",
)
WINDOW = value(
    None,
    "--window",
    help="Window length in seconds.",
    metavar="SECONDS",
    shown=f"the profile's, {choices.DEFAULT_WINDOW_S:g}",
)
FRAMES_PER_WINDOW = value(
    None,
    "--frames-per-window",
    help="Frames per window (1-64).",
    metavar="N",
    shown=f"the profile's, {choices.DEFAULT_FRAMES_PER_WINDOW}",
)
