"""Buttons for flow answers: opening days and times from the pack's hours, labels in the visit's language."""

from __future__ import annotations

import datetime

from firmware_app.screen.choices import date_choices, time_choices

DAYS = {0: ("09:00", "17:00"), 1: ("09:00", "17:00"), 5: ("09:30", "13:00")}
SATURDAY = datetime.date(2026, 11, 21)


def test_dates_skip_closed_days_and_read_as_the_dialogue_reads_them() -> None:
    english = [choice.value for choice in date_choices(DAYS, SATURDAY, "en")]
    assert english[:3] == ["Monday 23 November", "Tuesday 24 November", "Saturday 28 November"]
    chinese = date_choices(DAYS, SATURDAY, "zh")
    assert chinese[0].label == chinese[0].value == "11月23日（周一）"


def test_times_follow_the_chosen_day_or_the_longest_day() -> None:
    saturday = [choice.value for choice in time_choices(DAYS, SATURDAY)]
    assert (saturday[0], saturday[-1], len(saturday)) == ("09:30", "12:30", 7)
    any_day = [choice.value for choice in time_choices(DAYS, None)]
    assert (any_day[0], any_day[-1]) == ("09:00", "16:30")
