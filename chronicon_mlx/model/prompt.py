"""SmolVLM2's native video prompt: one untiled image per frame, each with its timestamp.

This is the layout transformers' SmolVLMVideoProcessor builds and SmolVLM2 was trained on:

    You are provided the following series of {N in words} frames from a {H:MM:SS} [H:MM:SS] video.
    <newline>Frame from {MM:SS}:<image> ... (one per frame), then two newlines.

What was said is interleaved by time: ``<newline>Speech {MM:SS}-{MM:SS}: {words}`` before
the first frame shown after the words began (the rest after the last frame).

Each ``<image>`` is expanded by the model's processor (with image splitting off) into
``<fake_token_around_image><global-img>`` + ``<image>`` x tokens-per-frame +
``<fake_token_around_image>``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

IMAGE_TOKEN = "<image>"
FAKE_IMAGE_TOKEN = "<fake_token_around_image>"
GLOBAL_IMAGE_TOKEN = "<global-img>"
VIDEO_INTRO = (
    "You are provided the following series of {count} frames from a {duration} [H:MM:SS] video.\n"
)
FRAME_LINE = "\nFrame from {timestamp}:"
SPEECH_LINE = "\nSpeech {start}-{end}: {text}"
MEDIA_OUTTRO = "\n\n"

SMOLVLM_CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}"
    "{% elif line['type'] == 'video' %}{{ '<video>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_words(n: int) -> str:
    """English words for 0-999, as num2words writes them ("sixty-four")."""
    if n < 0 or n > 999:
        raise ValueError(f"number out of range: {n}")
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    hundreds, rest = divmod(n, 100)
    return f"{_ONES[hundreds]} hundred" + (f" and {number_words(rest)}" if rest else "")


def duration_label(seconds: float) -> str:
    """H:MM:SS of a whole number of seconds, as Python's timedelta prints it."""
    return str(timedelta(seconds=int(max(0.0, seconds))))


def frame_label(seconds: float) -> str:
    """MM:SS of a frame's timestamp (minutes keep counting past 59)."""
    whole = int(max(0.0, seconds))
    return f"{whole // 60:02d}:{whole % 60:02d}"


Speech = Sequence[tuple[float, float, str]]
"""What was said: (start, end, words) in seconds of the video, in time order."""


def speech_line(start_s: float, end_s: float, words: str) -> str:
    """One line of speech as the prompt shows it."""
    return SPEECH_LINE.format(start=frame_label(start_s), end=frame_label(end_s), text=words)


def video_block(timestamps: Sequence[float], duration_s: float, speech: Speech = ()) -> str:
    """The text that stands for the video, with one ``<image>`` placeholder per frame and
    the `speech` lines interleaved by time."""
    text = VIDEO_INTRO.format(
        count=number_words(len(timestamps)), duration=duration_label(duration_s)
    )
    said = sorted(speech, key=lambda line: line[0])
    position = 0
    for timestamp in timestamps:
        while position < len(said) and said[position][0] < timestamp:
            text += speech_line(*said[position])
            position += 1
        text += FRAME_LINE.format(timestamp=frame_label(timestamp)) + IMAGE_TOKEN
    text += "".join(speech_line(*line) for line in said[position:])
    return text + MEDIA_OUTTRO


def build_messages(
    prompt: str,
    timestamps: Sequence[float],
    duration_s: float,
    system: str | None = None,
    speech: Speech = (),
) -> list[dict[str, Any]]:
    """Chat messages with content parts (a plain-string system prompt would be dropped)."""
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": [{"type": "text", "text": system}]})
    messages.append(
        {
            "role": "user",
            "content": [
                {"type": "text", "text": video_block(timestamps, duration_s, speech)},
                {"type": "text", "text": prompt},
            ],
        }
    )
    return messages


def build_conversation(
    turns: Sequence[tuple[str, str]],
    question: str,
    timestamps: Sequence[float],
    duration_s: float,
    system: str | None = None,
    speech: Speech = (),
) -> list[dict[str, Any]]:
    """Chat messages for a conversation about one video: the video opens the first user
    turn, earlier (question, answer) `turns` follow as user and assistant turns, then the
    new `question`."""
    first, *later = [*(q for q, _ in turns), question]
    messages = build_messages(first, timestamps, duration_s, system, speech)
    for (_, answer), asked in zip(turns, later, strict=True):
        messages.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
        messages.append({"role": "user", "content": [{"type": "text", "text": asked}]})
    return messages


def video_prefix(
    template: str,
    timestamps: Sequence[float],
    duration_s: float,
    system: str | None = None,
    speech: Speech = (),
) -> str:
    """The rendered prompt up to the first question: the system turn and the video, the
    part every question about the video shares."""
    marker = "\x00question\x00"
    text = render(template, build_messages(marker, timestamps, duration_s, system, speech))
    return text[: text.index(marker)]


def load_chat_template(folder: Path) -> str:
    """The checkpoint's chat template (chat_template.jinja/.json or tokenizer_config.json)."""
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    for name in ("chat_template.json", "tokenizer_config.json"):
        path = folder / name
        if path.is_file():
            try:
                template = json.loads(path.read_text(encoding="utf-8")).get("chat_template")
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(template, str) and template:
                return template
    return SMOLVLM_CHAT_TEMPLATE


@functools.lru_cache(maxsize=8)
def _compiled(template: str) -> Any:
    """A chat template compiled once (a highlights run renders it for every window)."""
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
    )
    return env.from_string(template)


def render(template: str, messages: list[dict[str, Any]]) -> str:
    """Render chat messages with a Jinja chat template, the way transformers does."""
    text: str = _compiled(template).render(messages=messages, add_generation_prompt=True)
    return text


def build_prompt(
    template: str,
    prompt: str,
    timestamps: Sequence[float],
    duration_s: float,
    system: str | None = None,
    speech: Speech = (),
) -> str:
    """The full prompt text handed to every backend."""
    return render(template, build_messages(prompt, timestamps, duration_s, system, speech))


def expand_images(prompt: str, tokens_per_frame: int) -> str:
    """`prompt` with each frame's ``<image>`` expanded the way SmolVLM2's processor does
    without tiling: ``<fake_token_around_image><global-img>``, the image tokens, and
    ``<fake_token_around_image>``."""
    block = FAKE_IMAGE_TOKEN + GLOBAL_IMAGE_TOKEN + IMAGE_TOKEN * tokens_per_frame
    return prompt.replace(IMAGE_TOKEN, block + FAKE_IMAGE_TOKEN)


def shared_prefix(prompt: str) -> str:
    """The part of a rendered prompt before the video (the system turn and the user turn's
    opening): the same for every window of a highlights run."""
    intro = VIDEO_INTRO.split("{", 1)[0]
    position = prompt.find(intro)
    return prompt[:position] if position > 0 else ""
