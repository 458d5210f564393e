"""The local .xlsx backend against real workbooks in tmp_path.

Leaders edit the same workbook between syncs (sort, reorder, add columns), so most
tests change the file with openpyxl between load() and commit() the way Excel would.
"""

from __future__ import annotations

import csv
import errno
import logging
import os
import shutil
import stat
import subprocess
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import storage_config
from openpyxl import Workbook, load_workbook
from openpyxl.formatting.rule import FormulaRule
from openpyxl.formula.translate import Translator
from openpyxl.styles import PatternFill
from openpyxl.utils import get_column_letter

from workflow.config import Config
from workflow.errors import SheetLayoutError, StorageError, TemporaryFailure
from workflow.model import ChangeSet, Table, row_key
from workflow.schema import CASES, CHECKLIST, WORKER, WORKER_TABS, TabSpec
from workflow.storage import local, open_storage
from workflow.storage.cells import DATETIME_FORMAT, XLSX_TEXT_LIMIT
from workflow.storage.local import LocalWorkbookStorage

NZ = ZoneInfo("Pacific/Auckland")
RESPONSES = "Form Responses 1"
RESPONSE_HEADERS = ["Timestamp", "Email Address", "What kind of incident is it?", "What happened?"]
HOSTILE = ["=1+1", "+64 21 555", "-5", "@SUM(A1)", "#N/A", '=HYPERLINK("http://x.invalid","y")']


def read_whole_tab(storage: LocalWorkbookStorage, title: str) -> Table:
    """Every row of a tab, converted as load() converts it (load reads only the Log's header)."""
    workbook = load_workbook(storage.path, read_only=True)
    try:
        return storage._read_table(workbook[title])
    finally:
        workbook.close()


def make_config(folder: Path, workbook: Path | str = "incidents.xlsx") -> Config:
    return storage_config(folder, workbook=workbook)


@pytest.fixture
def storage(tmp_path: Path) -> LocalWorkbookStorage:
    """A storage whose workbook does not exist yet."""
    return LocalWorkbookStorage(make_config(tmp_path, tmp_path / "incidents.xlsx"))


@pytest.fixture
def ready(storage: LocalWorkbookStorage) -> LocalWorkbookStorage:
    """A storage with a freshly set-up workbook."""
    storage.setup(RESPONSE_HEADERS)
    return storage


def at(spec: TabSpec, column: str) -> int:
    """The 1-based column of a declared column, as setup lays a new tab out."""
    return spec.column_names.index(column) + 1


def letter(spec: TabSpec, column: str) -> str:
    return get_column_letter(at(spec, column))


def rules_of(sheet) -> list[str]:
    """A tab's conditional-format formulas, strongest (lowest priority number) first."""
    found = [(rule.priority, rule.formula[0]) for cf in sheet.conditional_formatting for rule in cf.rules]
    return [formula for _, formula in sorted(found)]


def overdue_rule(sheet) -> str:
    [formula] = [f for f in rules_of(sheet) if "NOW()" in f and "INDIRECT" in f]
    return formula


def header(sheet) -> list:
    return [cell.value for cell in sheet[1]]


def cells(path: Path, title: str) -> dict[tuple[int, int], object]:
    """Every non-empty cell of a tab, for 'nothing else changed' comparisons."""
    sheet = load_workbook(path)[title]
    return {
        (cell.row, cell.column): (cell.value, cell.data_type)
        for row in sheet.iter_rows()
        for cell in row
        if cell.value is not None
    }


def checklist_record(case: str, step: str, **more) -> dict:
    return {"Case ID": case, "Step": step, "Status": "Open", **more}


def commit_appends(storage: LocalWorkbookStorage, tab: str, records: list[dict]) -> None:
    changes = ChangeSet()
    for record in records:
        changes.append(tab, record)
    storage.commit(changes)


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# -- setup -------------------------------------------------------------------------------


def test_setup_creates_every_tab_with_headers(storage: LocalWorkbookStorage) -> None:
    changed = storage.setup(RESPONSE_HEADERS)

    workbook = load_workbook(storage.path)
    assert workbook.sheetnames == ["Cases", RESPONSES] + [spec.title for spec in WORKER_TABS[1:]]
    assert workbook.active.title == "Cases", "the workbook opens on the board"
    assert [sheet.title for sheet in workbook.worksheets if sheet.sheet_view.tabSelected] == ["Cases"]
    assert header(workbook[RESPONSES]) == RESPONSE_HEADERS
    assert workbook[RESPONSES].column_dimensions["A"].number_format == DATETIME_FORMAT
    for spec in WORKER_TABS:
        assert header(workbook[spec.title]) == spec.column_names
        assert f"created tab {spec.title}" in changed
    assert f"created tab {RESPONSES}" in changed


def test_setup_formats_worker_tabs(ready: LocalWorkbookStorage) -> None:
    workbook = load_workbook(ready.path)
    cases, checklist = workbook["Cases"], workbook["Checklist"]

    for spec in WORKER_TABS:
        sheet = workbook[spec.title]
        assert sheet.freeze_panes == "A2"
        assert all(cell.font.b for cell in sheet[1])
    hidden = [c.name for c in CASES.columns if c.hidden]
    assert [cases.column_dimensions[letter(CASES, c)].hidden for c in hidden] == [True] * len(hidden)
    assert not cases.column_dimensions["A"].hidden
    assert cases.column_dimensions[letter(CASES, "Summary")].width == 50
    assert cases.column_dimensions[letter(CASES, "Reported by")].width == 26
    assert cases.column_dimensions[letter(CASES, "Received")].number_format == DATETIME_FORMAT
    assert workbook["Worker"].column_dimensions[letter(WORKER, "Value")].width >= 20, "a date-time is never ###"
    # Checklist: the Done list stays as it was (a stop, TRUE/FALSE)
    done = letter(CHECKLIST, "Done")
    [checkbox] = [v for v in checklist.data_validations.dataValidation if v.formula1 == '"TRUE,FALSE"']
    assert checkbox.type == "list" and checkbox.errorStyle in (None, "stop")
    assert f"{done}2" in checkbox.sqref and f"{done}5000" in checkbox.sqref
    assert f"{letter(CHECKLIST, 'Due')}2" not in checkbox.sqref
    overdue = overdue_rule(checklist)
    cases_status = """SUBSTITUTE(INDEX(INDIRECT("'Cases'!$F:$F"),MATCH($A2,INDIRECT("'Cases'!$A:$A"),0))," ","")"""
    assert overdue == OVERDUE_FORMULA
    assert cases_status in overdue
    assert rules_of(cases) == ['LEN(TRIM($L2))>0', "AND(ISNUMBER($J2),$J2>0)",
                               'AND(ISNUMBER($I2),$I2<NOW(),SUBSTITUTE($F2," ","")<>"Closed",'
                               'SUBSTITUTE($F2," ","")<>"Withdrawn")', '$E2="Urgent"', '$E2="High"']
    ranges = {rule.formula[0]: str(cf.sqref) for cf in cases.conditional_formatting for rule in cf.rules}
    assert ranges['$E2="High"'] == f"A2:{get_column_letter(len(CASES.columns))}1048576", "a whole row"
    assert ranges["AND(ISNUMBER($J2),$J2>0)"] == "J2:J1048576", "one cell"
    fills = {rule.formula[0]: rule.dxf.fill.fgColor.rgb for cf in cases.conditional_formatting for rule in cf.rules}
    assert fills['$E2="Urgent"'] != fills['$E2="High"']
    assert rules_of(checklist)[0] == f"LEN(TRIM(${letter(CHECKLIST, 'Attention')}2))>0"


# The same text as the Google sheet's (test_storage_google): an open step of an open case past its Due.
_CASE_STATUS = """SUBSTITUTE(INDEX(INDIRECT("'Cases'!$F:$F"),MATCH($A2,INDIRECT("'Cases'!$A:$A"),0))," ","")"""
OVERDUE_FORMULA = (
    'AND($G2<>TRUE,$G2<>"TRUE",SUBSTITUTE($I2," ","")<>"Done",SUBSTITUTE($I2," ","")<>"Notneeded",'
    f'SUBSTITUTE($I2," ","")<>"Caseclosed",ISNUMBER($F2),$F2<NOW(),{_CASE_STATUS}<>"Closed",'
    f'{_CASE_STATUS}<>"Withdrawn")'
)


CONTACTS = {"principal": ("p@school.example",), "pastoral_lead": ("pl@school.example",)}


def dropdown(sheet, spec: TabSpec, column: str):
    """The list validation on a column's first data cell (not the Done stand-in), or None."""
    cell = f"{letter(spec, column)}2"
    found = [v for v in sheet.data_validations.dataValidation if v.type == "list" and cell in v.sqref]
    return found[0] if found else None


def test_setup_installs_dropdowns_that_warn_and_keep_a_leaders_word(tmp_path: Path) -> None:
    storage = LocalWorkbookStorage(storage_config(tmp_path, workbook=tmp_path / "i.xlsx", contacts=CONTACTS))
    storage.setup(RESPONSE_HEADERS)
    workbook = load_workbook(storage.path)
    cases, checklist = workbook["Cases"], workbook["Checklist"]

    assert dropdown(cases, CASES, "Status").formula1 == '"Open,Closed,Withdrawn"'
    assert dropdown(cases, CASES, "Priority").formula1 == '"Urgent,High,Normal"'
    assert dropdown(cases, CASES, "Outcome").formula1.startswith('"Resolved in school,Referred to police,')
    assert dropdown(cases, CASES, "Owner") is None, "no owners configured: free text"
    assert dropdown(checklist, CHECKLIST, "Status").formula1 == '"Open,Overdue,Done,Not needed,Case closed"'
    assert dropdown(checklist, CHECKLIST, "Role").formula1 == '"principal,pastoral_lead"'
    for rule in (dropdown(cases, CASES, "Status"), dropdown(checklist, CHECKLIST, "Role")):
        assert rule.showErrorMessage and rule.errorStyle == "warning", "a warning, never a refusal"
        assert rule.allow_blank
    assert dropdown(checklist, CHECKLIST, "Done").formula1 == '"TRUE,FALSE"'  # the Done list as before
    assert storage.setup(RESPONSE_HEADERS) == []

    owned = LocalWorkbookStorage(storage_config(tmp_path, workbook=tmp_path / "i.xlsx", contacts=CONTACTS,
                                                owners=("Ms K", "Mr T")))
    assert owned.setup(RESPONSE_HEADERS) == ["formatted Cases: Owner dropdown"]
    assert dropdown(load_workbook(owned.path)["Cases"], CASES, "Owner").formula1 == '"Ms K,Mr T"'
    assert owned.setup(RESPONSE_HEADERS) == []


def test_board_filter_and_first_tab(ready: LocalWorkbookStorage) -> None:
    workbook = load_workbook(ready.path)
    last = get_column_letter(len(CASES.columns))
    assert workbook["Cases"].auto_filter.ref == f"A1:{last}1048576"
    assert workbook["Checklist"].auto_filter.ref.startswith("A1:")
    assert not workbook["Log"].auto_filter.ref
    assert workbook.sheetnames[0] == "Cases" and workbook.active.title == "Cases"


def test_setup_upgrades_an_old_workbook_once_keeping_a_leaders_filter(storage: LocalWorkbookStorage) -> None:
    """A workbook of an older version: responses first (and open), no new columns, old widths, a
    leader's filter, and cases the old worker marked "Ready to close"."""
    workbook = Workbook()
    workbook.active.title = RESPONSES
    workbook[RESPONSES].append(RESPONSE_HEADERS)
    cases = workbook.create_sheet("Cases")
    for row in (["Case ID", "Reported by", "Priority", "Status", "Owner"],
                ["DI-0001", "a@school.example", "High", "Ready to close", "Ms K"],
                ["DI-0002", "b@school.example", "Normal", " ready to CLOSE", ""],
                ["DI-0003", "c@school.example", "Normal", "Closed", ""]):
        cases.append(row)
    cases.column_dimensions["B"].width = 15   # what an older setup gave "Reported by"
    cases.column_dimensions["A"].width = 9    # a leader's own width
    cases.auto_filter.ref = "A1:E4"
    cases.auto_filter.add_filter_column(3, ["Ready to close"])
    workbook.save(storage.path)

    changed = storage.setup(RESPONSE_HEADERS)

    assert 'Status "Ready to close" (written by older versions) became "Open" on 2 case(s) of Cases: ' \
        "DI-0001, DI-0002" in changed
    assert "Cases is now the first tab, where the workbook opens" in changed
    workbook = load_workbook(storage.path)
    cases = workbook["Cases"]
    assert [cases.cell(r, 4).value for r in (2, 3, 4)] == ["Open", "Open", "Closed"]
    assert [cell.value for cell in cases[2]][:5] == ["DI-0001", "a@school.example", "High", "Open", "Ms K"]
    assert all(cell.value is None for cell in cases[2][5:]), "existing rows get nothing else"
    assert workbook.sheetnames[0] == "Cases" and workbook.active.title == "Cases"
    assert cases.column_dimensions["B"].width == 26 and cases.column_dimensions["A"].width == 9
    assert cases.auto_filter.ref == f"A1:{get_column_letter(len(CASES.columns))}1048576", "widened"
    assert [f.colId for f in cases.auto_filter.filterColumn] == [3], "the leader's criteria stay"
    assert storage.setup(RESPONSE_HEADERS) == []


def test_load_reports_the_configured_locale(tmp_path: Path) -> None:
    storage = LocalWorkbookStorage(storage_config(tmp_path, workbook=tmp_path / "i.xlsx", locale="en_US"))
    storage.setup(RESPONSE_HEADERS)
    assert storage.load().locale == "en_US"


def test_a_workbook_without_the_new_columns_says_run_setup(ready: LocalWorkbookStorage) -> None:
    commit_appends(ready, "cases", [{"Case ID": "C-1"}])
    workbook = load_workbook(ready.path)
    workbook["Cases"].delete_cols(at(CASES, "Progress"))
    workbook.save(ready.path)
    changes = ChangeSet()
    changes.update("cases", "C-1", 0, {"Progress": "Ready to close"})
    with pytest.raises(SheetLayoutError, match="no column 'Progress': run `digital-incidents .*setup` to add it"):
        ready.commit(changes)


def test_setup_replaces_the_old_overdue_rule(ready: LocalWorkbookStorage) -> None:
    """Workbooks set up before issue 6 carry a rule that ignored the case; setup swaps it once."""
    old = 'AND($G2<>TRUE,$G2<>"TRUE",$I2<>"Done",$I2<>"Not needed",ISNUMBER($F2),$F2<NOW())'
    _swap_overdue_rule(ready.path, old)
    assert ready.setup(RESPONSE_HEADERS) == ["formatted Checklist: overdue steps highlighted"]
    rules = rules_of(load_workbook(ready.path)["Checklist"])
    assert rules[1] == OVERDUE_FORMULA and len(rules) == len(CHECKLIST.highlights)
    assert ready.setup(RESPONSE_HEADERS) == []


def _swap_overdue_rule(path: Path, formula: str) -> None:
    """Put an older version of the overdue rule where setup put the current one."""
    workbook = load_workbook(path)
    sheet = workbook["Checklist"]
    for formatting in list(sheet.conditional_formatting):
        rules = formatting.rules
        for rule in list(rules):
            if rule.formula[0] == OVERDUE_FORMULA:
                rules.remove(rule)
        if not rules:
            del sheet.conditional_formatting[str(formatting.sqref)]
    sheet.conditional_formatting.add("A2:I1048576", FormulaRule(formula=[formula], fill=PatternFill("solid")))
    workbook.save(path)


def test_setup_upgrades_the_issue_6_rule_that_painted_steps_of_closed_cases(ready: LocalWorkbookStorage) -> None:
    """Until issue 7 a step marked "Case closed" was still red; setup swaps the rule once."""
    issue_6 = OVERDUE_FORMULA.replace(',SUBSTITUTE($I2," ","")<>"Caseclosed"', "")
    _swap_overdue_rule(ready.path, issue_6)
    assert ready.setup(RESPONSE_HEADERS) == ["formatted Checklist: overdue steps highlighted"]
    assert overdue_rule(load_workbook(ready.path)["Checklist"]) == OVERDUE_FORMULA
    assert ready.setup(RESPONSE_HEADERS) == []


def test_overdue_rule_follows_the_cases_columns(ready: LocalWorkbookStorage) -> None:
    workbook = load_workbook(ready.path)
    workbook["Cases"].insert_cols(1)  # Case ID -> B, Status -> G
    workbook["Cases"]["A1"] = "Week"
    workbook.save(ready.path)

    ready.setup(RESPONSE_HEADERS)
    formula = overdue_rule(load_workbook(ready.path)["Checklist"])
    assert "INDIRECT(\"'Cases'!$G:$G\"),MATCH($A2,INDIRECT(\"'Cases'!$B:$B\"),0)" in formula
    assert ready.setup(RESPONSE_HEADERS) == []


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed")
def test_overdue_rule_evaluates_as_declared_in_libreoffice(ready: LocalWorkbookStorage, tmp_path: Path) -> None:
    """The installed rule, copied into a cell of each row, computed by LibreOffice: red only for an
    open step of an open case past its Due."""
    past, future = datetime.now() - timedelta(days=2), datetime.now() + timedelta(days=2)
    workbook = load_workbook(ready.path)
    cases, checklist = workbook["Cases"], workbook["Checklist"]
    for row, (case, status) in enumerate([("C-1", "Open"), ("C-2", " closed "), ("C-3", "With drawn")], start=2):
        cases.cell(row, 1, case)
        cases.cell(row, at(CASES, "Status"), status)
    steps = {  # (case, due, done, step status): red?
        ("C-1", past, None, "Open"): True,
        ("C-1", past, None, "Overdue"): True,
        ("C-1", past, False, "Open"): True,
        ("C-1", past, True, "Open"): False,
        ("C-1", past, "TRUE", "Open"): False,
        ("C-1", past, None, "not needed"): False,
        ("C-1", past, None, "Done"): False,
        ("C-1", past, None, "Case closed"): False,
        ("C-1", past, None, "case  closed"): False,
        ("C-1", future, None, "Open"): False,
        ("C-1", None, None, "Open"): False,
        ("C-2", past, None, "Open"): False,
        ("C-3", past, None, "Open"): False,
        ("C-9", past, None, "Open"): False,  # no such case
    }
    rule = overdue_rule(checklist)
    spare = len(CHECKLIST.columns) + 2
    origin = f"{get_column_letter(spare)}2"
    for row, (case, due, done, status) in enumerate(steps, start=2):
        columns = [at(CHECKLIST, name) for name in ("Case ID", "Due", "Done", "Status")]
        for column, value in zip(columns, (case, due, done, status), strict=True):
            checklist.cell(row, column, value)
        checklist.cell(row, spare, Translator("=" + rule, origin=origin).translate_formula(
            f"{get_column_letter(spare)}{row}"))
    workbook.move_sheet("Checklist", offset=-workbook.index(checklist))  # CSV export takes the first tab
    workbook.save(tmp_path / "evaluate.xlsx")

    subprocess.run(["soffice", "--headless", "--convert-to", "csv", "--outdir", str(tmp_path),
                    str(tmp_path / "evaluate.xlsx")], check=True, capture_output=True, timeout=120)
    rows = list(csv.reader((tmp_path / "evaluate.csv").read_text().splitlines()))[1:]
    red = [row[spare - 1] == "TRUE" for row in rows[: len(steps)]]
    assert red == list(steps.values())


def test_setup_twice_changes_nothing(ready: LocalWorkbookStorage) -> None:
    before = ready.path.read_bytes()
    mtime = ready.path.stat().st_mtime_ns

    assert ready.setup(RESPONSE_HEADERS) == []

    assert ready.path.stat().st_mtime_ns == mtime
    assert ready.path.read_bytes() == before


def test_setup_repairs_without_touching_leader_work(storage: LocalWorkbookStorage) -> None:
    workbook = Workbook()
    workbook.active.title = RESPONSES
    workbook[RESPONSES].append(["Timestamp", "Email Address"])
    cases = workbook.create_sheet("cases")  # other case, leader's column order and own column
    cases.append(["Priority", "Leader notes", "Case ID", "Status"])
    cases.append(["Urgent", "called parent", "C-1", "Open"])
    workbook.save(storage.path)

    changed = storage.setup(RESPONSE_HEADERS)

    assert "added column Summary to cases" in changed
    assert "created tab Checklist" in changed
    assert "added column Priority to cases" not in changed
    workbook = load_workbook(storage.path)
    assert header(workbook[RESPONSES]) == ["Timestamp", "Email Address"]  # the form's own tab
    head = header(workbook["cases"])
    assert head[:4] == ["Priority", "Leader notes", "Case ID", "Status"]
    assert set(head[4:]) == set(CASES.column_names) - {"Priority", "Case ID", "Status"}
    assert [cell.value for cell in workbook["cases"][2]][:4] == ["Urgent", "called parent", "C-1", "Open"]
    assert not workbook["cases"]["B1"].font.b  # the leader's header is theirs
    assert storage.setup(RESPONSE_HEADERS) == []


def test_setup_adds_a_missing_responses_tab_first(storage: LocalWorkbookStorage) -> None:
    workbook = Workbook()
    workbook.active.title = "Notes"
    workbook.active["A1"] = "leader notes"
    workbook.save(storage.path)

    changed = storage.setup(RESPONSE_HEADERS)

    assert changed[0] == f"created tab {RESPONSES}"
    workbook = load_workbook(storage.path)
    assert workbook.sheetnames[:3] == ["Cases", RESPONSES, "Notes"]
    assert workbook["Notes"]["A1"].value == "leader notes"
    assert storage.load().responses.header == RESPONSE_HEADERS


def test_setup_keeps_leader_column_widths_in_shared_ranges(storage: LocalWorkbookStorage) -> None:
    storage.setup(RESPONSE_HEADERS)
    workbook = load_workbook(storage.path)
    sheet = workbook["Log"]
    for letter in list(sheet.column_dimensions):
        del sheet.column_dimensions[letter]
    sheet.column_dimensions.group("A", "C", outline_level=0)  # one <col min=1 max=3>
    sheet.column_dimensions["A"].width = 30
    workbook.save(storage.path)

    assert storage.setup(RESPONSE_HEADERS) == ["formatted Log: column widths, date-time format"]

    sheet = load_workbook(storage.path)["Log"]
    spans = sorted((d.min, d.max) for d in sheet.column_dimensions.values())
    assert spans == [(1, 1), (2, 2), (3, 3), (4, 4)]  # no overlapping <col> ranges
    assert [sheet.column_dimensions[c].width for c in "ABC"] == [30, 30, 30]
    assert storage.setup(RESPONSE_HEADERS) == []


def test_setup_replaces_its_own_rule_when_leaders_move_columns(ready: LocalWorkbookStorage) -> None:
    workbook = load_workbook(ready.path)
    sheet = workbook["Checklist"]
    sheet.insert_cols(1)  # a leader's column in front moves Due and Done one to the right
    sheet["A1"] = "Week"
    workbook.save(ready.path)

    changed = ready.setup(RESPONSE_HEADERS)

    assert any("overdue steps highlighted" in line for line in changed)
    sheet = load_workbook(ready.path)["Checklist"]
    formula = overdue_rule(sheet)
    assert "$H2<>TRUE" in formula and "$G2<NOW()" in formula
    assert ready.setup(RESPONSE_HEADERS) == []


# -- load --------------------------------------------------------------------------------


def test_load_of_a_missing_workbook_says_to_run_setup(storage: LocalWorkbookStorage) -> None:
    with pytest.raises(SheetLayoutError, match="does not exist.*setup"):
        storage.load()


def test_load_of_a_corrupt_workbook_names_the_file(storage: LocalWorkbookStorage) -> None:
    storage.path.write_bytes(b"not a zip file at all")
    with pytest.raises(StorageError, match="incidents.xlsx"):
        storage.load()


def test_load_without_responses_tab_lists_the_tabs(storage: LocalWorkbookStorage) -> None:
    workbook = Workbook()
    workbook.active.title = "Responses"
    workbook.create_sheet("Cases")
    workbook.save(storage.path)

    with pytest.raises(SheetLayoutError) as raised:
        storage.load()
    assert RESPONSES in str(raised.value)
    assert "'Responses'" in str(raised.value) and "'Cases'" in str(raised.value)


def test_load_matches_tab_titles_loosely_and_leaves_absent_tabs_out(
    storage: LocalWorkbookStorage,
) -> None:
    workbook = Workbook()
    workbook.active.title = " form responses 1 "
    workbook.active.append(["Timestamp", "Email Address"])
    workbook.create_sheet("CHECKLIST").append(["Case ID", "Step"])
    workbook.save(storage.path)

    snapshot = storage.load()

    assert snapshot.responses.title == " form responses 1 "
    assert snapshot.responses.header == ["Timestamp", "Email Address"]
    assert list(snapshot.tabs) == ["checklist"]
    assert snapshot.sheet_timezone == NZ


def test_load_keeps_blank_middle_rows_and_drops_trailing_ones(
    storage: LocalWorkbookStorage,
) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = RESPONSES
    sheet.append(["Timestamp", None, "Email Address"])
    sheet.append([datetime(2024, 3, 1, 9, 30), None, "a@x.invalid"])
    sheet.append([])  # row 3 blank
    sheet.append([None, None, "b@x.invalid", "no header", "=1+1"])
    sheet["B9"].number_format = "0.00"  # formatted but empty: not data
    workbook.save(storage.path)

    table = storage.load().responses

    assert table.header == ["Timestamp", "", "Email Address"]
    assert len(table.rows) == 3
    assert table.value(0, "timestamp") == datetime(2024, 3, 1, 9, 30, tzinfo=NZ)
    assert all(value is None for value in table.rows[1])
    assert table.value(2, "Email Address") == "b@x.invalid"
    assert table.rows[2][3:] == ["no header", "=1+1"]  # a formula comes back as its text


def test_load_reads_dates_as_midnight_in_the_sheet_zone(storage: LocalWorkbookStorage) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = RESPONSES
    sheet.append(["Timestamp", "Day"])
    sheet.append([datetime(2024, 7, 1, 8, 0), date(2024, 7, 2)])
    sheet["B2"].number_format = "dd/mm/yyyy"
    workbook.save(storage.path)

    row = storage.load().responses.rows[0]

    assert row == [datetime(2024, 7, 1, 8, 0, tzinfo=NZ), datetime(2024, 7, 2, 0, 0, tzinfo=NZ)]
    assert row[0].utcoffset() == timedelta(hours=12)


# -- values ------------------------------------------------------------------------------


def test_datetimes_round_trip_as_the_same_instant(ready: LocalWorkbookStorage) -> None:
    summer = datetime(2024, 1, 15, 2, 45, 10, 123456, tzinfo=UTC)  # NZDT, +13
    winter = datetime(2024, 7, 15, 2, 45, tzinfo=UTC)  # NZST, +12
    changed_day = datetime(2024, 9, 29, 1, 30, tzinfo=NZ)  # the day NZ clocks go forward
    commit_appends(
        ready,
        "log",
        [
            {"Time": summer, "Event": "summer"},
            {"Time": winter, "Event": "winter"},
            {"Time": changed_day, "Event": "dst"},
        ],
    )

    table = read_whole_tab(ready, "Log")

    times = [table.value(row, "Time") for row in range(3)]
    assert times == [summer.replace(microsecond=0), winter, changed_day]
    assert all(value.tzinfo == NZ for value in times)
    sheet = load_workbook(ready.path)["Log"]
    assert sheet["A2"].value == datetime(2024, 1, 15, 15, 45, 10)  # wall-clock in Auckland
    assert sheet["A3"].value == datetime(2024, 7, 15, 14, 45)
    assert sheet["A2"].number_format == DATETIME_FORMAT


def test_bools_and_numbers_round_trip(ready: LocalWorkbookStorage) -> None:
    commit_appends(
        ready,
        "checklist",
        [
            checklist_record("C-1", "Secure evidence", Done=True),
            checklist_record("C-1", "Tell parents", Done=False),
        ],
    )
    commit_appends(ready, "notifications", [{"Notification ID": "N-1", "Attempts": 3}])
    commit_appends(ready, "cases", [{"Case ID": "C-1", "Overdue steps": 2.5}])

    snapshot = ready.load()

    assert [snapshot.tab("checklist").value(r, "Done") for r in (0, 1)] == [True, False]
    assert snapshot.tab("notifications").value(0, "Attempts") == 3
    assert snapshot.tab("cases").value(0, "Overdue steps") == 2.5


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_stays_literal_text(ready: LocalWorkbookStorage, text: str) -> None:
    commit_appends(ready, "cases", [{"Case ID": "C-1", "Summary": text, "Next step": "x"}])
    changes = ChangeSet()
    changes.update("cases", "C-1", 0, {"Next step": text})
    ready.commit(changes)

    table = ready.load().tab("cases")

    assert table.value(0, "Summary") == text
    assert table.value(0, "Next step") == text
    sheet = load_workbook(ready.path)["Cases"]
    summary, next_step = letter(CASES, "Summary"), letter(CASES, "Next step")
    assert sheet[f"{summary}2"].data_type == "s" and sheet[f"{next_step}2"].data_type == "s"
    assert sheet[f"{summary}2"].alignment.wrap_text, "the worker wraps the long text it adds"
    number = load_workbook(ready.path).sheetnames.index("Cases") + 1
    with zipfile.ZipFile(ready.path) as archive:
        xml = archive.read(f"xl/worksheets/sheet{number}.xml").decode()
    assert "<f>" not in xml and 't="e"' not in xml


def test_unstorable_text_is_cleaned_not_fatal(ready: LocalWorkbookStorage) -> None:
    long = "x" * (XLSX_TEXT_LIMIT + 10)
    commit_appends(ready, "log", [{"Event": "bell\x07 and \x00null\ttab\nline", "Detail": long}])

    table = read_whole_tab(ready, "Log")

    assert table.value(0, "Event") == "bell and null\ttab\nline"
    assert table.value(0, "Detail") == long[:XLSX_TEXT_LIMIT]


def test_leader_date_formats_are_kept_and_numbers_never_read_as_dates(
    ready: LocalWorkbookStorage,
) -> None:
    commit_appends(ready, "checklist", [checklist_record("C-1", "Step")])
    commit_appends(ready, "cases", [{"Case ID": "C-1"}])
    workbook = load_workbook(ready.path)
    workbook["Checklist"][f"{letter(CHECKLIST, 'Due')}2"].number_format = "dd/mm/yyyy hh:mm"  # NZ style
    workbook["Cases"][f"{letter(CASES, 'Overdue steps')}2"].number_format = "d-mmm"  # formatted by mistake
    workbook.save(ready.path)

    changes = ChangeSet()
    changes.update("checklist", "C-1 | Step", 0, {"Due": datetime(2024, 5, 1, 9, tzinfo=NZ)})
    changes.update("cases", "C-1", 0, {"Overdue steps": 2})
    ready.commit(changes)

    workbook = load_workbook(ready.path)
    assert workbook["Checklist"][f"{letter(CHECKLIST, 'Due')}2"].number_format == "dd/mm/yyyy hh:mm"
    assert ready.load().tab("cases").value(0, "Overdue steps") == 2


# -- commit: appends ---------------------------------------------------------------------


def test_appends_land_under_moved_headers_below_the_last_row(ready: LocalWorkbookStorage) -> None:
    commit_appends(ready, "checklist", [checklist_record("C-1", "First")])
    workbook = load_workbook(ready.path)
    sheet = workbook["Checklist"]
    width, step = len(CHECKLIST.columns), at(CHECKLIST, "Step")
    mine = get_column_letter(width + 1)
    sheet.move_range(f"{letter(CHECKLIST, 'Step')}1:{letter(CHECKLIST, 'Step')}2", cols=width + 1 - step)  # to the end
    sheet.delete_cols(step)  # ... and the gap closes: Step is now the last column
    sheet[f"{mine}1"] = "Leader comment"
    sheet[f"{mine}2"] = "keep me"
    sheet[f"{mine}3"] = "a leader's note below the data"
    sheet["A40"].number_format = "0.00"  # formatted, empty
    workbook.save(ready.path)

    commit_appends(
        ready,
        "checklist",
        [
            checklist_record("C-2", "Second", Due=datetime(2024, 5, 1, 9, tzinfo=NZ)),
            checklist_record("C-2", "Third"),
        ],
    )

    sheet = load_workbook(ready.path)["Checklist"]
    assert header(sheet)[width - 1:] == ["Step", "Leader comment"]
    assert [sheet.cell(row, 1).value for row in (2, 3, 4, 5)] == ["C-1", None, "C-2", "C-2"]
    assert [sheet.cell(row, width).value for row in (2, 4, 5)] == ["First", "Second", "Third"]
    assert sheet.cell(4, at(CHECKLIST, "Due") - 1).value == datetime(2024, 5, 1, 9)  # Due, one to the left
    assert [sheet.cell(row, width + 1).value for row in (2, 3, 4, 5)] == [
        "keep me",
        "a leader's note below the data",
        None,
        None,
    ]
    assert sheet.max_row == 40  # nothing was written below the appended rows


# -- commit: updates ---------------------------------------------------------------------


def test_update_follows_its_row_after_a_sort(ready: LocalWorkbookStorage) -> None:
    steps = ["Alpha", "Bravo", "Charlie", "Delta"]
    commit_appends(ready, "checklist", [checklist_record("C-1", step) for step in steps])
    table = ready.load().tab("checklist")
    at, bravo = next((at, r) for at, r in table.located(CHECKLIST) if r["Step"] == "Bravo")
    key = row_key(CHECKLIST, bravo)

    workbook = load_workbook(ready.path)  # a leader sorts Z-A by Step
    sheet = workbook["Checklist"]
    rows = sorted(
        ([cell.value for cell in row] for row in sheet.iter_rows(min_row=2)),
        key=lambda values: values[CHECKLIST.column_names.index("Step")],
        reverse=True,
    )
    for at, values in enumerate(rows, start=2):
        for column, value in enumerate(values, start=1):
            sheet.cell(at, column, value)
    workbook.save(ready.path)
    before = cells(ready.path, "Checklist")

    changes = ChangeSet()
    changes.update("checklist", key, at, {"Status": "Overdue", "Notes": None})
    ready.commit(changes)

    after = cells(ready.path, "Checklist")
    status = CHECKLIST.column_names.index("Status") + 1
    assert after.pop((4, status)) == ("Overdue", "s")  # Bravo is now sheet row 4
    assert before.pop((4, status)) == ("Open", "s")
    assert after == before  # not one other cell changed


def test_update_writes_only_named_cells_and_none_clears(ready: LocalWorkbookStorage) -> None:
    commit_appends(ready, "checklist", [checklist_record("C-1", "Step", Notes="leader text", Guidance="g", Role="dsl")])
    changes = ChangeSet()
    changes.update("checklist", "C-1 | Step", 0, {"Guidance": None, "Done": True})
    ready.commit(changes)

    record = ready.load().tab("checklist").records(CHECKLIST)[0]

    assert record["Guidance"] is None and record["Done"] is True
    assert record["Notes"] == "leader text" and record["Role"] == "dsl"
    assert record["Status"] == "Open"


def test_update_for_a_deleted_row_is_skipped_with_a_warning(
    ready: LocalWorkbookStorage, caplog: pytest.LogCaptureFixture
) -> None:
    commit_appends(ready, "cases", [{"Case ID": "C-1"}, {"Case ID": "C-2"}])
    workbook = load_workbook(ready.path)
    workbook["Cases"].delete_rows(2)  # C-1 deleted: C-2 moves up to row 2
    workbook.save(ready.path)

    changes = ChangeSet()
    changes.update("cases", "C-1", 0, {"Status": "Closed"})
    changes.update("cases", "C-2", 1, {"Status": "Open"})
    with caplog.at_level(logging.WARNING, logger="workflow.storage.local"):
        ready.commit(changes)

    table = ready.load().tab("cases")
    assert [table.value(0, "Case ID"), table.value(0, "Status")] == ["C-2", "Open"]
    assert len(table.rows) == 1
    assert "Cases" in caplog.text and "'C-1'" in caplog.text


def test_update_to_the_keyless_log_uses_the_position(ready: LocalWorkbookStorage) -> None:
    commit_appends(ready, "log", [{"Event": "one"}, {"Event": "two"}])
    changes = ChangeSet()
    changes.update("log", "", 1, {"Detail": "more"})
    changes.update("log", "", 7, {"Detail": "nowhere"})
    ready.commit(changes)

    table = read_whole_tab(ready, "Log")
    assert [table.value(r, "Detail") for r in (0, 1)] == [None, "more"]
    assert len(table.rows) == 2


# -- commit: layout errors, no-ops, atomic save -------------------------------------------


def test_missing_column_is_a_layout_error_and_nothing_is_written(
    ready: LocalWorkbookStorage,
) -> None:
    commit_appends(ready, "cases", [{"Case ID": "C-1"}])
    workbook = load_workbook(ready.path)
    workbook["Cases"].delete_cols(at(CASES, "Summary"))
    workbook.save(ready.path)
    before = ready.path.read_bytes()

    changes = ChangeSet()
    changes.append("cases", {"Case ID": "C-2"})
    changes.update("cases", "C-1", 0, {"Summary": "x"})
    with pytest.raises(SheetLayoutError, match="Cases.*'Summary'.*setup"):
        ready.commit(changes)
    assert ready.path.read_bytes() == before

    changes = ChangeSet()
    changes.append("cases", {"Case ID": "C-2", "summary": "x"})
    with pytest.raises(SheetLayoutError, match="summary"):
        ready.commit(changes)


def test_missing_tab_is_a_layout_error(ready: LocalWorkbookStorage) -> None:
    workbook = load_workbook(ready.path)
    del workbook["Notifications"]
    workbook.save(ready.path)

    changes = ChangeSet()
    changes.append("notifications", {"Notification ID": "N-1"})
    with pytest.raises(SheetLayoutError, match="Notifications.*setup"):
        ready.commit(changes)


def test_empty_changeset_does_not_touch_the_file(ready: LocalWorkbookStorage) -> None:
    mtime = ready.path.stat().st_mtime_ns
    ready.commit(ChangeSet())
    ready.commit(ChangeSet(appends={"cases": []}))
    assert ready.path.stat().st_mtime_ns == mtime


def test_save_leaves_no_temp_files_and_keeps_permissions(ready: LocalWorkbookStorage) -> None:
    os.chmod(ready.path, 0o664)
    commit_appends(ready, "cases", [{"Case ID": "C-1"}])

    assert temp_files(ready.path.parent) == []
    assert stat.S_IMODE(ready.path.stat().st_mode) == 0o664


def test_interrupted_save_keeps_the_old_workbook(ready: LocalWorkbookStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    commit_appends(ready, "cases", [{"Case ID": "C-1"}])
    before = ready.path.read_bytes()

    def crash(source: str, target: str) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(TemporaryFailure, match="disk on fire"):
        commit_appends(ready, "cases", [{"Case ID": "C-2"}])
    monkeypatch.undo()

    assert ready.path.read_bytes() == before
    assert temp_files(ready.path.parent) == []
    table = ready.load().tab("cases")
    assert [table.value(r, "Case ID") for r in range(len(table.rows))] == ["C-1"]


def test_a_full_disk_is_temporary_names_the_file_and_leaves_no_temp_file(
        ready: LocalWorkbookStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    commit_appends(ready, "cases", [{"Case ID": "C-1"}])
    before = ready.path.read_bytes()

    def disk_full(workbook: Workbook, stream) -> None:
        stream.write(b"PK\x03\x04 half a zip")  # a partial temp file, as a full disk leaves it
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(local, "_dump", disk_full)
    with pytest.raises(TemporaryFailure) as raised:
        commit_appends(ready, "cases", [{"Case ID": "C-2"}])
    message = str(raised.value)
    assert str(ready.path) in message and "No space left on device" in message and "\n" not in message
    assert raised.value.exit_code == 75
    monkeypatch.undo()
    assert ready.path.read_bytes() == before and temp_files(ready.path.parent) == []
    commit_appends(ready, "cases", [{"Case ID": "C-2"}])   # space again: it goes through
    assert len(ready.load().tab("cases").rows) == 2


@pytest.mark.parametrize("mode", [0o444, 0o400])
def test_a_read_only_workbook_is_refused_never_replaced(ready: LocalWorkbookStorage, mode: int) -> None:
    """os.replace would swap a read-only file happily (only the folder must be writable), and
    root ignores permissions: the file's write bits are honoured explicitly."""
    before = ready.path.read_bytes()
    os.chmod(ready.path, mode)
    try:
        with pytest.raises(StorageError, match=r"incidents\.xlsx is read-only \(the file") as raised:
            commit_appends(ready, "cases", [{"Case ID": "C-1"}])
        assert raised.value.exit_code == 1
        assert ready.path.read_bytes() == before and stat.S_IMODE(ready.path.stat().st_mode) == mode
        assert temp_files(ready.path.parent) == []
    finally:
        os.chmod(ready.path, 0o644)


def test_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    storage = LocalWorkbookStorage(make_config(folder, folder / "incidents.xlsx"))
    storage.setup(RESPONSE_HEADERS)
    os.chmod(folder, 0o555)
    try:
        with pytest.raises(StorageError, match="its folder"):
            commit_appends(storage, "cases", [{"Case ID": "C-1"}])
        assert temp_files(folder) == []
    finally:
        os.chmod(folder, 0o755)


def test_a_read_only_file_system_is_a_user_error(ready: LocalWorkbookStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only_fs(*args: object, **kwargs: object) -> tuple[int, str]:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(local.tempfile, "mkstemp", read_only_fs)
    with pytest.raises(StorageError, match="Read-only file system"):
        commit_appends(ready, "cases", [{"Case ID": "C-1"}])


def test_locked_workbook_is_a_temporary_failure(ready: LocalWorkbookStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    def locked(source: str, target: str) -> None:
        raise PermissionError(13, "The process cannot access the file")

    monkeypatch.setattr(os, "replace", locked)
    with pytest.raises(TemporaryFailure, match="Excel"):
        commit_appends(ready, "cases", [{"Case ID": "C-1"}])
    assert temp_files(ready.path.parent) == []


def test_a_save_by_someone_else_during_commit_wins(
    ready: LocalWorkbookStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = LocalWorkbookStorage._open

    def open_then_leader_saves(self: LocalWorkbookStorage, read_only: bool):
        workbook = real_open(self, read_only)
        leader = load_workbook(self.path)
        leader["Cases"]["A2"] = "typed by a leader"
        leader.save(self.path)
        return workbook

    monkeypatch.setattr(LocalWorkbookStorage, "_open", open_then_leader_saves)
    with pytest.raises(TemporaryFailure, match="changed"):
        commit_appends(ready, "cases", [{"Case ID": "C-1"}])
    monkeypatch.undo()

    assert ready.load().tab("cases").rows == [["typed by a leader"]]
    assert temp_files(ready.path.parent) == []


def test_relative_workbook_path_and_open_storage(tmp_path: Path) -> None:
    config = make_config(tmp_path, "data/incidents.xlsx")
    storage = open_storage(config)

    assert isinstance(storage, LocalWorkbookStorage)
    assert storage.describe() == str(tmp_path / "data" / "incidents.xlsx")
    storage.setup(RESPONSE_HEADERS)  # creates the folder too
    assert (tmp_path / "data" / "incidents.xlsx").is_file()


def test_load_reads_only_the_header_of_the_append_only_log(ready: LocalWorkbookStorage) -> None:
    commit_appends(ready, "log", [{"Event": f"event {i}"} for i in range(50)])
    table = ready.load().tab("log")
    assert table.header[:4] == ["Time", "Case ID", "Event", "Detail"] and table.rows == []
    commit_appends(ready, "log", [{"Event": "one more"}])
    assert [r[2] for r in read_whole_tab(ready, "Log").rows][-2:] == ["event 49", "one more"]
