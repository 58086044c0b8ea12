"""How people install the tool: the wheel carries every file it needs, and the dependency
set resolves for Apple Silicon (MLX with Metal, no CUDA packages)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_the_wheel_carries_its_package_data(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("chronicon_mlx-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "chronicon_mlx/py.typed" in names
    templates = REPO / "chronicon_mlx" / "output" / "templates"
    for template in templates.glob("*") if templates.is_dir() else []:
        assert f"chronicon_mlx/output/templates/{template.name}" in names
    modules = {str(p.relative_to(REPO)) for p in (REPO / "chronicon_mlx").rglob("*.py")}
    assert modules <= names
    metadata = next(n for n in names if n.endswith("/entry_points.txt"))
    assert (
        "chronicon-mlx = chronicon_mlx.cli.app:main"
        in zipfile.ZipFile(wheel).read(metadata).decode()
    )


@pytest.mark.network
@pytest.mark.parametrize("extra", [None, "torch"])
def test_the_dependencies_resolve_for_apple_silicon(tmp_path: Path, extra: str | None) -> None:
    """uv resolves for another platform with that platform's markers (pip evaluates markers
    for the machine it runs on)."""
    uv = Path(sys.executable).parent / "uv"
    out = tmp_path / "requirements.txt"
    command = [
        str(uv),
        "pip",
        "compile",
        str(REPO / "pyproject.toml"),
        "--no-header",
        "--python-platform",
        "aarch64-apple-darwin",
        "--python-version",
        "3.12",
        "-o",
        str(out),
    ]
    if extra:
        command += ["--extra", extra]
    env = dict(os.environ, MACOSX_DEPLOYMENT_TARGET="14.0")
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    pins = {line.split("==")[0] for line in out.read_text().splitlines() if "==" in line}
    assert {"mlx", "mlx-metal", "mlx-vlm", "opencv-python", "av"} <= pins
    assert not {p for p in pins if p.startswith(("nvidia-", "mlx-cpu", "mlx-cuda", "triton"))}
    assert ("torch" in pins) == (extra == "torch")
