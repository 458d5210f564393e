"""Tests for workflow.schoolclock: plain-hour and school-time deadlines.

Every instant is built explicitly; nothing reads the real clock. Dates are real
2026/2027 calendar dates (2026-03-02 is a Monday) in Pacific/Auckland, whose DST
starts 2026-09-27 (+1h at 02:00) and ends 2027-04-04 (03:00 -> 02:00).
"""

from __future__ import annotations

import time as perf_time
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflow.config import CalendarConfig
from workflow.schoolclock import SchoolClock, parse_due_rule

NZ = ZoneInfo("Pacific/Auckland")
NZST = timedelta(hours=12)
NZDT = timedelta(hours=13)

MON_FRI = frozenset({0, 1, 2, 3, 4})
SUMMER_BREAK = (date(2026, 12, 18), date(2027, 2, 2))


def calendar(
    school_days: frozenset[int] = MON_FRI,
    starts: time = time(8, 30),
    ends: time = time(16, 30),
    closed: tuple[tuple[date, date], ...] = (),
) -> CalendarConfig:
    return CalendarConfig(school_days=school_days, day_starts=starts, day_ends=ends, closed=closed)


def nz(y: int, m: int, d: int, hh: int = 0, mm: int = 0, fold: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=NZ, fold=fold)


def wall(moment: datetime) -> tuple[str, timedelta | None]:
    """Local wall time and offset, so assertions catch a wrong offset as well as a wrong instant."""
    assert moment.tzinfo is NZ
    return moment.strftime("%a %Y-%m-%d %H:%M"), moment.utcoffset()


@pytest.fixture
def clock() -> SchoolClock:
    return SchoolClock(calendar(), NZ)


@pytest.fixture
def term_clock() -> SchoolClock:
    """Closed on one Tuesday and over the summer break."""
    closed = ((date(2026, 3, 3), date(2026, 3, 3)), SUMMER_BREAK)
    return SchoolClock(calendar(closed=closed), NZ)


# -- parse_due_rule -------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("1h", ("hours", 1.0)),
        ("1 h", ("hours", 1.0)),
        ("1 hour", ("hours", 1.0)),
        ("4 hours", ("hours", 4.0)),
        ("4HOURS", ("hours", 4.0)),
        ("  24   Hours ", ("hours", 24.0)),
        ("1.5h", ("hours", 1.5)),
        ("2 hrs", ("hours", 2.0)),
        ("90m", ("hours", 1.5)),
        ("90 minutes", ("hours", 1.5)),
        ("30 min", ("hours", 0.5)),
        ("end of day", ("end_of_day", 0.0)),
        ("End Of School Day", ("end_of_day", 0.0)),
        ("end-of-day", ("end_of_day", 0.0)),
        ("endofday", ("end_of_day", 0.0)),
        ("End_of_School_Day", ("end_of_day", 0.0)),
        ("3 school-days", ("school_days", 3.0)),
        ("1 school day", ("school_days", 1.0)),
        ("2 school days", ("school_days", 2.0)),
        ("10 School  Days", ("school_days", 10.0)),
        ("1schoolday", ("school_days", 1.0)),
        ("0.5 school days", ("school_days", 0.5)),
    ],
)
def test_parse_due_rule_accepts(rule: str, expected: tuple[str, float]) -> None:
    assert parse_due_rule(rule) == expected


@pytest.mark.parametrize(
    "rule",
    ["", "   ", "soon", "4", "h", "-1h", "0h", "0 school days", "1 day", "2 weeks",
     "end of week", "1 school", "4 hours please", "1h30m", "1,5h", "one hour"],
)
def test_parse_due_rule_rejects_with_quoted_rule_and_allowed_list(rule: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_due_rule(rule)
    message = str(excinfo.value)
    assert repr(rule) in message
    assert "allowed:" in message
    assert "school day" in message


@pytest.mark.parametrize("rule", [None, 4, 1.5])
def test_parse_due_rule_rejects_non_text(rule: object) -> None:
    with pytest.raises(ValueError, match="allowed:"):
        parse_due_rule(rule)  # type: ignore[arg-type]


# -- add_school_days -------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (nz(2026, 3, 2, 10), 1, "Tue 2026-03-03 10:00"),   # mid-morning report
        (nz(2026, 3, 2, 20), 1, "Tue 2026-03-03 16:30"),   # evening report
        (nz(2026, 3, 2, 6), 1, "Mon 2026-03-02 16:30"),    # early-morning report
        (nz(2026, 3, 6, 15), 1, "Mon 2026-03-09 15:00"),   # Friday afternoon
        (nz(2026, 3, 6, 18), 1, "Mon 2026-03-09 16:30"),   # Friday evening
        (nz(2026, 3, 7, 11), 1, "Mon 2026-03-09 16:30"),   # Saturday
        (nz(2026, 3, 2, 8, 30), 1, "Mon 2026-03-02 16:30"),  # exactly at day end: stays
        (nz(2026, 3, 2, 8, 30), 2, "Tue 2026-03-03 16:30"),
        (nz(2026, 3, 2, 16, 30), 1, "Tue 2026-03-03 16:30"),  # start at day end = after hours
        (nz(2026, 3, 2, 10), 2, "Wed 2026-03-04 10:00"),
        (nz(2026, 3, 2, 10), 10, "Mon 2026-03-16 10:00"),  # two whole weeks
        (nz(2026, 3, 2, 12, 30), 0.5, "Mon 2026-03-02 16:30"),  # fractional: 4 school hours
        (nz(2026, 3, 6, 14), 0.25, "Fri 2026-03-06 16:00"),  # 2h30 available Fri, 2h needed
        (nz(2026, 3, 6, 14, 30), 0.25, "Fri 2026-03-06 16:30"),  # lands on day end: stays
        (nz(2026, 3, 6, 15, 30), 0.25, "Mon 2026-03-09 09:30"),
        (nz(2026, 3, 6, 16), 0.25, "Mon 2026-03-09 10:00"),
    ],
)
def test_add_school_days(clock: SchoolClock, start: datetime, days: float, expected: str) -> None:
    assert wall(clock.add_school_days(start, days)) == (expected, NZDT)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (nz(2026, 3, 2, 10), "Mon 2026-03-02 10:00"),  # in school time: start itself
        (nz(2026, 3, 2, 20), "Tue 2026-03-03 08:30"),
        (nz(2026, 3, 2, 16, 30), "Tue 2026-03-03 08:30"),  # day end is outside school hours
        (nz(2026, 3, 7, 9), "Mon 2026-03-09 08:30"),
    ],
)
def test_add_zero_school_days_is_where_counting_begins(
    clock: SchoolClock, start: datetime, expected: str
) -> None:
    assert wall(clock.add_school_days(start, 0))[0] == expected


def test_add_school_days_skips_a_closed_single_date(term_clock: SchoolClock) -> None:
    # Tue 2026-03-03 is closed: Mon 10:00 + 1 runs Mon 10:00-16:30 then Wed 08:30-10:00.
    assert wall(term_clock.add_school_days(nz(2026, 3, 2, 10), 1))[0] == "Wed 2026-03-04 10:00"


def test_add_school_days_across_summer_break(term_clock: SchoolClock) -> None:
    # 1h30 left on Thu 17 Dec, then 6h30 on the first day back (Wed 3 Feb 2027).
    due = term_clock.add_school_days(nz(2026, 12, 17, 15), 1)
    assert wall(due)[0] == "Wed 2027-02-03 15:00"


@pytest.mark.parametrize(
    "start",
    [nz(2026, 12, 18, 9), nz(2027, 1, 10, 10), nz(2027, 2, 2, 15)],  # first, middle, last day
)
def test_start_inside_closed_range_counts_from_first_day_back(
    term_clock: SchoolClock, start: datetime
) -> None:
    assert wall(term_clock.add_school_days(start, 1))[0] == "Wed 2027-02-03 16:30"
    assert wall(term_clock.add_school_days(start, 0.5))[0] == "Wed 2027-02-03 12:30"


def test_add_school_days_accepts_other_input_timezones(clock: SchoolClock) -> None:
    start = datetime(2026, 3, 1, 21, 0, tzinfo=UTC)  # = Mon 2026-03-02 10:00 NZDT
    due = clock.add_school_days(start, 1)
    assert due.tzinfo is NZ
    assert wall(due) == ("Tue 2026-03-03 10:00", NZDT)


# -- end_of_school_day -----------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (nz(2026, 3, 2, 10), "Mon 2026-03-02 16:30"),
        (nz(2026, 3, 2, 6), "Mon 2026-03-02 16:30"),     # before school: same day
        (nz(2026, 3, 2, 16, 29), "Mon 2026-03-02 16:30"),
        (nz(2026, 3, 2, 16, 30), "Tue 2026-03-03 16:30"),  # at day end: next day
        (nz(2026, 3, 2, 20), "Tue 2026-03-03 16:30"),
        (nz(2026, 3, 6, 17), "Mon 2026-03-09 16:30"),    # Friday evening
        (nz(2026, 3, 7, 10), "Mon 2026-03-09 16:30"),    # Saturday
        (nz(2026, 3, 8, 23, 59), "Mon 2026-03-09 16:30"),  # late Sunday
    ],
)
def test_end_of_school_day(clock: SchoolClock, start: datetime, expected: str) -> None:
    assert wall(clock.end_of_school_day(start)) == (expected, NZDT)


def test_end_of_school_day_on_closed_dates(term_clock: SchoolClock) -> None:
    assert wall(term_clock.end_of_school_day(nz(2026, 3, 3, 9)))[0] == "Wed 2026-03-04 16:30"
    assert wall(term_clock.end_of_school_day(nz(2026, 3, 2, 17)))[0] == "Wed 2026-03-04 16:30"
    assert wall(term_clock.end_of_school_day(nz(2026, 12, 25, 12)))[0] == "Wed 2027-02-03 16:30"


# -- add_hours -------------------------------------------------------------------


def test_plain_hours_run_across_the_weekend(clock: SchoolClock) -> None:
    assert wall(clock.add_hours(nz(2026, 3, 6, 15), 4)) == ("Fri 2026-03-06 19:00", NZDT)
    assert wall(clock.add_hours(nz(2026, 3, 6, 15), 48)) == ("Sun 2026-03-08 15:00", NZDT)


def test_plain_hours_ignore_closed_dates(term_clock: SchoolClock) -> None:
    assert wall(term_clock.add_hours(nz(2026, 12, 24, 22), 4))[0] == "Fri 2026-12-25 02:00"


@pytest.mark.parametrize(
    ("hours", "expected"),
    [(1.5, "Mon 2026-03-02 11:30"), (0.25, "Mon 2026-03-02 10:15"), (0, "Mon 2026-03-02 10:00")],
)
def test_fractional_hours(clock: SchoolClock, hours: float, expected: str) -> None:
    assert wall(clock.add_hours(nz(2026, 3, 2, 10), hours))[0] == expected


def test_add_hours_returns_school_tz_for_utc_input(clock: SchoolClock) -> None:
    due = clock.add_hours(datetime(2026, 3, 1, 21, 0, tzinfo=UTC), 1)
    assert due.tzinfo is NZ
    assert wall(due) == ("Mon 2026-03-02 11:00", NZDT)


def test_add_hours_across_dst_start_keeps_real_elapsed_time(clock: SchoolClock) -> None:
    start = nz(2026, 9, 26, 12)  # Saturday, NZST
    due = clock.add_hours(start, 24)
    assert wall(due) == ("Sun 2026-09-27 13:00", NZDT)  # wall clock jumped an hour
    assert due.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=24)
    # Right across the gap: 01:30 NZST + 1h is 03:30 NZDT (02:30 never happens).
    assert wall(clock.add_hours(nz(2026, 9, 27, 1, 30), 1)) == ("Sun 2026-09-27 03:30", NZDT)


def test_add_hours_across_dst_end_keeps_real_elapsed_time(clock: SchoolClock) -> None:
    start = nz(2027, 4, 3, 12)  # Saturday, NZDT
    due = clock.add_hours(start, 24)
    assert wall(due) == ("Sun 2027-04-04 11:00", NZST)
    assert due.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=24)
    # 02:30 happens twice; one and two hours after 01:30 NZDT are the two 02:30s.
    first = clock.add_hours(nz(2027, 4, 4, 1, 30), 1)
    second = clock.add_hours(nz(2027, 4, 4, 1, 30), 2)
    assert wall(first) == ("Sun 2027-04-04 02:30", NZDT)
    assert wall(second) == ("Sun 2027-04-04 02:30", NZST)
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)


# -- DST and school time ---------------------------------------------------------


def test_school_days_across_dst_start_stay_at_local_times(clock: SchoolClock) -> None:
    friday = nz(2026, 9, 25, 15)
    assert wall(friday)[1] == NZST
    assert wall(clock.add_school_days(friday, 1)) == ("Mon 2026-09-28 15:00", NZDT)
    assert wall(clock.next_school_day_start(nz(2026, 9, 25, 17))) == ("Mon 2026-09-28 08:30", NZDT)
    assert wall(clock.end_of_school_day(nz(2026, 9, 26, 9))) == ("Mon 2026-09-28 16:30", NZDT)


def test_school_days_across_dst_end_stay_at_local_times(clock: SchoolClock) -> None:
    friday = nz(2027, 4, 2, 10)
    assert wall(friday)[1] == NZDT
    assert wall(clock.add_school_days(friday, 1)) == ("Mon 2027-04-05 10:00", NZST)
    assert wall(clock.next_school_day_start(friday)) == ("Mon 2027-04-05 08:30", NZST)
    assert clock.is_school_time(nz(2027, 4, 5, 8, 30))
    assert not clock.is_school_time(nz(2027, 4, 5, 8, 29))


def test_school_start_in_dst_gap_moves_past_the_gap() -> None:
    """A (silly) Sunday 02:30 start on the spring-forward day becomes 03:30 NZDT."""
    clock = SchoolClock(calendar(frozenset({6}), time(2, 30), time(4, 30)), NZ)
    start = clock.next_school_day_start(nz(2026, 9, 26, 12))
    assert wall(start) == ("Sun 2026-09-27 03:30", NZDT)
    assert clock.is_school_time(start)
    assert not clock.is_school_time(nz(2026, 9, 27, 1, 59))
    # The day's real school time is 1h (03:30-04:30) instead of 2h; the rest spills a week.
    assert wall(clock.add_school_days(start, 1)) == ("Sun 2026-10-04 03:30", NZDT)


def test_school_start_in_repeated_hour_uses_first_occurrence() -> None:
    clock = SchoolClock(calendar(frozenset({6}), time(2, 30), time(4, 30)), NZ)
    start = clock.next_school_day_start(nz(2027, 4, 3, 12))
    assert wall(start) == ("Sun 2027-04-04 02:30", NZDT)
    assert clock.is_school_time(nz(2027, 4, 4, 2, 30, fold=1))  # the second 02:30 too
    # Real school time that day is 3h (02:30 NZDT to 04:30 NZST), so 1 day (2h) ends inside it.
    assert wall(clock.add_school_days(start, 1)) == ("Sun 2027-04-04 03:30", NZST)


# -- non-default week ------------------------------------------------------------


def test_sunday_to_thursday_week() -> None:
    riyadh = ZoneInfo("Asia/Riyadh")
    clock = SchoolClock(calendar(frozenset({6, 0, 1, 2, 3}), time(7, 0), time(14, 0)), riyadh)
    thursday = datetime(2026, 3, 5, 13, 0, tzinfo=riyadh)
    assert clock.is_school_day(date(2026, 3, 8))       # Sunday
    assert not clock.is_school_day(date(2026, 3, 6))   # Friday
    assert not clock.is_school_day(date(2026, 3, 7))   # Saturday
    due = clock.add_school_days(thursday, 1)
    assert due.tzinfo is riyadh
    assert due.strftime("%a %Y-%m-%d %H:%M") == "Sun 2026-03-08 13:00"
    friday = datetime(2026, 3, 6, 10, 0, tzinfo=riyadh)
    assert clock.end_of_school_day(friday).strftime("%a %H:%M") == "Sun 14:00"
    assert clock.next_school_day_start(friday).strftime("%a %H:%M") == "Sun 07:00"
    assert clock.school_days_elapsed(thursday, datetime(2026, 3, 12, 13, tzinfo=riyadh)) == 5


# -- school_days_elapsed ---------------------------------------------------------


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        (nz(2026, 3, 2, 10), nz(2026, 3, 2, 10), 0),       # same instant
        (nz(2026, 3, 3, 10), nz(2026, 3, 2, 10), 0),       # until before since
        (nz(2026, 3, 2, 10), nz(2026, 3, 3, 8, 29), 0),
        (nz(2026, 3, 2, 10), nz(2026, 3, 3, 8, 30), 1),    # upper bound inclusive
        (nz(2026, 3, 2, 8, 30), nz(2026, 3, 2, 16), 0),    # lower bound exclusive
        (nz(2026, 3, 2, 8, 29), nz(2026, 3, 2, 8, 30), 1),
        (nz(2026, 3, 2, 6), nz(2026, 3, 2, 9), 1),          # early-morning report
        (nz(2026, 3, 6, 17), nz(2026, 3, 9, 8, 0), 0),      # weekend adds nothing
        (nz(2026, 3, 6, 17), nz(2026, 3, 13, 17), 5),       # a full week
        (nz(2026, 3, 2, 10), nz(2026, 3, 30, 10), 20),
    ],
)
def test_school_days_elapsed(
    clock: SchoolClock, since: datetime, until: datetime, expected: int
) -> None:
    assert clock.school_days_elapsed(since, until) == expected


def test_school_days_elapsed_skips_closed_dates(term_clock: SchoolClock) -> None:
    assert term_clock.school_days_elapsed(nz(2026, 3, 2, 10), nz(2026, 3, 4, 10)) == 1
    # Thu 17 Dec 2026 after school to Thu 4 Feb 2027 noon: only Wed 3 and Thu 4 Feb.
    assert term_clock.school_days_elapsed(nz(2026, 12, 17, 17), nz(2027, 2, 4, 12)) == 2


def test_school_days_elapsed_with_mixed_timezones(clock: SchoolClock) -> None:
    since = datetime(2026, 3, 1, 21, 0, tzinfo=UTC)   # Mon 10:00 NZDT
    until = datetime(2026, 3, 2, 19, 30, tzinfo=UTC)  # Tue 08:30 NZDT
    assert clock.school_days_elapsed(since, until) == 1


# -- next_school_day_start, school_date, is_school_time, is_school_day ------------


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (nz(2026, 3, 2, 6), "Mon 2026-03-02 08:30"),
        (nz(2026, 3, 2, 8, 30), "Tue 2026-03-03 08:30"),  # strictly after
        (nz(2026, 3, 2, 8, 29), "Mon 2026-03-02 08:30"),
        (nz(2026, 3, 6, 10), "Mon 2026-03-09 08:30"),
        (nz(2026, 3, 8, 23), "Mon 2026-03-09 08:30"),
    ],
)
def test_next_school_day_start(clock: SchoolClock, after: datetime, expected: str) -> None:
    assert wall(clock.next_school_day_start(after)) == (expected, NZDT)


def test_next_school_day_start_skips_closed(term_clock: SchoolClock) -> None:
    assert wall(term_clock.next_school_day_start(nz(2026, 3, 2, 9)))[0] == "Wed 2026-03-04 08:30"
    assert wall(term_clock.next_school_day_start(nz(2026, 12, 17, 9)))[0] == (
        "Wed 2027-02-03 08:30"
    )


def test_school_date_uses_school_timezone(clock: SchoolClock) -> None:
    assert clock.school_date(datetime(2026, 3, 1, 20, 0, tzinfo=UTC)) == date(2026, 3, 2)
    assert clock.school_date(datetime(2026, 3, 1, 10, 0, tzinfo=UTC)) == date(2026, 3, 1)
    assert clock.school_date(nz(2026, 3, 2, 0, 0)) == date(2026, 3, 2)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (nz(2026, 3, 2, 8, 29), False),
        (nz(2026, 3, 2, 8, 30), True),
        (nz(2026, 3, 2, 12), True),
        (datetime(2026, 3, 2, 16, 29, 59, tzinfo=NZ), True),
        (nz(2026, 3, 2, 16, 30), False),   # day end is exclusive
        (nz(2026, 3, 7, 10), False),       # Saturday
        (nz(2026, 3, 3, 10), False),       # closed Tuesday
        (nz(2027, 1, 12, 10), False),      # summer break
        (datetime(2026, 3, 1, 23, 0, tzinfo=UTC), True),  # Mon 12:00 NZDT
    ],
)
def test_is_school_time(term_clock: SchoolClock, moment: datetime, expected: bool) -> None:
    assert term_clock.is_school_time(moment) is expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 3, 2), True),
        (date(2026, 3, 3), False),   # closed single date
        (date(2026, 3, 7), False),   # Saturday
        (date(2026, 12, 17), True),  # day before the break
        (date(2026, 12, 18), False),  # first day of the break (inclusive)
        (date(2027, 2, 2), False),   # last day of the break (inclusive)
        (date(2027, 2, 3), True),
    ],
)
def test_is_school_day(term_clock: SchoolClock, day: date, expected: bool) -> None:
    assert term_clock.is_school_day(day) is expected


# -- due -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("1h", "Fri 2026-03-06 16:00"),
        ("4 Hours", "Fri 2026-03-06 19:00"),
        ("90m", "Fri 2026-03-06 16:30"),
        ("end of day", "Fri 2026-03-06 16:30"),
        ("End of school day", "Fri 2026-03-06 16:30"),
        ("1 school day", "Mon 2026-03-09 15:00"),
        ("2 school days", "Tue 2026-03-10 15:00"),
        ("10 school days", "Fri 2026-03-20 15:00"),
    ],
)
def test_due_dispatches_on_rule(clock: SchoolClock, rule: str, expected: str) -> None:
    assert wall(clock.due(nz(2026, 3, 6, 15), rule)) == (expected, NZDT)


def test_due_rejects_bad_rule(clock: SchoolClock) -> None:
    with pytest.raises(ValueError, match=r"'3 days'.*allowed:"):
        clock.due(nz(2026, 3, 6, 15), "3 days")


# -- input validation and guards -------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda c, t: c.add_hours(t, 1),
        lambda c, t: c.add_school_days(t, 1),
        lambda c, t: c.end_of_school_day(t),
        lambda c, t: c.due(t, "1h"),
        lambda c, t: c.school_days_elapsed(t, nz(2026, 3, 9)),
        lambda c, t: c.school_days_elapsed(nz(2026, 3, 1), t),
        lambda c, t: c.next_school_day_start(t),
        lambda c, t: c.school_date(t),
        lambda c, t: c.is_school_time(t),
    ],
)
def test_naive_datetimes_are_refused(
    clock: SchoolClock, call: Callable[[SchoolClock, datetime], object]
) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        call(clock, datetime(2026, 3, 2, 10, 0))


@pytest.mark.parametrize("amount", [-1, float("nan"), float("inf")])
def test_bad_amounts_are_refused(clock: SchoolClock, amount: float) -> None:
    with pytest.raises(ValueError):
        clock.add_hours(nz(2026, 3, 2, 10), amount)
    with pytest.raises(ValueError):
        clock.add_school_days(nz(2026, 3, 2, 10), amount)


@pytest.mark.parametrize(
    "cal",
    [
        calendar(school_days=frozenset()),
        calendar(closed=((date(2026, 1, 1), date(2099, 12, 31)),)),
    ],
    ids=["no-school-days", "closed-for-ever"],
)
def test_broken_calendar_raises_instead_of_looping(cal: CalendarConfig) -> None:
    clock = SchoolClock(cal, NZ)
    start = nz(2026, 3, 2, 10)
    began = perf_time.perf_counter()
    for call in (
        lambda: clock.add_school_days(start, 1),
        lambda: clock.end_of_school_day(start),
        lambda: clock.next_school_day_start(start),
        lambda: clock.due(start, "end of day"),
    ):
        with pytest.raises(ValueError, match="no school day"):
            call()
    assert perf_time.perf_counter() - began < 1.0
    # Plain hours still work: safety deadlines never depend on the calendar.
    assert wall(clock.add_hours(start, 1))[0] == "Mon 2026-03-02 11:00"
    assert not clock.is_school_time(start)


def test_a_long_but_finite_closure_is_fine() -> None:
    clock = SchoolClock(calendar(closed=((date(2026, 3, 1), date(2028, 2, 29)),)), NZ)
    assert wall(clock.next_school_day_start(nz(2026, 3, 2, 10)))[0] == "Wed 2028-03-01 08:30"


@pytest.mark.parametrize(
    ("cal", "match"),
    [
        (calendar(starts=time(16, 30), ends=time(8, 30)), "after day_starts"),
        (calendar(starts=time(9, 0), ends=time(9, 0)), "after day_starts"),
        (calendar(school_days=frozenset({0, 7})), "0 \\(Mon\\)"),
        (calendar(closed=((date(2026, 3, 5), date(2026, 3, 1)),)), "ends before it starts"),
    ],
)
def test_invalid_calendar_is_refused(cal: CalendarConfig, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SchoolClock(cal, NZ)
