"""Text from models, users and file systems made safe to show or write as plain text:
control characters (terminal escape sequences among them) removed, undecodable file-name
bytes shown as U+FFFD."""

from __future__ import annotations

import json
import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACE = re.compile(r"\s+")


def printable(text: str) -> str:
    """`text` without control characters (tabs and new lines kept), valid UTF-8."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "replace")
    return _CONTROL.sub("", raw.decode("utf-8", "replace").replace("\r\n", "\n"))


def one_line(text: str) -> str:
    """`printable` text with every run of white space (new lines too) as one space."""
    return _SPACE.sub(" ", printable(text)).strip()


def json_text(data: Any, indent: int | None = 2) -> str:
    """JSON that can be written as UTF-8: non-ASCII text kept as it is, unless some string
    holds undecodable file-name bytes (then everything non-ASCII is escaped)."""
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(data, indent=indent, ensure_ascii=True)
    return text
