"""Options that several commands share, defined once."""

from __future__ import annotations

import typer

from ..options.choices import DEFAULT_MODEL

VIDEOS = typer.Argument(
    ...,
    help="Video files or folders of videos (several share one model load).",
    show_default=False,
    metavar="VIDEO",
)
RECURSIVE = typer.Option(
    False, "--recursive", "-R", help="Also look for videos in the folders' subfolders."
)
MODEL = typer.Option(
    None,
    "--model",
    "-m",
    help=f"An alias (256m, 500m, 2.2b), a Hub id, or a folder. [default: {DEFAULT_MODEL}]",
    show_default=False,
)
BACKEND = typer.Option(
    None,
    "--backend",
    "-b",
    help="auto, mlx or transformers (auto falls back when one fails). [default: auto]",
    show_default=False,
)
DEVICE = typer.Option(
    None, "--device", help="auto, mps, cuda or cpu. [default: auto]", show_default=False
)
DTYPE = typer.Option(
    None,
    "--dtype",
    help="auto (float32 on CPU/MPS, bfloat16 on CUDA), float32, float16, bfloat16. [default: auto]",
    show_default=False,
)
QUANTIZE = typer.Option(
    None,
    "--quantize",
    "-q",
    help="none, 4bit or 8bit. [default: none, or quantized when only that fits in memory]",
    show_default=False,
)
QUIET = typer.Option(
    False, "--quiet", "-Q", help="No progress or notes on stderr (errors still show)."
)
PROFILES_FILE = typer.Option(
    None,
    "--profiles-file",
    help="A TOML file of profiles. [default: $XDG_CONFIG_HOME/chronicon-mlx/profiles.toml]",
    show_default=False,
)
JSON_RECORD = typer.Option(False, "--json", help="Print the JSON record on stdout.")
