"""What leaders type into the sheet, read the way a person means it — or reported, never guessed.

Pure functions, no I/O. Each reader returns the canonical value, or None when the
entry cannot be understood; the caller then falls back safely (an unknown Status
keeps the case open, an unknown Role reminds the principal, an unreadable Due keeps
the planned one) and says so in the row's Attention cell and the Log. The lists of
accepted words are data here and in the README ("What leaders can type").

Matching ignores case, spaces, hyphens, underscores and full stops: "Re-open",
"re open" and "REOPEN" are the same word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, time, tzinfo

from .model import CellValue, cell_text
from .schema import (
    CASE_CLOSED,
    CASE_OPEN,
    CASE_STATUSES,
    CASE_WITHDRAWN,
    PRIORITIES,
    STEP_DONE,
    STEP_NOT_NEEDED,
)

# -- words -----------------------------------------------------------------------------------------

CASE_STATUS_WORDS: Mapping[str, tuple[str, ...]] = {
    CASE_OPEN: ("", "open", "opened", "reopen", "re-open", "reopened", "re-opened", "in progress", "ongoing",
                "active", "ready to close"),   # "Ready to close" was the worker's own Status until issue 7
    CASE_CLOSED: ("closed", "close", "resolved", "done", "complete", "completed", "finished"),
    CASE_WITHDRAWN: ("withdrawn", "withdraw", "cancelled", "canceled", "duplicate", "not an incident"),
}

STEP_RECOMPUTE = ""    # a step Status the worker works out itself (its own values, or blank)
STEP_STATUS_WORDS: Mapping[str, tuple[str, ...]] = {
    STEP_NOT_NEEDED: ("not needed", "n/a", "na", "not applicable", "not required", "skip", "skipped"),
    STEP_DONE: ("done", "complete", "completed", "finished"),
    STEP_RECOMPUTE: ("", "open", "overdue", "case closed", "in progress", "to do", "todo"),
}

TRUE_WORDS = ("true", "yes", "y", "x", "✓", "✔", "☑", "done", "ticked", "1", "=true()", "=true")
FALSE_WORDS = ("false", "no", "n", "0", "not done", "unticked", "=false()", "=false")

PRIORITY_WORDS: Mapping[str, tuple[str, ...]] = {
    "Urgent": ("urgent", "critical", "emergency", "immediate"),
    "High": ("high",),
    "Normal": ("normal", "low", "routine", "standard"),
}

# Locales whose short dates put the month first (10/12/2026 is 12 October); all others are day first.
MONTH_FIRST_LOCALES = frozenset({"en_US", "es_US", "en_PH", "fil_PH", "en_PR", "en_GU", "en_AS", "en_VI",
                                 "en_UM", "en_MP", "en_MH", "en_FM", "en_PW"})

MONTHS = {name: number for number, names in enumerate(
    (("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
     ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"),
     ("nov", "november"), ("dec", "december")), start=1) for name in names}


def key(text: object) -> str:
    """The matching form of an entry: case, spaces, hyphens, underscores and full stops ignored."""
    return re.sub(r"[\s\-_.]+", "", cell_text(text).casefold())


def _lookup(words: Mapping[str, Iterable[str]]) -> dict[str, str]:
    return {key(word): canonical for canonical, options in words.items() for word in options}


_CASE_STATUS = _lookup(CASE_STATUS_WORDS)
_STEP_STATUS = _lookup(STEP_STATUS_WORDS)
_PRIORITY = _lookup(PRIORITY_WORDS)
_TICKS = {"": False, **{key(w): False for w in FALSE_WORDS}, **{key(w): True for w in TRUE_WORDS}}


# -- readers ---------------------------------------------------------------------------------------

def case_status(value: CellValue) -> str | None:
    """Open, Closed or Withdrawn; blank is Open; None when not understood."""
    return _CASE_STATUS.get(key(value))


def step_status(value: CellValue) -> str | None:
    """Not needed, Done, STEP_RECOMPUTE (the worker's own values: it works them out), or None."""
    return _STEP_STATUS.get(key(value))


def tick(value: CellValue) -> bool | None:
    """A Done cell: a checkbox, 1/0, TRUE/FALSE, yes/no, x, ✓, or LibreOffice's =TRUE() / =FALSE().

    Blank is not done. None when not understood (the caller treats it as not done, and says so).
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return True if value == 1 else False if value == 0 else None
    if isinstance(value, datetime):
        return None
    return _TICKS.get(key(value))


def priority(value: CellValue) -> str | None:
    """Urgent, High or Normal; None when not understood (blank included)."""
    return _PRIORITY.get(key(value))


def role(value: CellValue, roles: Iterable[str]) -> str | None:
    """One of the configured contact roles, whatever the case and separators ("Pastoral lead")."""
    wanted = key(value)
    if not wanted:
        return None
    return next((name for name in roles if key(name) == wanted), None)


# -- dates -----------------------------------------------------------------------------------------

_TIME = r"(?:(?:at\s+)?(?P<hour>\d{1,2})(?:[:.](?P<minute>\d{2}))?(?::(?P<second>\d{2}))?\s*(?P<ampm>[ap]\.?m\.?)?)"
_WEEKDAY = r"(?:(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*\.?,?\s+)?"
_DATE_PATTERNS = (
    ("iso", rf"(?P<year>\d{{4}})-(?P<month>\d{{1,2}})-(?P<day>\d{{1,2}})(?:[t\s]+{_TIME})?"),
    ("numeric", rf"(?P<first>\d{{1,2}})[/.\-](?P<second_part>\d{{1,2}})[/.\-](?P<year>\d{{4}}|\d{{2}}),?"
                rf"(?:\s+{_TIME})?"),
    ("day-name", rf"(?P<day>\d{{1,2}})(?:st|nd|rd|th)?[\s\-]+(?P<name>[a-z]{{3,9}})\.?,?[\s\-]+(?P<year>\d{{4}}),?"
                 rf"(?:\s+{_TIME})?"),
    ("name-day", rf"(?P<name>[a-z]{{3,9}})\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year>\d{{4}}),?"
                 rf"(?:\s+{_TIME})?"),
)
_DATES = tuple((kind, re.compile(rf"^{_WEEKDAY}{pattern}$")) for kind, pattern in _DATE_PATTERNS)


def month_first(locale: str) -> bool:
    """Does this locale write 10/12/2026 for 12 October? (en_US and a few others do.)"""
    return locale.replace("-", "_") in MONTH_FIRST_LOCALES


def when(value: CellValue, locale: str, tz: tzinfo, date_only_at: time) -> datetime | None:
    """A Due cell: a date-time, or text typed as one, read in the sheet's locale and the school's zone.

    Needs a day, a month and a year ("10/12/2026 9:00", "2026-12-10 09:00", "10 Dec 2026 9am",
    "Thu 10 Dec 2026 09:00"); a date without a time means ``date_only_at`` that day. None when it
    cannot be read that way (a number, "next Friday", "10/12").
    """
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=tz)
    text = " ".join(cell_text(value).casefold().split()) if isinstance(value, str) else ""
    if not text:
        return None
    for kind, pattern in _DATES:
        match = pattern.match(text)
        if match:
            return _build(kind, match, month_first(locale), tz, date_only_at)
    return None


def _build(kind: str, match: re.Match[str], us: bool, tz: tzinfo, date_only_at: time) -> datetime | None:
    parts = match.groupdict()
    year = int(parts["year"])
    year += 2000 if year < 100 else 0
    if kind == "numeric":
        first, second = int(parts["first"]), int(parts["second_part"])
        month, day = (first, second) if us else (second, first)
    elif kind == "iso":
        month, day = int(parts["month"]), int(parts["day"])
    else:
        month, day = MONTHS.get(parts["name"], 0), int(parts["day"])
    clock = _clock(parts, date_only_at)
    if clock is None:
        return None
    try:
        return datetime(year, month, day, clock.hour, clock.minute, clock.second, tzinfo=tz)
    except ValueError:
        return None


def _clock(parts: dict[str, str | None], date_only_at: time) -> time | None:
    """The time part: 9:00, 09:00:00, 9am, 9.30 pm; a bare hour needs am/pm."""
    hour_text, minute_text, ampm = parts.get("hour"), parts.get("minute"), parts.get("ampm")
    if hour_text is None:
        return date_only_at
    hour, minute = int(hour_text), int(minute_text or 0)
    second = int(parts.get("second") or 0)
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm.startswith("p") else 0)
    elif minute_text is None:
        return None
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second)


def date_example(locale: str) -> str:
    """How a date is typed in this locale, for Attention messages."""
    return "12/10/2026 9:00" if month_first(locale) else "10/12/2026 9:00"


# -- what Attention says ---------------------------------------------------------------------------

def valid_case_statuses() -> str:
    return ", ".join(CASE_STATUSES)


def valid_priorities() -> str:
    return ", ".join(PRIORITIES)
