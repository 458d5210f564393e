"""Deadline arithmetic for response-checklist steps: plain hours and school time.

A pure module: no I/O and no clock reads. ``now`` and every other instant are
passed in, so deadlines are reproducible and testable. All inputs must be
timezone-aware datetimes (a naive one raises ValueError); all outputs are aware
datetimes in the school's timezone.

Deadline semantics
------------------
Plain hours ("1h", "4 hours", "90m")
    Count round the clock, because safety never waits for Monday:
    due = start + N hours of real elapsed time. The arithmetic is done in UTC,
    so a DST change in between is honoured (24 hours across the spring change
    shows one hour later on the wall clock).

School days ("1 school day", "2 school days", "0.5 school days")
    Count only school time: days whose weekday is in ``school_days``, between
    ``day_starts`` and ``day_ends``, skipping dates inside any ``closed`` range.
    N school days = N x (length of one school day) of school time, counted from
    ``start``; a start outside school hours counts from the next school-day
    start. With Mon-Fri 08:30-16:30:

    * Mon 10:00 + 1 school day = Tue 10:00
    * Mon 20:00 + 1 school day = Tue 16:30
    * Fri 15:00 + 1 school day = Mon 15:00
    * a start inside a closed range counts from the first school day after it

    A result landing exactly at day end stays at day end (it is not pushed to
    the next day's start). School time within one day is measured in real
    elapsed time, so a DST change *during* school hours (rare: changes happen
    at 02:00/03:00) makes that day's school time an hour shorter or longer.

End of school day ("end of day", "end of school day")
    ``day_ends`` of the start's date if that date is a school day and start is
    before ``day_ends``; otherwise ``day_ends`` of the next school day.

Wall-clock school times
    ``day_starts``/``day_ends`` on a date are built with zoneinfo in the school
    timezone. A time that falls in a DST gap (e.g. 02:30 on the last Sunday of
    September in Pacific/Auckland) moves forward by the gap (03:30); a time that
    occurs twice (first Sunday of April) means its first occurrence. So 08:30
    is always 08:30 local, whatever the UTC offset that day.

Guard
    A calendar with no school days, or closed for ever, would make the scans
    loop: after ~3 years without a school day a ValueError is raised instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .config import CalendarConfig

__all__ = ["SchoolClock", "parse_due_rule", "ALLOWED_RULES"]

# How far a scan may run without meeting a school day before the calendar is
# declared unusable. Long holidays are ~7 weeks; three years is plainly broken.
_SCAN_LIMIT_DAYS = 3 * 366

ALLOWED_RULES = (
    "'<N>h' / '<N> hour(s)', '<N>m' / '<N> minute(s)', "
    "'end of day' / 'end of school day', '<N> school day(s)'"
)

_NUMBER = r"(\d+(?:\.\d+)?|\.\d+)"
_HOURS_RE = re.compile(rf"^{_NUMBER} ?(h|hr|hrs|hour|hours)$")
_MINUTES_RE = re.compile(rf"^{_NUMBER} ?(m|min|mins|minute|minutes)$")
_SCHOOL_DAYS_RE = re.compile(rf"^{_NUMBER} ?school ?days?$")
_END_OF_DAY_RE = re.compile(r"^end ?of ?(school ?)?day$")


def parse_due_rule(rule: str) -> tuple[str, float]:
    """Turn a checklist due rule into ``(kind, amount)``.

    Returns ``("hours", 4.0)``, ``("school_days", 2.0)`` or ``("end_of_day", 0.0)``.
    Minutes become fractional hours. Case and spacing are free ("4 Hours",
    "4hours", "end-of-day") so admins' config typing does not matter, but
    anything else raises ValueError quoting the rule and listing what is allowed,
    so a typo in config fails loudly instead of giving a wrong deadline.
    """
    if not isinstance(rule, str):
        raise ValueError(f"due rule {rule!r} is not text; allowed: {ALLOWED_RULES}")
    text = re.sub(r"\s+", " ", rule.strip().lower())
    text = re.sub(r"(?<=[a-z])[-_](?=[a-z])", " ", text)  # "end-of-day", "school_days"
    if _END_OF_DAY_RE.match(text):
        return ("end_of_day", 0.0)
    for pattern, kind, scale in (
        (_HOURS_RE, "hours", 1.0),
        (_MINUTES_RE, "hours", 1.0 / 60.0),
        (_SCHOOL_DAYS_RE, "school_days", 1.0),
    ):
        match = pattern.match(text)
        if match:
            amount = float(match.group(1))
            if amount <= 0:
                raise ValueError(
                    f"due rule {rule!r} must be more than zero; allowed: {ALLOWED_RULES}"
                )
            return (kind, amount * scale)
    raise ValueError(f"unknown due rule {rule!r}; allowed: {ALLOWED_RULES}")


def _require_aware(moment: datetime, name: str) -> None:
    """Naive datetimes are ambiguous across timezones, so they are refused outright."""
    if not isinstance(moment, datetime):
        raise ValueError(f"{name} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.tzinfo.utcoffset(moment) is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")


def _require_amount(amount: float, name: str) -> float:
    """Deadlines only run forwards, and NaN/inf would never terminate a scan."""
    value = float(amount)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {amount!r}")
    return value


class SchoolClock:
    """Computes deadlines in plain hours or school time for one school's calendar."""

    def __init__(self, calendar: CalendarConfig, tz: ZoneInfo) -> None:
        bad_days = sorted(d for d in calendar.school_days if d not in range(7))
        if bad_days:
            raise ValueError(f"school_days must be 0 (Mon) .. 6 (Sun), got {bad_days}")
        self._starts = calendar.day_starts.replace(tzinfo=None, fold=0)
        self._ends = calendar.day_ends.replace(tzinfo=None, fold=0)
        self._day_length = datetime.combine(date.min, self._ends) - datetime.combine(
            date.min, self._starts
        )
        if self._day_length <= timedelta(0):
            raise ValueError(
                f"day_ends ({self._ends}) must be after day_starts ({self._starts})"
            )
        for first, last in calendar.closed:
            if first > last:
                raise ValueError(f"closed range {first}..{last} ends before it starts")
        self.calendar = calendar
        self.tz = tz
        self._school_days = frozenset(calendar.school_days)
        self._closed = tuple(sorted(calendar.closed))

    # -- calendar ---------------------------------------------------------------

    def is_school_day(self, day: date) -> bool:
        """A teaching weekday that is not inside any closed range."""
        if isinstance(day, datetime):  # a datetime is a date subclass; use its school date
            _require_aware(day, "day")
            day = self.school_date(day)
        if day.weekday() not in self._school_days:
            return False
        return not any(first <= day <= last for first, last in self._closed)

    def school_date(self, moment: datetime) -> date:
        """The calendar date in the school's timezone (UTC dates are off by up to a day)."""
        _require_aware(moment, "moment")
        return moment.astimezone(self.tz).date()

    def is_school_time(self, moment: datetime) -> bool:
        """Inside [day_starts, day_ends) on a school day."""
        _require_aware(moment, "moment")
        day = self.school_date(moment)
        if not self.is_school_day(day):
            return False
        begin, end = self._interval(day)
        return begin <= moment.astimezone(UTC) < end

    def next_school_day_start(self, after: datetime) -> datetime:
        """The first day_starts instant on a school day strictly after ``after``."""
        _require_aware(after, "after")
        cursor = after.astimezone(UTC)
        for begin, _end in self._intervals(self.school_date(after)):
            if begin > cursor:
                return begin.astimezone(self.tz)
        raise AssertionError("unreachable: _intervals never ends normally")

    def school_days_elapsed(self, since: datetime, until: datetime) -> int:
        """How many school-day starts fall in (since, until]; drives "overdue by N days"."""
        _require_aware(since, "since")
        _require_aware(until, "until")
        low, high = since.astimezone(UTC), until.astimezone(UTC)
        if high <= low:
            return 0
        count = 0
        day, last = self.school_date(since), self.school_date(until)
        while day <= last:
            if self.is_school_day(day):
                begin, _end = self._interval(day)
                if low < begin <= high:
                    count += 1
            day += timedelta(days=1)
        return count

    # -- deadlines --------------------------------------------------------------

    def add_hours(self, start: datetime, hours: float) -> datetime:
        """Real elapsed hours, round the clock; UTC arithmetic keeps DST honest."""
        _require_aware(start, "start")
        amount = _require_amount(hours, "hours")
        return (start.astimezone(UTC) + timedelta(hours=amount)).astimezone(self.tz)

    def add_school_days(self, start: datetime, days: float) -> datetime:
        """Spend ``days`` x (school-day length) of school time, starting at ``start``.

        Time outside school hours is skipped; a result exactly at day end stays
        there. With ``days == 0`` the result is where counting would begin:
        ``start`` itself in school time, otherwise the next school-day start.
        """
        _require_aware(start, "start")
        amount = _require_amount(days, "days")
        remaining = self._day_length * amount
        cursor = start.astimezone(UTC)
        for begin, end in self._intervals(self.school_date(start)):
            if end <= cursor:
                continue
            origin = max(begin, cursor)
            available = end - origin
            if remaining <= available:
                return (origin + remaining).astimezone(self.tz)
            remaining -= available
        raise AssertionError("unreachable: _intervals never ends normally")

    def end_of_school_day(self, start: datetime) -> datetime:
        """day_ends today if today is a school day not yet over, else the next school day's."""
        _require_aware(start, "start")
        cursor = start.astimezone(UTC)
        for _begin, end in self._intervals(self.school_date(start)):
            if end > cursor:
                return end.astimezone(self.tz)
        raise AssertionError("unreachable: _intervals never ends normally")

    def due(self, start: datetime, rule: str) -> datetime:
        """The deadline for a step whose clock started at ``start`` under ``rule``."""
        _require_aware(start, "start")
        kind, amount = parse_due_rule(rule)
        if kind == "hours":
            return self.add_hours(start, amount)
        if kind == "school_days":
            return self.add_school_days(start, amount)
        return self.end_of_school_day(start)

    # -- internals --------------------------------------------------------------

    def _at(self, day: date, wall: time) -> datetime:
        """The UTC instant of a local wall time on ``day``.

        fold=0 means: in a DST gap the pre-transition offset applies, which lands
        the instant after the gap (02:30 -> 03:30); in a repeated hour it picks
        the first occurrence.
        """
        return datetime.combine(day, wall, tzinfo=self.tz).astimezone(UTC)

    def _interval(self, day: date) -> tuple[datetime, datetime]:
        """School hours on ``day`` as UTC instants [begin, end)."""
        return self._at(day, self._starts), self._at(day, self._ends)

    def _intervals(self, first: date) -> Iterator[tuple[datetime, datetime]]:
        """School-hour intervals on school days from ``first`` onwards, for ever.

        Raises ValueError once ~3 years pass without a school day, so a broken
        calendar (no school days, closed for ever) cannot hang the worker.
        """
        day = first
        last_yield = first - timedelta(days=1)
        while True:
            if self.is_school_day(day):
                begin, end = self._interval(day)
                if end > begin:
                    last_yield = day
                    yield begin, end
            if (day - last_yield).days > _SCAN_LIMIT_DAYS:
                raise ValueError(
                    f"no school day in the ~3 years after {last_yield}; "
                    "check the calendar's school_days and closed ranges"
                )
            day += timedelta(days=1)
