"""Quantized MLX copies of a checkpoint, converted once with mlx-vlm's converter and kept in
the cache."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..model.resolver import ModelRef


def quantized_copy(model: ModelRef, bits: int) -> tuple[Path, bool]:
    """A `bits`-bit MLX conversion of `model` in the cache: (folder, whether it was built now).

    The vision tower stays unquantized (mlx-vlm's choice). The folder is written beside its
    final place and renamed into it, so an interrupted conversion is never reused.
    """
    from mlx_vlm import convert

    from ..model.fingerprint import fingerprint
    from ..paths import cache_root, private_folder

    source = model.path.resolve()
    files = fingerprint(source, private_folder(cache_root() / "digests", "the digests folder"))
    key = hashlib.sha1(f"{source}|{files}|{bits}".encode()).hexdigest()[:10]
    target = cache_root() / "quantized" / f"{source.name}-{bits}bit-{key}"
    if (target / "config.json").is_file():
        return target, False
    private_folder(target.parent, "the quantized models folder")
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            convert(
                hf_path=str(source),
                mlx_path=str(tmp),
                quantize=True,
                q_bits=bits,
                trust_remote_code=False,
            )
        for name in ("chat_template.json", "chat_template.jinja", "preprocessor_config.json"):
            if (source / name).is_file() and not (tmp / name).is_file():
                shutil.copy2(source / name, tmp / name)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target, True
