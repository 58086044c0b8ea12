"""Strict parsing of a window's answer, merging and ranking of the scored windows."""

from __future__ import annotations

import pytest

from chronicon_mlx.highlight import ranking, scoring
from chronicon_mlx.highlight.result import WindowResult
from chronicon_mlx.timecodes import format_caption_time, format_time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"description": "A goal.", "significance": 8}', ("A goal.", 8)),
        ('  {"significance": 10, "description": " Two  lines\\n here "} ', ("Two lines here", 10)),
        ('```json\n{"description": "Kick-off.", "significance": 2}\n```', ("Kick-off.", 2)),
    ],
)
def test_parse_accepts_exact_json(text: str, expected: tuple[str, int]) -> None:
    assert scoring.parse(text) == scoring.Score(*expected)


@pytest.mark.parametrize(
    "text",
    [
        "8/10 a goal",
        "Significance: 8",
        '{"description": "A goal.", "significance": 11}',
        '{"description": "A goal.", "significance": 0}',
        '{"description": "A goal.", "significance": 7.5}',
        '{"description": "A goal.", "significance": "8"}',
        '{"description": "A goal.", "significance": true}',
        '{"description": "", "significance": 5}',
        '{"description": "A goal.", "significance": 8, "extra": 1}',
        '{"description": "A goal."}',
        '{"description": "A goal.", "significance": 8} and more',
        '[{"description": "A goal.", "significance": 8}]',
        '{"description": "A goal", "signif',
        "",
    ],
)
def test_parse_never_guesses(text: str) -> None:
    assert scoring.parse(text) is None


def _window(n: int, start: float, significance: int | None, text: str | None) -> WindowResult:
    return WindowResult(
        number=n,
        start_s=start,
        end_s=start + 30,
        description=text,
        significance=significance,
        raw=text or "garbage",
        attempts=1,
        frame_indices=[n * 10, n * 10 + 5, n * 10 + 9],
        frame_times=[start + 5, start + 15, start + 25],
        thumbnail=f"thumbs/window-{n:04d}.jpg",
        generate_s=1.0,
        prompt_tokens=100,
        cached_tokens=20,
        generated_tokens=10,
        constrained=True,
    )


def test_merge_joins_overlapping_windows_about_the_same_moment() -> None:
    windows = [
        _window(0, 0, 3, "Players warm up on the pitch."),
        _window(1, 25, 7, "A striker runs at the defence and shoots."),
        _window(2, 50, 9, "The striker shoots and scores a goal."),
        _window(3, 75, 8, "Fans celebrate in the stands."),
        _window(4, 100, None, None),
        _window(5, 125, 6, "The referee shows a yellow card."),
        _window(6, 200, 9, "The referee shows a red card."),
    ]
    merged = ranking.merge(windows, min_significance=6)
    assert [(h.start_s, h.end_s, h.windows) for h in merged] == [
        (25, 80, [1, 2]),
        (75, 105, [3]),
        (125, 155, [5]),
        (200, 230, [6]),
    ]
    goal = merged[0]
    assert goal.significance == 9 and goal.description == "The striker shoots and scores a goal."
    assert (goal.frame_index, goal.frame_time_s) == (25, 65)
    assert goal.thumbnail == "thumbs/window-0002.jpg"
    ranked = ranking.rank(merged, max_highlights=3)
    assert [(h.rank, h.windows, h.significance) for h in ranked] == [
        (1, [1, 2], 9),
        (2, [6], 9),
        (3, [3], 8),
    ]
    data = ranked[0].to_dict()
    assert (data["start"], data["end"]) == ("0:00:25", "0:01:20")
    assert data["frame"] == {"index": 25, "timestamp_s": 65, "thumbnail": "thumbs/window-0002.jpg"}


def test_gaps_and_unrelated_descriptions_are_not_merged() -> None:
    windows = [
        _window(0, 0, 8, "A car crashes into a wall."),
        _window(1, 25, 8, "A dog sleeps on a sofa."),
        _window(2, 100, 8, "A car crashes into a wall."),
    ]
    assert [h.windows for h in ranking.merge(windows, 6)] == [[0], [1], [2]]
    assert ranking.merge(windows, 9) == []


def test_window_round_trip_and_times() -> None:
    window = _window(3, 75.5, None, None)
    assert WindowResult.from_dict(window.to_dict()) == window
    assert "seconds" not in window.to_dict(timing=False)
    assert format_time(3725.9) == "1:02:05"
    assert format_caption_time(3725.25) == "01:02:05,250"
    assert format_caption_time(0.5, ".") == "00:00:00.500"


def test_a_chain_of_similar_windows_does_not_become_one_long_highlight() -> None:
    windows = [_window(n, n * 25, 7, "Players pass the ball in midfield.") for n in range(5)]
    merged = ranking.merge(windows, 6)
    assert [h.windows for h in merged] == [[0, 1], [2, 3], [4]]
    assert all(h.end_s - h.start_s <= 2.5 * 30 for h in merged)
