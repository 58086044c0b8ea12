"""This tree against an earlier revision of it, side by side in one run.

The revision is checked out into a temporary git worktree; each trial is one fresh
`python -m chronicon_mlx.tools.bench_worker` process (the bench's own worker, whose job
format both trees share) run with that tree first on the import path, on the same
checkpoint, clip, frames and tokens (end of sequence ignored). One warm-up each, then
`--runs` trials alternating between the two trees. Stages are compared where both trees
time them: setup (imports and load), vision with the prompt's prefill, decode, end to end
and peak memory.

    python scripts/bench_before.py d0b0386 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from chronicon_mlx.model.random_weights import cached_checkpoint
from chronicon_mlx.tools.bench import BenchConfig, Trial, bench_clip, run_trial

ROOT = Path(__file__).resolve().parent.parent


def _check_tree(tree: Path) -> None:
    """Fail unless a process with `tree` on its import path imports the package from it."""
    code = "import chronicon_mlx; print(chronicon_mlx.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(tree)},
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=True,
    )
    found = Path(done.stdout.strip()).resolve()
    if not found.is_relative_to(tree.resolve()):
        raise SystemExit(f"error: a process meant to run {tree} imports {found}")


def _trial(tree: Path, args: argparse.Namespace, model: Path, video: Path) -> dict[str, Any]:
    start = time.perf_counter()
    trial: Trial = run_trial(
        BenchConfig(args.backend, "cpu", quantize=args.quantize),
        model,
        video,
        args.frames,
        args.tokens,
        source=tree,
    )
    process_s = time.perf_counter() - start
    if not trial.ok:
        raise SystemExit(f"error: a trial of {tree} failed: {trial.error}")
    stages = trial.stages
    return {
        "setup": stages.get("import", 0.0) + stages["load"],
        "vision_and_prefill": stages.get("vision", 0.0) + stages["prefill"],
        "decode_tps": trial.decode_tps,
        "end_to_end": stages["end_to_end"],
        "process": process_s,
        "peak_memory_gb": trial.peak_memory_gb,
        "prompt_tokens": trial.prompt_tokens,
        "generated_tokens": trial.generated_tokens,
    }


def _medians(trials: list[dict[str, Any]]) -> dict[str, float]:
    return {key: statistics.median(t[key] for t in trials) for key in trials[0]}


def main() -> None:
    """Check the revision out, run the trials, print the medians and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("revision", help="the earlier revision (a commit, tag or branch)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default="256m", help="a random-weight size or a folder")
    parser.add_argument("--backend", default="transformers")
    parser.add_argument("--quantize", default="none", help="the weights: none, or int8 (cpu)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--output", type=Path, default=Path("results/bench_before.json"))
    args = parser.parse_args()
    folder = Path(args.model)
    model = folder if folder.is_dir() else cached_checkpoint(args.model)
    video = bench_clip()
    found = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "--verify", f"{args.revision}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if found.returncode != 0:
        raise SystemExit(f"error: {args.revision!r} is not a commit of {ROOT}")
    commit = found.stdout.strip()
    with tempfile.TemporaryDirectory(prefix="chronicon-before-") as tmp:
        before = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before), commit],
            capture_output=True,
            check=True,
        )
        try:
            trees = {commit: before, "this tree": ROOT}
            for tree in trees.values():
                _check_tree(tree)
                _trial(tree, args, model, video)
            trials: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
            for run in range(args.runs):
                for name, tree in trees.items():
                    print(f"run {run + 1}/{args.runs}: {name}", file=sys.stderr)
                    trials[name].append(_trial(tree, args, model, video))
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)],
                capture_output=True,
            )
    old, new = (_medians(trials[name]) for name in trees)
    print(
        f"{args.backend} CPU, {args.frames} frames, {args.tokens} tokens; medians of"
        f" {args.runs} alternating runs (seconds unless named)"
    )
    print(f"{'':24}{commit:>12}{'this tree':>12}{'ratio':>9}")
    for key in ("setup", "vision_and_prefill", "decode_tps", "end_to_end", "process"):
        print(f"{key:24}{old[key]:12.2f}{new[key]:12.2f}{new[key] / old[key]:8.2f}x")
    print(f"{'peak_memory_gb':24}{old['peak_memory_gb']:12.2f}{new['peak_memory_gb']:12.2f}")
    report = {
        "revision": commit,
        "args": {k: str(v) for k, v in vars(args).items()},
        "before": trials[commit],
        "after": trials["this tree"],
        "median_before": old,
        "median_after": new,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"saved {args.output}")


if __name__ == "__main__":
    main()
