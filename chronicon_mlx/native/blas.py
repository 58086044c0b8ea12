"""An optimised BLAS for MLX on Linux.

The mlx-cpu wheel links Netlib's reference BLAS, tens of times slower at float32 matrix
products than OpenBLAS. Loading an OpenBLAS that exports ``cblas_sgemm`` into the process
with RTLD_GLOBAL *before* ``mlx.core`` is imported makes MLX resolve its BLAS calls there.
The opencv-python wheel (a dependency) bundles one; cmeel-openblas and Debian's
libopenblas are used when present; the tuning's blas 'reference' turns this off.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

_loaded: str | None = None
_library: ctypes.CDLL | None = None


def _site_packages_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).resolve().parent.parent


def candidate_libraries() -> list[str]:
    """OpenBLAS libraries to try, best first."""
    found: list[str] = []
    cmeel = _site_packages_dir("cmeel")
    if cmeel is not None:
        found += glob.glob(str(cmeel / "cmeel.prefix" / "lib" / "libopenblas.so*"))
    cv2_root = _site_packages_dir("cv2")
    if cv2_root is not None:
        found += sorted(glob.glob(str(cv2_root / "opencv_python*.libs" / "libopenblas*.so*")))
    found += glob.glob("/usr/lib/*-linux-gnu/openblas-pthread/libopenblas.so.0")
    return found


def preload(choice: str = "auto") -> str:
    """Load an optimised BLAS for MLX if possible (`choice` "reference": do not); return
    what MLX will use.

    Returns the library's file name, "reference" (nothing found, or turned off), or
    "platform" on macOS where MLX uses Accelerate and Metal.
    """
    global _loaded, _library
    if _loaded is not None:
        return _loaded
    if sys.platform != "linux":
        _loaded = "platform"
        return _loaded
    if choice == "reference":
        _loaded = "reference"
        return _loaded
    if "mlx.core" in sys.modules:
        _loaded = "reference (mlx was imported first)"
        return _loaded
    path = find()
    if path is None:
        _loaded = "reference"
        return _loaded
    _library = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    _loaded = Path(path).name
    return _loaded


def find() -> str | None:
    """The first candidate OpenBLAS that loads and exports ``cblas_sgemm``, if any.

    Also what to put in ``LD_PRELOAD`` to give another MLX process the same BLAS.
    """
    for path in candidate_libraries():
        try:
            ctypes.CDLL(path).cblas_sgemm  # noqa: B018 - must export the symbol MLX calls
        except (OSError, AttributeError):
            continue
        return path
    return None


@contextlib.contextmanager
def threads(count: int) -> Iterator[None]:
    """Run the loaded OpenBLAS with `count` threads per call, for callers that parallelise.

    Does nothing when no OpenBLAS was loaded (the reference BLAS is single-threaded).
    """
    library = _library
    if library is None or not hasattr(library, "openblas_get_num_threads"):
        yield
        return
    before = int(library.openblas_get_num_threads())
    library.openblas_set_num_threads(max(1, count))
    try:
        yield
    finally:
        library.openblas_set_num_threads(before)
