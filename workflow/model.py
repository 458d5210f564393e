"""Plain data passed between the core and the edges (storage backends, mail transports).

A sync is a plan then a commit: a backend's ``load()`` returns a Snapshot of
every tab, the core computes a ChangeSet from it, and ``commit()`` writes the
ChangeSet in one go. Date-time cells are timezone-aware datetimes here; the
backend converts to and from the sheet's wall-clock time. After sending, a
transport reports each message it could not deliver as a Failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from .schema import BY_LOGICAL, CELL_LIMIT, TabSpec, normalise

CellValue = str | int | float | bool | datetime | None


@dataclass
class Table:
    """One tab as read: its header row and data rows (row i is sheet row i + 2)."""

    title: str
    header: list[str]
    rows: list[list[CellValue]]

    def __post_init__(self) -> None:
        self._index: dict[str, int] = {}
        for position, text in enumerate(self.header):
            self._index.setdefault(normalise(text), position)

    def position(self, column: str) -> int | None:
        """0-based column position of a header, matched case- and space-insensitively."""
        return self._index.get(normalise(column))

    def has(self, column: str) -> bool:
        return self.position(column) is not None

    def value(self, row: int, column: str) -> CellValue:
        position = self.position(column)
        if position is None:
            return None
        cells = self.rows[row]
        return cells[position] if position < len(cells) else None

    def record(self, row: int, columns: list[str]) -> dict[str, CellValue]:
        return {column: self.value(row, column) for column in columns}

    def located(self, spec: TabSpec) -> list[tuple[int, dict[str, CellValue]]]:
        """Every non-blank data row as (its 0-based index, {canonical column name: value})."""
        positions = [(name, self.position(name)) for name in spec.column_names]
        out = []
        for row, cells in enumerate(self.rows):
            if all(cell in (None, "") for cell in cells):
                continue
            out.append((row, {name: cells[at] if at is not None and at < len(cells) else None
                              for name, at in positions}))
        return out

    def records(self, spec: TabSpec) -> list[dict[str, CellValue]]:
        """Every non-blank data row as {canonical column name: value}."""
        return [record for _, record in self.located(spec)]


@dataclass
class Snapshot:
    """Everything one sync reads, read once."""

    responses: Table
    tabs: dict[str, Table]          # worker tabs by logical name ("cases", ...)
    sheet_timezone: tzinfo          # the zone wall-clock cells are in
    text_limit: int = CELL_LIMIT    # longest text a cell holds (Google 50,000; Excel 32,767)
    locale: str = ""                # the spreadsheet's locale (e.g. "en_NZ"): how typed dates are read

    def tab(self, logical: str) -> Table:
        return self.tabs[logical]


@dataclass(frozen=True)
class Failure:
    """Why one message was not delivered; ``error`` is short and has no body text."""

    error: str
    permanent: bool


def row_key(spec: TabSpec, record: dict[str, CellValue]) -> str:
    """A row's identity within its tab, stable across sorting and filtering."""
    return " | ".join(str(record.get(column) or "").strip() for column in spec.key)


@dataclass(frozen=True)
class RowUpdate:
    """New values for some worker-owned cells of one existing row.

    ``row`` is where the row was when read; ``key`` is what must be in its key
    columns for the write to land there. A backend that finds another key at
    ``row`` looks the key up afresh and writes there instead, or drops the
    update when the row is gone.
    """

    tab: str
    key: str
    row: int
    cells: dict[str, CellValue]


@dataclass
class ChangeSet:
    """Every write of one commit: appended rows and updated cells, by logical tab."""

    appends: dict[str, list[dict[str, CellValue]]] = field(default_factory=dict)
    updates: list[RowUpdate] = field(default_factory=list)

    def append(self, tab: str, record: dict[str, CellValue]) -> None:
        if tab not in BY_LOGICAL:
            raise KeyError(tab)
        self.appends.setdefault(tab, []).append(record)

    def update(self, tab: str, key: str, row: int, cells: dict[str, CellValue]) -> None:
        if cells:
            self.updates.append(RowUpdate(tab, key, row, dict(cells)))

    def is_empty(self) -> bool:
        return not self.updates and not any(self.appends.values())

    def counts(self) -> dict[str, int]:
        return {
            "appended_rows": sum(len(rows) for rows in self.appends.values()),
            "updated_rows": len(self.updates),
            "updated_cells": sum(len(update.cells) for update in self.updates),
        }


TRUE_WORDS = {"true", "yes", "y", "x", "✓", "✔", "done", "1", "ticked"}


def is_ticked(value: CellValue) -> bool:
    """Done as a checkbox (Google), or typed TRUE / x / yes (a local workbook)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value == 1
    return str(value or "").strip().casefold() in TRUE_WORDS


def same_cell(a: CellValue, b: CellValue) -> bool:
    """Would writing ``b`` over ``a`` change what the sheet shows? (Times to the second.)"""
    if isinstance(a, datetime) and isinstance(b, datetime):
        return abs((a - b).total_seconds()) < 1
    if isinstance(a, datetime) or isinstance(b, datetime):
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return is_ticked(a) == is_ticked(b)
    return cell_text(a) == cell_text(b)


def cell_text(value: Any) -> str:
    """A cell as plain text for comparisons (None and blanks become '')."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
