"""The per-window answer: a one-sentence description and a significance from 1 to 10.

Backends that can constrain decoding get `SCHEMA`; every answer is parsed strictly by
`parse` either way, and a score is never guessed from free text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

DESCRIPTION_MAX_CHARS = 200
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "description": {"type": "string", "minLength": 1, "maxLength": DESCRIPTION_MAX_CHARS},
        "significance": {"type": "integer", "minimum": 1, "maximum": 10},
    },
    "required": ["description", "significance"],
    "additionalProperties": False,
}
# Byte-level BPE: a character may take up to 4 tokens (one per UTF-8 byte); plus the JSON
# around the description.
CONSTRAINED_MAX_TOKENS = 4 * DESCRIPTION_MAX_CHARS + 24

QUESTION = (
    "Describe the key action in these frames in one sentence and rate its significance"
    " from 1 to 10."
)
ANSWER_FORMAT = (
    'Answer with JSON only, in the form {"description": "<one sentence>",'
    ' "significance": <integer from 1 to 10>}.'
)
FIRMER = (
    "Reply with exactly one JSON object and nothing else, for example"
    ' {"description": "A player shoots and scores from the edge of the box.",'
    ' "significance": 8}. The significance must be a whole number from 1 to 10.'
)
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


@dataclass(frozen=True)
class Score:
    """A parsed answer."""

    description: str
    significance: int


def parse(text: str) -> Score | None:
    """The answer if `text` is exactly one JSON object with a non-empty `description` and
    an integer `significance` from 1 to 10 (a surrounding code fence is allowed); else None.
    """
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or set(data) != {"description", "significance"}:
        return None
    description, significance = data["description"], data["significance"]
    if not isinstance(description, str) or not description.strip():
        return None
    if isinstance(significance, bool) or not isinstance(significance, int):
        return None
    if not 1 <= significance <= 10:
        return None
    return Score(" ".join(description.split()), significance)


def system_prompt(system: str, rubric: str) -> str:
    """The shared part of every window's prompt: the profile's system prompt and rubric."""
    return f"{system}\n\n{rubric}\n\n{ANSWER_FORMAT}"


def user_prompt(question: str | None, firmer: bool = False) -> str:
    """What follows each window's frames."""
    text = f"{question or QUESTION} {ANSWER_FORMAT}"
    return f"{text} {FIRMER}" if firmer else text
