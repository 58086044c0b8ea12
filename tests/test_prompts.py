"""SmolVLM2's native video prompt: text, chat rendering and the exact token ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chronicon_mlx.model import prompt as prompts

TWO_FRAME_TEXT = (
    "<|im_start|>System: Be brief.<end_of_utterance>\n"
    "User: You are provided the following series of two frames from a 0:00:02 [H:MM:SS] video.\n"
    "\nFrame from 00:00:<image>\nFrame from 00:01:<image>\n\n"
    "What moves?<end_of_utterance>\nAssistant:"
)

# The tiny checkpoint's ids for TWO_FRAME_TEXT after the processor expanded both frames.
TWO_FRAME_IDS = [
    469,
    50,
    88,
    82,
    321,
    76,
    25,
    220,
    33,
    68,
    264,
    81,
    72,
    68,
    69,
    13,
    474,
    198,
    52,
    82,
    262,
    25,
    220,
    56,
    78,
    84,
    258,
    260,
    279,
    263,
    85,
    72,
    67,
    68,
    67,
    259,
    271,
    410,
    301,
    261,
    262,
    72,
    274,
    267,
    69,
    256,
    86,
    78,
    271,
    319,
    274,
    347,
    258,
    427,
    25,
    306,
    25,
    15,
    17,
    220,
    58,
    39,
    25,
    44,
    44,
    25,
    50,
    50,
    60,
    333,
    13,
    198,
    198,
    362,
    347,
    434,
    25,
    306,
    25,
    471,
    473,
    472,
    472,
    472,
    472,
    471,
    198,
    362,
    347,
    434,
    25,
    359,
    25,
    471,
    473,
    472,
    472,
    472,
    472,
    471,
    198,
    198,
    307,
    288,
    328,
    407,
    274,
    30,
    474,
    198,
    32,
    320,
    290,
    83,
    64,
    77,
    83,
    25,
]


@pytest.mark.parametrize(
    ("n", "words"),
    [(1, "one"), (8, "eight"), (16, "sixteen"), (21, "twenty-one"), (64, "sixty-four")],
)
def test_number_words_match_num2words(n: int, words: str) -> None:
    assert prompts.number_words(n) == words


def test_labels() -> None:
    assert prompts.duration_label(9.97) == "0:00:09"
    assert prompts.duration_label(3725) == "1:02:05"
    assert prompts.frame_label(0.5) == "00:00"
    assert prompts.frame_label(61.9) == "01:01"
    assert prompts.frame_label(3725) == "62:05"


def test_video_block_layout() -> None:
    assert prompts.video_block([0.0, 12.4, 75.0], 80.2) == (
        "You are provided the following series of three frames from a 0:01:20 [H:MM:SS] video.\n"
        "\nFrame from 00:00:<image>\nFrame from 00:12:<image>\nFrame from 01:15:<image>\n\n"
    )


def test_system_prompt_travels_as_content_parts() -> None:
    messages = prompts.build_messages("Q", [0.0], 1.0, system="S")
    assert messages[0] == {"role": "system", "content": [{"type": "text", "text": "S"}]}
    assert [m["role"] for m in prompts.build_messages("Q", [0.0], 1.0)] == ["user"]


def test_rendered_prompt_is_exact(tiny_model: Path) -> None:
    template = prompts.load_chat_template(tiny_model)
    text = prompts.build_prompt(template, "What moves?", [0.5, 1.5], 2.0, "Be brief.")
    assert text == TWO_FRAME_TEXT


@pytest.mark.torch
def test_rendering_matches_transformers_chat_template(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model))
    messages = prompts.build_messages("What moves?", [0.5, 1.5], 2.0, "Be brief.")
    expected = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert prompts.render(prompts.load_chat_template(tiny_model), messages) == expected


@pytest.mark.mlx
def test_exact_prompt_token_ids_without_tiling(tiny_model: Path) -> None:
    from chronicon_mlx.backends import Candidate, GenerationRequest, create
    from chronicon_mlx.model.resolver import resolve

    backend = create(Candidate("mlx", "cpu"))
    backend.load(resolve(str(tiny_model)))
    # A 4:3 frame far above the model's frame size would be tiled by mlx-vlm's image path.
    frames = [np.zeros((480, 640, 3), np.uint8), np.full((480, 640, 3), 255, np.uint8)]
    ids = backend.prompt_ids(GenerationRequest(frames, TWO_FRAME_TEXT))
    assert ids == TWO_FRAME_IDS
    image, fake, global_img = 472, 471, 473
    assert ids.count(image) == 2 * 4
    assert ids.count(global_img) == 2
    block = [fake, global_img, image, image, image, image, fake]
    first = ids.index(fake)
    assert ids[first : first + 7] == block
