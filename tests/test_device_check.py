"""The GPU check script: on a machine without CUDA it writes its plan and exits 0."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def test_device_check_dry_run_without_cuda(tmp_path: Path) -> None:
    """Without CUDA the script needs no flag to stay a dry run (with CUDA, one is given)."""
    out = tmp_path / "check"
    command = [sys.executable, str(ROOT / "scripts" / "device_check.py"), str(out)]
    cuda = _cuda()
    proc = subprocess.run(
        command + (["--dry-run"] if cuda else []), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "device_check.json").read_text())
    assert report["dry_run"] is True and report["steps"] == {}
    assert report["reason"] == ("--dry-run given" if cuda else "no CUDA GPU on this machine")
    steps = [step["step"] for step in report["plan"]]
    assert steps == ["doctor", "parity", "limits", "bench", "pixels", "highlights", "mlx_cuda"]
    summary = (out / "summary.txt").read_text()
    assert "dry run" in summary and "would run: parity" in summary
    assert "writing the plan only" in proc.stdout
