"""The worker's tabs as typed rows for one plan, and their difference from what was read.

"Copy, change, diff": every row is read into a frozen record; the phases replace
records (``dataclasses.replace``) or add new ones; ``changes()`` maps both the
records as read and as left back to cells and writes only what differs. A sync
that decides nothing therefore writes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from typing import Generic

from .model import CellValue, ChangeSet, Snapshot, Table, row_key, same_cell
from .records import Case, LogEntry, Notification, R, Record, Row, Setting, Step, from_cells, to_cells
from .schema import BY_LOGICAL


class Tab(Generic[R]):
    """One tab's rows: each record as read, where it was, and what the plan makes of it."""

    def __init__(self, kind: type[R], table: Table | None = None) -> None:
        self.spec = BY_LOGICAL[kind.TAB]
        self.keys: dict[int, str] = {}          # row -> its key as read, for the backend to find it
        self.read: dict[int, R] = {}
        self.rows: list[Row[R]] = []
        for at, cells in table.located(self.spec) if table is not None else []:
            self.keys[at] = row_key(self.spec, cells)
            self.read[at] = from_cells(kind, cells)
            self.rows.append(Row(at, self.read[at]))

    @classmethod
    def of(cls, kind: type[R], records: list[R]) -> Tab[R]:
        """A tab whose rows were read in this order (for tests and tools)."""
        tab = cls(kind)
        for at, record in enumerate(records):
            tab.keys[at], tab.read[at] = row_key(tab.spec, to_cells(record)), record
            tab.rows.append(Row(at, record))
        return tab

    def __iter__(self) -> Iterator[R]:
        return (row.record for row in self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> R:
        return self.rows[index].record

    def __setitem__(self, index: int, record: R) -> None:
        self.rows[index] = Row(self.rows[index].at, record)

    def add(self, record: R) -> int:
        self.rows.append(Row(None, record))
        return len(self.rows) - 1

    def changes(self, into: ChangeSet) -> ChangeSet:
        """Append new rows and update changed cells; never a leader-owned cell."""
        leader_owned = {c.name for c in self.spec.columns if c.owner == "leader"}
        for row in self.rows:
            if row.at is None:
                into.append(self.spec.logical, to_cells(row.record))
                continue
            changed = diff(to_cells(self.read[row.at]), to_cells(row.record))
            if changed.keys() & leader_owned:  # a bug, never a leader's loss
                raise AssertionError(f"worker tried to write leader-owned {sorted(changed.keys() & leader_owned)}")
            into.update(self.spec.logical, self.keys[row.at], row.at, changed)
        return into


def diff(before: dict[str, CellValue], after: dict[str, CellValue]) -> dict[str, CellValue]:
    """The cells of ``after`` that would change what the sheet shows."""
    return {title: value for title, value in after.items() if not same_cell(before.get(title), value)}


class Book:
    """Every worker tab of one snapshot, with cases and steps found by case ID.

    The Log only gains rows. Where a case ID appears twice the last row is the case,
    as a leader reading top to bottom would last see it.
    """

    def __init__(self, snapshot: Snapshot | None = None) -> None:
        def table(logical: str) -> Table | None:
            return snapshot.tab(logical) if snapshot is not None else None

        self.cases = Tab(Case, table("cases"))
        self.steps = Tab(Step, table("checklist"))
        self.notifications = Tab(Notification, table("notifications"))
        self.settings = Tab(Setting, table("worker"))
        self.log: list[LogEntry] = []
        self.case_at: dict[str, int] = {}
        self.steps_at: defaultdict[str, list[int]] = defaultdict(list)
        for index, case in enumerate(self.cases):
            if case.case_id:
                self.case_at[case.case_id] = index
        for index, step in enumerate(self.steps):
            self.steps_at[step.case_id].append(index)

    def add_case(self, case: Case, steps: list[Step]) -> None:
        self.case_at[case.case_id] = self.cases.add(case)
        for step in steps:
            self.steps_at[case.case_id].append(self.steps.add(step))

    def case(self, case_id: str) -> Case | None:
        at = self.case_at.get(case_id)
        return None if at is None else self.cases[at]

    @staticmethod
    def sheet_row(tab: Tab[R], index: int) -> int | None:
        """The sheet row number (header is row 1) a record was read from; None for a new row."""
        at = tab.rows[index].at
        return None if at is None else at + 2

    def steps_of(self, case_id: str) -> list[Step]:
        return [self.steps[at] for at in self.steps_at.get(case_id, [])]

    def put_steps(self, case_id: str, steps: list[Step]) -> None:
        """Replace a case's steps, one for one, in the order ``steps_of`` gave them."""
        for at, step in zip(self.steps_at.get(case_id, []), steps, strict=True):
            self.steps[at] = step

    def setting(self, name: str) -> CellValue:
        at = self._setting_at(name)
        return None if at is None else self.settings[at].value

    def set_setting(self, name: str, value: CellValue) -> None:
        at = self._setting_at(name)
        if at is None:
            self.settings.add(Setting(name, value))
        else:
            self.settings[at] = replace(self.settings[at], value=value)

    def setting_rows(self) -> dict[str, int]:
        """Setting name -> the row it was read from (the marks after sending update these)."""
        return {row.record.name: row.at for row in self.settings.rows if row.record.name and row.at is not None}

    def _setting_at(self, name: str) -> int | None:
        found = None
        for index, setting in enumerate(self.settings):
            if setting.name == name:
                found = index
        return found

    def workflow_changes(self) -> ChangeSet:
        """Everything but the Worker tab, whose heartbeat depends on whether this is empty."""
        changes = ChangeSet()
        for tab in (self.cases, self.steps, self.notifications):
            tab.changes(changes)
        for entry in self.log:
            changes.append("log", to_cells(entry))
        return changes


def changed(before: Record, after: Record) -> bool:
    """Would writing ``after`` over ``before`` change any cell?"""
    return bool(diff(to_cells(before), to_cells(after)))
