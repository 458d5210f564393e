"""Tests for workflow.overdue: step status, reminder levels, escalation, and wording.

Calendar: Mon-Fri 08:30-16:30, Pacific/Auckland, closed 2026-12-18..2027-02-02.
2026-03-02 is a Monday; 2026-03-06 a Friday; 2026-12-17 a Thursday; 2027-02-03 a Wednesday.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflow.config import Config
from workflow.model import is_ticked
from workflow.overdue import evaluate_step, overdue_for
from workflow.schema import STEP_DONE, STEP_NOT_NEEDED, STEP_OPEN, STEP_OVERDUE
from workflow.schoolclock import SchoolClock

NZ = ZoneInfo("Pacific/Auckland")


def nz(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=NZ)


@pytest.fixture
def clock(config: Config) -> SchoolClock:
    return SchoolClock(config.calendar, config.school.timezone)


def state(clock: SchoolClock, due: object, now: datetime, *, ticked: bool = False, status: str = STEP_OPEN,
          urgent: bool = False) -> tuple[str, int, bool]:
    result = evaluate_step(due, ticked, status, urgent, now, clock)
    return result.status, result.reminder_level, result.escalate


MON_10 = nz(2026, 3, 2, 10, 0)
FRI_15 = nz(2026, 3, 6, 15, 0)


# -- not yet due, overdue, levels ---------------------------------------------------------------


def test_not_due_is_open(clock: SchoolClock) -> None:
    assert state(clock, MON_10, nz(2026, 3, 2, 9, 59)) == (STEP_OPEN, 0, False)


def test_exactly_at_due_is_still_open(clock: SchoolClock) -> None:
    assert state(clock, MON_10, MON_10) == (STEP_OPEN, 0, False)


def test_just_past_due_is_overdue_level_1(clock: SchoolClock) -> None:
    assert state(clock, MON_10, MON_10 + timedelta(seconds=1)) == (STEP_OVERDUE, 1, False)
    assert state(clock, MON_10, nz(2026, 3, 2, 23, 59)) == (STEP_OVERDUE, 1, False)


def test_level_2_from_the_next_school_day_start(clock: SchoolClock) -> None:
    assert state(clock, MON_10, nz(2026, 3, 3, 8, 29))[1] == 1
    assert state(clock, MON_10, nz(2026, 3, 3, 8, 30))[1] == 2
    assert state(clock, MON_10, nz(2026, 3, 3, 9, 0)) == (STEP_OVERDUE, 2, False)
    assert state(clock, MON_10, nz(2026, 3, 4, 8, 30))[1] == 3


def test_due_before_school_starts_rises_the_same_morning(clock: SchoolClock) -> None:
    due = nz(2026, 3, 3, 7, 0)
    assert state(clock, due, nz(2026, 3, 3, 8, 0))[1] == 1
    assert state(clock, due, nz(2026, 3, 3, 8, 30))[1] == 2


def test_level_only_rises_on_school_days_across_a_weekend(clock: SchoolClock) -> None:
    levels = {
        "Fri 16:00": state(clock, FRI_15, nz(2026, 3, 6, 16, 0))[1],
        "Sat 08:30": state(clock, FRI_15, nz(2026, 3, 7, 8, 30))[1],
        "Sun 12:00": state(clock, FRI_15, nz(2026, 3, 8, 12, 0))[1],
        "Mon 08:29": state(clock, FRI_15, nz(2026, 3, 9, 8, 29))[1],
        "Mon 08:30": state(clock, FRI_15, nz(2026, 3, 9, 8, 30))[1],
        "Tue 08:30": state(clock, FRI_15, nz(2026, 3, 10, 8, 30))[1],
    }
    assert levels == {"Fri 16:00": 1, "Sat 08:30": 1, "Sun 12:00": 1, "Mon 08:29": 1, "Mon 08:30": 2,
                      "Tue 08:30": 3}


def test_level_does_not_rise_through_the_summer_holidays(clock: SchoolClock) -> None:
    due = nz(2026, 12, 17, 10, 0)  # last school day before the break
    assert state(clock, due, nz(2027, 1, 15, 9, 0))[1] == 1
    assert state(clock, due, nz(2027, 2, 2, 9, 0))[1] == 1
    assert state(clock, due, nz(2027, 2, 3, 8, 30))[1] == 2


# -- escalation -------------------------------------------------------------------------------------


def test_normal_case_escalates_after_one_more_school_day(clock: SchoolClock) -> None:
    assert state(clock, MON_10, nz(2026, 3, 3, 9, 59)) == (STEP_OVERDUE, 2, False)
    assert state(clock, MON_10, nz(2026, 3, 3, 10, 0)) == (STEP_OVERDUE, 2, True)


def test_normal_case_escalation_waits_for_school_time_over_a_weekend(clock: SchoolClock) -> None:
    assert state(clock, FRI_15, nz(2026, 3, 8, 23, 0))[2] is False
    assert state(clock, FRI_15, nz(2026, 3, 9, 14, 59))[2] is False
    assert state(clock, FRI_15, nz(2026, 3, 9, 15, 0)) == (STEP_OVERDUE, 2, True)


def test_urgent_case_escalates_after_one_hour_even_at_the_weekend(clock: SchoolClock) -> None:
    due = nz(2026, 3, 7, 23, 30)  # Saturday night
    assert state(clock, due, nz(2026, 3, 8, 0, 29), urgent=True) == (STEP_OVERDUE, 1, False)
    assert state(clock, due, nz(2026, 3, 8, 0, 30), urgent=True) == (STEP_OVERDUE, 1, True)
    assert state(clock, due, nz(2026, 3, 8, 0, 30), urgent=False) == (STEP_OVERDUE, 1, False)


# -- ticked, not needed, odd dues ---------------------------------------------------------------------


@pytest.mark.parametrize("due", [MON_10, None, "", "not a date"])
@pytest.mark.parametrize("now", [nz(2026, 3, 2, 9, 0), nz(2026, 3, 20, 9, 0)])
def test_ticked_is_done_whatever_the_due(clock: SchoolClock, due: object, now: datetime) -> None:
    assert state(clock, due, now, ticked=True) == (STEP_DONE, 0, False)
    assert state(clock, due, now, ticked=True, status=STEP_OVERDUE, urgent=True) == (STEP_DONE, 0, False)


def test_ticked_wins_over_not_needed(clock: SchoolClock) -> None:
    assert state(clock, None, MON_10, ticked=True, status=STEP_NOT_NEEDED) == (STEP_DONE, 0, False)


@pytest.mark.parametrize("due", [None, MON_10])
def test_not_needed_stays_not_needed(clock: SchoolClock, due: object) -> None:
    assert state(clock, due, nz(2026, 3, 20, 9, 0), status=STEP_NOT_NEEDED, urgent=True) == (
        STEP_NOT_NEEDED, 0, False,
    )


@pytest.mark.parametrize("due", [None, "", "tomorrow", 46000.5])
def test_no_datetime_due_is_open(clock: SchoolClock, due: object) -> None:
    assert state(clock, due, nz(2026, 3, 20, 9, 0), status=STEP_OVERDUE) == (STEP_OPEN, 0, False)


def test_overdue_step_whose_due_was_moved_later_is_open_again(clock: SchoolClock) -> None:
    assert state(clock, nz(2026, 3, 5, 10), nz(2026, 3, 3, 9), status=STEP_OVERDUE) == (STEP_OPEN, 0, False)


# -- is_ticked -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [True, "TRUE", "true", "x", "X", " yes ", "Yes", "✓", "done", 1, 1.0, "1"])
def test_is_ticked_accepts(value: object) -> None:
    assert is_ticked(value) is True


@pytest.mark.parametrize("value", ["", "no", "FALSE", None, False, 0, 2, "maybe", "  "])
def test_is_ticked_rejects(value: object) -> None:
    assert is_ticked(value) is False


# -- overdue_for wording ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "late, words",
    [
        (timedelta(minutes=1), "1 minute"),
        (timedelta(minutes=2), "2 minutes"),
        (timedelta(minutes=59, seconds=59), "59 minutes"),
        (timedelta(hours=1), "1 hour"),
        (timedelta(hours=2, minutes=30), "2 hours"),
        (timedelta(hours=6), "6 hours"),
    ],
)
def test_overdue_for_within_the_day(clock: SchoolClock, late: timedelta, words: str) -> None:
    assert overdue_for(MON_10, MON_10 + late, clock) == words


def test_overdue_for_school_days(clock: SchoolClock) -> None:
    assert overdue_for(MON_10, nz(2026, 3, 3, 9, 0), clock) == "1 school day"
    assert overdue_for(MON_10, nz(2026, 3, 4, 9, 0), clock) == "2 school days"
    assert overdue_for(FRI_15, nz(2026, 3, 9, 9, 0), clock) == "1 school day"


def test_overdue_for_weekend_counts_hours_until_a_school_day_starts(clock: SchoolClock) -> None:
    assert overdue_for(FRI_15, nz(2026, 3, 9, 8, 0), clock) == "65 hours"


def test_overdue_for_under_a_minute_is_1_minute(clock: SchoolClock) -> None:
    assert overdue_for(MON_10, MON_10 + timedelta(seconds=30), clock) == "1 minute"
