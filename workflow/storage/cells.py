"""Cell value rules shared by the storage backends, so both write and read the same way.

Writing (``sheet_value``), in this order:

* ``None``      -> clear the cell.
* ``bool``      -> a real boolean (checked before int: ``bool`` is an ``int``).
* ``int``/``float`` -> a number; NaN and infinities, which no spreadsheet stores, become text.
* aware ``datetime`` -> converted to the sheet's time zone, tzinfo dropped (wall-clock),
  seconds kept, microseconds dropped (a spreadsheet serial only keeps milliseconds, and
  a value that reads back differently would look like an edit on every sync); shown with
  ``DATETIME_FORMAT``. A naive datetime is taken to be sheet wall-clock already.
* ``date``      -> midnight of that day, shown with ``DATE_FORMAT``.
* ``str``       -> ALWAYS literal text, never a formula or error value, however it starts
  ("=1+1", "+64 21 555", "-5", "@SUM(A1)", "#N/A"). Control characters that the xlsx
  XML cannot hold (all below U+0020 except tab, newline, carriage return) are removed,
  and text is cut to the backend's cell limit. (Google: send with
  ``valueInputOption=RAW``; openpyxl: set ``cell.data_type = "s"`` after assigning.)
* anything else -> ``str(value)``, then as text.

Reading (``read_value``): a naive datetime is wall-clock in the sheet's zone, so it gets
that tzinfo; a date becomes 00:00 that day in the zone; text, numbers, booleans and blanks
stay as they are; anything else (times, durations, formula objects) becomes its text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from ..model import CellValue
from ..schema import DATE_FORMAT, DATETIME_FORMAT, normalise

__all__ = ["DATETIME_FORMAT", "DATE_FORMAT", "XLSX_TEXT_LIMIT", "clean_text", "find_title", "header_positions",
           "header_text", "is_blank", "read_value", "sheet_value", "wall_clock"]

# Excel refuses (and "repairs") cells longer than this; schema.CELL_LIMIT is Google's cap.
XLSX_TEXT_LIMIT = 32_767

# Characters XML 1.0 cannot carry; openpyxl raises IllegalCharacterError on them.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def clean_text(text: str, limit: int) -> str:
    """Text a spreadsheet can store: no XML-illegal control characters, at most ``limit`` long.

    Pasted form answers sometimes carry such characters; left in, they would make every
    commit fail on the same row.
    """
    text = _CONTROL_CHARACTERS.sub("", text)
    return text[:limit] if len(text) > limit else text


def wall_clock(value: datetime, tz: tzinfo) -> datetime:
    """An instant as the naive wall-clock time the sheet shows in ``tz``."""
    if value.tzinfo is not None:
        value = value.astimezone(tz).replace(tzinfo=None)
    return value.replace(microsecond=0)


def sheet_value(value: Any, tz: tzinfo, text_limit: int) -> str | bool | int | float | datetime | None:
    """The plain value to put in a cell, following the writing rules in the module docstring.

    Strings come back as ``str``: the backend must still store them as literal text.
    Datetimes come back naive (wall-clock); the backend applies ``DATETIME_FORMAT``.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime):
        return wall_clock(value, tz)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if not isinstance(value, str):
        value = str(value)
    return clean_text(value, text_limit)


def read_value(value: Any, tz: tzinfo) -> CellValue:
    """A cell as the core sees it: date-times timezone-aware, everything else as stored."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime):
        return value.replace(tzinfo=tz) if value.tzinfo is None else value.astimezone(tz)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=tz)
    if isinstance(value, time | timedelta):
        return str(value)
    text = getattr(value, "text", None)  # openpyxl ArrayFormula / DataTableFormula
    return text if isinstance(text, str) else str(value)


def header_text(value: Any) -> str:
    """A header cell as text ('' for blank), the way ``Table.header`` holds it."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def header_positions(header: Iterable[Any]) -> dict[str, int]:
    """Normalised header text -> 0-based position; the first of duplicate headers wins."""
    positions: dict[str, int] = {}
    for position, text in enumerate(header):
        key = normalise(header_text(text))
        if key:
            positions.setdefault(key, position)
    return positions


def find_title(titles: Iterable[str], wanted: str) -> str | None:
    """The existing tab title matching ``wanted``, ignoring case and surrounding spaces."""
    target = wanted.strip().casefold()
    for title in titles:
        if title.strip().casefold() == target:
            return title
    return None


def is_blank(values: Iterable[Any]) -> bool:
    """True when a row holds nothing but empty cells."""
    return all(value is None or value == "" for value in values)
