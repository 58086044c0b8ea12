"""Text from models, users and file systems made safe to show or write as plain text:
control characters (terminal escape sequences among them, C1 controls such as the 8-bit CSI)
and bidirectional overrides removed, undecodable file-name bytes shown as U+FFFD; in JSON,
the same characters escaped (``\u009b``), never raw."""

from __future__ import annotations

import json
import re
from typing import Any

_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{_BIDI}]")
_ESCAPED_IN_JSON = re.compile(f"[\\x7f-\\x9f{_BIDI}]")
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
    """JSON that can be written as UTF-8: non-ASCII text kept as it is, but for C1 controls
    and bidirectional overrides (escaped), unless some string holds undecodable file-name
    bytes (then everything non-ASCII is escaped)."""
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(data, indent=indent, ensure_ascii=True)
    return _ESCAPED_IN_JSON.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
