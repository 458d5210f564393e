"""An in-memory Google Sheets API v4 server, so product tests run offline with the REAL gspread.

Why: the worker talks to Google through gspread's HTTP client; mocking gspread would test our
guesses about it. This emulator instead answers the HTTP requests gspread really sends (routed
here by ``workflow.storage.google_http.EmulatorSession``), keeps the spreadsheet in memory, and
lets a test play the other actors: Google Forms appending responses, a leader sorting or
inserting rows, Google's quota and outage errors.

Verified against recorded Google traffic (burnash/gspread ``tests/cassettes``, 2021-2023) and the
API reference:

* spreadsheets.get: ``spreadsheetId``, ``properties`` (title, locale, autoRecalc, timeZone,
  defaultFormat), ``sheets[].properties`` {sheetId, title, index, sheetType, gridProperties
  {rowCount, columnCount}}, ``spreadsheetUrl`` ".../d/ID/edit"; new sheets default to 1000 x 26.
* GridRange in replies omits ``sheetId`` when it is 0 but keeps ``startRowIndex: 0`` (basicFilter
  cassette); a whole-sheet basic filter comes back with concrete bounds.
* 404 body {"error": {"code": 404, "message": "Requested entity was not found.", "status":
  "NOT_FOUND"}}; batchUpdate replies {"spreadsheetId", "replies": [{}...]}; addSheet reply
  {"addSheet": {"properties": {...}}}.
* values: a whole-tab read of a 4x4 sheet answers "Sheet1!A1:D4" with trailing cells and rows
  trimmed, inner blank rows as [] and NO "values" key at all when the range is empty; titles are
  quoted only when needed ("Sheet1" bare, "'D3'" and "'<emoji> x 1'" quoted); "A:A" on a 10-row
  tab answers "A1:A10"; "A1:1" answers "A1:Z1"; PUT answers {spreadsheetId, updatedRange
  (start + data extent), updatedRows, updatedColumns, updatedCells}; append answers
  {spreadsheetId, updates: {...}} with no ``tableRange`` when the tab was empty, and an append
  anchored at a blank cell ("B1" right of filled column A) writes there ("Sheet1!B1:C4");
  majorDimension COLUMNS in writes; clear answers {spreadsheetId, clearedRange:
  "Sheet1!A1:Z1000"}.
* Error texts seen in issue threads: "Unable to parse range: <range as sent>", "Range
  (Solar!Y1) exceeds grid limits. Max rows: 981, max columns: 24" (writes past the grid,
  including an append wider than the tab), "Must specify at least one request.", "Invalid JSON
  payload received. Unknown name \"X\" at 'requests[0]': Cannot find field.", the 429 "Quota
  exceeded for quota metric 'Read requests' and limit 'Read requests per minute per user' ..."
  with status RESOURCE_EXHAUSTED, "'valueInputOption' is required but not specified".
* Reads clamp open or oversized ranges to the grid (clients ask for "A1:ZZ1" or "B2:ZZZ"); a
  read that STARTS outside the grid is the 400 "exceeds grid limits".
* spreadsheets.get with ``ranges`` returns only the sheets those ranges touch (the reference:
  "returns only the portions of the spreadsheet that intersect the requested ranges"), and a
  ``fields`` mask that names grid data returns it even without includeGridData.
* Sheet titles are unique ignoring case (addSheet of "sheet1" next to "Sheet1" fails; reported
  for both the UI and the API in socialpoint-labs/sheetfu#26). Ranges also find a tab ignoring
  case (an exact match wins) and the reply uses the real title: that part is inferred from the
  uniqueness rule and the Sheets UI, not from a recording.

Approximated (documented so nobody leans on them):

* GridData omits ``startRow``/``startColumn`` when 0, as proto3 JSON does for plain ints (read
  them with ``.get(..., 0)``); ``rowMetadata``/``columnMetadata`` carry pixelSize 21/100.
* Formulas are stored as given. Only arithmetic on literal numbers (``=1+1``, ``=2^3``) and
  ``=HYPERLINK("url","label")`` are evaluated; any other formula's effective value is an
  errorValue {type: "ERROR"} (formatted "#ERROR!"), and text that cannot parse ("+64 21 555
  1234" typed USER_ENTERED becomes "=+64 21 555 1234", as in Sheets) is "Formula parse error.".
* USER_ENTERED parsing: "=..." formula; a leading apostrophe forces text; TRUE/FALSE (any case)
  booleans; plain / thousands-separated / percent / "$" numbers (leading zeros are lost, as in
  Sheets); "yyyy-mm-dd[ h:mm[:ss]]", locale slash dates (m/d/yyyy for en_US, d/m/yyyy
  otherwise) and "h:mm[:ss][ am/pm]" become serial numbers with a DATE/DATE_TIME/TIME format;
  other text starting with "+" or "-" becomes a (failing) formula. A cell formatted as TEXT
  keeps typed input as text. ISO "T" timestamps stay text.
* Formatted values: General numbers print like Sheets (integers without ".0", up to 10
  decimals, rounding half away from zero); number patterns support 0 # , . % and quoted literals; date patterns support
  y/m/d/h/s tokens (case-insensitive), mmm/mmmm, ddd/dddd, AM/PM and .000. A DATE/TIME type
  without a pattern uses "M/d/yyyy H:mm:ss" (en_US) or "d/MM/yyyy H:mm:ss" (other locales).
* effectiveFormat = the spreadsheet default format overlaid with userEnteredFormat.
* values.append: the "table" is the block of consecutive rows holding a value in the range's
  columns (an anchor cell such as "A1" means its own column only) starting at the range's
  first row; values go to the row after it, from the table's first column. So a blank row
  inside the data gets filled, and a blank first row is written right there (gspread's
  insert_row/insert_cols rely on that). Google's own detection for a whole-tab range is
  fuzzier (gspread#537: rows with blank cells drift right); an anchor such as "A1" behaves
  the same on both. OVERWRITE grows the tab's rows when needed, INSERT_ROWS inserts rows.
  appendCells appends after the last row holding a value.
* Protection and data validation are stored and returned but never enforced; conditional
  formats are stored, not evaluated; setBasicFilter applies sortSpecs but hides nothing.
* insertDimension does not copy formats from the neighbouring row (inheritFromBefore is
  only validated). Inserting/deleting rows or columns shifts cells, row/column metadata,
  conditional-format ranges, protected ranges, merges and the basic filter.
* Request types Google has but this emulator lacks answer 501 UNIMPLEMENTED (so a test fails
  loudly), unknown names answer Google's 400 "Unknown name".
* ``fields`` (partial response) is applied to every JSON reply: comma lists, "a.b" / "a/b"
  paths, "a(b,c)" groups and "*"; grid data is then re-trimmed so rows and cells left empty by
  the mask drop off the ends (gspread's get_notes documents that shape). JSON nulls in request
  bodies mean "unset", except inside value lists where null means "leave this cell".
  Echoed protected ranges and validation rules drop false/empty fields, as proto3 JSON does.
  Replies are compact JSON (Google pretty-prints; no client cares).
* Seeding and the Python helpers (create_spreadsheet tabs, set_values, append_row): values are
  literal unless user_entered=True; datetime/date become serials with a DATE_TIME/DATE format
  ("d/MM/yyyy H:mm:ss" outside en_US, as Forms timestamps look), a naive datetime being sheet
  wall-clock and an aware one converted to the spreadsheet's timeZone. Helpers are not API
  requests: they are neither counted nor subject to injected faults.

Sorting (``sort_tab``/``sortRange``): numbers before text (case-insensitive) before booleans
before errors, blanks always last in either direction; stable.

Request accounting: ``requests`` records (METHOD, raw path with query, percent-encoded as
received) for every HTTP request that reaches the server, including injected failures.
"""

from __future__ import annotations

import argparse
import ast
import copy
import datetime as dt
import functools
import json
import math
import random
import re
import sys
import threading
import time
import traceback
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

__all__ = ["SheetsEmulator", "SheetsApiError", "column_letters", "quote_title"]

DEFAULT_ROW_COUNT = 1000
DEFAULT_COLUMN_COUNT = 26
CELL_LIMIT = 10_000_000
SERIAL_EPOCH = dt.datetime(1899, 12, 30)

DEFAULT_FORMAT: dict[str, Any] = {
    "backgroundColor": {"red": 1, "green": 1, "blue": 1},
    "padding": {"top": 2, "right": 3, "bottom": 2, "left": 3},
    "verticalAlignment": "BOTTOM",
    "wrapStrategy": "OVERFLOW_CELL",
    "textFormat": {
        "foregroundColor": {},
        "fontFamily": "arial,sans,sans-serif",
        "fontSize": 10,
        "bold": False,
        "italic": False,
        "strikethrough": False,
        "underline": False,
        "foregroundColorStyle": {"rgbColor": {}},
    },
    "backgroundColorStyle": {"rgbColor": {"red": 1, "green": 1, "blue": 1}},
}

STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
    501: "UNIMPLEMENTED", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}
STATUS_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
         "cookie or other valid authentication credential.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    408: "The request timed out.",
    409: "The operation was aborted.",
    500: "Internal error encountered.",
    502: "The service is currently unavailable.",
    503: "The service is currently unavailable.",
    504: "Deadline expired before operation could complete.",
}
ERROR_TEXT = {
    "ERROR": "#ERROR!", "NULL_VALUE": "#NULL!", "DIVIDE_BY_ZERO": "#DIV/0!", "VALUE": "#VALUE!",
    "REF": "#REF!", "NAME": "#NAME?", "NUM": "#NUM!", "N_A": "#N/A", "LOADING": "Loading...",
}
VALUE_KEYS = ("numberValue", "stringValue", "boolValue", "formulaValue", "errorValue")
WRITABLE_CELL_FIELDS = (
    "userEnteredValue", "userEnteredFormat", "note", "hyperlink", "textFormatRuns",
    "dataValidation", "pivotTable", "dataSourceTable", "dataSourceFormula",
)
READ_ONLY_CELL_FIELDS = ("effectiveValue", "formattedValue", "effectiveFormat")
DATETIME_TYPES = ("DATE", "TIME", "DATE_TIME")
# Request kinds Google knows; the ones without a handler below answer 501 (not 400).
GOOGLE_REQUEST_KINDS = frozenset({
    "updateSpreadsheetProperties", "updateSheetProperties", "updateDimensionProperties",
    "updateNamedRange", "repeatCell", "addNamedRange", "deleteNamedRange", "addSheet",
    "deleteSheet", "autoFill", "cutPaste", "copyPaste", "mergeCells", "unmergeCells",
    "updateBorders", "updateCells", "addFilterView", "appendCells", "clearBasicFilter",
    "deleteDimension", "deleteEmbeddedObject", "deleteFilterView", "duplicateFilterView",
    "duplicateSheet", "findReplace", "insertDimension", "insertRange", "moveDimension",
    "updateEmbeddedObjectPosition", "pasteData", "textToColumns", "updateFilterView",
    "deleteRange", "appendDimension", "addConditionalFormatRule", "updateConditionalFormatRule",
    "deleteConditionalFormatRule", "sortRange", "setDataValidation", "setBasicFilter",
    "addProtectedRange", "updateProtectedRange", "deleteProtectedRange", "autoResizeDimensions",
    "addChart", "updateChartSpec", "updateBanding", "addBanding", "deleteBanding",
    "createDeveloperMetadata", "updateDeveloperMetadata", "deleteDeveloperMetadata",
    "randomizeRange", "addDimensionGroup", "deleteDimensionGroup", "updateDimensionGroup",
    "trimWhitespace", "deleteDuplicates", "updateEmbeddedObjectBorder", "addSlicer",
    "updateSlicerSpec", "addDataSource", "updateDataSource", "deleteDataSource",
    "refreshDataSource", "cancelDataSourceRefresh", "addTable", "updateTable", "deleteTable",
})


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class SheetsApiError(Exception):
    """An error reply in Google's JSON shape {"error": {code, message, status[, details]}}."""

    def __init__(self, code: int, message: str, status: str | None = None,
                 details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_NAMES.get(code, "UNKNOWN")
        self.details = details

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


class _Invalid(Exception):
    """A batchUpdate request is invalid; the message lacks the "Invalid requests[i].kind: " prefix."""


def _bad(message: str, details: list[dict[str, Any]] | None = None) -> SheetsApiError:
    return SheetsApiError(400, message, "INVALID_ARGUMENT", details)


# ---------------------------------------------------------------------------
# A1 notation
# ---------------------------------------------------------------------------


def column_letters(index: int) -> str:
    """0-based column index -> "A", "Z", "AA" ..."""
    n = index + 1
    letters = ""
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _column_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


def _cell_a1(row: int, col: int) -> str:
    return f"{column_letters(col)}{row + 1}"


def _span_a1(r0: int, r1: int, c0: int, c1: int) -> str:
    """Half-open 0-based bounds -> "B7" (one cell) or "A1:C3"."""
    if r1 - r0 == 1 and c1 - c0 == 1:
        return _cell_a1(r0, c0)
    return f"{_cell_a1(r0, c0)}:{_cell_a1(r1 - 1, c1 - 1)}"


_BARE_TITLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CELL_LIKE = re.compile(r"[A-Za-z]{1,3}[0-9]+")
_R1C1_LIKE = re.compile(r"[Rr][0-9]*[Cc][0-9]*")


def quote_title(title: str) -> str:
    """A tab title as Google writes it in a range: bare when unambiguous, else single-quoted."""
    if _BARE_TITLE.fullmatch(title) and not _CELL_LIKE.fullmatch(title) \
            and not _R1C1_LIKE.fullmatch(title):
        return title
    return "'" + title.replace("'", "''") + "'"


@dataclass(frozen=True)
class _Bounds:
    """0-based, end-exclusive; None = unbounded. ``single`` marks a one-cell A1 ("B7")."""

    r0: int | None = None
    r1: int | None = None
    c0: int | None = None
    c1: int | None = None
    single: bool = False


_WHOLE = _Bounds()
_ENDPOINT = re.compile(r"\$?([A-Za-z]{0,3})\$?([0-9]{0,8})")


def _endpoint(text: str) -> tuple[int | None, int | None] | None:
    match = _ENDPOINT.fullmatch(text)
    if not match or not (match.group(1) or match.group(2)):
        return None
    col = _column_index(match.group(1)) if match.group(1) else None
    row = None
    if match.group(2):
        row = int(match.group(2)) - 1
        if row < 0:
            return None
    return col, row


def _parse_cells(text: str) -> _Bounds | None:
    """The part after "!": "B7", "A1:C3", "A:C", "2:4", "A2:Z", "A1:1"; None if not A1."""
    parts = text.split(":")
    if len(parts) == 1:
        point = _endpoint(parts[0])
        if point is None or point[0] is None or point[1] is None:
            return None
        col, row = point
        return _Bounds(row, row + 1, col, col + 1, single=True)
    if len(parts) != 2:
        return None
    first, second = _endpoint(parts[0]), _endpoint(parts[1])
    if first is None or second is None:
        return None
    (ca, ra), (cb, rb) = first, second
    if ca is None and cb is None:
        if ra is None or rb is None:
            return None
        lo, hi = sorted((ra, rb))
        return _Bounds(lo, hi + 1, None, None)
    if ra is None and rb is None:
        if ca is None or cb is None:
            return None
        lo, hi = sorted((ca, cb))
        return _Bounds(None, None, lo, hi + 1)
    r0 = ra if ra is not None else 0
    c0 = ca if ca is not None else 0
    r1 = rb + 1 if rb is not None else None
    c1 = cb + 1 if cb is not None else None
    if r1 is not None and r0 >= r1:
        r0, r1 = r1 - 1, r0 + 1
    if c1 is not None and c0 >= c1:
        c0, c1 = c1 - 1, c0 + 1
    return _Bounds(r0, r1, c0, c1)


def _split_range(text: str) -> tuple[str | None, str | None]:
    """(tab title or None = first visible tab, cells part or None = whole tab); ValueError if bad.

    A string without "!" that is valid A1 is a range on the first tab; anything else is a title
    (Google resolves the ambiguity the same way).
    """
    text = text.strip()
    if not text:
        raise ValueError(text)
    if text.startswith("'"):
        title: list[str] = []
        i = 1
        while True:
            if i >= len(text):
                raise ValueError(text)
            ch = text[i]
            if ch == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    title.append("'")
                    i += 2
                    continue
                break
            title.append(ch)
            i += 1
        rest = text[i + 1:]
        if not rest:
            return "".join(title), None
        if not rest.startswith("!") or len(rest) == 1:
            raise ValueError(text)
        return "".join(title), rest[1:]
    if "!" in text:
        title_text, _, cells = text.rpartition("!")
        if not title_text or not cells:
            raise ValueError(text)
        return title_text, cells
    if _parse_cells(text) is not None:
        return None, text
    return text, None


# ---------------------------------------------------------------------------
# Field masks (request masks and partial responses)
# ---------------------------------------------------------------------------


class _MaskParser:
    """Parses "a.b,c/d,e(f,g(h))" into paths [("a","b"), ("c","d"), ("e","f"), ("e","g","h")]."""

    NAME = re.compile(r"[A-Za-z0-9_*@]+")

    def __init__(self, text: str) -> None:
        self.text = re.sub(r"\s+", "", text)
        self.pos = 0

    def parse(self) -> list[tuple[str, ...]]:
        if not self.text:
            raise ValueError("empty field mask")
        paths = self._list()
        if self.pos != len(self.text):
            raise ValueError(self.text)
        return paths

    def _list(self) -> list[tuple[str, ...]]:
        paths = self._item()
        while self.pos < len(self.text) and self.text[self.pos] == ",":
            self.pos += 1
            paths.extend(self._item())
        return paths

    def _item(self) -> list[tuple[str, ...]]:
        names = [self._name()]
        while self.pos < len(self.text) and self.text[self.pos] in "./":
            self.pos += 1
            names.append(self._name())
        if self.pos < len(self.text) and self.text[self.pos] == "(":
            self.pos += 1
            inner = self._list()
            if self.pos >= len(self.text) or self.text[self.pos] != ")":
                raise ValueError(self.text)
            self.pos += 1
            return [tuple(names) + sub for sub in inner]
        return [tuple(names)]

    def _name(self) -> str:
        match = self.NAME.match(self.text, self.pos)
        if not match:
            raise ValueError(self.text)
        self.pos = match.end()
        return match.group(0)


def parse_field_mask(text: str) -> list[tuple[str, ...]]:
    """Field mask text -> list of key paths; ValueError when malformed."""
    return _MaskParser(text).parse()


def _mask_tree(paths: Iterable[tuple[str, ...]]) -> dict[str, Any]:
    """Paths -> nested dict; a None leaf keeps the whole value below it."""
    tree: dict[str, Any] = {}
    for path in paths:
        node: dict[str, Any] | None = tree
        for depth, key in enumerate(path):
            if node is None:
                break
            if depth == len(path) - 1:
                node[key] = None
            else:
                child = node.get(key, {})
                if child is None:
                    break
                node[key] = child
                node = child
    return tree


def _select(value: Any, tree: dict[str, Any] | None) -> Any:
    """Partial response: keep only what ``tree`` names (lists are filtered element-wise)."""
    if tree is None:
        return value
    if isinstance(value, list):
        return [_select(item, tree) for item in value]
    if not isinstance(value, dict) or "*" in tree:
        return value
    out = {}
    for key, sub in tree.items():
        if key in value:
            if key == "rowData" and _leaf_cells(sub):
                out[key] = value[key]  # cells were already rendered with just these fields
            else:
                out[key] = _select(value[key], sub)
    return out


def _leaf_cells(tree: dict[str, Any] | None) -> bool:
    """rowData(values(a,b)) with plain leaves: grid rendering already applied that mask."""
    if tree is None:
        return True
    cells = tree.get("values", {}) if set(tree) == {"values"} else {}
    return cells is None or (bool(cells) and all(v is None for v in cells.values()))


_MISSING = object()


def _get_path(obj: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return _MISSING
        obj = obj[key]
    return obj


def _set_path(obj: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        child = obj.get(key)
        if not isinstance(child, dict):
            child = {}
            obj[key] = child
        obj = child
    obj[path[-1]] = value


def _del_path(obj: dict[str, Any], path: tuple[str, ...]) -> None:
    trail = []
    for key in path[:-1]:
        child = obj.get(key)
        if not isinstance(child, dict):
            return
        trail.append((obj, key))
        obj = child
    obj.pop(path[-1], None)
    for parent, key in reversed(trail):
        if parent[key]:
            break
        del parent[key]


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# ---------------------------------------------------------------------------
# Values: parsing what users type, evaluating, formatting
# ---------------------------------------------------------------------------


def to_serial(value: dt.datetime | dt.date | dt.time) -> float:
    """A (naive, sheet wall-clock) datetime/date/time as a Sheets serial number."""
    if isinstance(value, dt.datetime):
        delta = value.replace(tzinfo=None) - SERIAL_EPOCH
        return delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400
    if isinstance(value, dt.date):
        return float((value - SERIAL_EPOCH.date()).days)
    return (value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6) / 86400


def from_serial(serial: float) -> dt.datetime:
    """Serial number -> naive datetime, rounded to the millisecond as Sheets keeps it."""
    return SERIAL_EPOCH + dt.timedelta(milliseconds=round(serial * 86_400_000))


def _json_number(value: Any) -> Any:
    """Integral doubles print as integers in Google's JSON ("1", not "1.0")."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


_NUMBER = re.compile(r"([+-]?)(\$?)([0-9][0-9.,]*|\.[0-9]+)((?:[eE][+-]?[0-9]+)?)(%?)")
_GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")
_PLAIN = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_SLASH_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp])[Mm])?")


def _parse_number(text: str) -> tuple[float, dict[str, str] | None] | None:
    match = _NUMBER.fullmatch(text)
    if not match:
        return None
    sign, currency, body, exponent, percent = match.groups()
    grouped = "," in body
    if grouped:
        if not _GROUPED.fullmatch(body):
            return None
        body = body.replace(",", "")
    if not _PLAIN.fullmatch(body):
        return None
    value = float(body + exponent)
    if sign == "-":
        value = -value
    number_format: dict[str, str] | None = None
    if percent:
        value /= 100
        number_format = {"type": "PERCENT", "pattern": "0.00%" if "." in body else "0%"}
    elif currency:
        number_format = {"type": "CURRENCY", "pattern": '"$"#,##0.00'}
    elif exponent:
        number_format = {"type": "SCIENTIFIC", "pattern": "0.00E+00"}
    elif grouped:
        number_format = {"type": "NUMBER", "pattern": "#,##0.00" if "." in body else "#,##0"}
    return value, number_format


def _parse_datetime(text: str, locale: str) -> tuple[float, dict[str, str]] | None:
    us = locale.startswith("en_US")
    try:
        match = _ISO_DATE.fullmatch(text)
        if match:
            y, mo, d, h, mi, s = match.groups()
            date_pattern = "yyyy-mm-dd"
        else:
            match = _SLASH_DATE.fullmatch(text)
            if match:
                a, b, y, h, mi, s = match.groups()
                mo, d = (a, b) if us else (b, a)
                date_pattern = "m/d/yyyy" if us else "d/mm/yyyy"
            else:
                match = _TIME.fullmatch(text)
                if not match:
                    return None
                hh, mi, s, ampm = match.groups()
                hour = int(hh)
                if ampm:
                    if not 1 <= hour <= 12:
                        return None
                    hour = hour % 12 + (12 if ampm.lower() == "p" else 0)
                moment = dt.time(hour, int(mi), int(s or 0))
                pattern = "h:mm:ss am/pm" if ampm else ("h:mm:ss" if s else "h:mm")
                return to_serial(moment), {"type": "TIME", "pattern": pattern}
        moment = dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
    except ValueError:
        return None
    if h is None:
        return to_serial(moment), {"type": "DATE", "pattern": date_pattern}
    return to_serial(moment), {"type": "DATE_TIME", "pattern": date_pattern + " h:mm:ss"}


def _user_entered(text: str, locale: str, cell_format: dict[str, Any] | None,
                  ) -> tuple[dict[str, Any], dict[str, str] | None]:
    """What Sheets stores when ``text`` is typed (USER_ENTERED): (userEnteredValue, auto format)."""
    if (cell_format or {}).get("type") == "TEXT":
        return {"stringValue": text}, None
    if text.startswith("'"):
        return {"stringValue": text[1:]}, None
    if text.startswith("="):
        return {"formulaValue": text}, None
    stripped = text.strip()
    if stripped.upper() in ("TRUE", "FALSE"):
        return {"boolValue": stripped.upper() == "TRUE"}, None
    number = _parse_number(stripped)
    if number is not None:
        return {"numberValue": number[0]}, number[1]
    moment = _parse_datetime(stripped, locale)
    if moment is not None:
        return {"numberValue": moment[0]}, moment[1]
    if stripped[:1] in ("+", "-") and len(stripped) > 1:
        return {"formulaValue": "=" + stripped}, None
    return {"stringValue": text}, None


class _NotArithmetic(Exception):
    pass


def _arith(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) \
            and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        value = _arith(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _arith(node.left), _arith(node.right)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div):
            return left / right
        if isinstance(node.op, ast.Pow):
            return float(left**right)
    raise _NotArithmetic


_HYPERLINK = re.compile(r'=\s*HYPERLINK\(\s*"([^"]*)"\s*(?:[,;]\s*"([^"]*)"\s*)?\)\s*', re.I)


def evaluate_formula(formula: str) -> dict[str, Any]:
    """The effective value of a formula, as far as this emulator computes (see module doc)."""
    link = _HYPERLINK.fullmatch(formula)
    if link:
        return {"stringValue": link.group(2) if link.group(2) is not None else link.group(1)}
    expression = formula[1:].strip()
    try:
        tree = ast.parse(expression.replace("^", "**"), mode="eval")
    except (SyntaxError, ValueError):
        return {"errorValue": {"type": "ERROR", "message": "Formula parse error."}}
    try:
        value = _arith(tree.body)
    except ZeroDivisionError:
        return {"errorValue": {"type": "DIVIDE_BY_ZERO",
                               "message": "Function DIVIDE parameter 2 cannot be zero."}}
    except (OverflowError, TypeError):
        return {"errorValue": {"type": "NUM", "message": "Result was not a number."}}
    except _NotArithmetic:
        return {"errorValue": {"type": "ERROR",
                               "message": "Formula not evaluated by the Sheets emulator "
                                          "(only arithmetic and HYPERLINK are)."}}
    if math.isnan(value) or math.isinf(value):
        return {"errorValue": {"type": "NUM", "message": "Result was not a number."}}
    return {"numberValue": value}


def _effective(user_value: dict[str, Any] | None) -> dict[str, Any] | None:
    if not user_value:
        return None
    if "formulaValue" in user_value:
        return evaluate_formula(user_value["formulaValue"])
    return dict(user_value)


def _number_format(cell: dict[str, Any] | None) -> dict[str, Any] | None:
    return ((cell or {}).get("userEnteredFormat") or {}).get("numberFormat")


def _is_datetime_format(number_format: dict[str, Any] | None) -> bool:
    return bool(number_format) and number_format.get("type") in DATETIME_TYPES


def _fixed(value: float, decimals: int) -> str:
    """Fixed-point text rounded half away from zero, as Sheets rounds (Python rounds half-even)."""
    quantum = Decimal(1).scaleb(-decimals)
    return f"{Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP):f}"


def _general(value: float) -> str:
    """Sheets' automatic number format."""
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 1e15 or abs(value) < 1e-9:
        mantissa, _, exponent = f"{value:.5E}".partition("E")
        mantissa = mantissa.rstrip("0").rstrip(".")
        sign = exponent[0]
        return f"{mantissa}E{sign}{int(exponent[1:]):02d}"
    text = _fixed(value, 10).rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_DATE_TOKEN = re.compile(
    r'"[^"]*"|\\.|am/pm|a/p|yyyy|yy|mmmmm|mmmm|mmm|mm|m|dddd|ddd|dd|d|hh|h|ss|s|\.0{1,3}|.',
    re.I | re.S,
)


@functools.lru_cache(maxsize=256)
def _date_tokens(pattern: str) -> tuple[tuple[tuple[str, str], ...], bool]:
    """Tokens of a date pattern as (text, kind); "m"/"mm" become "min"/"mmin" for minutes."""
    tokens = _DATE_TOKEN.findall(pattern)
    kinds = [t.lower() for t in tokens]
    twelve = any(k in ("am/pm", "a/p") for k in kinds)
    significant = [i for i, k in enumerate(kinds) if k[:1] in "ymdhs" and k != "a/p"]
    for index, kind in enumerate(kinds):
        if kind in ("m", "mm"):
            pos = significant.index(index)
            before = kinds[significant[pos - 1]] if pos > 0 else ""
            after = kinds[significant[pos + 1]] if pos + 1 < len(significant) else ""
            if before in ("h", "hh") or after in ("s", "ss"):
                kinds[index] = "min" if kind == "m" else "mmin"
    return tuple(zip(tokens, kinds, strict=True)), twelve


def format_datetime(serial: float, pattern: str) -> str:
    """Render a serial number with a Sheets date/time pattern (subset, see module doc)."""
    moment = from_serial(serial)
    tokens, twelve = _date_tokens(pattern)
    out = []
    for token, kind in tokens:
        if kind == "mmin":
            out.append(f"{moment.minute:02d}")
        elif kind == "min":
            out.append(str(moment.minute))
        elif kind == "mm":
            out.append(f"{moment.month:02d}")
        elif kind == "m":
            out.append(str(moment.month))
        elif kind == "yyyy":
            out.append(f"{moment.year:04d}")
        elif kind == "yy":
            out.append(f"{moment.year % 100:02d}")
        elif kind == "mmmmm":
            out.append(_MONTHS[moment.month - 1][0])
        elif kind == "mmmm":
            out.append(_MONTHS[moment.month - 1])
        elif kind == "mmm":
            out.append(_MONTHS[moment.month - 1][:3])
        elif kind == "dddd":
            out.append(_DAYS[moment.weekday()])
        elif kind == "ddd":
            out.append(_DAYS[moment.weekday()][:3])
        elif kind == "dd":
            out.append(f"{moment.day:02d}")
        elif kind == "d":
            out.append(str(moment.day))
        elif kind in ("hh", "h"):
            hour = moment.hour
            if twelve:
                hour = hour % 12 or 12
            out.append(f"{hour:02d}" if kind == "hh" else str(hour))
        elif kind == "ss":
            out.append(f"{moment.second:02d}")
        elif kind == "s":
            out.append(str(moment.second))
        elif kind.startswith(".0"):
            digits = len(kind) - 1
            out.append("." + f"{moment.microsecond // 1000:03d}"[:digits])
        elif kind == "am/pm":
            text = "AM" if moment.hour < 12 else "PM"
            out.append(text if token[:1].isupper() else text.lower())
        elif kind == "a/p":
            text = "A" if moment.hour < 12 else "P"
            out.append(text if token[:1].isupper() else text.lower())
        elif token.startswith('"'):
            out.append(token[1:-1])
        elif token.startswith("\\"):
            out.append(token[1:])
        else:
            out.append(token)
    return "".join(out)


def _split_sections(pattern: str) -> list[str]:
    sections, current, quoted = [], [], False
    for ch in pattern:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            sections.append("".join(current))
            current = []
        else:
            current.append(ch)
    sections.append("".join(current))
    return sections


def format_number_pattern(value: float, pattern: str) -> str:
    """Render with a numeric pattern: 0 # ? , . % E and literals (quoted, escaped or plain)."""
    sections = _split_sections(pattern)
    negative = value < 0
    section = sections[1] if negative and len(sections) > 1 and sections[1] else sections[0]
    explicit_sign = negative and len(sections) > 1 and bool(sections[1])
    prefix: list[str] = []
    core: list[str] = []
    suffix: list[str] = []
    i = 0
    while i < len(section):
        ch = section[i]
        if ch == '"':
            end = section.find('"', i + 1)
            end = len(section) if end < 0 else end
            literal = section[i + 1:end]
            (suffix if core else prefix).append(literal)
            i = end + 1
            continue
        if ch == "\\" and i + 1 < len(section):
            (suffix if core else prefix).append(section[i + 1])
            i += 2
            continue
        if ch in "0#?" or (ch in ".," and core and not suffix) \
                or (ch == "." and not core and i + 1 < len(section) and section[i + 1] in "0#?"):
            if suffix:  # placeholders after a literal: treat the literal as part of the core
                core.extend(suffix)
                suffix = []
            core.append(ch)
        elif ch in "Ee" and core and i + 1 < len(section) and section[i + 1] in "+-":
            core.append(section[i:i + 2])
            i += 2
            continue
        elif ch == "_" or ch == "*":
            i += 2
            continue
        else:
            (suffix if core else prefix).append(ch)
        i += 1
    magnitude = abs(value)
    literal = "".join(prefix) + "".join(suffix)
    if "%" in literal:
        magnitude *= 100
    core_text = "".join(core)
    if not core_text:
        body = ""
    elif "E" in core_text.upper():
        mantissa_part = re.split(r"[Ee][+-]", core_text)[0]
        decimals = len(mantissa_part.partition(".")[2])
        body = f"{magnitude:.{decimals}E}"
        mant, _, exp = body.partition("E")
        body = f"{mant}E{exp[0]}{int(exp[1:]):02d}"
    else:
        int_part, _, frac_part = core_text.partition(".")
        decimals = sum(1 for c in frac_part if c in "0#?")
        min_decimals = sum(1 for c in frac_part if c == "0")
        min_int = sum(1 for c in int_part if c == "0")
        grouping = "," in int_part
        whole, _, frac = _fixed(magnitude, decimals).partition(".")
        while len(frac) > min_decimals and frac.endswith("0"):
            frac = frac[:-1]
        whole = whole.lstrip("0")
        whole = whole.rjust(min_int, "0")
        if grouping and whole:
            whole = f"{int(whole):,}"
        body = whole + ("." + frac if frac else ("." if "." in core_text and decimals and
                                                   min_decimals else ""))
        if body == "" or body == ".":
            body = "0"
    sign = "-" if negative and not explicit_sign and magnitude != 0 else ""
    return sign + "".join(prefix) + body + "".join(suffix)


def _has_date_tokens(pattern: str) -> bool:
    bare = re.sub(r'"[^"]*"|\\.', "", pattern)
    return bool(re.search(r"[yYdDhHsS]", bare)) or bool(re.fullmatch(r"[mM]+", bare))


def _default_datetime_pattern(kind: str, locale: str) -> str:
    us = locale.startswith("en_US")
    date_part = "M/d/yyyy" if us else "d/MM/yyyy"
    if kind == "DATE":
        return date_part
    if kind == "TIME":
        return "h:mm:ss am/pm"
    return date_part + " H:mm:ss"


def format_number(value: float, number_format: dict[str, Any] | None, locale: str) -> str:
    """A number as FORMATTED_VALUE shows it, given the cell's numberFormat."""
    if not number_format:
        return _general(value)
    kind = number_format.get("type", "")
    pattern = number_format.get("pattern") or ""
    if kind in DATETIME_TYPES or (pattern and _has_date_tokens(pattern)):
        return format_datetime(value, pattern or _default_datetime_pattern(kind, locale))
    if not pattern:
        pattern = {"NUMBER": "#,##0.00", "PERCENT": "0.00%", "CURRENCY": '"$"#,##0.00',
                   "SCIENTIFIC": "0.00E+00"}.get(kind, "")
    if not pattern or kind == "TEXT":
        return _general(value)
    return format_number_pattern(value, pattern)


def _error_text(error: dict[str, Any]) -> str:
    return ERROR_TEXT.get(error.get("type", "ERROR"), "#ERROR!")


def format_effective(effective: dict[str, Any], number_format: dict[str, Any] | None,
                     locale: str) -> str:
    """formattedValue of an effective value."""
    if "stringValue" in effective:
        return effective["stringValue"]
    if "boolValue" in effective:
        return "TRUE" if effective["boolValue"] else "FALSE"
    if "errorValue" in effective:
        return _error_text(effective["errorValue"])
    return format_number(float(effective.get("numberValue", 0)), number_format, locale)


def _has_value(cell: dict[str, Any] | None) -> bool:
    return bool(cell) and bool(cell.get("userEnteredValue"))


# ---------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------


class _Sheet:
    """One tab. Cell dicts are never mutated in place (always replaced), so a clone can share them."""

    def __init__(self, props: dict[str, Any]) -> None:
        self.props = props
        self.rows: list[list[dict[str, Any] | None]] = []
        self.row_meta: dict[int, dict[str, Any]] = {}
        self.col_meta: dict[int, dict[str, Any]] = {}
        self.conditional_formats: list[dict[str, Any]] = []
        self.protected_ranges: list[dict[str, Any]] = []
        self.basic_filter: dict[str, Any] | None = None
        self.developer_metadata: list[dict[str, Any]] = []
        self.merges: list[dict[str, Any]] = []

    def clone(self) -> _Sheet:
        new = _Sheet(copy.deepcopy(self.props))
        new.rows = [list(row) for row in self.rows]
        new.row_meta = copy.deepcopy(self.row_meta)
        new.col_meta = copy.deepcopy(self.col_meta)
        new.conditional_formats = copy.deepcopy(self.conditional_formats)
        new.protected_ranges = copy.deepcopy(self.protected_ranges)
        new.basic_filter = copy.deepcopy(self.basic_filter)
        new.developer_metadata = copy.deepcopy(self.developer_metadata)
        new.merges = copy.deepcopy(self.merges)
        return new

    @property
    def sheet_id(self) -> int:
        return int(self.props["sheetId"])

    @property
    def title(self) -> str:
        return str(self.props["title"])

    @property
    def grid(self) -> dict[str, Any]:
        return self.props.setdefault("gridProperties", {})

    @property
    def row_count(self) -> int:
        return int(self.grid.get("rowCount", DEFAULT_ROW_COUNT))

    @row_count.setter
    def row_count(self, value: int) -> None:
        self.grid["rowCount"] = value

    @property
    def col_count(self) -> int:
        return int(self.grid.get("columnCount", DEFAULT_COLUMN_COUNT))

    @col_count.setter
    def col_count(self, value: int) -> None:
        self.grid["columnCount"] = value

    def get(self, row: int, col: int) -> dict[str, Any] | None:
        if row < len(self.rows):
            cells = self.rows[row]
            if col < len(cells):
                return cells[col]
        return None

    def put(self, row: int, col: int, cell: dict[str, Any] | None) -> None:
        if not cell:
            cell = None
        if row >= len(self.rows):
            if cell is None:
                return
            self.rows.extend([] for _ in range(row - len(self.rows) + 1))
        cells = self.rows[row]
        if col >= len(cells):
            if cell is None:
                return
            cells.extend([None] * (col - len(cells) + 1))
        cells[col] = cell

    def last_value_row(self, c0: int = 0, c1: int | None = None, r0: int = 0) -> int:
        """Index of the last row holding a value in columns [c0, c1); -1 if none."""
        for row in range(len(self.rows) - 1, r0 - 1, -1):
            cells = self.rows[row]
            if any(_has_value(cell) for cell in cells[c0:c1]):
                return row
        return -1

    def truncate(self) -> None:
        """Drop cells and metadata outside the grid (after a resize)."""
        del self.rows[self.row_count:]
        for cells in self.rows:
            del cells[self.col_count:]
        self.row_meta = {k: v for k, v in self.row_meta.items() if k < self.row_count}
        self.col_meta = {k: v for k, v in self.col_meta.items() if k < self.col_count}


class _Spreadsheet:
    """A spreadsheet: properties plus ordered tabs. ``clone`` is cheap (cells are shared)."""

    def __init__(self, spreadsheet_id: str, title: str, time_zone: str, locale: str) -> None:
        self.id = spreadsheet_id
        self.properties: dict[str, Any] = {
            "title": title, "locale": locale, "autoRecalc": "ON_CHANGE", "timeZone": time_zone,
            "defaultFormat": copy.deepcopy(DEFAULT_FORMAT),
        }
        self.sheets: list[_Sheet] = []
        self.developer_metadata: list[dict[str, Any]] = []
        self.rng = random.Random(zlib.crc32(spreadsheet_id.encode()))

    def clone(self) -> _Spreadsheet:
        new = _Spreadsheet.__new__(_Spreadsheet)
        new.id = self.id
        new.properties = copy.deepcopy(self.properties)
        new.sheets = [sheet.clone() for sheet in self.sheets]
        new.developer_metadata = copy.deepcopy(self.developer_metadata)
        new.rng = self.rng
        return new

    @property
    def locale(self) -> str:
        return str(self.properties.get("locale", "en_US"))

    def reindex(self) -> None:
        for index, sheet in enumerate(self.sheets):
            sheet.props["index"] = index

    def sheet_by_id(self, sheet_id: Any) -> _Sheet | None:
        try:
            wanted = int(sheet_id)
        except (TypeError, ValueError):
            return None
        return next((s for s in self.sheets if s.sheet_id == wanted), None)

    def sheet_by_title(self, title: str) -> _Sheet | None:
        exact = next((s for s in self.sheets if s.title == title), None)
        if exact is not None:
            return exact
        folded = title.casefold()
        return next((s for s in self.sheets if s.title.casefold() == folded), None)

    def first_visible(self) -> _Sheet:
        return next((s for s in self.sheets if not s.props.get("hidden")), self.sheets[0])

    def new_id(self) -> int:
        used = {s.sheet_id for s in self.sheets}
        while True:
            candidate = self.rng.randint(1, 2**31 - 1)
            if candidate not in used:
                return candidate

    def resolve(self, text: str) -> tuple[_Sheet, _Bounds]:
        """An A1 range -> (tab, bounds); 400 "Unable to parse range" as Google words it."""
        error = _bad(f"Unable to parse range: {text}")
        try:
            title, cells = _split_range(text)
        except ValueError:
            raise error from None
        sheet = self.first_visible() if title is None else self.sheet_by_title(title)
        if sheet is None:
            raise error
        if cells is None:
            return sheet, _WHOLE
        bounds = _parse_cells(cells)
        if bounds is None:
            raise error
        return sheet, bounds


def _grid_limit_message(sheet: _Sheet, row: int, col: int) -> str:
    return (f"Range ({quote_title(sheet.title)}!{_cell_a1(row, col)}) exceeds grid limits. "
            f"Max rows: {sheet.row_count}, max columns: {sheet.col_count}")


def _clamp_read(sheet: _Sheet, bounds: _Bounds) -> tuple[int, int, int, int]:
    """Reads clamp open/oversized ends to the grid; a start outside it is a 400."""
    r0, c0 = bounds.r0 or 0, bounds.c0 or 0
    if r0 >= sheet.row_count or c0 >= sheet.col_count:
        raise _bad(_grid_limit_message(sheet, r0, c0))
    r1 = sheet.row_count if bounds.r1 is None else min(bounds.r1, sheet.row_count)
    c1 = sheet.col_count if bounds.c1 is None else min(bounds.c1, sheet.col_count)
    return r0, r1, c0, c1


def _range_name(sheet: _Sheet, r0: int, r1: int, c0: int, c1: int) -> str:
    return f"{quote_title(sheet.title)}!{_span_a1(r0, r1, c0, c1)}"


# -- rendering ----------------------------------------------------------------


_EFFECTIVE_BASE = dict(DEFAULT_FORMAT, hyperlinkDisplayType="PLAIN_TEXT")


class _Render:
    """Per-response rendering options: which CellData keys to build (None = all) and caches.

    Cheap because the stored cell parts are shared, not copied: nothing downstream mutates
    them (partial responses build new dicts; re-trimming only touches fresh row lists).
    """

    def __init__(self, locale: str, fields: frozenset[str] | None = None) -> None:
        self.locale = locale
        self.fields = fields
        self._formats: dict[int, tuple[Any, dict[str, Any]]] = {}
        self.user_value = self.wants("userEnteredValue")
        self.effective_value = self.wants("effectiveValue")
        self.formatted_value = self.wants("formattedValue")
        self.user_format = self.wants("userEnteredFormat")
        self.effective_fmt = self.wants("effectiveFormat")
        self.others = tuple(k for k in WRITABLE_CELL_FIELDS if self.wants(k)
                            and k not in ("userEnteredValue", "userEnteredFormat"))

    def wants(self, key: str) -> bool:
        return self.fields is None or key in self.fields

    def effective_format(self, user_format: dict[str, Any] | None) -> dict[str, Any]:
        key = id(user_format)
        hit = self._formats.get(key)
        if hit is None:  # the cached tuple keeps user_format alive, so its id stays unique
            hit = (user_format, _deep_merge(_EFFECTIVE_BASE, user_format or {}))
            self._formats[key] = hit
        return hit[1]


def _plain_number(value: dict[str, Any]) -> dict[str, Any]:
    """An ExtendedValue with an integral numberValue printed as Google does ("1", not "1.0")."""
    if "numberValue" in value:
        number = value["numberValue"]
        if number.__class__ is float and number.is_integer():
            return {"numberValue": _json_number(number)}
    return value


def render_cell(cell: dict[str, Any] | None, locale: str | _Render) -> dict[str, Any]:
    """A stored cell as CellData in grid data (with effective and formatted values)."""
    if not cell:
        return {}
    render = locale if isinstance(locale, _Render) else _Render(locale)
    out: dict[str, Any] = {}
    user_value = cell.get("userEnteredValue")
    user_format = cell.get("userEnteredFormat")
    if user_value:
        if render.user_value:
            out["userEnteredValue"] = _plain_number(user_value)
        if render.effective_value or render.formatted_value:
            effective = (evaluate_formula(user_value["formulaValue"])
                         if "formulaValue" in user_value else user_value)
            if render.effective_value:
                out["effectiveValue"] = _plain_number(effective)
            if render.formatted_value:
                out["formattedValue"] = format_effective(effective, _number_format(cell),
                                                         render.locale)
    if user_format and render.user_format:
        out["userEnteredFormat"] = user_format
    if render.effective_fmt and (user_value or user_format):
        out["effectiveFormat"] = render.effective_format(user_format)
    for key in render.others:
        if key in cell:
            out[key] = cell[key]
    return out


def _render_value(cell: dict[str, Any] | None, render: str, datetime_render: str,
                  locale: str) -> Any:
    """One cell as the values API returns it; None = empty."""
    if not cell:
        return None
    user_value = cell.get("userEnteredValue")
    if not user_value:
        return None
    if render == "FORMULA" and "formulaValue" in user_value:
        return user_value["formulaValue"]
    effective = _effective(user_value) or {}
    number_format = _number_format(cell)
    if render == "FORMATTED_VALUE":
        return format_effective(effective, number_format, locale)
    if "numberValue" in effective:
        if datetime_render == "FORMATTED_STRING" and _is_datetime_format(number_format):
            return format_effective(effective, number_format, locale)
        return _json_number(float(effective["numberValue"]))
    if "boolValue" in effective:
        return bool(effective["boolValue"])
    if "stringValue" in effective:
        return effective["stringValue"]
    return _error_text(effective.get("errorValue", {}))


def _trim(matrix: list[list[Any]]) -> list[list[Any]]:
    """Google's trimming: no trailing empty cells or rows; inner blanks become ""."""
    out: list[list[Any]] = []
    for row in matrix:
        end = len(row)
        while end and row[end - 1] is None:
            end -= 1
        out.append(["" if v is None else v for v in row[:end]])
    while out and not out[-1]:
        out.pop()
    return out


def _output_range(gr: dict[str, Any]) -> dict[str, Any]:
    """A GridRange as Google prints it: sheetId 0 omitted, bounds as given."""
    out = {k: v for k, v in gr.items() if not (k == "sheetId" and int(v or 0) == 0)}
    return out


def _output_ranges_in(obj: Any) -> Any:
    """Apply ``_output_range`` to every GridRange-looking dict (rules, protections, filters)."""
    if isinstance(obj, list):
        return [_output_ranges_in(item) for item in obj]
    if not isinstance(obj, dict):
        return obj
    keys = {"startRowIndex", "endRowIndex", "startColumnIndex", "endColumnIndex"}
    if "sheetId" in obj and (keys & obj.keys() or set(obj) == {"sheetId"}) \
            and not obj.keys() - keys - {"sheetId"}:
        return _output_range(obj)
    return {k: _output_ranges_in(v) for k, v in obj.items()}


def _grid_data(sheet: _Sheet, r0: int, r1: int, c0: int, c1: int, render: _Render,
               ) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if r0:
        data["startRow"] = r0
    if c0:
        data["startColumn"] = c0
    row_data: list[dict[str, Any]] = []
    last = -1
    for row in range(r0, min(r1, len(sheet.rows))):
        cells = sheet.rows[row]
        values: list[dict[str, Any]] = []
        last_cell = -1
        for col in range(c0, min(c1, len(cells))):
            rendered = render_cell(cells[col], render)
            values.append(rendered)
            if rendered:
                last_cell = len(values) - 1
        values = values[:last_cell + 1]
        row_data.append({"values": values} if values else {})
        if values:
            last = len(row_data) - 1
    row_data = row_data[:last + 1]
    if row_data:
        data["rowData"] = row_data
    data["rowMetadata"] = [_dimension_out(sheet, "ROWS", i) for i in range(r0, r1)]
    data["columnMetadata"] = [_dimension_out(sheet, "COLUMNS", i) for i in range(c0, c1)]
    return data


def _dimension_out(sheet: _Sheet, dimension: str, index: int) -> dict[str, Any]:
    meta = (sheet.row_meta if dimension == "ROWS" else sheet.col_meta).get(index, {})
    out: dict[str, Any] = {}
    if meta.get("hiddenByUser"):
        out["hiddenByUser"] = True
    out["pixelSize"] = meta.get("pixelSize", 21 if dimension == "ROWS" else 100)
    if meta.get("developerMetadata"):
        items = []
        for item in meta["developerMetadata"]:
            item = copy.deepcopy(item)
            item["location"] = {
                "locationType": "ROW" if dimension == "ROWS" else "COLUMN",
                "dimensionRange": _output_range({"sheetId": sheet.sheet_id, "dimension": dimension,
                                                 "startIndex": index, "endIndex": index + 1}),
            }
            items.append(item)
        out["developerMetadata"] = items
    return out


def _sheet_properties_out(sheet: _Sheet) -> dict[str, Any]:
    props = copy.deepcopy(sheet.props)
    ordered = {k: props.pop(k) for k in ("sheetId", "title", "index", "sheetType", "gridProperties")
               if k in props}
    ordered.update(props)
    grid = ordered.get("gridProperties", {})
    for key in ("frozenRowCount", "frozenColumnCount"):
        if not grid.get(key):
            grid.pop(key, None)
    if not ordered.get("hidden"):
        ordered.pop("hidden", None)
    return ordered


def _spreadsheet_resource(ss: _Spreadsheet, ranges: list[str] | None, include_grid: bool,
                          cell_fields: frozenset[str] | None = None) -> dict[str, Any]:
    """The Spreadsheet resource as spreadsheets.get returns it (cell_fields: see _Render)."""
    render = _Render(ss.locale, cell_fields)
    wanted: dict[int, list[tuple[int, int, int, int]]] | None = None
    if ranges:
        wanted = {}
        for text in ranges:
            sheet, bounds = ss.resolve(text)
            wanted.setdefault(sheet.sheet_id, []).append(_clamp_read(sheet, bounds))
    sheets_out = []
    for sheet in ss.sheets:
        if wanted is not None and sheet.sheet_id not in wanted:
            continue
        item: dict[str, Any] = {"properties": _sheet_properties_out(sheet)}
        if include_grid:
            spans = wanted[sheet.sheet_id] if wanted is not None else [
                (0, sheet.row_count, 0, sheet.col_count)]
            item["data"] = [_grid_data(sheet, *span, render) for span in spans]
        if sheet.merges:
            item["merges"] = _output_ranges_in(sheet.merges)
        if sheet.conditional_formats:
            item["conditionalFormats"] = _output_ranges_in(sheet.conditional_formats)
        if sheet.basic_filter:
            item["basicFilter"] = _output_ranges_in(sheet.basic_filter)
        if sheet.protected_ranges:
            item["protectedRanges"] = _output_ranges_in(sheet.protected_ranges)
        if sheet.developer_metadata:
            item["developerMetadata"] = _located(sheet.developer_metadata,
                                                 {"locationType": "SHEET",
                                                  "sheetId": sheet.sheet_id})
        sheets_out.append(item)
    out: dict[str, Any] = {"spreadsheetId": ss.id, "properties": copy.deepcopy(ss.properties),
                           "sheets": sheets_out,
                           "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{ss.id}/edit"}
    if ss.developer_metadata:
        out["developerMetadata"] = _located(ss.developer_metadata,
                                            {"locationType": "SPREADSHEET", "spreadsheet": True})
    return out


def _located(items: list[dict[str, Any]], location: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        item = copy.deepcopy(item)
        item["location"] = dict(location)
        out.append(item)
    return out


# -- dimension shifts ---------------------------------------------------------


def _shift_range(gr: dict[str, Any], sheet_id: int, dimension: str, start: int, count: int,
                 insert: bool) -> dict[str, Any] | None:
    """A GridRange after inserting/deleting ``count`` rows/columns at ``start``; None if gone."""
    if int(gr.get("sheetId", 0) or 0) != sheet_id:
        return gr
    lo, hi = (("startRowIndex", "endRowIndex") if dimension == "ROWS"
              else ("startColumnIndex", "endColumnIndex"))
    new = dict(gr)
    if insert:
        if lo in new and int(new[lo]) >= start:
            new[lo] = int(new[lo]) + count
        if hi in new and int(new[hi]) > start:
            new[hi] = int(new[hi]) + count
        return new
    end = start + count

    def moved(index: int) -> int:
        return index if index <= start else (index - count if index >= end else start)

    if lo in new:
        new[lo] = moved(int(new[lo]))
    if hi in new:
        new[hi] = moved(int(new[hi]))
    if int(new.get(lo, 0)) >= int(new.get(hi, 2**31)):
        return None
    return new


def _shift_all_ranges(sheet: _Sheet, dimension: str, start: int, count: int, insert: bool) -> None:
    sid = sheet.sheet_id
    rules = []
    for rule in sheet.conditional_formats:
        kept = [r for r in (_shift_range(g, sid, dimension, start, count, insert)
                            for g in rule.get("ranges", [])) if r is not None]
        if kept:
            rules.append(dict(rule, ranges=kept))
    sheet.conditional_formats = rules
    protected = []
    for item in sheet.protected_ranges:
        if "range" in item:
            shifted = _shift_range(item["range"], sid, dimension, start, count, insert)
            if shifted is None:
                continue
            item = dict(item, range=shifted)
        if item.get("unprotectedRanges"):
            item["unprotectedRanges"] = [
                r for r in (_shift_range(g, sid, dimension, start, count, insert)
                            for g in item["unprotectedRanges"]) if r is not None]
        protected.append(item)
    sheet.protected_ranges = protected
    if sheet.basic_filter and "range" in sheet.basic_filter:
        shifted = _shift_range(sheet.basic_filter["range"], sid, dimension, start, count, insert)
        sheet.basic_filter = None if shifted is None else dict(sheet.basic_filter, range=shifted)
    sheet.merges = [r for r in (_shift_range(g, sid, dimension, start, count, insert)
                                for g in sheet.merges) if r is not None]


def _insert_dimension(sheet: _Sheet, dimension: str, start: int, count: int) -> None:
    if dimension == "ROWS":
        if start < len(sheet.rows):
            sheet.rows[start:start] = [[] for _ in range(count)]
        sheet.row_count += count
        sheet.row_meta = {(k + count if k >= start else k): v for k, v in sheet.row_meta.items()}
    else:
        for cells in sheet.rows:
            if start < len(cells):
                cells[start:start] = [None] * count
        sheet.col_count += count
        sheet.col_meta = {(k + count if k >= start else k): v for k, v in sheet.col_meta.items()}
    _shift_all_ranges(sheet, dimension, start, count, insert=True)


def _delete_dimension(sheet: _Sheet, dimension: str, start: int, count: int) -> None:
    end = start + count
    if dimension == "ROWS":
        del sheet.rows[start:end]
        sheet.row_count -= count
        sheet.row_meta = {(k - count if k >= end else k): v for k, v in sheet.row_meta.items()
                          if not start <= k < end}
    else:
        for cells in sheet.rows:
            del cells[start:end]
        sheet.col_count -= count
        sheet.col_meta = {(k - count if k >= end else k): v for k, v in sheet.col_meta.items()
                          if not start <= k < end}
    _shift_all_ranges(sheet, dimension, start, count, insert=False)


# -- sorting ------------------------------------------------------------------


def _sort_class(cell: dict[str, Any] | None) -> tuple[int, Any] | None:
    effective = _effective((cell or {}).get("userEnteredValue"))
    if not effective:
        return None
    if "numberValue" in effective:
        return (0, float(effective["numberValue"]))
    if "stringValue" in effective:
        return (1, effective["stringValue"].casefold())
    if "boolValue" in effective:
        return (2, bool(effective["boolValue"]))
    return (3, "")


def _sort_block(sheet: _Sheet, r0: int, r1: int, c0: int, c1: int,
                specs: list[tuple[int, bool]]) -> None:
    """Sort rows [r0, r1) of columns [c0, c1) by (absolute column, descending) specs; stable."""
    block = [[sheet.get(r, c) for c in range(c0, c1)] for r in range(r0, r1)]
    keyed = [([_sort_class(sheet.get(r0 + i, col)) for col, _ in specs], row)
             for i, row in enumerate(block)]

    def compare(a: tuple[list[Any], Any], b: tuple[list[Any], Any]) -> int:
        for (ka, kb), (_, descending) in zip(zip(a[0], b[0], strict=True), specs, strict=True):
            if ka is None and kb is None:
                continue
            if ka is None:
                return 1
            if kb is None:
                return -1
            if ka != kb:
                result = -1 if ka < kb else 1
                return -result if descending else result
        return 0

    keyed.sort(key=functools.cmp_to_key(compare))
    for i, (_, row) in enumerate(keyed):
        for j, cell in enumerate(row):
            sheet.put(r0 + i, c0 + j, cell)


# ---------------------------------------------------------------------------
# batchUpdate requests (each mutates a working copy; _Invalid aborts the whole batch)
# ---------------------------------------------------------------------------


def _int(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _Invalid(f"Invalid value for {what}: {value!r}") from None


def _sheet_of(ss: _Spreadsheet, sheet_id: Any) -> _Sheet:
    sheet = ss.sheet_by_id(sheet_id if sheet_id is not None else 0)
    if sheet is None:
        raise _Invalid(f"No grid with id: {sheet_id if sheet_id is not None else 0}")
    return sheet


def _grid_range(ss: _Spreadsheet, gr: dict[str, Any] | None) -> tuple[_Sheet, int, int, int, int]:
    gr = gr or {}
    sheet = _sheet_of(ss, gr.get("sheetId", 0))
    r0 = _int(gr.get("startRowIndex", 0), "startRowIndex")
    r1 = _int(gr.get("endRowIndex", sheet.row_count), "endRowIndex")
    c0 = _int(gr.get("startColumnIndex", 0), "startColumnIndex")
    c1 = _int(gr.get("endColumnIndex", sheet.col_count), "endColumnIndex")
    if min(r0, c0) < 0 or r1 < r0 or c1 < c0:
        raise _Invalid("Invalid GridRange: start index must be >= 0 and <= end index.")
    if r1 > sheet.row_count or c1 > sheet.col_count:
        raise _Invalid(_grid_limit_message(sheet, min(r1, sheet.row_count) if r1 > sheet.row_count
                                           else r0, c1 - 1 if c1 > sheet.col_count else c0))
    return sheet, r0, r1, c0, c1


def _dimension_range(ss: _Spreadsheet, dr: dict[str, Any] | None) -> tuple[_Sheet, str, int, int]:
    dr = dr or {}
    sheet = _sheet_of(ss, dr.get("sheetId", 0))
    dimension = dr.get("dimension")
    if dimension not in ("ROWS", "COLUMNS"):
        raise _Invalid("DimensionRange.dimension must be ROWS or COLUMNS.")
    limit = sheet.row_count if dimension == "ROWS" else sheet.col_count
    start = _int(dr.get("startIndex", 0), "startIndex")
    end = _int(dr.get("endIndex", limit), "endIndex")
    if start < 0 or end < start:
        raise _Invalid("Invalid dimension range: start index must be >= 0 and <= end index.")
    return sheet, dimension, start, end


def _mask(fields: Any) -> list[tuple[str, ...]]:
    if not fields or not isinstance(fields, str):
        raise _Invalid("At least one field must be specified in 'fields'.")
    try:
        return parse_field_mask(fields)
    except ValueError:
        raise _Invalid(f"Invalid field mask: {fields}") from None


def _check_user_value(value: Any) -> None:
    if not value:
        return
    if not isinstance(value, dict) or len([k for k in value if k in VALUE_KEYS]) != 1 \
            or set(value) - set(VALUE_KEYS):
        raise _Invalid(f"Invalid userEnteredValue: {json.dumps(value)} "
                       "(exactly one of numberValue, stringValue, boolValue, formulaValue)")
    if "formulaValue" in value and not str(value["formulaValue"]).startswith("="):
        raise _Invalid("Invalid userEnteredValue.formulaValue: a formula must start with '='")


def _apply_cell(old: dict[str, Any] | None, source: dict[str, Any],
                paths: list[tuple[str, ...]]) -> dict[str, Any] | None:
    """Overwrite the ``paths`` of a stored cell from CellData ``source`` (absent = clear)."""
    result = copy.deepcopy(old) if old else {}
    for path in paths:
        head = path[0]
        if head == "*":
            result = {k: copy.deepcopy(source[k]) for k in WRITABLE_CELL_FIELDS if k in source}
            continue
        if head in READ_ONLY_CELL_FIELDS:
            continue
        if head not in WRITABLE_CELL_FIELDS:
            raise _Invalid(f'Invalid field mask path: "{".".join(path)}"')
        if head == "userEnteredValue":
            path = (head,)  # a value is one oneof: replace it whole
        value = _get_path(source, path)
        if value is _MISSING:
            _del_path(result, path)
        else:
            _set_path(result, path, copy.deepcopy(value))
    user_value = result.get("userEnteredValue")
    _check_user_value(user_value)
    if user_value is not None and (not user_value or user_value.get("stringValue") == ""):
        del result["userEnteredValue"]
    for key in [k for k, v in result.items() if v in (None, {}, [])]:
        del result[key]
    return result or None


def _req_add_sheet(ss: _Spreadsheet, p: dict[str, Any]) -> dict[str, Any]:
    given = copy.deepcopy(p.get("properties") or {})
    title = given.get("title")
    if not title:
        n = len(ss.sheets) + 1
        while ss.sheet_by_title(f"Sheet{n}") is not None:
            n += 1
        title = f"Sheet{n}"
    if ss.sheet_by_title(title) is not None:
        raise _Invalid(f'A sheet with the name "{title}" already exists. Please enter another name.')
    if given.get("sheetId") is None:
        sheet_id = ss.new_id()
    else:
        sheet_id = _int(given["sheetId"], "sheetId")
        if ss.sheet_by_id(sheet_id) is not None or sheet_id < 0:
            raise _Invalid(f"Sheet with id {sheet_id} already exists.")
    grid = dict(given.get("gridProperties") or {})
    grid["rowCount"] = _int(grid.get("rowCount", DEFAULT_ROW_COUNT), "rowCount")
    grid["columnCount"] = _int(grid.get("columnCount", DEFAULT_COLUMN_COUNT), "columnCount")
    if grid["rowCount"] < 1 or grid["columnCount"] < 1:
        raise _Invalid("A sheet needs at least one row and one column.")
    _check_cell_limit(ss, grid["rowCount"] * grid["columnCount"])
    index = _int(given.get("index", len(ss.sheets)), "index")
    index = max(0, min(index, len(ss.sheets)))
    props: dict[str, Any] = {"sheetId": sheet_id, "title": title, "index": index,
                             "sheetType": given.get("sheetType", "GRID"), "gridProperties": grid}
    for key, value in given.items():
        if key not in props:
            props[key] = value
    sheet = _Sheet(props)
    ss.sheets.insert(index, sheet)
    ss.reindex()
    return {"addSheet": {"properties": _sheet_properties_out(sheet)}}


def _check_cell_limit(ss: _Spreadsheet, extra: int) -> None:
    total = sum(s.row_count * s.col_count for s in ss.sheets) + extra
    if total > CELL_LIMIT:
        raise _Invalid("This action would increase the number of cells in the workbook above the "
                       f"limit of {CELL_LIMIT} cells.")


def _req_delete_sheet(ss: _Spreadsheet, p: dict[str, Any]) -> None:
    sheet = _sheet_of(ss, p.get("sheetId"))
    if len(ss.sheets) == 1:
        raise _Invalid("You can't remove all the sheets in a document.")
    ss.sheets.remove(sheet)
    ss.reindex()


def _req_update_sheet_properties(ss: _Spreadsheet, p: dict[str, Any]) -> None:
    given = p.get("properties") or {}
    sheet = _sheet_of(ss, given.get("sheetId", 0))
    paths = _mask(p.get("fields"))
    props = copy.deepcopy(sheet.props)
    for path in paths:
        if path == ("*",):
            for key, value in given.items():
                props[key] = copy.deepcopy(value)
            continue
        if path[0] == "sheetId":
            continue
        value = _get_path(given, path)
        if value is _MISSING:
            _del_path(props, path)
        else:
            _set_path(props, path, copy.deepcopy(value))
    props["sheetId"] = sheet.sheet_id
    title = props.get("title")
    if not title:
        raise _Invalid("A sheet's title cannot be empty.")
    other = ss.sheet_by_title(title)
    if other is not None and other is not sheet:
        raise _Invalid(f'A sheet with the name "{title}" already exists. Please enter another name.')
    grid = props.setdefault("gridProperties", {})
    grid["rowCount"] = _int(grid.get("rowCount", sheet.row_count), "rowCount")
    grid["columnCount"] = _int(grid.get("columnCount", sheet.col_count), "columnCount")
    if grid["rowCount"] < 1 or grid["columnCount"] < 1:
        raise _Invalid("A sheet needs at least one row and one column.")
    growth = grid["rowCount"] * grid["columnCount"] - sheet.row_count * sheet.col_count
    if growth > 0:
        _check_cell_limit(ss, growth)
    if _int(grid.get("frozenRowCount", 0), "frozenRowCount") >= grid["rowCount"]:
        raise _Invalid("You can't freeze all visible rows on the sheet.")
    new_index = _int(props.get("index", sheet.props.get("index", 0)), "index")
    sheet.props = props
    sheet.truncate()
    if new_index != ss.sheets.index(sheet):
        ss.sheets.remove(sheet)
        ss.sheets.insert(max(0, min(new_index, len(ss.sheets))), sheet)
    ss.reindex()


def _req_update_spreadsheet_properties(ss: _Spreadsheet, p: dict[str, Any]) -> None:
    given = p.get("properties") or {}
    paths = _mask(p.get("fields"))
    props = copy.deepcopy(ss.properties)
    for path in paths:
        if path == ("*",):
            props.update(copy.deepcopy(given))
            continue
        value = _get_path(given, path)
        if value is _MISSING:
            _del_path(props, path)
        else:
            _set_path(props, path, copy.deepcopy(value))
    zone = props.get("timeZone")
    if zone != ss.properties.get("timeZone"):
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(str(zone))
        except Exception:
            raise _Invalid(f"Invalid timeZone: {zone}") from None
    if not props.get("title"):
        raise _Invalid("The spreadsheet title cannot be empty.")
    ss.properties = props


def _req_append_cells(ss: _Spreadsheet, p: dict[str, Any]) -> None:
    sheet = _sheet_of(ss, p.get("sheetId", 0))
    paths = _mask(p.get("fields"))
    rows = p.get("rows") or []
    start = sheet.last_value_row() + 1
    needed = start + len(rows)
    if needed > sheet.row_count:
        _check_cell_limit(ss, (needed - sheet.row_count) * sheet.col_count)
        sheet.row_count = needed
    for i, row_data in enumerate(rows):
        values = (row_data or {}).get("values") or []
        if len(values) > sheet.col_count:
            raise _Invalid(_grid_limit_message(sheet, start + i, sheet.col_count))
        for j, source in enumerate(values):
            sheet.put(start + i, j, _apply_cell(sheet.get(start + i, j), source or {}, paths))


def _req_update_cells(ss: _Spreadsheet, p: dict[str, Any]) -> None:
    paths = _mask(p.get("fields"))
    rows = p.get("rows") or []
    if "start" in p:
        start = p.get("start") or {}
        sheet = _sheet_of(ss, start.get("sheetId", 0))
        r0 = _int(start.get("rowIndex", 0), "rowIndex")
        c0 = _int(start.get("columnIndex", 0), "columnIndex")
        width = max((len((r or {}).get("values") or []) for r in rows), default=0)
        if r0 < 0 or c0 < 0:
            raise _Invalid("GridCoordinate indexes must be >= 0.")
        if r0 + len(rows) > sheet.row_count or c0 + width > sheet.col_count:
            bad_row = min(r0 + len(rows), sheet.row_count) if r0 + len(rows) > sheet.row_count \
                else r0
            raise _Invalid(_grid_limit_message(sheet, bad_row, max(c0, min(c0 + width - 1,
                                                                            sheet.col_count))))
        for i, row_data in enumerate(rows):
            for j, source in enumerate((row_data or {}).get("values") or []):
                sheet.put(r0 + i, c0 + j, _apply_cell(sheet.get(r0 + i, c0 + j), source or {},
                                                      paths))
        return
    if "range" not in p:
        raise _Invalid("Either 'start' or 'range' must be set.")
    sheet, r0, r1, c0, c1 = _grid_range(ss, p.get("range"))
    for r in range(r0, r1):
        row_values = ((rows[r - r0] or {}).get("values") or []) if r - r0 < len(rows) else []
        for c in range(c0, c1):
            source = row_values[c - c0] if c - c0 < len(row_values) else {}
            sheet.put(r, c, _apply_cell(sheet.get(r, c), source or {}, paths))


def _req_repeat_cell(ss: _Spreadsheet, p: dict[str, Any]) -> None:
    paths = _mask(p.get("fields"))
    source = p.get("cell") or {}
    sheet, r0, r1, c0, c1 = _grid_range(ss, p.get("range"))
    for r in range(r0, r1):
        for c in range(c0, c1):
            sheet.put(r, c, _apply_cell(sheet.get(r, c), source, paths))


def _req_append_dimension(ss: _Spreadsheet, p: dict[str, Any]) -> None:
    sheet = _sheet_of(ss, p.get("sheetId", 0))
    length = _int(p.get("length", 0), "length")
    if length < 1:
        raise _Invalid("length must be at least 1.")
    if p.get("dimension") == "ROWS":
        _check_cell_limit(ss, length * sheet.col_count)
        sheet.row_count += length
    elif p.get("dimension") == "COLUMNS":
        _check_cell_limit(ss, length * sheet.row_count)
        sheet.col_count += length
    else:
        raise _Invalid("dimension must be ROWS or COLUMNS.")


def _req_insert_dimension(ss: _Spreadsheet, p: dict[str, Any]) -> None:
    sheet, dimension, start, end = _dimension_range(ss, p.get("range"))
    limit = sheet.row_count if dimension == "ROWS" else sheet.col_count
    if end <= start or start > limit:
        raise _Invalid("Invalid insert range: start must be <= the sheet's size and < end.")
    if p.get("inheritFromBefore") and start == 0:
        raise _Invalid("Cannot inherit properties from before the first row or column.")
    count = end - start
    _check_cell_limit(ss, count * (sheet.col_count if dimension == "ROWS" else sheet.row_count))
    _insert_dimension(sheet, dimension, start, count)


def _req_delete_dimension(ss: _Spreadsheet, p: dict[str, Any]) -> None:
    sheet, dimension, start, end = _dimension_range(ss, p.get("range"))
    limit = sheet.row_count if dimension == "ROWS" else sheet.col_count
    if end > limit or end <= start:
        raise _Invalid(f"Invalid delete range: [{start}, {end}) on a sheet with {limit} "
                       f"{dimension.lower()}.")
    if end - start == limit:
        what = "rows" if dimension == "ROWS" else "columns"
        raise _Invalid(f"You can't delete all the {what} on the sheet.")
    _delete_dimension(sheet, dimension, start, end - start)


def _req_update_dimension_properties(ss: _Spreadsheet, p: dict[str, Any]) -> None:
    sheet, dimension, start, end = _dimension_range(ss, p.get("range"))
    limit = sheet.row_count if dimension == "ROWS" else sheet.col_count
    if end > limit:
        raise _Invalid(f"Invalid dimension range: end {end} is beyond the sheet's {limit}.")
    paths = _mask(p.get("fields"))
    given = p.get("properties") or {}
    store = sheet.row_meta if dimension == "ROWS" else sheet.col_meta
    for index in range(start, end):
        meta = copy.deepcopy(store.get(index, {}))
        for path in paths:
            if path == ("*",):
                meta.update(copy.deepcopy({k: v for k, v in given.items()
                                           if k in ("hiddenByUser", "pixelSize")}))
                continue
            if path[0] not in ("hiddenByUser", "pixelSize"):
                raise _Invalid(f'Invalid field mask path: "{".".join(path)}"')
            value = _get_path(given, path)
            if value is _MISSING:
                _del_path(meta, path)
            else:
                _set_path(meta, path, value)
        if meta:
            store[index] = meta
        else:
            store.pop(index, None)


def _req_set_data_validation(ss: _Spreadsheet, p: dict[str, Any]) -> None:
    rule = _prune_defaults(p.get("rule")) if p.get("rule") else None
    if rule is not None and not ((rule.get("condition") or {}).get("type")):
        raise _Invalid("Invalid DataValidationRule: condition.type is required.")
    sheet, r0, r1, c0, c1 = _grid_range(ss, p.get("range"))
    for r in range(r0, r1):
        for c in range(c0, c1):
            cell = dict(sheet.get(r, c) or {})
            if rule:
                cell["dataValidation"] = copy.deepcopy(rule)
            else:
                cell.pop("dataValidation", None)
            sheet.put(r, c, cell or None)


def _check_rule(ss: _Spreadsheet, rule: Any) -> _Sheet:
    if not isinstance(rule, dict) or not rule.get("ranges"):
        raise _Invalid("A conditional format rule needs at least one range.")
    if ("booleanRule" in rule) == ("gradientRule" in rule):
        raise _Invalid("A conditional format rule needs exactly one of booleanRule, gradientRule.")
    sheets = {_grid_range(ss, r)[0].sheet_id for r in rule["ranges"]}
    if len(sheets) != 1:
        raise _Invalid("All ranges of a conditional format rule must be on the same sheet.")
    return _sheet_of(ss, sheets.pop())


def _req_add_conditional_format_rule(ss: _Spreadsheet, p: dict[str, Any]) -> None:
    rule = copy.deepcopy(p.get("rule"))
    sheet = _check_rule(ss, rule)
    index = _int(p.get("index", 0), "index")
    sheet.conditional_formats.insert(max(0, min(index, len(sheet.conditional_formats))), rule)


def _rule_at(ss: _Spreadsheet, p: dict[str, Any]) -> tuple[_Sheet, int]:
    sheet = _sheet_of(ss, p.get("sheetId", 0))
    index = _int(p.get("index", 0), "index")
    if not 0 <= index < len(sheet.conditional_formats):
        raise _Invalid(f"No conditional format on sheet: {sheet.sheet_id} at index: {index}")
    return sheet, index


def _req_delete_conditional_format_rule(ss: _Spreadsheet, p: dict[str, Any]) -> dict[str, Any]:
    sheet, index = _rule_at(ss, p)
    rule = sheet.conditional_formats.pop(index)
    return {"deleteConditionalFormatRule": {"rule": _output_ranges_in(rule)}}


def _req_update_conditional_format_rule(ss: _Spreadsheet, p: dict[str, Any]) -> dict[str, Any]:
    sheet, index = _rule_at(ss, p)
    old = sheet.conditional_formats[index]
    if "rule" in p:
        rule = copy.deepcopy(p["rule"])
        target = _check_rule(ss, rule)
        sheet.conditional_formats.pop(index)
        target.conditional_formats.insert(min(index, len(target.conditional_formats)), rule)
        return {"updateConditionalFormatRule": {"newRule": _output_ranges_in(rule),
                                                "oldRule": _output_ranges_in(old),
                                                "newIndex": index, "oldIndex": index}}
    if "newIndex" in p:
        new_index = _int(p["newIndex"], "newIndex")
        if not 0 <= new_index < len(sheet.conditional_formats):
            raise _Invalid(f"Invalid newIndex: {new_index}")
        sheet.conditional_formats.insert(new_index, sheet.conditional_formats.pop(index))
        return {"updateConditionalFormatRule": {"newRule": _output_ranges_in(old),
                                                "newIndex": new_index, "oldIndex": index}}
    raise _Invalid("Either 'rule' or 'newIndex' must be set.")


def _all_protected(ss: _Spreadsheet) -> Iterator[tuple[_Sheet, dict[str, Any]]]:
    for sheet in ss.sheets:
        for item in sheet.protected_ranges:
            yield sheet, item


def _prune_defaults(value: Any, keep: tuple[str, ...] = ("range",)) -> Any:
    """Drop false/empty plain fields, as proto3 JSON omits them (GridRanges are kept as given)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in keep or key.endswith("Ranges"):
                out[key] = item
                continue
            item = _prune_defaults(item, keep)
            if item is False or item == "" or item == [] or item == {}:
                continue
            out[key] = item
        return out
    if isinstance(value, list):
        return [_prune_defaults(v, keep) for v in value]
    return value


def _req_add_protected_range(ss: _Spreadsheet, p: dict[str, Any]) -> dict[str, Any]:
    item = _prune_defaults(copy.deepcopy(p.get("protectedRange") or {}))
    if "range" not in item:
        raise _Invalid("A protected range needs a range (named ranges are not emulated).")
    sheet = _grid_range(ss, item["range"])[0]
    if item.get("warningOnly") and item.get("editors"):
        raise _Invalid("A warning-only protected range cannot have editors.")
    used = {int(i.get("protectedRangeId", -1)) for _, i in _all_protected(ss)}
    new_id = ss.rng.randint(1, 2**31 - 1)
    while new_id in used:
        new_id = ss.rng.randint(1, 2**31 - 1)
    out = {"protectedRangeId": new_id}
    out.update({k: v for k, v in item.items() if k != "protectedRangeId"})
    out["requestingUserCanEdit"] = True  # output only: the caller owns the spreadsheet
    sheet.protected_ranges.append(out)
    return {"addProtectedRange": {"protectedRange": _output_ranges_in(out)}}


def _find_protected(ss: _Spreadsheet, protected_id: Any) -> tuple[_Sheet, dict[str, Any]]:
    wanted = _int(protected_id, "protectedRangeId")
    for sheet, item in _all_protected(ss):
        if int(item.get("protectedRangeId", -1)) == wanted:
            return sheet, item
    raise _Invalid(f"No protected range with id: {wanted}")


def _req_delete_protected_range(ss: _Spreadsheet, p: dict[str, Any]) -> None:
    sheet, item = _find_protected(ss, p.get("protectedRangeId"))
    sheet.protected_ranges.remove(item)


def _req_update_protected_range(ss: _Spreadsheet, p: dict[str, Any]) -> None:
    given = p.get("protectedRange") or {}
    sheet, item = _find_protected(ss, given.get("protectedRangeId"))
    updated = copy.deepcopy(item)
    for path in _mask(p.get("fields")):
        value = _get_path(given, path)
        if value is _MISSING:
            _del_path(updated, path)
        else:
            _set_path(updated, path, copy.deepcopy(value))
    if "range" in updated:
        _grid_range(ss, updated["range"])
    sheet.protected_ranges[sheet.protected_ranges.index(item)] = updated


def _req_set_basic_filter(ss: _Spreadsheet, p: dict[str, Any]) -> None:
    given = copy.deepcopy(p.get("filter") or {})
    sheet, r0, r1, c0, c1 = _grid_range(ss, given.get("range"))
    given["range"] = {"sheetId": sheet.sheet_id, "startRowIndex": r0, "endRowIndex": r1,
                      "startColumnIndex": c0, "endColumnIndex": c1}
    specs = [(_int(s.get("dimensionIndex", 0), "dimensionIndex"),
              s.get("sortOrder") == "DESCENDING") for s in given.get("sortSpecs") or []]
    if specs and r1 - r0 > 1:
        _sort_block(sheet, r0 + 1, min(r1, max(len(sheet.rows), r0 + 1)), c0, c1, specs)
    sheet.basic_filter = given


def _req_clear_basic_filter(ss: _Spreadsheet, p: dict[str, Any]) -> None:
    _sheet_of(ss, p.get("sheetId", 0)).basic_filter = None


def _req_sort_range(ss: _Spreadsheet, p: dict[str, Any]) -> None:
    sheet, r0, r1, c0, c1 = _grid_range(ss, p.get("range"))
    specs = [(_int(s.get("dimensionIndex", 0), "dimensionIndex"),
              s.get("sortOrder") == "DESCENDING") for s in p.get("sortSpecs") or []]
    if not specs:
        raise _Invalid("At least one sort spec is required.")
    _sort_block(sheet, r0, min(r1, max(len(sheet.rows), r0)), c0, c1, specs)


def _req_merge_cells(ss: _Spreadsheet, p: dict[str, Any]) -> None:
    sheet, r0, r1, c0, c1 = _grid_range(ss, p.get("range"))
    merge_type = p.get("mergeType", "MERGE_ALL")
    spans: list[tuple[int, int, int, int]]
    if merge_type == "MERGE_COLUMNS":
        spans = [(r0, r1, c, c + 1) for c in range(c0, c1)]
    elif merge_type == "MERGE_ROWS":
        spans = [(r, r + 1, c0, c1) for r in range(r0, r1)]
    else:
        spans = [(r0, r1, c0, c1)]
    for a, b, c, d in spans:
        if (b - a) * (d - c) > 1:
            sheet.merges.append({"sheetId": sheet.sheet_id, "startRowIndex": a, "endRowIndex": b,
                                 "startColumnIndex": c, "endColumnIndex": d})


def _req_unmerge_cells(ss: _Spreadsheet, p: dict[str, Any]) -> None:
    sheet, r0, r1, c0, c1 = _grid_range(ss, p.get("range"))

    def overlaps(m: dict[str, Any]) -> bool:
        return (m["startRowIndex"] < r1 and r0 < m["endRowIndex"]
                and m["startColumnIndex"] < c1 and c0 < m["endColumnIndex"])

    sheet.merges = [m for m in sheet.merges if not overlaps(m)]


def _req_auto_resize(ss: _Spreadsheet, p: dict[str, Any]) -> None:
    if "dimensions" in p:
        _dimension_range(ss, p["dimensions"])


def _all_metadata(ss: _Spreadsheet) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any]]]:
    for item in ss.developer_metadata:
        yield ss.developer_metadata, item
    for sheet in ss.sheets:
        for item in sheet.developer_metadata:
            yield sheet.developer_metadata, item
        for store in (sheet.row_meta, sheet.col_meta):
            for meta in store.values():
                for item in meta.get("developerMetadata", []):
                    yield meta["developerMetadata"], item


def _req_create_developer_metadata(ss: _Spreadsheet, p: dict[str, Any]) -> dict[str, Any]:
    item = copy.deepcopy(p.get("developerMetadata") or {})
    if not item.get("metadataKey"):
        raise _Invalid("Developer metadata must have a metadataKey.")
    location = item.pop("location", None) or {}
    used = {int(i.get("metadataId", -1)) for _, i in _all_metadata(ss)}
    if item.get("metadataId") is not None:
        if _int(item["metadataId"], "metadataId") in used:
            raise _Invalid(f"Developer metadata with id {item['metadataId']} already exists.")
    else:
        item["metadataId"] = max(used | {0}) + 1
    item.setdefault("visibility", "DOCUMENT")
    if location.get("spreadsheet"):
        ss.developer_metadata.append(item)
        shown = {"locationType": "SPREADSHEET", "spreadsheet": True}
    elif "sheetId" in location:
        sheet = _sheet_of(ss, location["sheetId"])
        sheet.developer_metadata.append(item)
        shown = {"locationType": "SHEET", "sheetId": sheet.sheet_id}
    elif "dimensionRange" in location:
        sheet, dimension, start, end = _dimension_range(ss, location["dimensionRange"])
        limit = sheet.row_count if dimension == "ROWS" else sheet.col_count
        if end != start + 1 or end > limit:
            raise _Invalid("Developer metadata on a dimension must cover exactly one row or column.")
        store = sheet.row_meta if dimension == "ROWS" else sheet.col_meta
        store.setdefault(start, {}).setdefault("developerMetadata", []).append(item)
        shown = {"locationType": "ROW" if dimension == "ROWS" else "COLUMN",
                 "dimensionRange": _output_range(dict(location["dimensionRange"]))}
    else:
        raise _Invalid("Developer metadata needs a location.")
    return {"createDeveloperMetadata": {"developerMetadata": dict(item, location=shown)}}


def _req_delete_developer_metadata(ss: _Spreadsheet, p: dict[str, Any]) -> dict[str, Any]:
    lookup = ((p.get("dataFilter") or {}).get("developerMetadataLookup")) or {}
    if not lookup:
        raise _Invalid("Only dataFilter.developerMetadataLookup is emulated.")
    deleted = []
    for owner, item in list(_all_metadata(ss)):
        if "metadataId" in lookup and int(item["metadataId"]) != int(lookup["metadataId"]):
            continue
        if "metadataKey" in lookup and item.get("metadataKey") != lookup["metadataKey"]:
            continue
        if "metadataValue" in lookup and item.get("metadataValue") != lookup["metadataValue"]:
            continue
        owner.remove(item)
        deleted.append(copy.deepcopy(item))
    for sheet in ss.sheets:
        for store in (sheet.row_meta, sheet.col_meta):
            for index in [k for k, v in store.items() if "developerMetadata" in v
                          and not v["developerMetadata"]]:
                del store[index]["developerMetadata"]
                if not store[index]:
                    del store[index]
    return {"deleteDeveloperMetadata": {"deletedDeveloperMetadata": deleted}}


_REQUESTS: dict[str, Callable[[_Spreadsheet, dict[str, Any]], dict[str, Any] | None]] = {
    "addSheet": _req_add_sheet,
    "deleteSheet": _req_delete_sheet,
    "updateSheetProperties": _req_update_sheet_properties,
    "updateSpreadsheetProperties": _req_update_spreadsheet_properties,
    "appendCells": _req_append_cells,
    "updateCells": _req_update_cells,
    "repeatCell": _req_repeat_cell,
    "appendDimension": _req_append_dimension,
    "insertDimension": _req_insert_dimension,
    "deleteDimension": _req_delete_dimension,
    "updateDimensionProperties": _req_update_dimension_properties,
    "setDataValidation": _req_set_data_validation,
    "addConditionalFormatRule": _req_add_conditional_format_rule,
    "deleteConditionalFormatRule": _req_delete_conditional_format_rule,
    "updateConditionalFormatRule": _req_update_conditional_format_rule,
    "addProtectedRange": _req_add_protected_range,
    "deleteProtectedRange": _req_delete_protected_range,
    "updateProtectedRange": _req_update_protected_range,
    "setBasicFilter": _req_set_basic_filter,
    "clearBasicFilter": _req_clear_basic_filter,
    "sortRange": _req_sort_range,
    "mergeCells": _req_merge_cells,
    "unmergeCells": _req_unmerge_cells,
    "autoResizeDimensions": _req_auto_resize,
    "createDeveloperMetadata": _req_create_developer_metadata,
    "deleteDeveloperMetadata": _req_delete_developer_metadata,
}


# ---------------------------------------------------------------------------
# values.* helpers
# ---------------------------------------------------------------------------

_RENDER_OPTIONS = ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA")
_DATETIME_OPTIONS = ("SERIAL_NUMBER", "FORMATTED_STRING")
_INPUT_OPTIONS = ("RAW", "USER_ENTERED")


def _enum(value: Any, allowed: tuple[str, ...], default: str, field: str, proto: str) -> str:
    if value in (None, ""):
        return default
    if value not in allowed:
        raise _bad(f"Invalid value at '{field}' (type.googleapis.com/google.apps.sheets.v4.{proto}),"
                   f' "{value}"')
    return str(value)


def _read_values(sheet: _Sheet, bounds: _Bounds, render: str, datetime_render: str, major: str,
                 locale: str) -> dict[str, Any]:
    r0, r1, c0, c1 = _clamp_read(sheet, bounds)
    matrix = []
    for r in range(r0, min(r1, len(sheet.rows))):
        cells = sheet.rows[r]
        matrix.append([_render_value(cells[c], render, datetime_render, locale)
                       for c in range(c0, min(c1, len(cells)))])
    if major == "COLUMNS":
        width = max((len(row) for row in matrix), default=0)
        matrix = [[row[c] if c < len(row) else None for row in matrix] for c in range(width)]
    out: dict[str, Any] = {"range": _range_name(sheet, r0, r1, c0, c1), "majorDimension": major}
    values = _trim(matrix)
    if values:
        out["values"] = values
    return out


def _input_cell(old: dict[str, Any] | None, value: Any, option: str, locale: str,
                where: str) -> dict[str, Any] | None:
    """A stored cell after writing ``value`` through the values API."""
    cell = dict(old) if old else {}
    if isinstance(value, str) and value == "":
        cell.pop("userEnteredValue", None)
        return cell or None
    auto_format = None
    if isinstance(value, bool):
        user_value: dict[str, Any] = {"boolValue": value}
    elif isinstance(value, int | float):
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            raise _bad(f"Invalid values{where}: NaN and infinity are not numbers Sheets can store")
        user_value = {"numberValue": value}
    elif isinstance(value, str):
        if option == "RAW":
            user_value = {"stringValue": value}
        else:
            user_value, auto_format = _user_entered(value, locale, _number_format(cell))
    else:
        kind = "list_value" if isinstance(value, list) else "struct_value"
        raise _bad(f"Invalid values{where}: {kind} {json.dumps(value)}")
    cell["userEnteredValue"] = user_value
    if auto_format and not _number_format(cell):
        cell["userEnteredFormat"] = dict(cell.get("userEnteredFormat") or {},
                                         numberFormat=auto_format)
    return cell


def _rows_of(body: dict[str, Any], where: str) -> list[list[Any]]:
    values = body.get("values")
    if values is None:
        return []
    if not isinstance(values, list) or not all(isinstance(row, list) for row in values):
        raise _bad(f"Invalid {where}values: expected a list of lists")
    major = body.get("majorDimension") or "ROWS"
    if major == "COLUMNS":
        height = max((len(col) for col in values), default=0)
        return [[col[r] if r < len(col) else None for col in values] for r in range(height)]
    if major not in ("ROWS", "DIMENSION_UNSPECIFIED"):
        raise _bad(f"Invalid {where}majorDimension: {major}")
    return values


def _write_values(sheet: _Sheet, bounds: _Bounds, text: str, rows: list[list[Any]], option: str,
                  locale: str, grow_rows: bool = False) -> dict[str, Any]:
    """Write a rectangle of values at the range's top-left; returns UpdateValuesResponse bits."""
    r0, c0 = bounds.r0 or 0, bounds.c0 or 0
    height = len(rows)
    width = max((len(row) for row in rows), default=0)
    if not bounds.single:
        if bounds.c1 is not None and c0 + width > bounds.c1:
            raise _bad(f"Requested writing within range [{text}], but tried writing to column "
                       f"[{column_letters(bounds.c1)}]")
        if bounds.r1 is not None and r0 + height > bounds.r1:
            raise _bad(f"Requested writing within range [{text}], but tried writing to row "
                       f"[{bounds.r1 + 1}]")
    if c0 + max(width, 1) > sheet.col_count:
        raise _bad(_grid_limit_message(sheet, r0, max(c0, sheet.col_count)))
    if r0 + max(height, 1) > sheet.row_count:
        if not grow_rows:
            raise _bad(_grid_limit_message(sheet, max(r0, sheet.row_count), c0))
        sheet.row_count = r0 + height
    written_rows: set[int] = set()
    written_cols: set[int] = set()
    cells = 0
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            if value is None:
                continue
            sheet.put(r0 + i, c0 + j,
                      _input_cell(sheet.get(r0 + i, c0 + j), value, option, locale, f"[{i}][{j}]"))
            written_rows.add(i)
            written_cols.add(j)
            cells += 1
    out: dict[str, Any] = {}
    if height and width:
        out["updatedRange"] = _range_name(sheet, r0, r0 + height, c0, c0 + width)
        out["updatedRows"] = len(written_rows)
        out["updatedColumns"] = len(written_cols)
        out["updatedCells"] = cells
    else:
        out["updatedRange"] = _range_name(sheet, r0, r0 + 1, c0, c0 + 1)
    for key in ("updatedRows", "updatedColumns", "updatedCells"):
        if key in out and not out[key]:
            del out[key]
    out["_span"] = (r0, r0 + max(height, 1), c0, c0 + max(width, 1))
    return out


def _drop_nulls(value: Any) -> Any:
    """JSON null in a message field means "unset" (proto3); nulls inside value lists stay."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _retrim_grid(payload: Any) -> None:
    """After a ``fields`` mask, drop cells/rows left empty at the ends, as Google trims them."""
    if not isinstance(payload, dict):
        return
    for holder in (payload, payload.get("updatedSpreadsheet")):
        for sheet in (holder or {}).get("sheets") or [] if isinstance(holder, dict) else []:
            for block in (sheet or {}).get("data") or []:
                rows = block.get("rowData") if isinstance(block, dict) else None
                if rows is None:
                    continue
                for row in rows:
                    values = row.get("values")
                    if values is None:
                        continue
                    while values and not values[-1]:
                        values.pop()
                    if not values:
                        del row["values"]
                while rows and not rows[-1]:
                    rows.pop()
                if not rows:
                    del block["rowData"]


def _mask_plan(fields: str | None, prefix: tuple[str, ...]) -> tuple[bool | None,
                                                                    frozenset[str] | None]:
    """From a ``fields`` mask: (does it ask for grid data under prefix, which CellData keys).

    (None, None) when there is no mask; the keys are None when every cell field is wanted.
    """
    if not fields:
        return None, None
    try:
        node: Any = _mask_tree(parse_field_mask(fields))
    except ValueError:
        raise _bad(f"Invalid field selection {fields}") from None
    for key in (*prefix, "sheets", "data"):
        if node is None or "*" in node:
            return True, None
        if key not in node:
            return False, None
        node = node[key]
    for key in ("rowData", "values"):
        if node is None or "*" in node:
            return True, None
        if key not in node:
            return True, frozenset()
        node = node[key]
    if node is None or "*" in node:
        return True, None
    return True, frozenset(node)


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1", "yes")


# ---------------------------------------------------------------------------
# The HTTP server
# ---------------------------------------------------------------------------


@dataclass
class _Failure:
    status: int
    json_body: bool
    retry_after: float | None


_HTML_ERROR = """<!DOCTYPE html>
<html lang=en>
  <meta charset=utf-8>
  <meta name=viewport content="initial-scale=1, minimum-scale=1, width=device-width">
  <title>Error {code} (Server Error)!!1</title>
  <p><b>{code}.</b> <ins>That's an error.</ins>
  <p>The server encountered a temporary error and could not complete your request.<p>Please try
  again in 30 seconds.  <ins>That's all we know.</ins>
"""

_Response = tuple[int, list[tuple[str, str]], bytes]


def _json_response(status: int, payload: Any, headers: list[tuple[str, str]] | None = None,
                   ) -> _Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n"
    out = [("Content-Type", "application/json; charset=UTF-8")] + (headers or [])
    return status, out, body.encode("utf-8")


def _normalise_numbers(value: Any) -> Any:
    if isinstance(value, float):
        return _json_number(value)
    if isinstance(value, list):
        return [_normalise_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalise_numbers(v) for k, v in value.items()}
    return value


class _Handler(BaseHTTPRequestHandler):
    """Thin HTTP layer: read the body, let the emulator answer, write the reply."""

    protocol_version = "HTTP/1.1"
    server_version = "ESF"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms stall

    def _dispatch(self, method: str) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
        emulator: SheetsEmulator = self.server.emulator  # type: ignore[attr-defined]
        status, headers, payload = emulator._handle_http(method, self.path, body)
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(payload)

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature is fixed
        """Quiet: tests read ``SheetsEmulator.requests`` instead of an access log."""


class SheetsEmulator:
    """In-memory Sheets API v4 on 127.0.0.1 (see the module docstring for what is emulated).

    Thread-safe: one re-entrant lock guards all state, API requests and the Python helpers.
    """

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.host = ""
        self.requests: list[tuple[str, str]] = []
        self.delay: float = 0.0
        self.internal_errors: list[str] = []
        self._lock = threading.RLock()
        self._spreadsheets: dict[str, _Spreadsheet] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._received = 0
        self._hooks: list[tuple[int, Callable[[], None]]] = []
        self._failures: deque[_Failure] = deque()
        self._fail_always: int | None = None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> SheetsEmulator:
        """Bind 127.0.0.1 (port 0 = a free one) and serve from a daemon thread."""
        if self._server is not None:
            return self
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        server.daemon_threads = True
        server.emulator = self  # type: ignore[attr-defined]
        self._server = server
        self.port = int(server.server_address[1])
        self.host = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"sheets-emulator-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SheetsEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- spreadsheets as test fixtures ----------------------------------------------

    def create_spreadsheet(self, spreadsheet_id: str, title: str = "Incidents", *,
                           time_zone: str = "Pacific/Auckland", locale: str = "en_NZ",
                           tabs: dict[str, list[list[Any]]] | None = None) -> None:
        """Create (or replace) a spreadsheet; ``tabs`` maps title -> rows of Python values.

        Seed values are stored literally (a str starting with "=" stays text); datetime/date
        values become serial numbers with a date format (aware ones converted to time_zone).
        The first tab gets sheetId 0; tabs are 1000 x 26 or larger to fit the rows.
        """
        ss = _Spreadsheet(spreadsheet_id, title, time_zone, locale)
        for index, (tab_title, rows) in enumerate((tabs or {"Sheet1": []}).items()):
            width = max((len(row) for row in rows), default=0)
            props = {"sheetId": 0 if index == 0 else ss.new_id(), "title": tab_title,
                     "index": index, "sheetType": "GRID",
                     "gridProperties": {"rowCount": max(DEFAULT_ROW_COUNT, len(rows)),
                                        "columnCount": max(DEFAULT_COLUMN_COUNT, width)}}
            if ss.sheet_by_title(tab_title) is not None:
                raise ValueError(f"duplicate tab title {tab_title!r} (titles ignore case)")
            sheet = _Sheet(props)
            ss.sheets.append(sheet)
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    sheet.put(r, c, self._python_cell(None, value, ss, user_entered=False))
        with self._lock:
            self._spreadsheets[spreadsheet_id] = ss

    def values(self, spreadsheet_id: str, tab: str) -> list[list[Any]]:
        """Effective values (int/float/bool/str, errors as "#ERROR!"-style text), trimmed."""
        with self._lock:
            sheet = self._tab(spreadsheet_id, tab)
            matrix = [[self._typed(cell) for cell in cells] for cells in sheet.rows]
            return _trim(matrix)

    def cell(self, spreadsheet_id: str, tab: str, a1: str) -> dict[str, Any]:
        """The CellData Google would return for one cell ({} when empty)."""
        with self._lock:
            ss = self._spreadsheet(spreadsheet_id)
            sheet = self._tab(spreadsheet_id, tab)
            bounds = _parse_cells(a1)
            if bounds is None or not bounds.single:
                raise ValueError(f"not a single-cell A1 reference: {a1!r}")
            return copy.deepcopy(render_cell(sheet.get(bounds.r0 or 0, bounds.c0 or 0),
                                             ss.locale))

    def set_values(self, spreadsheet_id: str, tab: str, a1_start: str, rows: list[list[Any]],
                   *, user_entered: bool = False) -> None:
        """A person editing cells (not an API request): None leaves a cell, "" clears it.

        Values are literal unless ``user_entered`` (then typed text is parsed like the UI does).
        The tab grows to fit.
        """
        with self._lock:
            ss = self._spreadsheet(spreadsheet_id)
            sheet = self._tab(spreadsheet_id, tab)
            bounds = _parse_cells(a1_start)
            if bounds is None:
                raise ValueError(f"bad A1 start: {a1_start!r}")
            r0, c0 = bounds.r0 or 0, bounds.c0 or 0
            self._fit(sheet, r0 + len(rows), c0 + max((len(r) for r in rows), default=0))
            for i, row in enumerate(rows):
                for j, value in enumerate(row):
                    if value is None:
                        continue
                    old = sheet.get(r0 + i, c0 + j)
                    sheet.put(r0 + i, c0 + j, self._python_cell(old, value, ss, user_entered))

    def append_row(self, spreadsheet_id: str, tab: str, row: list[Any], *,
                   user_entered: bool = False) -> int:
        """Google Forms adding a response: the row after the last one holding a value.

        Returns the 1-based sheet row written. The tab grows when full.
        """
        with self._lock:
            ss = self._spreadsheet(spreadsheet_id)
            sheet = self._tab(spreadsheet_id, tab)
            target = sheet.last_value_row() + 1
            self._fit(sheet, target + 1, len(row))
            for c, value in enumerate(row):
                if value is None:
                    continue
                sheet.put(target, c, self._python_cell(sheet.get(target, c), value, ss,
                                                       user_entered))
            return target + 1

    def sort_tab(self, spreadsheet_id: str, tab: str, column: int | str, *, reverse: bool = False,
                 header_rows: int = 1) -> None:
        """A leader sorting the tab (Data > Sort sheet) below ``header_rows`` frozen rows.

        ``column`` is 1-based (1 = A) or letters ("C"). Whole rows move, values and formats.
        """
        with self._lock:
            sheet = self._tab(spreadsheet_id, tab)
            col = _column_index(column) if isinstance(column, str) else int(column) - 1
            if not 0 <= col < sheet.col_count:
                raise ValueError(f"column {column!r} is outside the tab")
            end = max(len(sheet.rows), header_rows)
            _sort_block(sheet, header_rows, end, 0, sheet.col_count, [(col, reverse)])

    def insert_rows(self, spreadsheet_id: str, tab: str, before_row: int, count: int = 1) -> None:
        """A leader inserting ``count`` blank rows above 1-based ``before_row``."""
        with self._lock:
            sheet = self._tab(spreadsheet_id, tab)
            if not 1 <= before_row <= sheet.row_count + 1 or count < 1:
                raise ValueError("insert position outside the tab")
            _insert_dimension(sheet, "ROWS", before_row - 1, count)

    def delete_rows(self, spreadsheet_id: str, tab: str, row: int, count: int = 1) -> None:
        """A leader deleting ``count`` rows starting at 1-based ``row``."""
        with self._lock:
            sheet = self._tab(spreadsheet_id, tab)
            if row < 1 or row - 1 + count > sheet.row_count or count < 1 \
                    or count >= sheet.row_count:
                raise ValueError("delete range outside the tab (or every row)")
            _delete_dimension(sheet, "ROWS", row - 1, count)

    def metadata(self, spreadsheet_id: str) -> dict[str, Any]:
        """The spreadsheet resource as a GET without grid data returns it."""
        with self._lock:
            resource = _spreadsheet_resource(self._spreadsheet(spreadsheet_id), None, False)
            return _normalise_numbers(resource)

    def sheet_id(self, spreadsheet_id: str, tab: str) -> int:
        """The sheetId of a tab (for building batchUpdate requests in tests)."""
        with self._lock:
            return self._tab(spreadsheet_id, tab).sheet_id

    # -- accounting and fault injection ------------------------------------------

    def reset_requests(self) -> None:
        """Forget the requests seen so far (hook numbering is unaffected)."""
        with self._lock:
            self.requests.clear()

    def fail_next(self, count: int, status: int = 429, *, json_body: bool = True,
                  retry_after: float | None = None) -> None:
        """Answer the next ``count`` requests with ``status`` (HTML body if not json_body)."""
        with self._lock:
            for _ in range(count):
                self._failures.append(_Failure(status, json_body, retry_after))

    def fail_always(self, status: int | None) -> None:
        """Every request fails with ``status`` (JSON body) until ``fail_always(None)``."""
        with self._lock:
            self._fail_always = status

    def clear_faults(self) -> None:
        """Drop pending fail_next/fail_always faults and before_request hooks; delay back to 0.

        For fixtures sharing one emulator: a failed test must not leave faults for the next.
        """
        with self._lock:
            self._failures.clear()
            self._fail_always = None
            self._hooks.clear()
            self.delay = 0.0

    def before_request(self, n: int, callback: Callable[[], None]) -> None:
        """Run ``callback`` under the lock just before handling the n-th request from now."""
        if n < 1:
            raise ValueError("n counts from 1 (the next request)")
        with self._lock:
            self._hooks.append((self._received + n, callback))

    # -- internals: Python-side helpers ------------------------------------------

    def _spreadsheet(self, spreadsheet_id: str) -> _Spreadsheet:
        ss = self._spreadsheets.get(spreadsheet_id)
        if ss is None:
            raise KeyError(f"no spreadsheet {spreadsheet_id!r} in the emulator")
        return ss

    def _tab(self, spreadsheet_id: str, tab: str) -> _Sheet:
        sheet = self._spreadsheet(spreadsheet_id).sheet_by_title(tab)
        if sheet is None:
            raise KeyError(f"no tab {tab!r} in spreadsheet {spreadsheet_id!r}")
        return sheet

    @staticmethod
    def _fit(sheet: _Sheet, rows: int, cols: int) -> None:
        sheet.row_count = max(sheet.row_count, rows)
        sheet.col_count = max(sheet.col_count, cols)

    @staticmethod
    def _python_cell(old: dict[str, Any] | None, value: Any, ss: _Spreadsheet,
                     user_entered: bool) -> dict[str, Any] | None:
        if value is None:
            return old
        if isinstance(value, dt.datetime | dt.date | dt.time):
            us = ss.locale.startswith("en_US")
            if isinstance(value, dt.datetime):
                if value.tzinfo is not None:
                    from zoneinfo import ZoneInfo

                    value = value.astimezone(ZoneInfo(ss.properties["timeZone"]))
                kind, pattern = "DATE_TIME", "M/d/yyyy H:mm:ss" if us else "d/MM/yyyy H:mm:ss"
            elif isinstance(value, dt.date):
                kind, pattern = "DATE", "M/d/yyyy" if us else "d/MM/yyyy"
            else:
                kind, pattern = "TIME", "h:mm:ss am/pm"
            cell = dict(old or {})
            cell["userEnteredValue"] = {"numberValue": to_serial(value)}
            if not _number_format(cell):
                cell["userEnteredFormat"] = dict(cell.get("userEnteredFormat") or {},
                                                 numberFormat={"type": kind, "pattern": pattern})
            return cell
        option = "USER_ENTERED" if user_entered else "RAW"
        return _input_cell(old, value, option, ss.locale, "")

    @staticmethod
    def _typed(cell: dict[str, Any] | None) -> Any:
        effective = _effective((cell or {}).get("userEnteredValue"))
        if not effective:
            return None
        if "numberValue" in effective:
            return _json_number(float(effective["numberValue"]))
        if "boolValue" in effective:
            return bool(effective["boolValue"])
        if "stringValue" in effective:
            return effective["stringValue"]
        return _error_text(effective.get("errorValue", {}))

    # -- internals: HTTP ---------------------------------------------------------------

    def _handle_http(self, method: str, raw_path: str, body: bytes) -> _Response:
        with self._lock:
            self.requests.append((method, raw_path))
            self._received += 1
            number = self._received
        if self.delay > 0:
            time.sleep(self.delay)
        with self._lock:
            due = [cb for at, cb in self._hooks if at == number]
            self._hooks = [(at, cb) for at, cb in self._hooks if at != number]
            for callback in due:
                try:
                    callback()
                except Exception:
                    self._record_internal("before_request callback failed")
            failure = self._take_failure()
            if failure is not None:
                return self._failure_response(method, failure)
            try:
                payload, params = self._route(method, raw_path, body)
                fields = (params.get("fields") or [None])[0]
                if fields:
                    try:
                        payload = _select(payload, _mask_tree(parse_field_mask(fields)))
                    except ValueError:
                        raise _bad(f"Invalid field selection {fields}") from None
                    _retrim_grid(payload)
                return _json_response(200, payload)
            except SheetsApiError as error:
                return _json_response(error.code, error.body())
            except Exception:
                self._record_internal(f"{method} {raw_path}")
                return _json_response(500, SheetsApiError(500, STATUS_MESSAGES[500]).body())

    def _record_internal(self, what: str) -> None:
        text = f"{what}\n{traceback.format_exc()}"
        self.internal_errors.append(text)
        print(f"sheets emulator: {text}", file=sys.stderr)

    def _take_failure(self) -> _Failure | None:
        if self._fail_always is not None:
            return _Failure(self._fail_always, True, None)
        if self._failures:
            return self._failures.popleft()
        return None

    @staticmethod
    def _failure_response(method: str, failure: _Failure) -> _Response:
        headers: list[tuple[str, str]] = []
        if failure.retry_after is not None:
            value = failure.retry_after
            headers.append(("Retry-After", str(int(value)) if float(value).is_integer()
                            else str(value)))
        if not failure.json_body:
            page = _HTML_ERROR.format(code=failure.status).encode("utf-8")
            return failure.status, [("Content-Type", "text/html; charset=UTF-8")] + headers, page
        return _json_response(failure.status, _injected_error(method, failure.status).body(),
                              headers)

    def _route(self, method: str, raw_path: str, body: bytes,
               ) -> tuple[Any, dict[str, list[str]]]:
        path, _, query = raw_path.partition("?")
        params = parse_qs(query, keep_blank_values=True)
        not_found = SheetsApiError(404, f"The requested URL {path} was not found on this server.")
        prefix = "/v4/spreadsheets"
        if not path.startswith(prefix):
            raise not_found
        rest = path[len(prefix):]
        if rest in ("", "/"):
            if method == "POST":
                return self._create(self._json(body)), params
            raise not_found
        match = re.fullmatch(r"/([^/:]+)(.*)", rest)
        if not match:
            raise not_found
        spreadsheet_id, tail = unquote(match.group(1)), match.group(2)
        route = self._match(method, tail)
        if route is None:
            raise not_found
        ss = self._spreadsheets.get(spreadsheet_id)
        if ss is None:
            raise SheetsApiError(404, STATUS_MESSAGES[404])
        handler, range_text = route
        return handler(ss, range_text, params, self._json(body)), params

    def _match(self, method: str, tail: str) -> tuple[Callable[..., Any], str] | None:
        fixed = {("GET", ""): self._get, ("POST", ":batchUpdate"): self._batch_update,
                 ("GET", "/values:batchGet"): self._values_batch_get,
                 ("POST", "/values:batchUpdate"): self._values_batch_update,
                 ("POST", "/values:batchClear"): self._values_batch_clear}
        if (method, tail) in fixed:
            return fixed[(method, tail)], ""
        if not tail.startswith("/values/") or len(tail) <= len("/values/"):
            return None
        raw = tail[len("/values/"):]
        if method == "POST" and raw.endswith(":append"):
            return self._values_append, unquote(raw[:-len(":append")])
        if method == "POST" and raw.endswith(":clear"):
            return self._values_clear, unquote(raw[:-len(":clear")])
        if method == "GET":
            return self._values_get, unquote(raw)
        if method == "PUT":
            return self._values_update, unquote(raw)
        return None

    @staticmethod
    def _json(body: bytes) -> dict[str, Any]:
        if not body.strip():
            return {}
        try:
            parsed = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise _bad(f"Invalid JSON payload received. {error}") from None
        if not isinstance(parsed, dict):
            raise _bad("Invalid JSON payload received. Expected an object.")
        return _drop_nulls(parsed)

    # -- endpoints ---------------------------------------------------------------

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        props = body.get("properties") or {}
        sid = body.get("spreadsheetId") or f"emulated-{len(self._spreadsheets) + 1}"
        tabs = {((s.get("properties") or {}).get("title") or f"Sheet{i + 1}"): []
                for i, s in enumerate(body.get("sheets") or [{}])}
        self.create_spreadsheet(sid, props.get("title") or "Untitled spreadsheet",
                                time_zone=props.get("timeZone", "Etc/GMT"),
                                locale=props.get("locale", "en_US"), tabs=tabs)
        return _spreadsheet_resource(self._spreadsheets[sid], None, False)

    def _get(self, ss: _Spreadsheet, _: str, params: dict[str, list[str]],
             body: dict[str, Any]) -> dict[str, Any]:
        ranges = params.get("ranges") or params.get("ranges[]") or []
        include = _truthy((params.get("includeGridData") or ["false"])[0])
        masked, cell_fields = _mask_plan((params.get("fields") or [None])[0], ())
        if masked is not None:  # a mask wins over includeGridData (API reference)
            include = masked
        return _spreadsheet_resource(ss, ranges, include, cell_fields)

    def _batch_update(self, ss: _Spreadsheet, _: str, params: dict[str, list[str]],
                      body: dict[str, Any]) -> dict[str, Any]:
        requests = body.get("requests") or []
        if not requests:
            raise _bad("Must specify at least one request.")
        work = ss.clone()
        replies = []
        for i, request in enumerate(requests):
            if not isinstance(request, dict) or not request:
                raise _bad(f"Invalid requests[{i}]: No request set.")
            if len(request) > 1:
                names = ", ".join(request)
                raise _bad(f"Invalid requests[{i}]: only one kind of request may be set, got "
                           f"{names}.")
            kind, payload = next(iter(request.items()))
            handler = _REQUESTS.get(kind)
            if handler is None:
                if kind in GOOGLE_REQUEST_KINDS:
                    raise SheetsApiError(501, f"Invalid requests[{i}].{kind}: this request type is "
                                              "not implemented by the Sheets emulator.")
                message = (f'Invalid JSON payload received. Unknown name "{kind}" at '
                           f"'requests[{i}]': Cannot find field.")
                raise _bad(message, [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                                      "fieldViolations": [{"field": f"requests[{i}]",
                                                           "description": message}]}])
            try:
                reply = handler(work, payload if isinstance(payload, dict) else {})
            except _Invalid as error:
                raise _bad(f"Invalid requests[{i}].{kind}: {error}") from None
            replies.append(reply or {})
        out: dict[str, Any] = {"spreadsheetId": ss.id, "replies": replies}
        if _truthy(body.get("includeSpreadsheetInResponse", False)):
            masked, cell_fields = _mask_plan((params.get("fields") or [None])[0],
                                             ("updatedSpreadsheet",))
            include = _truthy(body.get("responseIncludeGridData", False))
            out["updatedSpreadsheet"] = _spreadsheet_resource(
                work, body.get("responseRanges") or None, include and masked is not False,
                cell_fields)
        self._spreadsheets[ss.id] = work
        return out

    def _values_get(self, ss: _Spreadsheet, text: str, params: dict[str, list[str]],
                    body: dict[str, Any]) -> dict[str, Any]:
        sheet, bounds = ss.resolve(text)
        render, datetime_render, major = self._read_options(params)
        return _read_values(sheet, bounds, render, datetime_render, major, ss.locale)

    def _values_batch_get(self, ss: _Spreadsheet, _: str, params: dict[str, list[str]],
                          body: dict[str, Any]) -> dict[str, Any]:
        render, datetime_render, major = self._read_options(params)
        out: dict[str, Any] = {"spreadsheetId": ss.id}
        ranges = params.get("ranges") or params.get("ranges[]") or []
        if ranges:
            out["valueRanges"] = [
                _read_values(*ss.resolve(text), render, datetime_render, major, ss.locale)
                for text in ranges]
        return out

    @staticmethod
    def _read_options(params: dict[str, list[str]]) -> tuple[str, str, str]:
        def first(name: str) -> str | None:
            return (params.get(name) or [None])[0]

        render = _enum(first("valueRenderOption"), _RENDER_OPTIONS, "FORMATTED_VALUE",
                       "value_render_option", "ValueRenderOption")
        datetime_render = _enum(first("dateTimeRenderOption"), _DATETIME_OPTIONS, "SERIAL_NUMBER",
                                "date_time_render_option", "DateTimeRenderOption")
        major = _enum(first("majorDimension"), ("ROWS", "COLUMNS", "DIMENSION_UNSPECIFIED"),
                      "ROWS", "major_dimension", "Dimension")
        return render, datetime_render, "ROWS" if major == "DIMENSION_UNSPECIFIED" else major

    def _updated_data(self, sheet: _Sheet, span: tuple[int, int, int, int], render: str,
                      datetime_render: str, locale: str) -> dict[str, Any]:
        r0, r1, c0, c1 = span
        return _read_values(sheet, _Bounds(r0, r1, c0, c1), render, datetime_render, "ROWS",
                            locale)

    def _values_update(self, ss: _Spreadsheet, text: str, params: dict[str, list[str]],
                       body: dict[str, Any]) -> dict[str, Any]:
        option = (params.get("valueInputOption") or [None])[0]
        if option not in _INPUT_OPTIONS:
            raise _bad("Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED" if not option
                       else f'Invalid value at \'value_input_option\', "{option}"')
        work = ss.clone()
        sheet, bounds = work.resolve(text)
        result = _write_values(sheet, bounds, text, _rows_of(body, ""), option, ss.locale)
        span = result.pop("_span")
        out = {"spreadsheetId": ss.id, **result}
        if _truthy((params.get("includeValuesInResponse") or ["false"])[0]):
            out["updatedData"] = self._updated_data(sheet, span, *self._response_render(params),
                                                    ss.locale)
        self._spreadsheets[ss.id] = work
        return out

    @staticmethod
    def _response_render(source: dict[str, Any]) -> tuple[str, str]:
        def first(name: str) -> Any:
            value = source.get(name)
            return value[0] if isinstance(value, list) else value

        render = _enum(first("responseValueRenderOption"), _RENDER_OPTIONS, "FORMATTED_VALUE",
                       "response_value_render_option", "ValueRenderOption")
        datetime_render = _enum(first("responseDateTimeRenderOption"), _DATETIME_OPTIONS,
                                "SERIAL_NUMBER", "response_date_time_render_option",
                                "DateTimeRenderOption")
        return render, datetime_render

    def _values_batch_update(self, ss: _Spreadsheet, _: str, params: dict[str, list[str]],
                             body: dict[str, Any]) -> dict[str, Any]:
        option = body.get("valueInputOption")
        if not option:
            raise _bad("'valueInputOption' is required but not specified")
        if option not in _INPUT_OPTIONS:
            raise _bad(f'Invalid value at \'data.value_input_option\', "{option}"')
        work = ss.clone()
        responses = []
        totals = {"rows": 0, "cols": 0, "cells": 0}
        sheets_touched: set[int] = set()
        for i, item in enumerate(body.get("data") or []):
            text = str((item or {}).get("range") or "")
            sheet, bounds = work.resolve(text)
            result = _write_values(sheet, bounds, text, _rows_of(item, f"data[{i}]."), option,
                                   ss.locale)
            span = result.pop("_span")
            response = {"spreadsheetId": ss.id, **result}
            if _truthy(body.get("includeValuesInResponse") or False):
                response["updatedData"] = self._updated_data(
                    sheet, span, *self._response_render(body), ss.locale)
            responses.append(response)
            totals["rows"] += result.get("updatedRows", 0)
            totals["cols"] += result.get("updatedColumns", 0)
            totals["cells"] += result.get("updatedCells", 0)
            if result.get("updatedCells"):
                sheets_touched.add(sheet.sheet_id)
        out: dict[str, Any] = {"spreadsheetId": ss.id}
        if totals["cells"]:
            out.update(totalUpdatedRows=totals["rows"], totalUpdatedColumns=totals["cols"],
                       totalUpdatedCells=totals["cells"], totalUpdatedSheets=len(sheets_touched))
        if responses:
            out["responses"] = responses
        self._spreadsheets[ss.id] = work
        return out

    def _values_append(self, ss: _Spreadsheet, text: str, params: dict[str, list[str]],
                       body: dict[str, Any]) -> dict[str, Any]:
        option = (params.get("valueInputOption") or [None])[0]
        if option not in _INPUT_OPTIONS:
            raise _bad("Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED" if not option
                       else f'Invalid value at \'value_input_option\', "{option}"')
        insert = (params.get("insertDataOption") or ["OVERWRITE"])[0] or "OVERWRITE"
        if insert not in ("OVERWRITE", "INSERT_ROWS"):
            raise _bad(f'Invalid value at \'insert_data_option\', "{insert}"')
        work = ss.clone()
        sheet, bounds = work.resolve(text)
        rows = _rows_of(body, "")
        _clamp_read(sheet, bounds)
        c_lo = bounds.c0 or 0
        if bounds.single:  # an anchor cell: only its own column decides (test_insert_cols cassette)
            c_hi = c_lo + 1
        else:
            c_hi = sheet.col_count if bounds.c1 is None else min(bounds.c1, sheet.col_count)
        r_lo = bounds.r0 or 0
        r_hi = sheet.row_count if bounds.r1 is None or bounds.single else bounds.r1

        def filled(row: int) -> bool:
            return row < len(sheet.rows) and any(_has_value(c) for c in sheet.rows[row][c_lo:c_hi])

        out: dict[str, Any] = {"spreadsheetId": ss.id}
        last = r_lo - 1
        while last + 1 < r_hi and filled(last + 1):
            last += 1
        if last >= r_lo:
            used = [c for r in range(r_lo, last + 1) for c, cell in enumerate(sheet.rows[r])
                    if c_lo <= c < c_hi and _has_value(cell)]
            t_c0, t_c1 = min(used), max(used) + 1
            out["tableRange"] = _range_name(sheet, r_lo, last + 1, t_c0, t_c1)
            target, start_col = last + 1, t_c0
        else:
            target, start_col = r_lo, c_lo
        if insert == "INSERT_ROWS" and rows and target < sheet.row_count:
            _insert_dimension(sheet, "ROWS", target, len(rows))
        result = _write_values(sheet, _Bounds(target, None, start_col, None, single=True), text,
                               rows, option, ss.locale, grow_rows=True)
        span = result.pop("_span")
        updates = {"spreadsheetId": ss.id, **result}
        if _truthy((params.get("includeValuesInResponse") or ["false"])[0]):
            updates["updatedData"] = self._updated_data(sheet, span,
                                                        *self._response_render(params), ss.locale)
        out["updates"] = updates
        self._spreadsheets[ss.id] = work
        return out

    def _values_clear(self, ss: _Spreadsheet, text: str, params: dict[str, list[str]],
                      body: dict[str, Any]) -> dict[str, Any]:
        work = ss.clone()
        cleared = self._clear(work, text)
        self._spreadsheets[ss.id] = work
        return {"spreadsheetId": ss.id, "clearedRange": cleared}

    def _values_batch_clear(self, ss: _Spreadsheet, _: str, params: dict[str, list[str]],
                            body: dict[str, Any]) -> dict[str, Any]:
        work = ss.clone()
        cleared = [self._clear(work, str(text)) for text in body.get("ranges") or []]
        self._spreadsheets[ss.id] = work
        out: dict[str, Any] = {"spreadsheetId": ss.id}
        if cleared:
            out["clearedRanges"] = cleared
        return out

    @staticmethod
    def _clear(ss: _Spreadsheet, text: str) -> str:
        sheet, bounds = ss.resolve(text)
        r0, r1, c0, c1 = _clamp_read(sheet, bounds)
        for r in range(r0, min(r1, len(sheet.rows))):
            for c in range(c0, min(c1, len(sheet.rows[r]))):
                cell = sheet.rows[r][c]
                if cell and "userEnteredValue" in cell:
                    sheet.put(r, c, {k: v for k, v in cell.items() if k != "userEnteredValue"})
        return _range_name(sheet, r0, r1, c0, c1)


def _injected_error(method: str, status: int) -> SheetsApiError:
    """What Google sends for a quota hit or an outage (message, status and details)."""
    if status == 429:
        kind = "Read" if method in ("GET", "HEAD") else "Write"
        message = (f"Quota exceeded for quota metric '{kind} requests' and limit '{kind} requests "
                   "per minute per user' of service 'sheets.googleapis.com' for consumer "
                   "'project_number:123456789012'.")
        details = [{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "RATE_LIMIT_EXCEEDED",
            "domain": "googleapis.com",
            "metadata": {"service": "sheets.googleapis.com",
                         "quota_metric": f"sheets.googleapis.com/{kind.lower()}_requests",
                         "quota_limit": f"{kind}RequestsPerMinutePerUser",
                         "consumer": "projects/123456789012", "quota_limit_value": "60",
                         "quota_location": "global"},
        }, {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [{"description": "Request a higher quota limit.",
                       "url": "https://cloud.google.com/docs/quotas/help/request_increase"}],
        }]
        return SheetsApiError(429, message, "RESOURCE_EXHAUSTED", details)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return SheetsApiError(status, STATUS_MESSAGES.get(status, phrase))


# ---------------------------------------------------------------------------
# CLI: a standalone emulator for trying the worker by hand
# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Serve one spreadsheet with an empty "Form Responses 1" tab until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Local Google Sheets API v4 emulator")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--spreadsheet-id", required=True)
    parser.add_argument("--title", default="Incidents")
    parser.add_argument("--time-zone", default="Pacific/Auckland")
    parser.add_argument("--locale", default="en_NZ")
    parser.add_argument("--headers", default="",
                        help="comma-separated form questions after Timestamp")
    parser.add_argument("--default-form", action="store_true",
                        help="the product's default form questions as the header row")
    parser.add_argument("--responses", type=int, default=0,
                        help="with --default-form: this many fictional responses (the demo's, repeated)")
    args = parser.parse_args(argv)
    header = ["Timestamp"] + [h.strip() for h in args.headers.split(",") if h.strip()]
    rows: list[list[Any]] = []
    if args.default_form:
        from datetime import datetime as _datetime
        from datetime import timedelta as _timedelta

        from workflow.demo import DEMO_REPORTS, RESPONSE_HEADERS

        header = list(RESPONSE_HEADERS)
        start = _datetime.now() - _timedelta(minutes=args.responses)
        for i in range(args.responses):
            _, reporter, *answers = DEMO_REPORTS[i % len(DEMO_REPORTS)]
            rows.append([start + _timedelta(minutes=i), reporter.replace("@", f"+{i}@"), *answers])
    emulator = SheetsEmulator(args.port)
    emulator.create_spreadsheet(args.spreadsheet_id, args.title, time_zone=args.time_zone,
                                locale=args.locale, tabs={"Form Responses 1": [header, *rows]})
    with emulator._lock:
        sheet = emulator._tab(args.spreadsheet_id, "Form Responses 1")
        sheet.grid["frozenRowCount"] = 1
    emulator.start()
    print(f"SHEETS_EMULATOR_HOST={emulator.host}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
