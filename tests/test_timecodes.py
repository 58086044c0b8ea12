"""Times given on the command line."""

from __future__ import annotations

import pytest

from chronicon_mlx.errors import UsageError
from chronicon_mlx.timecodes import parse_time


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("2.5", 2.5),
        ("1:30", 90.0),
        ("0:01:30", 90.0),
        ("1:02:03.5", 3723.5),
        ("90:00", 5400.0),
        (" 0:05 ", 5.0),
    ],
)
def test_parse_time(text: str, seconds: float) -> None:
    assert parse_time(text, "--start") == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "is not a time"),
        ("1:2:3:4", "is not a time"),
        ("0:75", "not a valid clock time"),
        ("1:60:00", "not a valid clock time"),
        ("-3", "must not be negative"),
        ("nan", "negative"),
    ],
)
def test_bad_times_are_usage_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_time(text, "--start")
