"""The worker's rows as typed records, and the one place they meet column titles.

Each record type mirrors one tab of ``schema.py``: an attribute per column, named
after the column ("Case ID" → ``case_id``), read with the rule for its kind. The
planner works with these records only; ``to_cells`` / ``from_cells`` are the sole
translation to and from the title-keyed cells the backends read and write.

A cell a person can edit may hold anything, so reading never fails: a date-time
cell holding text keeps the text (``When``), a number cell holding text reads as
None. Where a record sits in the sheet is kept beside it (``Row``), never in it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from .leader_input import tick
from .model import CellValue, cell_text, is_ticked
from .schema import BY_LOGICAL, Column, Kind, TabSpec

When = datetime | str | None  # a date-time cell; text when someone typed something that is not a date


@dataclass(frozen=True)
class Case:
    TAB: ClassVar[str] = "cases"

    case_id: str = ""
    received: When = None
    reported_by: str = ""
    incident_type: str = ""
    priority: str = ""
    status: str = ""
    owner: str = ""
    next_step: str = ""
    next_due: When = None
    overdue_steps: int | None = None
    progress: str = ""
    attention: str = ""
    summary: str = ""
    outcome: str = ""
    closed_at: When = None
    updated: When = None
    response_key: str = ""
    response_row: int | None = None
    response_hash: str = ""
    seen_owner: str = ""
    seen_status: str = ""
    seen_priority: str = ""
    priority_set_by: str = ""


@dataclass(frozen=True)
class Step:
    """A checklist row. ``done`` is the Done cell as read (a leader may type anything there):
    ``leader_input.tick`` reads it."""

    TAB: ClassVar[str] = "checklist"
    RAW: ClassVar[frozenset[str]] = frozenset({"done"})

    case_id: str = ""
    priority: str = ""
    title: str = ""
    guidance: str = ""
    role: str = ""
    due: When = None
    done: CellValue = False
    done_at: When = None
    status: str = ""
    notes: str = ""
    attention: str = ""
    planned_due: When = None

    @property
    def ticked(self) -> bool:
        """Done is ticked, as a person means it (``=TRUE()``, ``x``, ``yes``…); anything else is not."""
        return tick(self.done) is True


@dataclass(frozen=True)
class Notification:
    TAB: ClassVar[str] = "notifications"

    notification_id: str = ""
    case_id: str = ""
    event: str = ""
    to: str = ""
    status: str = ""
    attempts: int | None = None
    sent_at: When = None
    error: str = ""
    role: str = ""
    step: str = ""          # the step's title, for reminders and escalations
    queued_at: When = None

    @staticmethod
    def make_id(case_id: str, event: str, to: str, step: str = "", level: int = 0) -> str:
        """Deterministic: deciding the same email twice gives the same ID (SPEC §7)."""
        return f"{case_id or '-'}/{event}/{step or '-'}/{level}/{to.strip().lower()}"

    @property
    def level(self) -> int:
        """The reminder level the ID was made with; 1 when it carries none."""
        parts = self.notification_id.split("/")
        level = parts[3] if len(parts) >= 5 else "1"
        return int(level) if level.isdigit() else 1


@dataclass(frozen=True)
class LogEntry:
    TAB: ClassVar[str] = "log"

    time: When = None
    case_id: str = ""
    event: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Setting:
    """A Worker tab row. Its value cell holds a date, a number or text, kept as read."""

    TAB: ClassVar[str] = "worker"
    RAW: ClassVar[frozenset[str]] = frozenset({"value"})

    name: str = ""
    value: CellValue = None


Record = Case | Step | Notification | LogEntry | Setting
R = TypeVar("R", Case, Step, Notification, LogEntry, Setting)

# Column titles whose attribute name is not simply the title in snake case.
ALIASES = {("checklist", "Step"): "title", ("worker", "Setting"): "name"}


@dataclass(frozen=True)
class Row(Generic[R]):
    """A record and the 0-based data row it was read from (None: not in the sheet yet)."""

    at: int | None
    record: R


def attribute(spec: TabSpec, column: Column) -> str:
    """The record attribute for a column: "Case ID" → case_id, unless aliased."""
    alias = ALIASES.get((spec.logical, column.name))
    return alias or re.sub(r"\W+", "_", column.name.strip().casefold()).strip("_")


def _read_text(value: CellValue) -> str:
    return cell_text(value)


def _read_when(value: CellValue) -> When:
    if isinstance(value, datetime):
        return value
    return cell_text(value) or None


def _read_number(value: CellValue) -> int | None:
    return int(value) if isinstance(value, (int, float)) else None


def _read_raw(value: CellValue) -> CellValue:
    return value


READERS: dict[Kind, Callable[[CellValue], Any]] = {
    Kind.TEXT: _read_text,
    Kind.DATETIME: _read_when,
    Kind.NUMBER: _read_number,
    Kind.BOOL: is_ticked,
}


Columns = tuple[tuple[str, str, Callable[[CellValue], Any]], ...]
_COLUMNS: dict[str, Columns] = {}


def _columns(kind: type[Record]) -> Columns:
    """(attribute, column title, reader) for each column of the record's tab, worked out once."""
    if kind.TAB not in _COLUMNS:
        _COLUMNS[kind.TAB] = _map_columns(kind)
    return _COLUMNS[kind.TAB]


def _map_columns(kind: type[Record]) -> Columns:
    spec = BY_LOGICAL[kind.TAB]
    raw: frozenset[str] = getattr(kind, "RAW", frozenset())
    out = []
    for column in spec.columns:
        name = attribute(spec, column)
        out.append((name, column.name, _read_raw if name in raw else READERS[column.kind]))
    declared = {f.name for f in fields(kind)}
    mapped = {name for name, _, _ in out}
    if declared != mapped:
        raise AssertionError(f"{kind.__name__} and tab {spec.title!r} disagree: {sorted(declared ^ mapped)}")
    return tuple(out)


def from_cells(kind: type[R], cells: Mapping[str, CellValue]) -> R:
    """A record from one row's cells keyed by column title (missing cells read as blank)."""
    return kind(**{name: read(cells.get(title)) for name, title, read in _columns(kind)})


def to_cells(record: Record) -> dict[str, CellValue]:
    """A record as cells keyed by column title, every column of its tab."""
    return {title: getattr(record, name) for name, title, _ in _columns(type(record))}


def spec_of(record: Record) -> TabSpec:
    return BY_LOGICAL[record.TAB]


def some_cells(kind: type[Record], **values: CellValue) -> dict[str, CellValue]:
    """Cells for just the named attributes, for an update of part of a row."""
    titles = {name: title for name, title, _ in _columns(kind)}
    return {titles[name]: value for name, value in values.items()}
