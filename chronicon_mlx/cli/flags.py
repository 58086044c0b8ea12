"""The command line's names for the settings that core messages refer to."""

from __future__ import annotations

FLAGS: dict[str, str] = {
    "frames": "--frames",
    "fps": "--fps",
    "start_s": "--start",
    "end_s": "--end",
    "sampling": "--sampling",
    "seek": "--seek",
    "resize": "--resize",
    "prompt": "--prompt",
    "system": "--system",
    "max_tokens": "--max-tokens",
    "temperature": "--temperature",
    "model": "--model",
    "backend": "--backend",
    "device": "--device",
    "dtype": "--dtype",
    "quantize": "--quantize",
    "output": "--output",
    "no_save": "--no-save",
    "recursive": "--recursive",
    "profiles_file": "--profiles-file",
    "window_s": "--window",
    "overlap_s": "--overlap",
    "frames_per_window": "--frames-per-window",
    "min_significance": "--min-significance",
    "max_highlights": "--max-highlights",
    "formats": "--format",
    "sort": "--sort",
    "reel": "--reel",
    "fresh": "--fresh",
    "ray": "--ray",
    "workers": "--workers",
}
"""How the command line names each setting that core messages refer to."""
