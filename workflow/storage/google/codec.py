"""Cell values to and from the Sheets API's CellData, date-time serials and A1 ranges.

Writing follows ``storage.cells`` (text always a ``stringValue``, never a formula; date-times a
serial in the spreadsheet's zone with a DATE_TIME format; booleans ``boolValue``). Reading turns an
``effectiveValue`` back into the core's values.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from gspread.utils import absolute_range_name

from ...model import CellValue
from ...schema import CELL_LIMIT, DATE_FORMAT, DATETIME_FORMAT
from ..cells import header_text, sheet_value
from ..design import column_letter

SERIAL_EPOCH = datetime(1899, 12, 30)  # day 0 of Google's (and Lotus') date serials
DATE_TYPES = ("DATE", "DATE_TIME")
CHECKBOX_RULE = {"condition": {"type": "BOOLEAN"}}


def dropdown_rule(values: tuple[str, ...]) -> dict[str, Any]:
    """A dropdown that warns about other values but keeps them (strict false: a leader's synonym stays)."""
    return {"condition": {"type": "ONE_OF_LIST", "values": [{"userEnteredValue": v} for v in values]},
            "showCustomUi": True}


ERROR_TEXT = {
    "REF": "#REF!", "NAME": "#NAME?", "VALUE": "#VALUE!", "DIVIDE_BY_ZERO": "#DIV/0!", "NUM": "#NUM!",
    "N_A": "#N/A", "NULL_VALUE": "#NULL!", "LOADING": "Loading...",
}

Grid = dict[int, dict[int, dict[str, Any]]]

__all__ = ["a1_quote", "cell_data", "column_letter", "dropdown_rule", "from_serial", "grid", "header_of", "read_cell",
           "to_serial"]


def to_serial(wall_clock: datetime) -> float:
    """A naive wall-clock date-time as a sheet serial (days since 1899-12-30)."""
    delta = wall_clock - SERIAL_EPOCH
    return delta.days + (delta.seconds + delta.microseconds / 1_000_000) / 86_400


def from_serial(serial: float, tz: tzinfo) -> datetime:
    """A serial read from the sheet as an aware datetime in the sheet's zone, to the second."""
    return (SERIAL_EPOCH + timedelta(seconds=round(serial * 86_400))).replace(tzinfo=tz)


def a1_quote(title: str, cells: str | None = None) -> str:
    """A tab title (always quoted: titles may look like cells), optionally with a cell range."""
    return absolute_range_name(title, cells)


def read_cell(cell: dict[str, Any] | None) -> CellValue:
    """A CellData's effective value as the core sees it (serials stay numbers here)."""
    value = (cell or {}).get("effectiveValue")
    if not value:
        return None
    if "stringValue" in value:
        return str(value["stringValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "numberValue" in value:
        number = value["numberValue"]
        if isinstance(number, float) and number.is_integer() and abs(number) < 2**53:
            return int(number)
        return number if isinstance(number, int | float) else None
    if "errorValue" in value:
        error = value["errorValue"] or {}
        return ERROR_TEXT.get(error.get("type", ""), "#ERROR!")
    return None


def cell_data(value: Any, tz: tzinfo, datetime_column: bool = False) -> dict[str, Any]:
    """A value as a CellData to write: literal text, serial date-times, checkbox booleans.

    ``datetime_column`` gives even a blank cell the date-time format (appended rows).
    """
    plain = sheet_value(value, tz, CELL_LIMIT)
    if isinstance(plain, datetime):
        pattern = DATE_FORMAT if isinstance(value, date) and not isinstance(value, datetime) else DATETIME_FORMAT
        return {
            "userEnteredValue": {"numberValue": to_serial(plain)},
            "userEnteredFormat": {"numberFormat": {"type": "DATE_TIME", "pattern": pattern}},
        }
    if datetime_column and (plain is None or plain == ""):
        return {"userEnteredFormat": {"numberFormat": {"type": "DATE_TIME", "pattern": DATETIME_FORMAT}}}
    if plain is None or plain == "":
        return {}
    if isinstance(plain, bool):
        return {"userEnteredValue": {"boolValue": plain}}
    if isinstance(plain, int | float):
        return {"userEnteredValue": {"numberValue": plain}}
    return {"userEnteredValue": {"stringValue": str(plain)}}


def number_format_type(cell: dict[str, Any] | None) -> str | None:
    """The type of a cell's own number format ("DATE_TIME", ...), if it has one."""
    return (((cell or {}).get("userEnteredFormat") or {}).get("numberFormat") or {}).get("type")


def grid(sheet: dict[str, Any]) -> Grid:
    """A sheet's GridData blocks merged into {row: {column: CellData}} (0-based grid indexes)."""
    merged: Grid = {}
    for block in sheet.get("data") or []:
        top, left = block.get("startRow", 0), block.get("startColumn", 0)
        for i, row in enumerate(block.get("rowData") or []):
            for j, cell in enumerate(row.get("values") or []):
                if cell:
                    merged.setdefault(top + i, {})[left + j] = cell
    return merged


def header_of(cells: Grid) -> list[str]:
    """The header row's texts, trailing blanks dropped."""
    header_cells = cells.get(0, {})
    width = max(header_cells, default=-1) + 1
    header = [header_text(read_cell(header_cells.get(c))) for c in range(width)]
    while header and not header[-1]:
        header.pop()
    return header
