"""The Sheets emulator, driven by the real gspread client, answers as Google does.

Why: every storage test trusts this emulator; if it drifted from Google (shapes, trimming,
atomicity, error codes), product tests would pass against a fiction. The shapes asserted here
are the ones verified against gspread's recorded cassettes (see the emulator's docstring).
"""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gspread
import pytest
import requests
from gspread.exceptions import APIError, SpreadsheetNotFound
from sheets_emulator import SheetsEmulator, quote_title

from workflow.storage.google import EmulatorSession

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def emu() -> Iterator[SheetsEmulator]:
    """One server for the module; each test uses its own spreadsheet id."""
    with SheetsEmulator() as emulator:
        yield emulator
        assert emulator.internal_errors == []


@pytest.fixture(autouse=True)
def clean_faults(emu: SheetsEmulator) -> Iterator[None]:
    """A failing test must not leave injected faults or a delay for the next one."""
    yield
    emu.clear_faults()


@pytest.fixture
def sid(request: pytest.FixtureRequest) -> str:
    return "ss-" + request.node.name


@pytest.fixture
def client(emu: SheetsEmulator) -> gspread.Client:
    return gspread.Client(auth=None, session=EmulatorSession(emu.host))


def _api_error(call: Any, *args: Any, **kwargs: Any) -> APIError:
    with pytest.raises(APIError) as info:
        call(*args, **kwargs)
    return info.value


# ---------------------------------------------------------------------------
# Metadata and reading
# ---------------------------------------------------------------------------


def test_open_by_key_sees_properties_and_tabs(emu: SheetsEmulator, client: gspread.Client,
                                              sid: str) -> None:
    emu.create_spreadsheet(sid, "School incidents", time_zone="Pacific/Auckland", locale="en_NZ",
                           tabs={"Form Responses 1": [["Timestamp", "Name"]], "Cases": []})
    sheet = client.open_by_key(sid)
    assert (sheet.title, sheet.timezone, sheet.locale) == ("School incidents", "Pacific/Auckland",
                                                           "en_NZ")
    tabs = sheet.worksheets()
    assert [(w.title, w.index) for w in tabs] == [("Form Responses 1", 0), ("Cases", 1)]
    assert tabs[0].id == 0 and tabs[1].id != 0
    assert (tabs[0].row_count, tabs[0].col_count) == (1000, 26)
    meta = client.http_client.fetch_sheet_metadata(sid)
    assert meta == emu.metadata(sid)
    assert meta["spreadsheetUrl"] == f"https://docs.google.com/spreadsheets/d/{sid}/edit"
    assert meta["sheets"][0]["properties"] == {
        "sheetId": 0, "title": "Form Responses 1", "index": 0, "sheetType": "GRID",
        "gridProperties": {"rowCount": 1000, "columnCount": 26}}
    assert "data" not in meta["sheets"][0]


def test_whole_tab_read_trims_like_google(emu: SheetsEmulator, client: gspread.Client,
                                          sid: str) -> None:
    rows = [["A1", "B1", "", "D1"], ["", "b2"], [], ["A4", "B4", "", "D4"], ["", "", ""]]
    emu.create_spreadsheet(sid, tabs={"Sheet1": rows, "Empty": []})
    reply = client.http_client.values_get(sid, "'Sheet1'")
    assert reply == {"range": "Sheet1!A1:Z1000", "majorDimension": "ROWS",
                     "values": [["A1", "B1", "", "D1"], ["", "b2"], [], ["A4", "B4", "", "D4"]]}
    assert client.http_client.values_get(sid, "Empty!A1:C3") == {
        "range": "Empty!A1:C3", "majorDimension": "ROWS"}
    worksheet = client.open_by_key(sid).sheet1
    assert worksheet.get_all_values()[1] == ["", "b2", "", ""]
    assert emu.values(sid, "Sheet1") == [["A1", "B1", "", "D1"], ["", "b2"], [],
                                         ["A4", "B4", "", "D4"]]


def test_ranges_quote_titles_only_when_needed(emu: SheetsEmulator, client: gspread.Client,
                                              sid: str) -> None:
    wide = [[f"r{r}c{c}" for c in range(30)] for r in range(3)]
    emu.create_spreadsheet(sid, tabs={"Sheet1": wide, "Form Responses 1": [["a", "b"], ["c"]],
                                      "It's": [["x"], ["y", "z"]], "D3": [["d3"]]})
    hc = client.http_client
    got = hc.values_batch_get(sid, ["'Form Responses 1'!A:B", "'It''s'!A2:B", "'D3'",
                                    "Sheet1!AA1:AB2", "B3"])
    assert [r["range"] for r in got["valueRanges"]] == [
        "'Form Responses 1'!A1:B1000", "'It''s'!A2:B1000", "'D3'!A1:Z1000", "Sheet1!AA1:AB2",
        "Sheet1!B3"]
    assert got["valueRanges"][1]["values"] == [["y", "z"]]
    assert got["valueRanges"][3]["values"] == [["r0c26", "r0c27"], ["r1c26", "r1c27"]]
    assert got["valueRanges"][4]["values"] == [["r2c1"]]
    ranges = client.open_by_key(sid).worksheet("Form Responses 1").batch_get(["A1:B2", "C5"])
    assert [(r.range, r) for r in ranges] == [("'Form Responses 1'!A1:B2", [["a", "b"], ["c"]]),
                                              ("'Form Responses 1'!C5", [])]
    # Sheet names match ignoring case; the reply uses the real title.
    assert hc.values_get(sid, "'form responses 1'!A1")["range"] == "'Form Responses 1'!A1"
    # A row range with an open end runs to the last column ("A1:1" -> "A1:AD1" here).
    assert hc.values_get(sid, "Sheet1!A1:1")["range"] == "Sheet1!A1:AD1"
    assert [quote_title(t) for t in ("Sheet1", "Cases", "D3", "R1C1", "2024", "a b")] == [
        "Sheet1", "Cases", "'D3'", "'R1C1'", "'2024'", "'a b'"]


def test_open_ranges_clamp_but_a_start_outside_the_grid_is_400(
        emu: SheetsEmulator, client: gspread.Client, sid: str) -> None:
    emu.create_spreadsheet(sid, tabs={"Sheet1": [["a"]]})
    hc = client.http_client
    assert hc.values_get(sid, "Sheet1!A1:ZZ5000")["range"] == "Sheet1!A1:Z1000"
    error = _api_error(hc.values_get, sid, "Sheet1!A1001:B1002")
    assert error.code == 400
    assert error.error["message"] == ("Range (Sheet1!A1001) exceeds grid limits. Max rows: 1000, "
                                      "max columns: 26")


def test_unformatted_and_serial_number_rendering(emu: SheetsEmulator, client: gspread.Client,
                                                 sid: str) -> None:
    stamp = dt.datetime(2024, 3, 5, 14, 30)
    emu.create_spreadsheet(sid, tabs={"Log": [["When", "Count", "Ok"], [stamp, 3, True],
                                              [None, 2.5, False]]})
    sheet_id = emu.sheet_id(sid, "Log")
    client.open_by_key(sid).batch_update({"requests": [{"repeatCell": {
        "range": {"sheetId": sheet_id, "startRowIndex": 1, "startColumnIndex": 0,
                  "endColumnIndex": 1},
        "cell": {"userEnteredFormat": {"numberFormat": {"type": "DATE_TIME",
                                                        "pattern": "yyyy-mm-dd hh:mm"}}},
        "fields": "userEnteredFormat.numberFormat"}}]})
    hc = client.http_client
    serial = 45356 + 14.5 / 24
    raw = hc.values_batch_get(sid, ["Log!A2:C3"], params={
        "valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER"})
    values = raw["valueRanges"][0]["values"]
    assert values[0][0] == pytest.approx(serial, abs=1e-9)
    assert values[0][1:] == [3, True] and isinstance(values[0][1], int)
    assert values[1] == ["", 2.5, False]
    stringy = hc.values_get(sid, "Log!A2", params={"valueRenderOption": "UNFORMATTED_VALUE",
                                                   "dateTimeRenderOption": "FORMATTED_STRING"})
    assert stringy["values"] == [["2024-03-05 14:30"]]
    formatted = hc.values_get(sid, "Log!A2:C3")
    assert formatted["values"] == [["2024-03-05 14:30", "3", "TRUE"], ["", "2.5", "FALSE"]]
    columns = hc.values_get(sid, "Log!B1:C3", params={"majorDimension": "COLUMNS"})
    assert columns["values"] == [["Count", "3", "2.5"], ["Ok", "TRUE", "FALSE"]]
    error = _api_error(hc.values_get, sid, "Log!A1", params={"valueRenderOption": "PRETTY"})
    assert error.code == 400 and "value_render_option" in error.error["message"]


def test_number_patterns_render(emu: SheetsEmulator, client: gspread.Client, sid: str) -> None:
    emu.create_spreadsheet(sid, tabs={"N": [[1234.5, 0.125, 1 / 3, 45356.75, -7, 2.5]]})
    sheet_id = emu.sheet_id(sid, "N")

    def fmt(col: int, kind: str, pattern: str) -> dict[str, Any]:
        return {"repeatCell": {
            "range": {"sheetId": sheet_id, "startRowIndex": 0, "endRowIndex": 1,
                      "startColumnIndex": col, "endColumnIndex": col + 1},
            "cell": {"userEnteredFormat": {"numberFormat": {"type": kind, "pattern": pattern}}},
            "fields": "userEnteredFormat.numberFormat"}}

    client.http_client.batch_update(sid, {"requests": [
        fmt(0, "NUMBER", "#,##0.00"), fmt(1, "PERCENT", "0.0%"),
        fmt(3, "DATE_TIME", "dddd d mmmm yyyy h:mm AM/PM"), fmt(5, "NUMBER", "0")]})
    got = client.http_client.values_get(sid, "N!A1:F1")["values"][0]
    # Sheets rounds half away from zero (Python's format() would give "2" for 2.5).
    assert got == ["1,234.50", "12.5%", "0.3333333333", "Tuesday 5 March 2024 6:00 PM", "-7", "3"]


# ---------------------------------------------------------------------------
# Writing values
# ---------------------------------------------------------------------------


def test_update_raw_keeps_text_user_entered_parses(emu: SheetsEmulator, client: gspread.Client,
                                                   sid: str) -> None:
    emu.create_spreadsheet(sid, tabs={"Sheet1": []})
    worksheet = client.open_by_key(sid).sheet1
    typed = ["=1+1", "+64 21 555 1234", "007", "true", "12%", "2024-03-05", "'=2+2"]
    reply = worksheet.update([typed], "A1")  # gspread's default: RAW
    assert reply == {"spreadsheetId": sid, "updatedRange": "Sheet1!A1:G1", "updatedRows": 1,
                     "updatedColumns": 7, "updatedCells": 7}
    worksheet.update([typed], "A2", value_input_option="USER_ENTERED")
    assert worksheet.get_all_values()[:2] == [
        typed,
        ["2", "#ERROR!", "7", "TRUE", "12%", "2024-03-05", "=2+2"],
    ]
    formulas = worksheet.get("A1:G2", value_render_option="FORMULA")
    assert formulas[0] == typed
    assert formulas[1] == ["=1+1", "=+64 21 555 1234", 7, True, 0.12, 45356, "=2+2"]
    assert emu.cell(sid, "Sheet1", "A1")["userEnteredValue"] == {"stringValue": "=1+1"}
    user = emu.cell(sid, "Sheet1", "B2")
    assert user["userEnteredValue"] == {"formulaValue": "=+64 21 555 1234"}
    assert user["effectiveValue"]["errorValue"]["type"] == "ERROR"
    assert emu.cell(sid, "Sheet1", "F2")["userEnteredFormat"]["numberFormat"]["type"] == "DATE"


def test_write_nulls_leave_cells_and_empty_strings_clear(emu: SheetsEmulator,
                                                         client: gspread.Client, sid: str) -> None:
    emu.create_spreadsheet(sid, tabs={"Sheet1": [["a", "b", "c"]]})
    reply = client.http_client.values_update(sid, "Sheet1!A1", params={"valueInputOption": "RAW"},
                                             body={"values": [[None, "", "C"]]})
    assert reply["updatedCells"] == 2
    assert emu.values(sid, "Sheet1") == [["a", "", "C"]]


def test_write_outside_the_range_or_grid_is_400(emu: SheetsEmulator, client: gspread.Client,
                                                sid: str) -> None:
    emu.create_spreadsheet(sid, tabs={"Sheet1": []})
    hc = client.http_client
    raw = {"valueInputOption": "RAW"}
    error = _api_error(hc.values_update, sid, "Sheet1!A1:B1", params=raw,
                       body={"values": [[1, 2, 3]]})
    assert error.code == 400
    assert error.error["message"] == ("Requested writing within range [Sheet1!A1:B1], but tried "
                                      "writing to column [C]")
    error = _api_error(hc.values_update, sid, "Sheet1!Z1", params=raw, body={"values": [[1, 2]]})
    assert error.error["message"] \
        == "Range (Sheet1!AA1) exceeds grid limits. Max rows: 1000, max columns: 26"
    error = _api_error(hc.values_update, sid, "Sheet1!A1", params={}, body={"values": [[1]]})
    assert error.code == 400 and "valueInputOption" in error.error["message"]
    error = _api_error(hc.values_batch_update, sid, {"data": [{"range": "A1", "values": [[1]]}]})
    assert error.error["message"] == "'valueInputOption' is required but not specified"
    assert emu.values(sid, "Sheet1") == []


def test_values_batch_update_is_all_or_nothing(emu: SheetsEmulator, client: gspread.Client,
                                               sid: str) -> None:
    emu.create_spreadsheet(sid, tabs={"Sheet1": [["keep"]]})
    worksheet = client.open_by_key(sid).sheet1
    with pytest.raises(APIError):
        worksheet.batch_update([{"range": "A1", "values": [["changed"]]},
                                {"range": "A1:A1", "values": [["x", "too wide"]]}])
    assert emu.values(sid, "Sheet1") == [["keep"]]
    reply = worksheet.batch_update([{"range": "A1", "values": [["one"]]},
                                    {"range": "C2:D2", "values": [[2, 3]]}])
    assert (reply["totalUpdatedCells"], reply["totalUpdatedSheets"]) == (3, 1)
    assert [r["updatedRange"] for r in reply["responses"]] == ["Sheet1!A1", "Sheet1!C2:D2"]
    assert emu.values(sid, "Sheet1") == [["one"], ["", "", 2, 3]]


def test_append_row_lands_after_the_table(emu: SheetsEmulator, client: gspread.Client,
                                          sid: str) -> None:
    emu.create_spreadsheet(sid, tabs={"Sheet1": []})
    worksheet = client.open_by_key(sid).sheet1
    first = worksheet.append_row(["h1", "h2"])
    assert first == {"spreadsheetId": sid, "updates": {
        "spreadsheetId": sid, "updatedRange": "Sheet1!A1:B1", "updatedRows": 1,
        "updatedColumns": 2, "updatedCells": 2}}
    assert emu.append_row(sid, "Sheet1", ["form", "answer"]) == 2
    second = worksheet.append_row(["x", "=1+1"])
    assert second["tableRange"] == "Sheet1!A1:B2"
    assert second["updates"]["updatedRange"] == "Sheet1!A3:B3"
    assert emu.values(sid, "Sheet1") == [["h1", "h2"], ["form", "answer"], ["x", "=1+1"]]


def test_append_at_a_blank_anchor_writes_there(emu: SheetsEmulator, client: gspread.Client,
                                               sid: str) -> None:
    """As recorded by gspread's test_insert_cols cassette: anchor B1 is blank, A is full."""
    emu.create_spreadsheet(sid, tabs={"Sheet1": [["a1", "", "", "d1"], ["a2", "", "", "d2"]]})
    reply = client.http_client.values_append(
        sid, "'Sheet1'!B1", {"valueInputOption": "RAW"},
        {"majorDimension": "COLUMNS", "values": [["b1", "b2", "b3", "b4"], ["c1", "c2"]]})
    assert reply == {"spreadsheetId": sid, "updates": {
        "spreadsheetId": sid, "updatedRange": "Sheet1!B1:C4", "updatedRows": 4,
        "updatedColumns": 2, "updatedCells": 6}}
    assert emu.values(sid, "Sheet1")[:3] == [["a1", "b1", "c1", "d1"], ["a2", "b2", "c2", "d2"],
                                             ["", "b3"]]
    # The anchored column A is a full table: the next append goes below it, from column A.
    below = client.open_by_key(sid).sheet1.append_row(["a3"], table_range="A1")
    assert (below["tableRange"], below["updates"]["updatedRange"]) == ("Sheet1!A1:A2",
                                                                       "Sheet1!A3")


def test_append_grows_rows_but_not_columns(emu: SheetsEmulator, client: gspread.Client,
                                           sid: str) -> None:
    emu.create_spreadsheet(sid, tabs={"Sheet1": []})
    spreadsheet = client.open_by_key(sid)
    small = spreadsheet.add_worksheet("Small", rows=2, cols=3)
    small.append_rows([["a"], ["b"], ["c"]])
    meta = emu.metadata(sid)["sheets"][1]["properties"]["gridProperties"]
    assert meta == {"rowCount": 3, "columnCount": 3}
    error = _api_error(small.append_row, ["1", "2", "3", "4"])
    assert error.code == 400
    assert error.error["message"] == ("Range (Small!D4) exceeds grid limits. Max rows: 3, "
                                      "max columns: 3")
    inserted = client.http_client.values_append(
        sid, "Small!A1", {"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"},
        {"values": [["d"]]})
    assert inserted["updates"]["updatedRange"] == "Small!A4"
    assert emu.values(sid, "Small") == [["a"], ["b"], ["c"], ["d"]]


def test_clear_keeps_formats(emu: SheetsEmulator, client: gspread.Client, sid: str) -> None:
    emu.create_spreadsheet(sid, tabs={"Sheet1": [["a", "b"], ["c", "d"]]})
    client.http_client.batch_update(sid, {"requests": [{"repeatCell": {
        "range": {"sheetId": 0}, "cell": {"userEnteredFormat": {"textFormat": {"bold": True}}},
        "fields": "userEnteredFormat.textFormat.bold"}}]})
    worksheet = client.open_by_key(sid).sheet1
    assert worksheet.batch_clear(["A1", "B2"]) == {
        "spreadsheetId": sid, "clearedRanges": ["Sheet1!A1", "Sheet1!B2"]}
    assert emu.values(sid, "Sheet1") == [["", "b"], ["c"]]
    assert worksheet.clear() == {"spreadsheetId": sid, "clearedRange": "Sheet1!A1:Z1000"}
    assert emu.values(sid, "Sheet1") == []
    assert emu.cell(sid, "Sheet1", "A1")["userEnteredFormat"] == {"textFormat": {"bold": True}}


# ---------------------------------------------------------------------------
# spreadsheets.batchUpdate
# ---------------------------------------------------------------------------


def test_batch_update_add_sheet_append_and_update_cells(emu: SheetsEmulator,
                                                        client: gspread.Client, sid: str) -> None:
    emu.create_spreadsheet(sid, tabs={"Form Responses 1": [["Timestamp"]]})
    spreadsheet = client.open_by_key(sid)
    reply = spreadsheet.batch_update({"requests": [
        {"addSheet": {"properties": {"sheetId": 7, "title": "Cases",
                                     "gridProperties": {"rowCount": 50, "columnCount": 4,
                                                        "frozenRowCount": 1}}}},
        {"updateCells": {"start": {"sheetId": 7, "rowIndex": 0, "columnIndex": 0},
                         "rows": [{"values": [
                             {"userEnteredValue": {"stringValue": "Key"},
                              "userEnteredFormat": {"textFormat": {"bold": True}}},
                             {"userEnteredValue": {"stringValue": "Opened"}}]}],
                         "fields": "userEnteredValue,userEnteredFormat.textFormat.bold"}},
        {"appendCells": {"sheetId": 7, "fields": "userEnteredValue,userEnteredFormat.numberFormat",
                         "rows": [{"values": [
                             {"userEnteredValue": {"stringValue": "=not a formula"}},
                             {"userEnteredValue": {"numberValue": 45356.5},
                              "userEnteredFormat": {"numberFormat": {
                                  "type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm"}}}]},
                             {"values": [{"userEnteredValue": {"stringValue": "K2"}}]}]}},
        {"appendCells": {"sheetId": 7, "fields": "userEnteredValue",
                         "rows": [{"values": [{"userEnteredValue": {"boolValue": True}}]}]}},
    ]})
    assert reply["spreadsheetId"] == sid
    assert reply["replies"][0] == {"addSheet": {"properties": {
        "sheetId": 7, "title": "Cases", "index": 1, "sheetType": "GRID",
        "gridProperties": {"rowCount": 50, "columnCount": 4, "frozenRowCount": 1}}}}
    assert reply["replies"][1:] == [{}, {}, {}]
    cases = spreadsheet.worksheet("Cases")
    assert cases.get_all_values()[:4] == [["Key", "Opened"],
                                          ["=not a formula", "2024-03-05 12:00"],
                                          ["K2", ""], ["TRUE", ""]]
    assert emu.cell(sid, "Cases", "A1")["userEnteredFormat"] == {"textFormat": {"bold": True}}
    # The mask decides what is replaced: a value-only update keeps the bold format.
    spreadsheet.batch_update({"requests": [{"updateCells": {
        "range": {"sheetId": 7, "startRowIndex": 0, "endRowIndex": 1, "startColumnIndex": 0,
                  "endColumnIndex": 2},
        "rows": [{"values": [{"userEnteredValue": {"stringValue": "Case key"},
                              "userEnteredFormat": {"textFormat": {"italic": True}}}]}],
        "fields": "userEnteredValue"}}]})
    a1, b1 = emu.cell(sid, "Cases", "A1"), emu.cell(sid, "Cases", "B1")
    assert a1["userEnteredValue"] == {"stringValue": "Case key"}
    assert a1["userEnteredFormat"] == {"textFormat": {"bold": True}}
    assert "userEnteredValue" not in b1  # in the range but not in rows: cleared


def test_batch_update_is_atomic(emu: SheetsEmulator, client: gspread.Client, sid: str) -> None:
    emu.create_spreadsheet(sid, tabs={"Sheet1": [["before"]]})
    hc = client.http_client
    error = _api_error(hc.batch_update, sid, {"requests": [
        {"addSheet": {"properties": {"title": "New"}}},
        {"updateCells": {"start": {"sheetId": 0}, "fields": "userEnteredValue",
                         "rows": [{"values": [{"userEnteredValue": {"stringValue": "after"}}]}]}},
        {"repeatCell": {"range": {"sheetId": 999}, "cell": {}, "fields": "userEnteredValue"}},
    ]})
    assert error.code == 400
    assert error.error == {"code": 400, "status": "INVALID_ARGUMENT",
                           "message": "Invalid requests[2].repeatCell: No grid with id: 999"}
    assert [s["properties"]["title"] for s in emu.metadata(sid)["sheets"]] == ["Sheet1"]
    assert emu.values(sid, "Sheet1") == [["before"]]
    duplicate = _api_error(hc.batch_update, sid, {"requests": [
        {"addSheet": {"properties": {"title": "sheet1"}}}]})
    assert duplicate.error["message"] == ('Invalid requests[0].addSheet: A sheet with the name '
                                          '"sheet1" already exists. Please enter another name.')
    empty = _api_error(hc.batch_update, sid, {"requests": []})
    assert empty.error["message"] == "Must specify at least one request."


def test_unknown_and_unemulated_request_types(emu: SheetsEmulator, client: gspread.Client,
                                              sid: str) -> None:
    emu.create_spreadsheet(sid)
    hc = client.http_client
    unknown = _api_error(hc.batch_update, sid, {"requests": [{"DeleteRange": {}}]})
    assert unknown.code == 400
    assert unknown.error["message"] == ('Invalid JSON payload received. Unknown name "DeleteRange" '
                                        "at 'requests[0]': Cannot find field.")
    assert unknown.error["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    missing = _api_error(hc.batch_update, sid, {"requests": [{"autoFill": {"useAlternateSeries": True}}]})
    assert (missing.code, missing.error["status"]) == (501, "UNIMPLEMENTED")


def test_board_requests_dropdowns_widths_wrap_tab_order_and_find_replace(
        emu: SheetsEmulator, client: gspread.Client, sid: str) -> None:
    """What setup sends for the leaders' board, answered and recorded as Google does."""
    emu.create_spreadsheet(sid, tabs={"Form Responses 1": [["Timestamp"]],
                                      "Cases": [["Case ID", "Status"], ["C-1", "Ready to close"],
                                                ["C-2", " ready to  CLOSE "], ["C-3", "Closed"],
                                                ["C-4", "Not ready to close"], ["C-5", "=\"Ready to close\""]]})
    cases = emu.sheet_id(sid, "Cases")
    status = {"sheetId": cases, "startRowIndex": 1, "startColumnIndex": 1, "endColumnIndex": 2}
    one_of = {"condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": "Open"},
                                                              {"userEnteredValue": "Closed"}]},
              "strict": False, "showCustomUi": True}
    hc = client.http_client
    reply = hc.batch_update(sid, {"requests": [
        {"setDataValidation": {"range": status, "rule": one_of}},
        {"updateDimensionProperties": {"range": {"sheetId": cases, "dimension": "COLUMNS", "startIndex": 1,
                                                 "endIndex": 2},
                                       "properties": {"pixelSize": 240}, "fields": "pixelSize"}},
        {"repeatCell": {"range": status, "cell": {"userEnteredFormat": {"wrapStrategy": "WRAP",
                                                                        "verticalAlignment": "TOP"}},
                        "fields": "userEnteredFormat.wrapStrategy,userEnteredFormat.verticalAlignment"}},
        {"updateSheetProperties": {"properties": {"sheetId": cases, "index": 0}, "fields": "index"}},
        {"setBasicFilter": {"filter": {"range": {"sheetId": cases, "startRowIndex": 0, "startColumnIndex": 0}}}},
        {"findReplace": {"find": r"^\s*ready\s*to\s*close\s*$", "replacement": "Open", "searchByRegex": True,
                         "matchCase": False, "matchEntireCell": True, "range": status}},
    ]})
    assert reply["replies"][:5] == [{}, {}, {}, {}, {}]
    assert reply["replies"][5] == {"findReplace": {"valuesChanged": 2, "occurrencesChanged": 2, "rowsChanged": 2,
                                                   "sheetsChanged": 1}}
    assert [row[1] for row in emu.values(sid, "Cases")] == [
        "Status", "Open", "Open", "Closed", "Not ready to close", '="Ready to close"']  # whole cells only
    cell = emu.cell(sid, "Cases", "B3")
    assert cell["dataValidation"] == {"condition": one_of["condition"], "showCustomUi": True}, "false is omitted"
    assert cell["userEnteredFormat"]["wrapStrategy"] == "WRAP"
    assert cell["effectiveFormat"]["wrapStrategy"] == "WRAP"
    meta = emu.metadata(sid)
    assert [s["properties"]["title"] for s in meta["sheets"]] == ["Cases", "Form Responses 1"]
    assert [s["properties"]["index"] for s in meta["sheets"]] == [0, 1]
    assert meta["sheets"][0]["basicFilter"]["range"]["startRowIndex"] == 0
    grid = hc.spreadsheets_get(sid, {"includeGridData": "true", "ranges": "Cases!A1:B1",
                                     "fields": "sheets.data.columnMetadata.pixelSize"})
    assert grid["sheets"][0]["data"][0]["columnMetadata"] == [{"pixelSize": 100}, {"pixelSize": 240}]
    plain = hc.batch_update(sid, {"requests": [{"findReplace": {"find": "open", "replacement": "Open again",
                                                                "sheetId": cases}}]})
    assert plain["replies"][0]["findReplace"]["occurrencesChanged"] == 2
    assert _api_error(hc.batch_update, sid, {"requests": [{"findReplace": {"find": "x"}}]}).code == 400


def test_validation_and_conditional_formats(emu: SheetsEmulator, client: gspread.Client,
                                            sid: str) -> None:
    emu.create_spreadsheet(sid, tabs={"Checklist": [["Step", "Done"], ["Call parent", False]]})
    spreadsheet = client.open_by_key(sid)
    column_b = {"sheetId": 0, "startRowIndex": 1, "startColumnIndex": 1, "endColumnIndex": 2}
    rule = {"ranges": [{"sheetId": 0, "startRowIndex": 1}],
            "booleanRule": {"condition": {"type": "CUSTOM_FORMULA",
                                          "values": [{"userEnteredValue": "=$B2<>TRUE"}]},
                            "format": {"backgroundColor": {"red": 0.96}}}}
    spreadsheet.batch_update({"requests": [
        {"setDataValidation": {"range": column_b, "rule": {"condition": {"type": "BOOLEAN"}}}},
        {"addConditionalFormatRule": {"rule": rule, "index": 0}},
    ]})
    assert emu.cell(sid, "Checklist", "B2")["dataValidation"] == {"condition": {"type": "BOOLEAN"}}
    assert emu.cell(sid, "Checklist", "B1000")["dataValidation"]["condition"]["type"] == "BOOLEAN"
    assert "dataValidation" not in emu.cell(sid, "Checklist", "B1")
    meta = emu.metadata(sid)["sheets"][0]
    # Google omits sheetId 0 from GridRanges in replies (the basicFilter cassette shows it).
    assert meta["conditionalFormats"] == [dict(rule, ranges=[{"startRowIndex": 1}])]
    reply = spreadsheet.batch_update({"requests": [
        {"deleteConditionalFormatRule": {"sheetId": 0, "index": 0}},
        {"setDataValidation": {"range": column_b}},
    ]})
    assert reply["replies"][0]["deleteConditionalFormatRule"]["rule"]["booleanRule"] \
        == rule["booleanRule"]
    assert "conditionalFormats" not in emu.metadata(sid)["sheets"][0]
    assert "dataValidation" not in emu.cell(sid, "Checklist", "B2")


def test_protection_filters_metadata_and_properties(emu: SheetsEmulator, client: gspread.Client,
                                                    sid: str) -> None:
    emu.create_spreadsheet(sid, tabs={"Sheet1": [["k", "v"], ["b", 2], ["a", 1]], "Cases": []})
    cases = emu.sheet_id(sid, "Cases")
    hc = client.http_client
    reply = hc.batch_update(sid, {"requests": [
        {"addProtectedRange": {"protectedRange": {
            "range": {"sheetId": cases, "startColumnIndex": 3, "endColumnIndex": 5},
            "description": "worker", "warningOnly": True}}},
        {"updateSheetProperties": {"properties": {"sheetId": cases, "gridProperties": {
            "frozenRowCount": 1}}, "fields": "gridProperties.frozenRowCount"}},
        {"updateSpreadsheetProperties": {"properties": {"timeZone": "Europe/London"},
                                         "fields": "timeZone"}},
        {"updateDimensionProperties": {"range": {"sheetId": cases, "dimension": "COLUMNS",
                                                 "startIndex": 4, "endIndex": 5},
                                       "properties": {"hiddenByUser": True},
                                       "fields": "hiddenByUser"}},
        {"setBasicFilter": {"filter": {"range": {"sheetId": 0, "endRowIndex": 3,
                                                 "endColumnIndex": 2},
                                       "sortSpecs": [{"dimensionIndex": 0,
                                                      "sortOrder": "ASCENDING"}]}}},
        {"createDeveloperMetadata": {"developerMetadata": {
            "metadataKey": "schema", "metadataValue": "1", "location": {"spreadsheet": True},
            "visibility": "DOCUMENT"}}},
    ]})
    protected = reply["replies"][0]["addProtectedRange"]["protectedRange"]
    assert isinstance(protected["protectedRangeId"], int)
    assert protected["range"] == {"sheetId": cases, "startColumnIndex": 3, "endColumnIndex": 5}
    assert reply["replies"][5]["createDeveloperMetadata"]["developerMetadata"]["metadataId"] == 1
    meta = emu.metadata(sid)
    assert meta["properties"]["timeZone"] == "Europe/London"
    assert meta["developerMetadata"][0]["metadataKey"] == "schema"
    first, second = meta["sheets"]
    assert first["basicFilter"]["range"] == {"startRowIndex": 0, "endRowIndex": 3,
                                             "startColumnIndex": 0, "endColumnIndex": 2}
    assert emu.values(sid, "Sheet1") == [["k", "v"], ["a", 1], ["b", 2]]  # sortSpecs applied
    assert second["properties"]["gridProperties"]["frozenRowCount"] == 1
    assert second["protectedRanges"][0]["warningOnly"] is True
    grid = hc.spreadsheets_get(sid, {"includeGridData": "true", "ranges": "Cases!D1:E1"})
    assert [m.get("hiddenByUser", False) for m in grid["sheets"][0]["data"][0]["columnMetadata"]] \
        == [False, True]
    hc.batch_update(sid, {"requests": [{"deleteProtectedRange": {
        "protectedRangeId": protected["protectedRangeId"]}}]})
    assert "protectedRanges" not in emu.metadata(sid)["sheets"][1]
    # gspread sends nulls and falses; Google treats null as unset and omits false fields.
    added = client.open_by_key(sid).sheet1.add_protected_range("A1:B1")
    echoed = added["replies"][0]["addProtectedRange"]["protectedRange"]
    assert "description" not in echoed and "warningOnly" not in echoed
    assert echoed["requestingUserCanEdit"] is True


# ---------------------------------------------------------------------------
# Grid data and responses that carry the spreadsheet
# ---------------------------------------------------------------------------


def test_include_grid_data_with_ranges_and_fields(emu: SheetsEmulator, client: gspread.Client,
                                                  sid: str) -> None:
    emu.create_spreadsheet(sid, tabs={"Form Responses 1": [["Timestamp", "Name"],
                                                           [dt.datetime(2024, 3, 5), "Ann"]],
                                      "Cases": [["Key"], ["K1"], [], ["K3"]], "Other": [["x"]]})
    hc = client.http_client
    full = hc.spreadsheets_get(sid, {"includeGridData": "true",
                                     "ranges": ["'Form Responses 1'!A1:B2", "Cases!A2:A"]})
    assert [s["properties"]["title"] for s in full["sheets"]] == ["Form Responses 1", "Cases"]
    responses = full["sheets"][0]["data"][0]
    assert "startRow" not in responses and "startColumn" not in responses
    stamp = responses["rowData"][1]["values"][0]
    assert stamp["effectiveValue"] == {"numberValue": 45356}
    assert stamp["formattedValue"] == "5/03/2024 0:00:00"
    assert stamp["userEnteredFormat"]["numberFormat"]["type"] == "DATE_TIME"
    cases = full["sheets"][1]["data"][0]
    assert cases["startRow"] == 1
    assert cases["rowData"] == [
        {"values": [{"userEnteredValue": {"stringValue": "K1"},
                     "effectiveValue": {"stringValue": "K1"}, "formattedValue": "K1",
                     "effectiveFormat": cases["rowData"][0]["values"][0]["effectiveFormat"]}]},
        {},
        {"values": [cases["rowData"][2]["values"][0]]}]
    assert len(cases["rowMetadata"]) == 999 and cases["columnMetadata"] == [{"pixelSize": 100}]
    masked = hc.spreadsheets_get(sid, {
        "includeGridData": "true", "ranges": ["Cases!A1:A4"],
        "fields": "properties(title,timeZone),sheets(properties(sheetId,title),"
                  "data(startRow,rowData(values(effectiveValue))))"})
    assert masked == {"properties": {"title": "Incidents", "timeZone": "Pacific/Auckland"},
                      "sheets": [{"properties": {"sheetId": emu.sheet_id(sid, "Cases"),
                                                 "title": "Cases"},
                                  "data": [{"rowData": [
                                      {"values": [{"effectiveValue": {"stringValue": "Key"}}]},
                                      {"values": [{"effectiveValue": {"stringValue": "K1"}}]},
                                      {},
                                      {"values": [{"effectiveValue": {"stringValue": "K3"}}]}]}]}]}
    everything = hc.spreadsheets_get(sid, {"includeGridData": "true"})
    assert [len(s["data"]) for s in everything["sheets"]] == [1, 1, 1]
    # A mask that drops every field of the trailing cells trims them, as for get_notes.
    worksheet = client.open_by_key(sid).worksheet("Cases")
    worksheet.insert_note("A2", "first case")
    assert worksheet.get_notes() == [[], ["first case"]]
    error = _api_error(hc.spreadsheets_get, sid, {"includeGridData": "true",
                                                  "ranges": ["'Nope'!A1:Z"]})
    assert error.code == 400
    assert error.error["message"] == "Unable to parse range: 'Nope'!A1:Z"


def test_include_spreadsheet_in_response(emu: SheetsEmulator, client: gspread.Client,
                                         sid: str) -> None:
    emu.create_spreadsheet(sid, tabs={"Form Responses 1": [["a"]],
                                      "Cases": [["Key", "Status"], ["K1", "Open"]]})
    cases = emu.sheet_id(sid, "Cases")
    body = {"requests": [{"appendCells": {"sheetId": cases, "fields": "userEnteredValue",
                                          "rows": [{"values": [
                                              {"userEnteredValue": {"stringValue": "K2"}}]}]}}],
            "includeSpreadsheetInResponse": True, "responseIncludeGridData": True,
            "responseRanges": ["Cases!A:A"]}
    reply = client.http_client.batch_update(sid, body)
    updated = reply["updatedSpreadsheet"]
    assert [s["properties"]["title"] for s in updated["sheets"]] == ["Cases"]
    keys = [row["values"][0]["effectiveValue"]["stringValue"]
            for row in updated["sheets"][0]["data"][0]["rowData"]]
    assert keys == ["Key", "K1", "K2"]
    # The product asks for a trimmed reply with the standard ``fields`` parameter.
    trimmed = client.http_client.request(
        "post", f"https://sheets.googleapis.com/v4/spreadsheets/{sid}:batchUpdate",
        params={"fields": "spreadsheetId,updatedSpreadsheet(sheets(data(rowData(values("
                          "effectiveValue)))))"},
        json=dict(body, requests=[{"updateCells": {
            "start": {"sheetId": cases, "rowIndex": 1, "columnIndex": 1},
            "rows": [{"values": [{"userEnteredValue": {"stringValue": "Closed"}}]}],
            "fields": "userEnteredValue"}}])).json()
    assert set(trimmed) == {"spreadsheetId", "updatedSpreadsheet"}
    assert list(trimmed["updatedSpreadsheet"]["sheets"][0]) == ["data"]
    assert emu.values(sid, "Cases")[1] == ["K1", "Closed"]
    no_grid = client.http_client.batch_update(sid, dict(body, responseIncludeGridData=False))
    assert "data" not in no_grid["updatedSpreadsheet"]["sheets"][0]


# ---------------------------------------------------------------------------
# Errors and fault injection
# ---------------------------------------------------------------------------


def test_unknown_spreadsheet_and_path_are_404(emu: SheetsEmulator, client: gspread.Client) -> None:
    with pytest.raises(SpreadsheetNotFound):
        client.open_by_key("no-such-sheet")
    error = _api_error(client.http_client.fetch_sheet_metadata, "no-such-sheet")
    assert error.code == 404
    assert error.error == {"code": 404, "message": "Requested entity was not found.",
                           "status": "NOT_FOUND"}
    response = requests.get(f"http://{emu.host}/v4/nothing/here", timeout=5)
    assert response.status_code == 404 and response.json()["error"]["status"] == "NOT_FOUND"


def test_fail_next_429_then_success(emu: SheetsEmulator, client: gspread.Client, sid: str) -> None:
    emu.create_spreadsheet(sid, tabs={"Sheet1": [["ok"]]})
    emu.reset_requests()
    emu.fail_next(2, 429, retry_after=2)
    first = _api_error(client.http_client.values_get, sid, "Sheet1!A1")
    assert first.code == 429 and first.error["status"] == "RESOURCE_EXHAUSTED"
    assert first.error["message"].startswith("Quota exceeded for quota metric 'Read requests' and "
                                             "limit 'Read requests per minute per user'")
    assert first.response.headers["Retry-After"] == "2"
    second = _api_error(client.http_client.batch_update, sid, {"requests": [
        {"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": 1}}]})
    assert "'Write requests'" in second.error["message"]
    assert emu.metadata(sid)["sheets"][0]["properties"]["gridProperties"]["rowCount"] == 1000
    assert client.http_client.values_get(sid, "Sheet1!A1")["values"] == [["ok"]]
    assert [m for m, _ in emu.requests] == ["GET", "POST", "GET"]


def test_html_bodies_and_fail_always(emu: SheetsEmulator, client: gspread.Client,
                                     sid: str) -> None:
    emu.create_spreadsheet(sid)
    emu.fail_next(1, 503, json_body=False)
    error = _api_error(client.http_client.values_get, sid, "A1")
    assert error.response.status_code == 503
    assert error.code == -1  # gspread cannot parse Google's HTML error page
    assert error.response.headers["Content-Type"].startswith("text/html")
    assert error.response.text.startswith("<!DOCTYPE html>")
    emu.fail_always(500)
    for _ in range(3):
        assert _api_error(client.http_client.values_get, sid, "A1").code == 500
    emu.fail_always(None)
    assert client.http_client.values_get(sid, "A1")["range"] == "Sheet1!A1"
    emu.fail_next(5, 503)
    emu.clear_faults()
    assert client.http_client.values_get(sid, "A1")["range"] == "Sheet1!A1"


def test_before_request_hook_fires_on_the_nth_request(emu: SheetsEmulator,
                                                      client: gspread.Client, sid: str) -> None:
    rows = [["Key", "Status"], ["K3", "open"], ["K1", "open"], ["K2", "open"]]
    emu.create_spreadsheet(sid, tabs={"Cases": rows})
    hc = client.http_client
    emu.before_request(2, lambda: emu.sort_tab(sid, "Cases", 1))
    seen = hc.values_get(sid, "Cases!A2:A4")["values"]  # request 1: before the sort
    assert seen == [["K3"], ["K1"], ["K2"]]
    row_of_k3 = 1 + seen.index(["K3"])  # 0-based grid row 1 -> sheet row 2
    hc.batch_update(sid, {"requests": [{"updateCells": {  # request 2: the sort slips in first
        "start": {"sheetId": 0, "rowIndex": row_of_k3, "columnIndex": 1},
        "rows": [{"values": [{"userEnteredValue": {"stringValue": "closed"}}]}],
        "fields": "userEnteredValue"}}]})
    assert emu.values(sid, "Cases") == [["Key", "Status"], ["K1", "closed"], ["K2", "open"],
                                        ["K3", "open"]]


def test_request_accounting(emu: SheetsEmulator, client: gspread.Client, sid: str) -> None:
    emu.create_spreadsheet(sid)
    emu.reset_requests()
    worksheet = client.open_by_key(sid).sheet1
    worksheet.get_all_values()
    emu.set_values(sid, "Sheet1", "A1", [["not counted"]])
    emu.append_row(sid, "Sheet1", ["nor this"])
    assert emu.requests == [("GET", f"/v4/spreadsheets/{sid}?includeGridData=false"),
                            ("GET", f"/v4/spreadsheets/{sid}?includeGridData=false"),
                            ("GET", f"/v4/spreadsheets/{sid}/values/%27Sheet1%27")]
    emu.reset_requests()
    assert emu.requests == []


def test_delay_slows_every_answer(emu: SheetsEmulator, client: gspread.Client, sid: str) -> None:
    emu.create_spreadsheet(sid)
    emu.delay = 0.15
    started = time.monotonic()
    client.http_client.values_get(sid, "A1")
    assert time.monotonic() - started >= 0.15
    emu.delay = 0.0


# ---------------------------------------------------------------------------
# The other actors: leaders and Google Forms
# ---------------------------------------------------------------------------


def test_leader_edits_move_cells_and_ranges(emu: SheetsEmulator, client: gspread.Client,
                                            sid: str) -> None:
    emu.create_spreadsheet(sid, tabs={"Cases": [["Key", "Level"], ["b", 2], ["A", 10], ["c", ""],
                                                ["a", True]]})
    client.http_client.batch_update(sid, {"requests": [{"addConditionalFormatRule": {"rule": {
        "ranges": [{"sheetId": 0, "startRowIndex": 1, "endRowIndex": 3}],
        "booleanRule": {"condition": {"type": "NOT_BLANK"}, "format": {}}}}}]})
    emu.sort_tab(sid, "Cases", 1)
    assert [r[0] for r in emu.values(sid, "Cases")] == ["Key", "A", "a", "b", "c"]
    emu.sort_tab(sid, "Cases", "B", reverse=True)
    assert emu.values(sid, "Cases")[1:] == [["a", True], ["A", 10], ["b", 2], ["c"]]
    emu.insert_rows(sid, "Cases", 2, count=2)
    assert emu.values(sid, "Cases")[:4] == [["Key", "Level"], [], [], ["a", True]]
    rule_range = emu.metadata(sid)["sheets"][0]["conditionalFormats"][0]["ranges"][0]
    assert rule_range == {"startRowIndex": 3, "endRowIndex": 5}
    emu.delete_rows(sid, "Cases", 2, count=3)
    assert emu.values(sid, "Cases") == [["Key", "Level"], ["A", 10], ["b", 2], ["c"]]
    rule_range = emu.metadata(sid)["sheets"][0]["conditionalFormats"][0]["ranges"][0]
    assert rule_range == {"startRowIndex": 1, "endRowIndex": 2}
    assert emu.metadata(sid)["sheets"][0]["properties"]["gridProperties"]["rowCount"] == 999
    worksheet = client.open_by_key(sid).worksheet("Cases")
    worksheet.insert_row(["new", 5], index=2)  # gspread: insertDimension + values append
    worksheet.delete_rows(5)
    assert emu.values(sid, "Cases") == [["Key", "Level"], ["new", 5], ["A", 10], ["b", 2]]


def test_form_responses_and_leader_typing(emu: SheetsEmulator, client: gspread.Client,
                                          sid: str) -> None:
    emu.create_spreadsheet(sid, tabs={"Form Responses 1": [["Timestamp", "Phone"]]})
    aware = dt.datetime(2024, 3, 4, 22, 0, tzinfo=dt.UTC)  # 11:00 next day in Auckland
    assert emu.append_row(sid, "Form Responses 1", [aware, "021 555 1234"]) == 2
    emu.set_values(sid, "Form Responses 1", "B3", [["=1+1", "0215551234"]], user_entered=True)
    formatted = client.open_by_key(sid).sheet1.get_all_values()
    assert formatted[1] == ["5/03/2024 11:00:00", "021 555 1234", ""]
    assert formatted[2] == ["", "2", "215551234"]
    assert emu.values(sid, "Form Responses 1")[1][0] == pytest.approx(45356 + 11 / 24)


def test_concurrent_appends_are_all_kept(emu: SheetsEmulator, sid: str) -> None:
    emu.create_spreadsheet(sid, tabs={"Sheet1": [["n"]]})

    def work(worker: int) -> None:
        local = gspread.Client(auth=None, session=EmulatorSession(emu.host))
        for i in range(5):
            local.http_client.values_append(sid, "Sheet1", {"valueInputOption": "RAW"},
                                            {"values": [[worker * 10 + i]]})

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    numbers = sorted(row[0] for row in emu.values(sid, "Sheet1")[1:])
    assert numbers == sorted(w * 10 + i for w in range(6) for i in range(5))


def test_cli_serves_a_form_responses_tab(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "sheets_emulator", "--port", str(port), "--spreadsheet-id",
         "cli-sheet", "--headers", "Name, What happened"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == f"SHEETS_EMULATOR_HOST=127.0.0.1:{port}"
        client = gspread.Client(auth=None, session=EmulatorSession(f"127.0.0.1:{port}"))
        worksheet = client.open_by_key("cli-sheet").worksheet("Form Responses 1")
        assert worksheet.get_all_values() == [["Timestamp", "Name", "What happened"]]
        assert worksheet.frozen_row_count == 1
        assert client.open_by_key("cli-sheet").timezone == "Pacific/Auckland"
    finally:
        process.terminate()
        process.wait(timeout=5)
