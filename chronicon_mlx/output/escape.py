"""Text from models and file systems made inert for each output format: one line, no control
characters, and the format's own metacharacters escaped."""

from __future__ import annotations

import re

from ..text import one_line

_MARKDOWN = re.compile(r"([\\`*_\[\]<>&|~#])")
_LIST_MARK = re.compile(r"^(\d+)([.)])")
_ZERO_WIDTH = "\u200b"


def markdown(text: str) -> str:
    """Markdown that shows `text` literally, even as a line of its own: no headings, lists,
    links, images, HTML, entities, code or emphasis."""
    line = _LIST_MARK.sub(r"\1\\\2", _MARKDOWN.sub(r"\\\1", one_line(text)))
    return "\\" + line if line[:1] in ("-", "+", "=") else line


def vtt(text: str) -> str:
    """A WebVTT cue payload: entities for & < >, one line, no cue-timing arrow."""
    line = one_line(text).replace("-->", "->")
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def srt(text: str) -> str:
    """An SRT cue line: one line, no cue-timing arrow, and no `<tag>` or `{override}` that
    players would apply (a zero-width space keeps the characters visible but inert)."""
    line = one_line(text).replace("-->", "->")
    return line.replace("<", "<" + _ZERO_WIDTH).replace("{", "{" + _ZERO_WIDTH)
