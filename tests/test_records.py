"""Records and the one mapping between them and title-keyed cells (workflow.records, workflow.book)."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from workflow.book import Book, Tab, changed
from workflow.model import CellValue, ChangeSet, Snapshot, Table
from workflow.records import (
    Case,
    LogEntry,
    Notification,
    Record,
    Setting,
    Step,
    attribute,
    from_cells,
    some_cells,
    to_cells,
)
from workflow.schema import BY_LOGICAL, CASES, CHECKLIST, WORKER_TABS

NZ = ZoneInfo("Pacific/Auckland")
WHEN = datetime(2026, 3, 2, 10, 0, tzinfo=NZ)
KINDS = (Case, Step, Notification, LogEntry, Setting)


@pytest.mark.parametrize("kind", KINDS)
def test_every_column_of_the_tab_is_one_attribute(kind: type[Record]) -> None:
    spec = BY_LOGICAL[kind.TAB]
    assert [attribute(spec, c) for c in spec.columns] == [f.name for f in fields(kind)]
    assert list(to_cells(kind())) == spec.column_names


def test_attribute_names_come_from_column_titles() -> None:
    assert attribute(CASES, CASES.column("Case ID")) == "case_id"
    assert attribute(CASES, CASES.column("Overdue steps")) == "overdue_steps"
    assert attribute(CHECKLIST, CHECKLIST.column("Step")) == "title"


def test_cells_read_by_kind() -> None:
    case = from_cells(Case, {"Case ID": " DI-2026-0001 ", "Received": WHEN, "Overdue steps": 2.0,
                             "Response row": "7", "Next due": "  ", "Updated": "next week"})
    assert case.case_id == "DI-2026-0001"
    assert case.received == WHEN
    assert case.overdue_steps == 2 and isinstance(case.overdue_steps, int)
    assert case.response_row is None          # text in a number cell reads as blank
    assert case.next_due is None              # a blank date-time cell
    assert case.updated == "next week"        # text a person typed in a date-time cell is kept
    assert case.owner == ""                   # a missing cell reads as blank
    assert from_cells(Step, {"Done": "x"}).done == "x"          # Done is kept as typed…
    assert from_cells(Step, {"Done": "x"}).ticked is True       # …and read as a person means it
    assert from_cells(Step, {"Done": "=TRUE()"}).ticked is True
    assert from_cells(Step, {"Done": None}).ticked is False


def test_worker_values_are_kept_as_read() -> None:
    assert from_cells(Setting, {"Setting": "Last successful sync", "Value": WHEN}).value == WHEN
    assert from_cells(Setting, {"Setting": "Case counter 2026", "Value": 4.0}).value == 4.0


def test_round_trip_of_a_written_row() -> None:
    step = Step("DI-2026-0001", "High", "Safety", "Call 111", "pastoral_lead", WHEN, False, None, "Open", "",
                "", WHEN)
    assert from_cells(Step, to_cells(step)) == step


def test_some_cells_names_only_the_given_columns() -> None:
    assert some_cells(Notification, status="sent", sent_at=WHEN) == {"Status": "sent", "Sent at": WHEN}


def test_notification_level_is_read_from_its_id() -> None:
    reminder = Notification(Notification.make_id("DI-2026-0001", "overdue", "a@b.nz", "safety", 3))
    assert reminder.notification_id == "DI-2026-0001/overdue/safety/3/a@b.nz"
    assert reminder.level == 3
    assert Notification("DI-2026-0001/overdue/safety/x/a@b.nz").level == 1
    assert Notification("odd").level == 1


# -- the book: copy, change, diff --------------------------------------------------------------


def snapshot(**rows: list[list[CellValue]]) -> Snapshot:
    tabs = {s.logical: Table(s.title, s.column_names, [list(r) for r in rows.get(s.logical, [])])
            for s in WORKER_TABS}
    return Snapshot(Table("Form Responses 1", ["Timestamp"], []), tabs, NZ)


def case_row(case_id: str, status: str = "Open", owner: str = "") -> list[CellValue]:
    return [to_cells(Case(case_id=case_id, status=status, owner=owner, overdue_steps=0))[c] for c in CASES.column_names]


def test_unchanged_book_makes_no_changes() -> None:
    book = Book(snapshot(cases=[case_row("DI-2026-0001"), [], case_row("DI-2026-0002")]))
    assert [row.at for row in book.cases.rows] == [0, 2]      # blank rows skipped, positions kept
    assert book.workflow_changes().is_empty()


def test_a_replaced_record_updates_only_its_changed_cells_by_key() -> None:
    book = Book(snapshot(cases=[case_row("DI-2026-0001"), case_row("DI-2026-0002")]))
    book.cases[1] = replace(book.cases[1], next_step="Safety", overdue_steps=0)
    changes = book.workflow_changes()
    assert [(u.tab, u.key, u.row, u.cells) for u in changes.updates] == [
        ("cases", "DI-2026-0002", 1, {"Next step": "Safety"})]


def test_an_added_record_is_appended_as_full_cells() -> None:
    book = Book(snapshot())
    book.add_case(Case(case_id="DI-2026-0001"), [Step(case_id="DI-2026-0001", title="Safety")])
    book.log.append(LogEntry(WHEN, "DI-2026-0001", "case opened", "row 2"))
    changes = book.workflow_changes()
    assert changes.appends["cases"] == [to_cells(Case(case_id="DI-2026-0001"))]
    assert changes.appends["checklist"][0]["Step"] == "Safety"
    assert changes.appends["log"] == [{"Time": WHEN, "Case ID": "DI-2026-0001", "Event": "case opened",
                                       "Detail": "row 2"}]


def test_writing_a_leader_owned_cell_is_a_bug() -> None:
    book = Book(snapshot(cases=[case_row("DI-2026-0001", owner="Ms Dean")]))
    book.cases[0] = replace(book.cases[0], owner="someone else")
    with pytest.raises(AssertionError, match="leader-owned"):
        book.workflow_changes()


def test_times_within_a_second_are_the_same_cell() -> None:
    a = Case(case_id="C", updated=WHEN)
    assert not changed(a, replace(a, updated=WHEN.replace(microsecond=400_000)))
    assert changed(a, replace(a, updated=WHEN.replace(second=2)))


def test_duplicate_case_ids_resolve_to_the_last_row() -> None:
    book = Book(snapshot(cases=[case_row("DI-2026-0001", "Open"), case_row("DI-2026-0001", "Closed")]))
    assert book.case_at == {"DI-2026-0001": 1}
    assert book.case("DI-2026-0001") == book.cases[1]


def test_settings_are_updated_in_place_or_added() -> None:
    book = Book(snapshot(worker=[["Version", "0.1"]]))
    book.set_setting("Version", "0.2")
    book.set_setting("Last error", "")
    changes = book.settings.changes(ChangeSet())
    assert [(u.key, u.cells) for u in changes.updates] == [("Version", {"Value": "0.2"})]
    assert changes.appends["worker"] == [{"Setting": "Last error", "Value": ""}]
    assert book.setting_rows() == {"Version": 0}


def test_tab_of_records() -> None:
    tab = Tab.of(Step, [Step(case_id="C", title="A"), Step(case_id="C", title="B")])
    assert [s.title for s in tab] == ["A", "B"] and len(tab) == 2
    assert tab.changes(ChangeSet()).is_empty()
