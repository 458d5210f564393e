"""The Google Sheets backend through the real gspread client, against the local Sheets emulator.

The emulator plays Google, Google Forms and the school leaders: it counts every HTTP
request (the request budget is the point of this backend), sorts tabs between our read
and our write, and fails requests the way Google's quota and outages do.
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
import time as time_module
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import storage_config
from sheets_emulator import SheetsEmulator

from workflow.config import Config
from workflow.errors import SheetLayoutError, StorageError, TemporaryFailure
from workflow.model import ChangeSet, Snapshot
from workflow.schema import CASES, CHECKLIST, NOTIFICATIONS, STEP_STATUSES, WORKER_TABS, TabSpec
from workflow.storage.google import PROTECTION_NOTE, GoogleSheetStorage, column_letter, from_serial, to_serial
from workflow.storage.google.client import RetryPolicy, SheetsConnection

NZ = ZoneInfo("Pacific/Auckland")
LONDON = ZoneInfo("Europe/London")
RESPONSES = "Form Responses 1"
RESPONSE_HEADERS = ["Timestamp", "Email Address", "What kind of incident is it?", "What happened?"]
FAST = RetryPolicy(max_attempts=4, budget=3.0, base_delay=0.001, max_delay=0.01, max_retry_after=0.05, timeout=5.0)
HOSTILE = ["=IMPORTXML(\"http://x.invalid\",\"//a\")", "+1", "@x", "-5", "=1+1", "#N/A"]
_ids = itertools.count(1)


CONTACTS = {"principal": ("p@school.example",), "pastoral_lead": ("pl@school.example",)}


def make_config(folder: Path, spreadsheet_id: str, responses_tab: str = RESPONSES, credentials: str = "",
                owners: tuple[str, ...] = ()) -> Config:
    return storage_config(folder, backend="google", workbook=folder / "unused.xlsx", spreadsheet_id=spreadsheet_id,
                          responses_tab=responses_tab, credentials=credentials, contacts=CONTACTS, owners=owners)


@pytest.fixture
def emu(emulator: SheetsEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[SheetsEmulator]:
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", emulator.host)
    emulator.fail_always(None)
    emulator.reset_requests()
    yield emulator
    emulator.fail_always(None)
    assert not emulator.internal_errors, emulator.internal_errors


def new_sheet(emu: SheetsEmulator, tmp_path: Path, *, responses: list[list[Any]] | None = None,
              tab: str = RESPONSES, configured: str = RESPONSES, time_zone: str = "Europe/London",
              extra_tabs: dict[str, list[list[Any]]] | None = None) -> tuple[str, GoogleSheetStorage]:
    spreadsheet_id = f"test-{next(_ids)}"
    tabs = {tab: responses if responses is not None else [RESPONSE_HEADERS]}
    tabs.update(extra_tabs or {})
    emu.create_spreadsheet(spreadsheet_id, "Incidents", time_zone=time_zone, locale="en_GB", tabs=tabs)
    return spreadsheet_id, GoogleSheetStorage(make_config(tmp_path, spreadsheet_id, configured), retry=FAST)


def ready_sheet(emu: SheetsEmulator, tmp_path: Path, **kwargs: Any) -> tuple[str, GoogleSheetStorage]:
    spreadsheet_id, storage = new_sheet(emu, tmp_path, **kwargs)
    storage.setup(RESPONSE_HEADERS)
    emu.reset_requests()
    return spreadsheet_id, storage


def writes(emu: SheetsEmulator) -> list[tuple[str, str]]:
    return [r for r in emu.requests if r[0] != "GET"]


def case(n: int, **more: Any) -> dict[str, Any]:
    record = {"Case ID": f"DI-{n:04d}", "Received": datetime(2025, 3, 3, 9, 0, tzinfo=NZ) + timedelta(minutes=n),
              "Reported by": f"staff{n}@school.example", "Incident type": "Cyberbullying", "Priority": "Normal",
              "Status": "Open", "Next step": "Talk to the student", "Summary": f"case {n}",
              "Response key": f"key-{n}", "Response row": n + 1, "Response hash": f"h{n}"}
    record.update(more)
    return record


def step(n: int, s: int) -> dict[str, Any]:
    return {"Case ID": f"DI-{n:04d}", "Step": f"step-{s}", "Guidance": "Do it", "Role": "pastoral_lead",
            "Due": datetime(2025, 3, 4, 15, 0, tzinfo=NZ), "Done": False, "Status": "Open"}


def seed_cases(storage: GoogleSheetStorage, count: int) -> None:
    changes = ChangeSet()
    for n in range(1, count + 1):
        changes.append("cases", case(n))
    storage.load()
    storage.commit(changes)


def a1(spec: TabSpec, column: str, row: int) -> str:
    """The A1 address of a column (as setup lays tabs out) in a 1-based sheet row."""
    return f"{column_letter(spec.column_names.index(column))}{row}"


def by_key(emu: SheetsEmulator, spreadsheet_id: str, tab: str, key: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """Every data row of a tab as {key: {header: value}} (fails on duplicate keys); key: the first column."""
    rows = emu.values(spreadsheet_id, tab)
    header = rows[0]
    out: dict[str, dict[str, Any]] = {}
    for row in rows[1:]:
        if all(value in (None, "") for value in row):
            continue  # a blank row a leader inserted
        record = {h: (row[i] if i < len(row) else None) for i, h in enumerate(header)}
        found = " | ".join(str(record[h]) for h in (key or header[:1]))
        assert found not in out, f"duplicate row {found}"
        out[found] = record
    return out


# ---------------------------------------------------------------------------
# setup
# ---------------------------------------------------------------------------


def test_setup_creates_tabs_formats_and_protection_then_is_idempotent(emu: SheetsEmulator, tmp_path: Path) -> None:
    spreadsheet_id, storage = new_sheet(emu, tmp_path)
    changes = storage.setup(RESPONSE_HEADERS)
    assert [c for c in changes if c.startswith("created tab")] == [f'created tab "{s.title}"' for s in WORKER_TABS]
    assert len(writes(emu)) == 1, "setup sends all its changes in one batchUpdate"

    meta = emu.metadata(spreadsheet_id)
    sheets = {s["properties"]["title"]: s for s in meta["sheets"]}
    assert meta["properties"]["timeZone"] == "Europe/London", "setup never changes the sheet's time zone"
    for spec in WORKER_TABS:
        assert emu.values(spreadsheet_id, spec.title)[0] == spec.column_names
        assert sheets[spec.title]["properties"]["gridProperties"]["frozenRowCount"] == 1
        assert emu.cell(spreadsheet_id, spec.title, "A1")["userEnteredFormat"]["textFormat"]["bold"] is True

    done = emu.cell(spreadsheet_id, "Checklist", a1(CHECKLIST, "Done", 2))
    assert done["dataValidation"]["condition"]["type"] == "BOOLEAN"
    received = emu.cell(spreadsheet_id, "Cases", a1(CASES, "Received", 2))
    assert received["userEnteredFormat"]["numberFormat"] == {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm"}

    overdue = sheets["Checklist"]["conditionalFormats"][1]["booleanRule"]["condition"]
    assert overdue == {"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": "=" + OVERDUE_FORMULA}]}
    assert rule_formulas(sheets["Cases"]) == [
        "=LEN(TRIM($L2))>0", "=AND(ISNUMBER($J2),$J2>0)",
        '=AND(ISNUMBER($I2),$I2<NOW(),SUBSTITUTE($F2," ","")<>"Closed",SUBSTITUTE($F2," ","")<>"Withdrawn")',
        '=$E2="Urgent"', '=$E2="High"']
    rules = sheets["Cases"]["conditionalFormats"]
    assert rules[1]["ranges"][0]["startColumnIndex"] == CASES.column_names.index("Overdue steps"), "one cell"
    assert "startColumnIndex" not in rules[3]["ranges"][0] or rules[3]["ranges"][0]["startColumnIndex"] == 0
    tints = [r["booleanRule"]["format"]["backgroundColor"] for r in rules[3:]]
    assert tints[0] != tints[1], "Urgent and High differ"
    assert rule_formulas(sheets["Checklist"])[0] == f'=LEN(TRIM(${a1(CHECKLIST, "Attention", 2)}))>0'

    # the board: Cases first, a filter on Cases and Checklist, widths, wrapping, dropdowns
    assert meta["sheets"][0]["properties"]["title"] == "Cases"
    for title in ("Cases", "Checklist"):
        assert sheets[title]["basicFilter"]["range"]["startRowIndex"] == 0
    assert all("basicFilter" not in sheets[t] for t in (RESPONSES, "Notifications", "Log", "Worker"))
    widths = column_widths(storage, "Cases", len(CASES.columns))
    assert widths[CASES.column_names.index("Summary")] == CASES.column("Summary").pixel_width > 300
    assert column_widths(storage, "Worker", 2)[1] > 250, "the last sync's date-time is never ###"
    summary = emu.cell(spreadsheet_id, "Cases", a1(CASES, "Summary", 2))
    assert summary["userEnteredFormat"]["wrapStrategy"] == "WRAP"
    assert dropdown(emu, spreadsheet_id, "Cases", "Status") == ["Open", "Closed", "Withdrawn"]
    assert dropdown(emu, spreadsheet_id, "Cases", "Priority") == ["Urgent", "High", "Normal"]
    assert dropdown(emu, spreadsheet_id, "Cases", "Outcome")[:2] == ["Resolved in school", "Referred to police"]
    assert dropdown(emu, spreadsheet_id, "Checklist", "Status") == list(STEP_STATUSES)
    assert dropdown(emu, spreadsheet_id, "Checklist", "Role") == ["principal", "pastoral_lead"]
    assert dropdown(emu, spreadsheet_id, "Cases", "Owner") is None, "no owners configured: free text"
    status = emu.cell(spreadsheet_id, "Cases", a1(CASES, "Status", 2))["dataValidation"]
    assert status.get("strict") is not True and status["showCustomUi"] is True, "warn, never refuse"

    for title in (RESPONSES, "Cases", "Checklist", "Notifications", "Log", "Worker"):
        protected = sheets[title].get("protectedRanges") or []
        assert protected and all(p["warningOnly"] and p["description"] == PROTECTION_NOTE for p in protected), title
    owner_column = CASES.column_names.index("Owner")
    for p in sheets["Cases"]["protectedRanges"]:
        span = range(p["range"]["startColumnIndex"], p["range"]["endColumnIndex"])
        assert owner_column not in span, "leader-owned columns stay unprotected"

    last = column_letter(len(CASES.columns) - 1)
    grid = storage.sheets.get({"includeGridData": "true", "ranges": [f"'Cases'!A1:{last}1"],
                         "fields": "sheets.data.columnMetadata.hiddenByUser"})
    hidden = [bool(m.get("hiddenByUser")) for m in grid["sheets"][0]["data"][0]["columnMetadata"]]
    assert hidden == [c.hidden for c in CASES.columns]

    emu.reset_requests()
    assert storage.setup(RESPONSE_HEADERS) == []
    assert writes(emu) == [], "a second setup writes nothing"


# The same text as the local workbook's (test_storage_local): an open step of an open case past its Due.
_CASE_STATUS = """SUBSTITUTE(INDEX(INDIRECT("'Cases'!$F:$F"),MATCH($A2,INDIRECT("'Cases'!$A:$A"),0))," ","")"""
OVERDUE_FORMULA = (
    'AND($G2<>TRUE,$G2<>"TRUE",SUBSTITUTE($I2," ","")<>"Done",SUBSTITUTE($I2," ","")<>"Notneeded",'
    f'SUBSTITUTE($I2," ","")<>"Caseclosed",ISNUMBER($F2),$F2<NOW(),{_CASE_STATUS}<>"Closed",'
    f'{_CASE_STATUS}<>"Withdrawn")'
)


def rule_formulas(sheet: dict[str, Any]) -> list[str]:
    return [rule["booleanRule"]["condition"]["values"][0]["userEnteredValue"]
            for rule in sheet.get("conditionalFormats") or []]


def overdue_formulas(emu: SheetsEmulator, spreadsheet_id: str) -> list[str]:
    sheets = {s["properties"]["title"]: s for s in emu.metadata(spreadsheet_id)["sheets"]}
    return [f for f in rule_formulas(sheets["Checklist"]) if "NOW()" in f]


def column_widths(storage: GoogleSheetStorage, title: str, count: int) -> list[int]:
    reply = storage.sheets.get({"includeGridData": "true", "ranges": [f"'{title}'!A1:{column_letter(count - 1)}1"],
                                "fields": "sheets.data.columnMetadata.pixelSize"})
    return [m.get("pixelSize") for m in reply["sheets"][0]["data"][0]["columnMetadata"]]


def dropdown(emu: SheetsEmulator, spreadsheet_id: str, title: str, column: str) -> list[str] | None:
    """The dropdown list on a column's first data cell, or None."""
    spec = {"Cases": CASES, "Checklist": CHECKLIST}[title]
    rule = (emu.cell(spreadsheet_id, title, a1(spec, column, 2)) or {}).get("dataValidation")
    if rule is None:
        return None
    assert rule["condition"]["type"] == "ONE_OF_LIST"
    return [v["userEnteredValue"] for v in rule["condition"]["values"]]


def test_setup_replaces_the_old_overdue_rule_that_ignored_status(emu: SheetsEmulator, tmp_path: Path) -> None:
    """Sheets set up before issue 6 highlighted a Not needed step; setup swaps the rule once."""
    spreadsheet_id, storage = new_sheet(emu, tmp_path)
    storage.setup(RESPONSE_HEADERS)
    swap_overdue_rule(emu, storage, spreadsheet_id, "=AND($G2<>TRUE,ISNUMBER($F2),$F2<NOW())")

    assert storage.setup(RESPONSE_HEADERS) == ['overdue steps highlighted in "Checklist"']
    assert len(writes(emu)) == 1
    assert overdue_formulas(emu, spreadsheet_id) == ["=" + OVERDUE_FORMULA]
    emu.reset_requests()
    assert storage.setup(RESPONSE_HEADERS) == [] and writes(emu) == []


def swap_overdue_rule(emu: SheetsEmulator, storage: GoogleSheetStorage, spreadsheet_id: str, formula: str) -> None:
    """Put an older version of the overdue rule where setup put the current one (second of the tab's rules)."""
    checklist = emu.sheet_id(spreadsheet_id, "Checklist")
    old_rule = {"ranges": [{"sheetId": checklist, "startRowIndex": 1}], "booleanRule": {
        "condition": {"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": formula}]},
        "format": {"backgroundColor": {"red": 0.96, "green": 0.8, "blue": 0.8}}}}
    storage.sheets.batch({"requests": [
        {"deleteConditionalFormatRule": {"sheetId": checklist, "index": 1}},
        {"addConditionalFormatRule": {"index": 1, "rule": old_rule}},
    ]})
    emu.reset_requests()


def test_setup_upgrades_the_issue_6_rule_that_painted_steps_of_closed_cases(emu: SheetsEmulator,
                                                                            tmp_path: Path) -> None:
    spreadsheet_id, storage = new_sheet(emu, tmp_path)
    storage.setup(RESPONSE_HEADERS)
    issue_6 = "=" + OVERDUE_FORMULA.replace(',SUBSTITUTE($I2," ","")<>"Caseclosed"', "")
    swap_overdue_rule(emu, storage, spreadsheet_id, issue_6)

    assert storage.setup(RESPONSE_HEADERS) == ['overdue steps highlighted in "Checklist"']
    assert overdue_formulas(emu, spreadsheet_id) == ["=" + OVERDUE_FORMULA]
    emu.reset_requests()
    assert storage.setup(RESPONSE_HEADERS) == [] and writes(emu) == []


def test_overdue_rule_follows_the_cases_columns(emu: SheetsEmulator, tmp_path: Path) -> None:
    old_header = ["Owner", "Case ID", "Status"]  # a leader's own Cases layout: Case ID in B, Status in C
    spreadsheet_id, storage = new_sheet(emu, tmp_path, extra_tabs={"Cases": [old_header]})
    storage.setup(RESPONSE_HEADERS)
    [formula] = overdue_formulas(emu, spreadsheet_id)
    assert """INDEX(INDIRECT("'Cases'!$C:$C"),MATCH($A2,INDIRECT("'Cases'!$B:$B"),0))""" in formula
    emu.reset_requests()
    assert storage.setup(RESPONSE_HEADERS) == [] and writes(emu) == []


def test_setup_repairs_a_tab_a_leader_changed_without_touching_data(emu: SheetsEmulator, tmp_path: Path) -> None:
    old_header = ["Case ID", "Owner", "Priority", "Leader notes"]
    leader_rows = [old_header, ["DI-0001", "Ms K", "High", "x"]]
    spreadsheet_id, storage = new_sheet(emu, tmp_path, extra_tabs={"cases": leader_rows})
    changes = storage.setup(RESPONSE_HEADERS)
    assert any(c.startswith("added columns") and '"Received"' in c for c in changes), changes
    rows = emu.values(spreadsheet_id, "cases")
    assert rows[0][:4] == old_header and rows[1] == ["DI-0001", "Ms K", "High", "x"]
    assert set(CASES.column_names) <= set(rows[0])
    cases = {s["properties"]["title"]: s for s in emu.metadata(spreadsheet_id)["sheets"]}["cases"]
    priority = "C"  # the formula follows the Priority column where the leader put it
    assert f'=${priority}2="Urgent"' in rule_formulas(cases)
    emu.reset_requests()
    assert storage.setup(RESPONSE_HEADERS) == []
    assert writes(emu) == []


def test_setup_upgrades_an_old_board_once_keeping_a_leaders_filter_and_widths(emu: SheetsEmulator,
                                                                              tmp_path: Path) -> None:
    """A sheet set up by an older version: Cases after the responses, no new columns, a leader's
    filter and column width, and cases the old worker marked "Ready to close"."""
    old_cases = ["Case ID", "Received", "Priority", "Status", "Owner"]
    rows = [old_cases, ["DI-0001", "", "High", "Ready to close", "Ms K"], ["DI-0002", "", "Normal", "Open", ""],
            ["DI-0003", "", "Urgent", " ready to close", ""], ["DI-0004", "", "Normal", "Closed", ""]]
    spreadsheet_id, storage = new_sheet(emu, tmp_path, extra_tabs={"Cases": rows})
    cases_id = emu.sheet_id(spreadsheet_id, "Cases")
    storage.sheets.batch({"requests": [
        {"setBasicFilter": {"filter": {"range": {"sheetId": cases_id, "startRowIndex": 0, "endColumnIndex": 5},
                                       "criteria": {"3": {"hiddenValues": ["Closed"]}}}}},
        {"updateDimensionProperties": {"range": {"sheetId": cases_id, "dimension": "COLUMNS", "startIndex": 0,
                                                 "endIndex": 1}, "properties": {"pixelSize": 77},
                                       "fields": "pixelSize"}},
    ]})
    emu.reset_requests()

    changes = storage.setup(RESPONSE_HEADERS)

    assert len(writes(emu)) == 1
    assert 'Status "Ready to close" (written by older versions) became "Open" on 2 case(s) of "Cases": ' \
        "DI-0001, DI-0003" in changes
    assert '"Cases" is now the first tab' in changes
    assert 'widened the filter of "Cases" to every column' in changes
    statuses = {k: v["Status"] for k, v in by_key(emu, spreadsheet_id, "Cases").items()}
    assert statuses == {"DI-0001": "Open", "DI-0002": "Open", "DI-0003": "Open", "DI-0004": "Closed"}
    record = by_key(emu, spreadsheet_id, "Cases")["DI-0001"]
    assert record["Owner"] == "Ms K" and record["Progress"] in (None, "") and record["Attention"] in (None, "")
    meta = emu.metadata(spreadsheet_id)
    assert meta["sheets"][0]["properties"]["title"] == "Cases"
    kept = meta["sheets"][0]["basicFilter"]
    assert kept["criteria"] == {"3": {"hiddenValues": ["Closed"]}}, "the leader's criteria stay"
    assert kept["range"].get("endColumnIndex", 999) >= len(CASES.columns)
    assert column_widths(storage, "Cases", 2)[0] == 77, "a leader's width is kept"
    assert column_widths(storage, "Cases", 2)[1] == CASES.column("Received").pixel_width

    emu.reset_requests()
    assert storage.setup(RESPONSE_HEADERS) == [] and writes(emu) == [], "second setup: no write"


def test_owner_dropdown_only_when_the_config_lists_owners(emu: SheetsEmulator, tmp_path: Path) -> None:
    spreadsheet_id, storage = new_sheet(emu, tmp_path)
    storage.setup(RESPONSE_HEADERS)
    assert dropdown(emu, spreadsheet_id, "Cases", "Owner") is None
    with_owners = GoogleSheetStorage(make_config(tmp_path, spreadsheet_id, owners=("Ms K", "Mr T")), retry=FAST)
    emu.reset_requests()
    assert with_owners.setup(RESPONSE_HEADERS) == ['Owner dropdown in "Cases"']
    assert dropdown(emu, spreadsheet_id, "Cases", "Owner") == ["Ms K", "Mr T"]
    emu.reset_requests()
    assert with_owners.setup(RESPONSE_HEADERS) == [] and writes(emu) == []

    with_owners.load()
    changes = ChangeSet()
    changes.append("cases", case(1))
    with_owners.commit(changes)
    assert dropdown(emu, spreadsheet_id, "Cases", "Owner") == ["Ms K", "Mr T"], "an appended row keeps its lists"
    assert dropdown(emu, spreadsheet_id, "Cases", "Status") == ["Open", "Closed", "Withdrawn"]


def test_load_reports_the_sheets_locale_in_the_one_read(emu: SheetsEmulator, tmp_path: Path) -> None:
    _, storage = ready_sheet(emu, tmp_path)
    assert storage.load().locale == "en_GB"
    assert len(emu.requests) == 1


def test_a_sheet_without_the_new_columns_says_run_setup(emu: SheetsEmulator, tmp_path: Path) -> None:
    old_cases = ["Case ID", "Received", "Priority", "Status"]
    _, storage = new_sheet(emu, tmp_path, extra_tabs={"Cases": [old_cases, ["DI-0001", "", "High", "Open"]]})
    storage.load()
    changes = ChangeSet()
    changes.update("cases", "DI-0001", 0, {"Progress": "Ready to close"})
    with pytest.raises(SheetLayoutError, match='no column "Progress".*run `digital-incidents setup`'):
        storage.commit(changes)


def test_setup_without_responses_tab_says_link_the_form(emu: SheetsEmulator, tmp_path: Path) -> None:
    spreadsheet_id = f"test-{next(_ids)}"
    emu.create_spreadsheet(spreadsheet_id, tabs={"Sheet1": [], "Budget": [["x"]]})
    storage = GoogleSheetStorage(make_config(tmp_path, spreadsheet_id), retry=FAST)
    with pytest.raises(SheetLayoutError) as raised:
        storage.setup(RESPONSE_HEADERS)
    assert "Link the form" in str(raised.value) and '"Sheet1", "Budget"' in str(raised.value)
    assert writes(emu) == []


# ---------------------------------------------------------------------------
# load
# ---------------------------------------------------------------------------


def test_load_is_one_request_with_instants_from_the_sheet_zone(emu: SheetsEmulator, tmp_path: Path) -> None:
    # 2025-07-01 09:30 on a London wall clock (BST) = 08:30 UTC; the school is in Auckland.
    serial = to_serial(datetime(2025, 7, 1, 9, 30, 15))
    responses = [RESPONSE_HEADERS, [serial, "a@school.example", "Sexting", "=IMPORTXML(x)"], [], []]
    spreadsheet_id, storage = ready_sheet(emu, tmp_path, responses=responses)
    emu.set_values(spreadsheet_id, "Cases", "A2", [["DI-0001", to_serial(datetime(2025, 1, 15, 23, 5))]])

    snapshot = storage.load()
    assert len(emu.requests) == 1 and emu.requests[0][0] == "GET"
    path = emu.requests[0][1]
    assert "includeGridData=true" in path and "fields=" in path and path.count("ranges=") == 6

    assert snapshot.sheet_timezone == LONDON
    stamp = snapshot.responses.value(0, "Timestamp")
    assert stamp == datetime(2025, 7, 1, 8, 30, 15, tzinfo=UTC) and stamp.tzinfo == LONDON
    assert snapshot.responses.value(0, "What happened?") == "=IMPORTXML(x)"
    assert len(snapshot.responses.rows) == 1, "trailing empty rows are dropped"
    assert set(snapshot.tabs) == {s.logical for s in WORKER_TABS}
    received = snapshot.tab("cases").value(0, "Received")
    assert received == datetime(2025, 1, 15, 23, 5, tzinfo=UTC), "GMT in winter"


def test_missing_worker_tabs_are_absent_and_missing_responses_tab_lists_tabs(emu: SheetsEmulator,
                                                                               tmp_path: Path) -> None:
    spreadsheet_id, storage = new_sheet(emu, tmp_path, extra_tabs={"Cases": [CASES.column_names]})
    snapshot = storage.load()
    assert set(snapshot.tabs) == {"cases"}
    assert len(emu.requests) == 3, "failed grid read, tab list, grid read of what exists"

    spreadsheet_id, storage = new_sheet(emu, tmp_path, tab="Responses (old)")
    with pytest.raises(SheetLayoutError) as raised:
        storage.load()
    message = str(raised.value)
    assert '"Form Responses 1"' in message and '"Responses (old)"' in message and "sheet.responses_tab" in message


def test_responses_tab_title_differing_in_case_is_found(emu: SheetsEmulator, tmp_path: Path) -> None:
    serial = to_serial(datetime(2025, 2, 1, 10, 0))
    spreadsheet_id, storage = ready_sheet(emu, tmp_path, tab="Form responses 1",
                                          responses=[RESPONSE_HEADERS, [serial, "a@b.example", "x", "y"]])
    snapshot = storage.load()
    assert snapshot.responses.title == "Form responses 1"
    assert snapshot.responses.value(0, "Timestamp") == datetime(2025, 2, 1, 10, 0, tzinfo=LONDON)
    assert len(emu.requests) <= 3


# ---------------------------------------------------------------------------
# commit
# ---------------------------------------------------------------------------


def test_big_commit_is_one_request_and_empty_commit_none(emu: SheetsEmulator, tmp_path: Path) -> None:
    spreadsheet_id, storage = ready_sheet(emu, tmp_path)
    seed_cases(storage, 5)
    snapshot = storage.load()
    emu.reset_requests()

    changes = ChangeSet()
    for n in range(10, 310):
        changes.append("cases", case(n))
        for s in range(9):
            changes.append("checklist", step(n, s))
    changes.append("log", {"Time": datetime(2025, 3, 3, 9, 0, tzinfo=UTC), "Case ID": "DI-0010", "Event": "created"})
    for row in range(5):
        key = snapshot.tab("cases").value(row, "Case ID")
        changes.update("cases", str(key), row, {"Status": "Ready to close", "Updated": datetime(2025, 3, 5, tzinfo=NZ)})
    storage.commit(changes)
    assert len(emu.requests) == 1 and emu.requests[0][0] == "POST" and ":batchUpdate" in emu.requests[0][1]

    cases = by_key(emu, spreadsheet_id, "Cases")
    assert len(cases) == 305 and len(emu.values(spreadsheet_id, "Checklist")) == 1 + 2700
    assert all(cases[f"DI-{n:04d}"]["Status"] == "Ready to close" for n in range(1, 6))
    assert cases["DI-0010"]["Status"] == "Open" and cases["DI-0010"]["Received"] == pytest.approx(
        to_serial(datetime(2025, 3, 2, 20, 10)))

    emu.reset_requests()
    storage.commit(ChangeSet())
    assert emu.requests == [], "an idle sync writes nothing"

    one = ChangeSet()
    one.append("cases", case(999))
    storage.commit(one)
    assert len(emu.requests) == 1


def test_values_are_literal_text_datetimes_and_checkboxes(emu: SheetsEmulator, tmp_path: Path) -> None:
    spreadsheet_id, storage = ready_sheet(emu, tmp_path)
    storage.load()
    changes = ChangeSet()
    for n, text in enumerate(HOSTILE, start=1):
        changes.append("cases", case(n, Summary=text, Owner=None))
    changes.append("checklist", step(1, 1))
    storage.commit(changes)

    for n, text in enumerate(HOSTILE, start=2):
        cell = emu.cell(spreadsheet_id, "Cases", a1(CASES, "Summary", n))
        assert cell["userEnteredValue"] == {"stringValue": text}, text
        assert cell["effectiveValue"] == {"stringValue": text}
    received = emu.cell(spreadsheet_id, "Cases", a1(CASES, "Received", 2))
    # 09:01 in Auckland (NZDT, UTC+13) on 3 March = 20:01 on 2 March in London (GMT).
    assert received["userEnteredValue"]["numberValue"] == pytest.approx(to_serial(datetime(2025, 3, 2, 20, 1)))
    assert received["userEnteredFormat"]["numberFormat"] == {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm"}
    assert emu.cell(spreadsheet_id, "Cases", a1(CASES, "Response row", 2))["userEnteredValue"] == {"numberValue": 2}
    done = emu.cell(spreadsheet_id, "Checklist", a1(CHECKLIST, "Done", 2))
    assert done["userEnteredValue"] == {"boolValue": False}
    assert done["dataValidation"]["condition"]["type"] == "BOOLEAN"

    snapshot = storage.load()
    cases = snapshot.tab("cases")
    assert [cases.value(i, "Summary") for i in range(len(HOSTILE))] == HOSTILE
    assert cases.value(0, "Received") == datetime(2025, 3, 3, 9, 1, tzinfo=NZ)
    assert cases.value(0, "Response row") == 2 and cases.value(0, "Owner") is None
    assert snapshot.tab("checklist").value(0, "Done") is False

    clear = ChangeSet()
    clear.update("cases", "DI-0001", 0, {"Next step": None, "Overdue steps": 3})
    storage.commit(clear)
    assert "userEnteredValue" not in emu.cell(spreadsheet_id, "Cases", a1(CASES, "Next step", 2))
    assert by_key(emu, spreadsheet_id, "Cases")["DI-0001"]["Overdue steps"] == 3


def test_updates_touch_only_the_named_cells(emu: SheetsEmulator, tmp_path: Path) -> None:
    spreadsheet_id, storage = ready_sheet(emu, tmp_path)
    seed_cases(storage, 3)
    emu.set_values(spreadsheet_id, "Cases", a1(CASES, "Owner", 3), [["Ms Owner"]])  # a leader sets the owner
    snapshot = storage.load()
    changes = ChangeSet()
    updated = datetime(2025, 4, 1, tzinfo=UTC)
    changes.update("cases", "DI-0002", 1, {"Status": "Closed", "Summary": "done", "Updated": updated})
    storage.commit(changes)
    before = snapshot.tab("cases").rows[1]
    after = by_key(emu, spreadsheet_id, "Cases")["DI-0002"]
    assert after["Owner"] == "Ms Owner" and after["Status"] == "Closed" and after["Summary"] == "done"
    assert after["Next step"] == before[CASES.column_names.index("Next step")]
    assert after["Updated"] == pytest.approx(to_serial(datetime(2025, 4, 1, 1, 0)))  # BST starts 30 March


# ---------------------------------------------------------------------------
# rows moved by leaders
# ---------------------------------------------------------------------------


def _expected(snapshot: Snapshot, planned: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    cases = snapshot.tab("cases")
    out = {}
    for row in range(len(cases.rows)):
        key = str(cases.value(row, "Case ID"))
        out[key] = {"Status": cases.value(row, "Status"), "Next step": cases.value(row, "Next step"),
                    "Summary": cases.value(row, "Summary")}
        out[key].update(planned.get(key, {}))
    return out


def test_sort_between_load_and_commit_leaves_every_cell_in_its_own_row(emu: SheetsEmulator, tmp_path: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    spreadsheet_id, storage = ready_sheet(emu, tmp_path)
    seed_cases(storage, 12)
    snapshot = storage.load()
    planned = {f"DI-{n:04d}": {"Status": f"S{n}", "Next step": f"next {n}"} for n in (1, 2, 5, 9)}
    planned["DI-0012"] = {"Summary": "twelve"}
    changes = ChangeSet()
    cases = snapshot.tab("cases")
    for row in range(len(cases.rows)):
        key = str(cases.value(row, "Case ID"))
        if key in planned:
            changes.update("cases", key, row, planned[key])
    changes.append("notifications", {"Notification ID": "N-1", "Case ID": "DI-0001", "Status": "queued"})

    emu.reset_requests()
    emu.before_request(1, lambda: emu.sort_tab(spreadsheet_id, "Cases", "A", reverse=True))
    with caplog.at_level(logging.WARNING, logger="workflow.storage.google"):
        storage.commit(changes)
    assert len(emu.requests) == 2, "the commit plus one corrective batchUpdate"
    assert any("rows moved" in r.message for r in caplog.records)

    rows = by_key(emu, spreadsheet_id, "Cases")
    assert list(rows)[0] == "DI-0012", "the sort really happened"
    for key, expected in _expected(snapshot, planned).items():
        got = {column: rows[key][column] for column in expected}
        assert got == expected, key

    # The second commit of the sync (mark the notification sent, touch a moved case) costs one request.
    emu.reset_requests()
    second = ChangeSet()
    second.update("notifications", "N-1", 0, {"Status": "sent"})
    second.update("cases", "DI-0003", 2, {"Summary": "three"})
    storage.commit(second)
    assert len(emu.requests) == 1
    assert by_key(emu, spreadsheet_id, "Cases")["DI-0003"]["Summary"] == "three"
    assert by_key(emu, spreadsheet_id, "Notifications")["N-1"]["Status"] == "sent"


def test_second_commit_retargets_rows_moved_before_the_first(emu: SheetsEmulator, tmp_path: Path) -> None:
    spreadsheet_id, storage = ready_sheet(emu, tmp_path)
    seed_cases(storage, 8)
    snapshot = storage.load()
    emu.sort_tab(spreadsheet_id, "Cases", "A", reverse=True)  # a leader sorts after our read
    emu.insert_rows(spreadsheet_id, "Cases", 3, 2)            # and inserts two blank rows
    emu.reset_requests()

    first = ChangeSet()  # the sync's main commit only appends (queues emails)
    first.append("notifications", {"Notification ID": "N-7", "Case ID": "DI-0007", "Status": "queued"})
    storage.commit(first)
    second = ChangeSet()  # after sending: mark sent and note it on the case, using the rows read at load()
    row = next(r for r in range(8) if snapshot.tab("cases").value(r, "Case ID") == "DI-0007")
    second.update("cases", "DI-0007", row, {"Next step": "emailed"})
    second.update("notifications", "N-7", 0, {"Status": "sent"})
    storage.commit(second)
    assert len(emu.requests) == 2, "one request per commit: the first reply told where rows went"
    cases = by_key(emu, spreadsheet_id, "Cases")
    assert cases["DI-0007"]["Next step"] == "emailed"
    assert [k for k, v in cases.items() if v["Next step"] == "emailed"] == ["DI-0007"]


def test_update_of_a_deleted_row_is_dropped(emu: SheetsEmulator, tmp_path: Path) -> None:
    spreadsheet_id, storage = ready_sheet(emu, tmp_path)
    seed_cases(storage, 3)
    storage.load()
    emu.delete_rows(spreadsheet_id, "Cases", 3)  # DI-0002 is gone
    changes = ChangeSet()
    changes.update("cases", "DI-0002", 1, {"Status": "Closed"})
    changes.update("cases", "DI-0003", 2, {"Status": "Closed"})
    storage.commit(changes)
    cases = by_key(emu, spreadsheet_id, "Cases")
    assert set(cases) == {"DI-0001", "DI-0003"}
    assert cases["DI-0003"]["Status"] == "Closed" and cases["DI-0001"]["Status"] == "Open"


# ---------------------------------------------------------------------------
# failures
# ---------------------------------------------------------------------------


def test_quota_429_twice_then_success(emu: SheetsEmulator, tmp_path: Path) -> None:
    spreadsheet_id, storage = ready_sheet(emu, tmp_path)
    emu.fail_next(2, status=429, retry_after=0)
    storage.load()
    assert len(emu.requests) == 3

    emu.reset_requests()
    emu.fail_next(1, status=429, retry_after=30)  # honoured, but capped by the policy
    started = time_module.monotonic()
    storage.load()
    assert len(emu.requests) == 2 and time_module.monotonic() - started < 2


def test_non_json_502_on_a_write_is_checked_then_resent(emu: SheetsEmulator, tmp_path: Path) -> None:
    spreadsheet_id, storage = ready_sheet(emu, tmp_path)
    storage.load()
    emu.reset_requests()
    emu.fail_next(1, status=502, json_body=False)  # refused without applying it
    changes = ChangeSet()
    changes.append("cases", case(1))
    storage.commit(changes)
    assert [method for method, _ in emu.requests] == ["POST", "GET", "POST"], "write, check, write the rest"
    assert list(by_key(emu, spreadsheet_id, "Cases")) == ["DI-0001"], "written exactly once"


def test_persistent_503_is_a_temporary_failure_and_writes_nothing(emu: SheetsEmulator, tmp_path: Path) -> None:
    spreadsheet_id, storage = ready_sheet(emu, tmp_path)
    seed_cases(storage, 2)
    storage.load()
    before = emu.values(spreadsheet_id, "Cases")
    emu.reset_requests()
    emu.fail_always(503)
    changes = ChangeSet()
    changes.append("cases", case(3))
    changes.update("cases", "DI-0001", 0, {"Status": "Closed"})
    with pytest.raises(TemporaryFailure) as raised:
        storage.commit(changes)
    emu.fail_always(None)
    assert raised.value.exit_code == 75
    message = str(raised.value)
    assert "HTTP 503" in message and f"after {FAST.max_attempts} attempts" in message
    assert "the next sync reads the sheet again" in message
    # the write (503: may have landed), then its check: a read, retried until the policy gives up
    assert [method for method, _ in emu.requests] == ["POST"] + ["GET"] * FAST.max_attempts
    assert emu.values(spreadsheet_id, "Cases") == before


def test_persistent_429_says_quota(emu: SheetsEmulator, tmp_path: Path) -> None:
    spreadsheet_id, storage = ready_sheet(emu, tmp_path)
    emu.fail_always(429)
    with pytest.raises(TemporaryFailure, match="quota exhausted"):
        storage.load()


def test_retry_stops_within_the_time_budget(emu: SheetsEmulator, tmp_path: Path) -> None:
    spreadsheet_id, storage = new_sheet(emu, tmp_path)
    storage.policy = RetryPolicy(max_attempts=50, budget=0.3, base_delay=0.05, max_delay=0.1, max_retry_after=1.0)
    emu.fail_always(503)
    started = datetime.now(UTC)
    with pytest.raises(TemporaryFailure):
        storage.load()
    assert (datetime.now(UTC) - started).total_seconds() < 1.5
    assert 1 < len(emu.requests) < 50


def test_forbidden_and_not_found_say_what_to_fix(emu: SheetsEmulator, tmp_path: Path) -> None:
    spreadsheet_id, storage = new_sheet(emu, tmp_path)
    emu.fail_next(1, status=403)
    with pytest.raises(StorageError, match="share the sheet .* as an Editor"):
        storage.load()
    assert len(emu.requests) == 1, "403 is not retried"
    missing = GoogleSheetStorage(make_config(tmp_path, "no-such-sheet"), retry=FAST)
    with pytest.raises(StorageError, match="spreadsheet no-such-sheet not found: check sheet.spreadsheet_id"):
        missing.load()
    assert missing.check_access() and "not found" in missing.check_access()[0]
    assert storage.check_access() == []


def test_describe_names_the_sheet_and_the_emulator(emu: SheetsEmulator, tmp_path: Path) -> None:
    storage = GoogleSheetStorage(make_config(tmp_path, "abc123"))
    assert storage.describe() == f"Google Sheet abc123 via emulator at {emu.host}"


@pytest.mark.parametrize("content", [None, "not json", '{"type": "service_account"}', '{"type": "other"}'])
def test_bad_credentials_are_a_storage_error_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             content: str | None) -> None:
    monkeypatch.delenv("SHEETS_EMULATOR_HOST", raising=False)
    key = tmp_path / "key.json"
    if content is not None:
        key.write_text(content, encoding="utf-8")
    storage = GoogleSheetStorage(make_config(tmp_path, "abc", credentials=str(key)), retry=FAST)
    assert storage.describe() == "Google Sheet abc"
    with pytest.raises(StorageError) as raised:
        storage.load()
    assert str(key) in str(raised.value) and "sheet.credentials" in str(raised.value)


def test_serials_round_trip_to_the_second() -> None:
    instant = datetime(2025, 10, 26, 1, 30, 59, 999_000, tzinfo=LONDON)
    assert from_serial(to_serial(instant.replace(tzinfo=None)), LONDON) == instant.replace(microsecond=0) + \
        timedelta(seconds=1)
    assert from_serial(45000.5, NZ) == datetime(2023, 3, 15, 12, 0, tzinfo=NZ)


def test_checklist_key_uses_both_columns(emu: SheetsEmulator, tmp_path: Path) -> None:
    spreadsheet_id, storage = ready_sheet(emu, tmp_path)
    storage.load()
    changes = ChangeSet()
    for s in range(3):
        changes.append("checklist", step(1, s))
    storage.commit(changes)
    emu.sort_tab(spreadsheet_id, "Checklist", column_letter(CHECKLIST.column_names.index("Step")), reverse=True)
    snapshot = storage.load()
    assert [snapshot.tab("checklist").value(r, "Step") for r in range(3)] == ["step-2", "step-1", "step-0"]
    emu.reset_requests()
    tick = ChangeSet()  # the core's row (0) is stale: the key says the step is in row 2 now
    tick.update("checklist", "DI-0001 | step-0", 0, {"Status": "Done", "Done at": datetime(2025, 3, 3, tzinfo=UTC)})
    storage.commit(tick)
    assert len(emu.requests) == 1, "aimed at the key's row from the start, so no repair was needed"
    rows = by_key(emu, spreadsheet_id, "Checklist", key=CHECKLIST.key)
    assert rows["DI-0001 | step-0"]["Status"] == "Done" and rows["DI-0001 | step-2"]["Status"] == "Open"
    assert NOTIFICATIONS.key == ("Notification ID",) and CHECKLIST.key == ("Case ID", "Step")


def test_unreachable_google_is_retried_then_a_temporary_failure(emu: SheetsEmulator, tmp_path: Path) -> None:
    spreadsheet_id, storage = ready_sheet(emu, tmp_path)
    storage.load()
    emu.reset_requests()
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    storage.sheets = SheetsConnection(storage.config, FAST, emulator_host=closed)
    with pytest.raises(TemporaryFailure, match=rf"could not be reached .* after {FAST.max_attempts} attempts"):
        storage.load()
    changes = ChangeSet()
    changes.append("cases", case(1))
    # A refused connection never reached Google, so even a write is safe to re-send.
    with pytest.raises(TemporaryFailure, match=rf"could not be reached .* after {FAST.max_attempts} attempts"):
        storage.commit(changes)
    assert emu.requests == [] and by_key(emu, spreadsheet_id, "Cases") == {}


def test_a_write_that_timed_out_is_not_sent_twice(emu: SheetsEmulator, tmp_path: Path) -> None:
    spreadsheet_id, storage = ready_sheet(emu, tmp_path)
    storage.load()
    storage.sheets = SheetsConnection(
        storage.config, RetryPolicy(max_attempts=4, budget=3.0, base_delay=0.001, max_delay=0.01, timeout=0.2))
    emu.reset_requests()
    emu.delay = 0.5
    try:
        changes = ChangeSet()
        changes.append("cases", case(1))
        with pytest.raises(TemporaryFailure, match="could not be reached"):
            storage.commit(changes)  # the check of what landed times out too, so nothing is re-sent
        assert [method for method, _ in emu.requests][:2] == ["POST", "GET"]
        assert writes(emu) == emu.requests[:1], "a batchUpdate Google may have applied is never re-sent unchecked"
        with pytest.raises(TemporaryFailure, match="could not be reached"):
            storage.load()  # reads are safe to repeat, so they are retried
    finally:
        time_module.sleep(0.6)  # let the emulator finish the requests we gave up on
        emu.delay = 0.0
    assert list(by_key(emu, spreadsheet_id, "Cases")) == ["DI-0001"], "Google applied it once"


def test_a_datetime_in_a_text_column_reads_back_as_the_same_instant(emu: SheetsEmulator, tmp_path: Path) -> None:
    """The Worker tab's Value column is text, but holds date-times too ("Last successful sync");
    reading one back as a bare serial would make every idle sync rewrite it."""
    spreadsheet_id, storage = ready_sheet(emu, tmp_path)
    storage.load()
    stamp = datetime(2026, 11, 25, 10, 0, tzinfo=NZ)
    changes = ChangeSet()
    changes.append("worker", {"Setting": "Last successful sync", "Value": stamp})
    changes.append("worker", {"Setting": "Cases opened", "Value": 45000})
    storage.commit(changes)
    worker = storage.load().tab("worker")
    assert worker.value(0, "Value") == stamp
    assert worker.value(1, "Value") == 45000, "a plain number stays a number"


def _service_account_key(folder: Path, token_uri: str) -> Path:
    """A real-format service-account key whose token endpoint is on loopback (no Google traffic)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    key = folder / "service-account.json"
    key.write_text(json.dumps({
        "type": "service_account", "project_id": "p", "private_key_id": "k1", "private_key": pem,
        "client_email": "worker@p.iam.gserviceaccount.example", "client_id": "1", "token_uri": token_uri,
    }), encoding="utf-8")
    return key


def test_service_account_sign_in_failures_are_explained(emu: SheetsEmulator, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHEETS_EMULATOR_HOST")
    # The emulator answers 404 for a token request: Google refusing the key.
    key = _service_account_key(tmp_path, f"http://{emu.host}/token")
    storage = GoogleSheetStorage(make_config(tmp_path, "abc", credentials=str(key)), retry=FAST)
    with pytest.raises(StorageError, match="sheet.credentials") as raised:
        storage.load()
    assert "PRIVATE KEY" not in str(raised.value)
    assert storage.sheets.client.http_client.auth.scopes == ["https://www.googleapis.com/auth/spreadsheets"]
    assert storage.sheets.client.http_client.timeout == FAST.timeout
    # The sign-in service unreachable: a temporary failure.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/token"
    storage = GoogleSheetStorage(make_config(tmp_path, "abc", credentials=str(_service_account_key(tmp_path, closed))),
                                 retry=FAST)
    with pytest.raises(TemporaryFailure, match="sign-in"):
        storage.load()


# ---------------------------------------------------------------------------
# issue 9: a write Google may have applied is checked before it is repeated
# ---------------------------------------------------------------------------


def _intake_like(first: int, count: int) -> ChangeSet:
    """What a sync's first commit looks like: cases, their steps, emails, Log lines, a case update."""
    changes = ChangeSet()
    for n in range(first, first + count):
        changes.append("cases", case(n))
        for s in range(3):
            changes.append("checklist", step(n, s))
        changes.append("notifications", {"Notification ID": f"N-{n}", "Case ID": f"DI-{n:04d}", "Status": "queued"})
        changes.append("log", {"Time": datetime(2025, 3, 3, 9, 0, tzinfo=NZ), "Case ID": f"DI-{n:04d}",
                               "Event": "case opened"})
    return changes


def _counts(emu: SheetsEmulator, spreadsheet_id: str) -> dict[str, int]:
    """Data rows per tab, failing on any duplicate key (by_key asserts uniqueness)."""
    return {"cases": len(by_key(emu, spreadsheet_id, "Cases")),
            "checklist": len(by_key(emu, spreadsheet_id, "Checklist", key=CHECKLIST.key)),
            "notifications": len(by_key(emu, spreadsheet_id, "Notifications")),
            "log": len(emu.values(spreadsheet_id, "Log")) - 1}


@pytest.mark.parametrize("fault", ["503", "500", "reset", "timeout"])
def test_a_write_applied_then_failed_is_checked_not_repeated(emu: SheetsEmulator, tmp_path: Path,
                                                             fault: str) -> None:
    spreadsheet_id, storage = ready_sheet(emu, tmp_path)
    seed_cases(storage, 2)
    storage.load()
    changes = _intake_like(3, 2)
    changes.update("cases", "DI-0001", 0, {"Next step": "Call home"})
    emu.reset_requests()
    if fault in ("503", "500"):
        emu.fail_next(1, int(fault), after_apply=True)
    else:  # the connection closes with no answer: at once, or after the client's timeout
        storage.sheets = SheetsConnection(storage.config, RetryPolicy(
            max_attempts=4, budget=3.0, base_delay=0.001, max_delay=0.01, timeout=0.3))
        emu.drop_next(1, hang=0.6 if fault == "timeout" else 0.0)
    storage.commit(changes)
    assert [method for method, _ in emu.requests] == ["POST", "GET"], "written once, checked once, not repeated"
    assert _counts(emu, spreadsheet_id) == {"cases": 4, "checklist": 6, "notifications": 2, "log": 2}
    assert by_key(emu, spreadsheet_id, "Cases")["DI-0001"]["Next step"] == "Call home"
    # the row index was refreshed by the check: the next commit of the sync costs one request
    emu.reset_requests()
    marks = ChangeSet()
    marks.update("notifications", "N-3", 0, {"Status": "sent"})
    storage.commit(marks)
    assert len(emu.requests) == 1 and by_key(emu, spreadsheet_id, "Notifications")["N-3"]["Status"] == "sent"


def test_a_write_refused_with_503_is_checked_then_sent_once(emu: SheetsEmulator, tmp_path: Path) -> None:
    spreadsheet_id, storage = ready_sheet(emu, tmp_path)
    seed_cases(storage, 2)
    storage.load()
    changes = _intake_like(3, 2)
    changes.update("cases", "DI-0002", 1, {"Next step": "Call home"})
    emu.reset_requests()
    for n in (1, 3):  # two writes refused (not applied), then it goes through
        emu.before_request(n, lambda: emu.fail_next(1, 503))
    storage.commit(changes)
    assert [method for method, _ in emu.requests] == ["POST", "GET", "POST", "GET", "POST"]
    assert _counts(emu, spreadsheet_id) == {"cases": 4, "checklist": 6, "notifications": 2, "log": 2}
    assert by_key(emu, spreadsheet_id, "Cases")["DI-0002"]["Next step"] == "Call home"


def test_marks_applied_then_503_are_not_written_again(emu: SheetsEmulator, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    spreadsheet_id, storage = ready_sheet(emu, tmp_path)
    storage.load()
    storage.commit(_intake_like(1, 3))
    marks = ChangeSet()
    stamp = datetime(2025, 3, 3, 9, 30, 17, tzinfo=NZ)
    for n in (1, 2, 3):
        marks.update("notifications", f"N-{n}", n - 1, {"Status": "sent", "Attempts": 1, "Sent at": stamp})
    emu.reset_requests()
    emu.fail_next(1, 503, after_apply=True)
    storage.commit(marks)
    assert [method for method, _ in emu.requests] == ["POST", "GET"], "the check found every mark in place"
    rows = by_key(emu, spreadsheet_id, "Notifications")
    assert {(r["Status"], r["Attempts"]) for r in rows.values()} == {("sent", 1)}
    serial = to_serial(stamp.astimezone(LONDON).replace(tzinfo=None))  # the sheet's zone
    assert {round(r["Sent at"], 5) for r in rows.values()} == {round(serial, 5)}

    emu.reset_requests()  # not applied this time: the marks still missing are written
    again = ChangeSet()
    again.update("notifications", "N-1", 0, {"Error": "bounced later"})
    again.update("notifications", "N-2", 1, {"Status": "sent"})  # already there: not part of the repeat
    emu.fail_next(1, 503)
    with caplog.at_level(logging.WARNING, logger="workflow.storage.google"):
        storage.commit(again)
    assert [method for method, _ in emu.requests] == ["POST", "GET", "POST"]
    assert any("0 row(s) to append and 1 row(s) to update" in r.message for r in caplog.records)
    assert by_key(emu, spreadsheet_id, "Notifications")["N-1"]["Error"] == "bounced later"


def test_a_sort_before_a_write_applied_then_503_is_put_right(emu: SheetsEmulator, tmp_path: Path) -> None:
    spreadsheet_id, storage = ready_sheet(emu, tmp_path)
    seed_cases(storage, 6)
    snapshot = storage.load()
    planned = {f"DI-{n:04d}": {"Next step": f"next {n}", "Summary": f"summary {n}"} for n in (1, 2, 5)}
    changes = _intake_like(7, 1)
    cases = snapshot.tab("cases")
    for row in range(len(cases.rows)):
        key = str(cases.value(row, "Case ID"))
        if key in planned:
            changes.update("cases", key, row, planned[key])
    emu.reset_requests()

    def leader_sorts_then_google_fails_after_applying() -> None:
        emu.sort_tab(spreadsheet_id, "Cases", "A", reverse=True)
        emu.fail_next(1, 503, after_apply=True)

    emu.before_request(1, leader_sorts_then_google_fails_after_applying)
    storage.commit(changes)
    assert [method for method, _ in emu.requests] == ["POST", "GET", "POST"], "write, check, put rows right"
    rows = by_key(emu, spreadsheet_id, "Cases")
    assert list(rows)[0] == "DI-0006", "the sort really happened"
    assert len(rows) == 7
    for n in range(1, 7):
        key = f"DI-{n:04d}"
        want = planned.get(key, {"Next step": "Talk to the student", "Summary": f"case {n}"})
        assert {c: rows[key][c] for c in want} == want, key
        assert rows[key]["Reported by"] == f"staff{n}@school.example"


def test_a_log_only_write_that_cannot_be_told_is_not_repeated(emu: SheetsEmulator, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    spreadsheet_id, storage = ready_sheet(emu, tmp_path)
    storage.load()
    changes = ChangeSet()
    changes.append("log", {"Time": datetime(2025, 3, 3, 9, 0, tzinfo=NZ), "Event": "note"})
    emu.reset_requests()
    emu.fail_next(1, 503, after_apply=True)
    with caplog.at_level(logging.WARNING, logger="workflow.storage.google"):
        storage.commit(changes)
    assert writes(emu) == emu.requests[:1]
    assert len(emu.values(spreadsheet_id, "Log")) == 2
    assert any("could not tell whether 1 Log row" in r.message for r in caplog.records)


def test_uncertain_writes_give_up_within_the_policy(emu: SheetsEmulator, tmp_path: Path) -> None:
    spreadsheet_id, storage = ready_sheet(emu, tmp_path)
    storage.load()
    emu.reset_requests()
    for n in range(1, 2 * FAST.max_attempts, 2):  # every write refused with a 503; every check works
        emu.before_request(n, lambda: emu.fail_next(1, 503))
    changes = ChangeSet()
    changes.append("cases", case(1))
    with pytest.raises(TemporaryFailure, match=rf"did not confirm a write \(HTTP 503\) after {FAST.max_attempts} "
                                               "attempts.*nothing was written twice"):
        storage.commit(changes)
    methods = [method for method, _ in emu.requests]
    assert methods == ["POST", "GET"] * FAST.max_attempts, "each write checked, none repeated unchecked"
    assert by_key(emu, spreadsheet_id, "Cases") == {}


def test_setup_does_not_repeat_a_write_it_cannot_confirm_and_a_second_run_finishes(
        emu: SheetsEmulator, tmp_path: Path) -> None:
    spreadsheet_id, storage = new_sheet(emu, tmp_path)
    emu.before_request(3, lambda: emu.fail_next(1, 503, after_apply=True))  # 2 reads, then setup's one write
    with pytest.raises(TemporaryFailure, match=r"did not confirm a write \(HTTP 503\).*reads the sheet again"):
        storage.setup(RESPONSE_HEADERS)
    assert len(writes(emu)) == 1, "not repeated blindly"
    rules = overdue_formulas(emu, spreadsheet_id)
    emu.reset_requests()
    assert storage.setup(RESPONSE_HEADERS) == [], "it had landed: the second run has nothing to do"
    assert writes(emu) == [] and overdue_formulas(emu, spreadsheet_id) == rules and len(rules) == 1
