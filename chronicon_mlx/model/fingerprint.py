"""What identifies a checkpoint's behaviour: the bytes of every file that decides an answer
(weights, config, tokenizer, chat template, processor settings)."""

from __future__ import annotations

import fnmatch
import hashlib
from pathlib import Path

from ..media.digest import file_digest
from .hub import ALLOW_PATTERNS


def model_files(folder: Path) -> list[Path]:
    """The files of a checkpoint folder that decide its answers: those a download fetches
    (weights, JSON settings, templates, vocabularies), by name."""
    found = [
        path
        for path in folder.iterdir()
        if path.is_file() and any(fnmatch.fnmatch(path.name, p) for p in ALLOW_PATTERNS)
    ]
    return sorted(found, key=lambda path: path.name)


def fingerprint(folder: Path, memo: Path | None = None) -> str:
    """A digest of every such file's name and bytes (each file's digest remembered in
    `memo`, so an unchanged checkpoint is not read again)."""
    digest = hashlib.blake2b(digest_size=20)
    for path in model_files(folder):
        digest.update(f"{path.name}\0{file_digest(path, memo)}\0".encode())
    return digest.hexdigest()
