"""The Google Sheets backend, through gspread's HTTP client and the Sheets API v4.

Request budget (SPEC): a sync costs at most three Sheets requests, and an idle sync
writes nothing.

* ``load()`` is ONE ``spreadsheets.get`` with ``includeGridData``, a ``ranges`` entry per
  tab (the responses tab and every worker tab) and a ``fields`` mask that keeps only the
  spreadsheet's title/time zone/locale, each sheet's properties and each cell's
  effective value (plus its number-format type, so date-formatted serials read back as
  date-times, as they do from the local workbook). Only when Google says a range cannot
  be parsed (a worker tab missing before setup, or a responses tab titled differently
  from sheet.responses_tab) does it read the tab list once and retry with the tabs that
  exist; the responses tab's real title is remembered for later loads. (Google, like the
  emulator, finds tabs ignoring case, so "Form responses 1" needs no extra read.)
* ``commit()`` is ONE ``spreadsheets:batchUpdate`` (atomic on Google: all or nothing):
  ``appendCells`` per tab, then ``updateCells`` per run of adjacent cells of each
  RowUpdate. Text is always a ``stringValue`` (never a formula), date-times a serial
  number in the spreadsheet's own time zone with a DATE_TIME format, booleans
  ``boolValue``; appended Checklist ``Done`` cells carry a BOOLEAN (checkbox) rule.
  An empty ChangeSet sends nothing.

Row safety. Leaders sort, insert and delete rows while the worker runs, so a row
number read by ``load()`` may point at another case by the time ``commit()`` writes.

1. Before writing, each RowUpdate is aimed at the row where the backend last saw its
   key (the key -> row map from ``load()``, refreshed by every commit), not blindly at
   ``update.row``; a key no longer present is dropped with a warning.
2. The batchUpdate asks for ``includeSpreadsheetInResponse`` with
   ``responseIncludeGridData`` and ``responseRanges`` = the key columns of each worker
   tab, so the reply shows which key sits in every row *after* the write, at no extra
   request. That refreshes the key -> row map (so the second commit of a sync, marking
   notifications sent, hits moved rows without another read) and tells where the
   appended rows went.
3. Each RowUpdate is then checked against that reply. If a sort slipped in between the
   read and the write, some cells landed in another case's row. The backend logs a
   warning and sends ONE corrective batchUpdate that rewrites the affected cells of both
   rows from known values: for our case, the values we planned (now at its new row);
   for the other case, the values read at ``load()`` for its key (or planned for it in
   this commit). This costs a fourth request only in that rare race.

``setup()`` may read more (it is run by hand) but is idempotent: it works out what is
missing from the sheet's metadata and header rows and sends everything in one
batchUpdate, or nothing when all is in place. It never changes the spreadsheet's time
zone, and never deletes or reorders leaders' data.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import google.auth.exceptions
import gspread
from gspread.exceptions import APIError
from gspread.urls import SPREADSHEET_BATCH_UPDATE_URL, SPREADSHEET_URL

from ..errors import DigitalIncidentsError, SheetLayoutError, StorageError, TemporaryFailure
from ..model import CellValue, ChangeSet, RowUpdate, Snapshot, Table, row_key
from ..schema import CELL_LIMIT, CHECKLIST, TIMESTAMP, WORKER_TABS, Kind, TabSpec, normalise
from .cells import DATE_FORMAT, DATETIME_FORMAT, find_title, header_text, is_blank, sheet_value
from .google_http import EmulatorSession, RetryingHTTPClient, RetryPolicy, status_of

if TYPE_CHECKING:
    from ..config import Config

log = logging.getLogger(__name__)

SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]  # no Drive access
EMULATOR_ENV = "SHEETS_EMULATOR_HOST"
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
PROTECTION_NOTE = "digital-incidents: written by the worker"
SERIAL_EPOCH = datetime(1899, 12, 30)  # day 0 of Google's (and Lotus') date serials

LOAD_FIELDS = (
    "properties(title,timeZone,locale),"
    "sheets(properties(sheetId,title,index,gridProperties),"
    "data(startRow,startColumn,rowData(values(effectiveValue,userEnteredFormat.numberFormat.type))))"
)
TITLES_FIELDS = "properties(title,timeZone,locale),sheets(properties(sheetId,title,index,gridProperties))"
SETUP_META_FIELDS = (
    "properties(title,timeZone,locale),"
    "sheets(properties(sheetId,title,index,gridProperties),conditionalFormats,protectedRanges)"
)
SETUP_GRID_FIELDS = (
    "sheets(properties(sheetId,title),data(startRow,startColumn,columnMetadata(hiddenByUser),"
    "rowData(values(effectiveValue,userEnteredFormat(numberFormat),dataValidation))))"
)
# What a commit's reply must carry: the key columns after the write, nothing more.
REPLY_FIELDS = (
    "spreadsheetId,updatedSpreadsheet(properties(timeZone),"
    "sheets(properties(sheetId,title),data(startRow,startColumn,rowData(values(effectiveValue)))))"
)
APPEND_FIELDS = "userEnteredValue,userEnteredFormat.numberFormat,dataValidation"
VALUE_FIELDS = "userEnteredValue"
DATETIME_FIELDS = "userEnteredValue,userEnteredFormat.numberFormat"
DATE_TYPES = ("DATE", "DATE_TIME")
CHECKBOX_RULE = {"condition": {"type": "BOOLEAN"}}
ERROR_TEXT = {
    "REF": "#REF!", "NAME": "#NAME?", "VALUE": "#VALUE!", "DIVIDE_BY_ZERO": "#DIV/0!", "NUM": "#NUM!",
    "N_A": "#N/A", "NULL_VALUE": "#NULL!", "LOADING": "Loading...",
}
OVERDUE_COLOUR = {"red": 0.96, "green": 0.80, "blue": 0.80}
URGENT_COLOUR = {"red": 1.0, "green": 0.89, "blue": 0.74}
OVERDUE_SHAPE = re.compile(r"^=AND\(\$[A-Z]+2<>TRUE,ISNUMBER\(\$[A-Z]+2\),\$[A-Z]+2<NOW\(\)\)$")
URGENT_SHAPE = re.compile(r'^=\$[A-Z]+2="Urgent"$')


HEADER_ONLY = {spec.logical for spec in WORKER_TABS if spec.append_only}


class _BadRequest(StorageError):
    """HTTP 400 from Google; load() looks inside for 'Unable to parse range'."""


# ---------------------------------------------------------------------------
# Cell conversion
# ---------------------------------------------------------------------------


def to_serial(wall_clock: datetime) -> float:
    """A naive wall-clock date-time as a sheet serial (days since 1899-12-30)."""
    delta = wall_clock - SERIAL_EPOCH
    return delta.days + (delta.seconds + delta.microseconds / 1_000_000) / 86_400


def from_serial(serial: float, tz: tzinfo) -> datetime:
    """A serial read from the sheet as an aware datetime in the sheet's zone, to the second."""
    return (SERIAL_EPOCH + timedelta(seconds=round(serial * 86_400))).replace(tzinfo=tz)


def a1_quote(title: str) -> str:
    """A tab title as the sheet part of an A1 range (always quoted: titles may look like cells)."""
    return "'" + title.replace("'", "''") + "'"


def column_letter(position: int) -> str:
    """0-based column position -> A1 letters (0 -> A, 26 -> AA)."""
    letters = ""
    position += 1
    while position:
        position, rest = divmod(position - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def read_cell(cell: dict[str, Any] | None) -> CellValue:
    """A CellData's effective value as the core sees it (serials stay numbers here)."""
    value = (cell or {}).get("effectiveValue")
    if not value:
        return None
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "numberValue" in value:
        number = value["numberValue"]
        if isinstance(number, float) and number.is_integer() and abs(number) < 2**53:
            return int(number)
        return number
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


def _grid(sheet: dict[str, Any]) -> dict[int, dict[int, dict[str, Any]]]:
    """A sheet's GridData blocks merged into {row: {column: CellData}} (0-based grid indexes)."""
    grid: dict[int, dict[int, dict[str, Any]]] = {}
    for block in sheet.get("data") or []:
        top, left = block.get("startRow", 0), block.get("startColumn", 0)
        for i, row in enumerate(block.get("rowData") or []):
            for j, cell in enumerate(row.get("values") or []):
                if cell:
                    grid.setdefault(top + i, {})[left + j] = cell
    return grid


def _zone(name: str | None, fallback: tzinfo) -> tzinfo:
    try:
        return ZoneInfo(name) if name else fallback
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("spreadsheet time zone %r is unknown here; using the school's", name)
        return fallback


# ---------------------------------------------------------------------------
# What the backend remembers between load() and commit()
# ---------------------------------------------------------------------------


@dataclass
class _Tab:
    """One tab as last seen: ids, column positions, and where each key's row is."""

    spec: TabSpec | None      # None for the responses tab
    title: str
    sheet_id: int
    header: list[str]
    positions: dict[str, int] = field(default_factory=dict)
    datetime_positions: set[int] = field(default_factory=set)
    rows_by_key: dict[str, list[int]] = field(default_factory=dict)   # data row i = sheet row i + 2
    known: dict[str, dict[int, CellValue]] = field(default_factory=dict)  # last known cells per key

    def __post_init__(self) -> None:
        for position, text in enumerate(self.header):
            if normalise(text):
                self.positions.setdefault(normalise(text), position)
        if self.spec is not None:
            for column in self.spec.columns:
                position = self.positions.get(normalise(column.name))
                if column.kind is Kind.DATETIME and position is not None:
                    self.datetime_positions.add(position)

    def position(self, column: str) -> int | None:
        return self.positions.get(normalise(column))

    @property
    def key_columns(self) -> list[tuple[str, int]]:
        """(key column, position) for the key columns the tab has."""
        if self.spec is None:
            return []
        pairs = ((column, self.position(column)) for column in self.spec.key)
        return [(column, position) for column, position in pairs if position is not None]

    @property
    def key_positions(self) -> list[int]:
        return [position for _, position in self.key_columns]

    def key_of(self, cells: dict[int, CellValue]) -> str:
        """The row key of a row given as {position: value}."""
        assert self.spec is not None
        record = {column: cells.get(self.position(column) if self.position(column) is not None else -1)
                  for column in self.spec.key}
        return row_key(self.spec, record)

    def cells_of(self, record: dict[str, CellValue], what: str) -> dict[int, CellValue]:
        """{column name: value} -> {position: value}; a named column the tab lacks is an error
        unless its value is blank (nothing would be lost)."""
        cells: dict[int, CellValue] = {}
        for column, value in record.items():
            if column.startswith("_"):
                continue
            position = self.position(column)
            if position is None:
                if value is None or value == "":
                    continue
                raise SheetLayoutError(
                    f'tab "{self.title}" has no column "{column}" ({what}); run `python cli.py setup` '
                    "to add the missing columns"
                )
            cells[position] = value
        return cells


@dataclass
class _Target:
    """A RowUpdate resolved to the data row it is written to."""

    tab: _Tab
    update: RowUpdate
    row: int
    cells: dict[int, CellValue]


# ---------------------------------------------------------------------------
# The backend
# ---------------------------------------------------------------------------


class GoogleSheetStorage:
    """Storage on a Google Sheet: one read per load, one batchUpdate per commit."""

    def __init__(self, config: Config, *, retry: RetryPolicy | None = None) -> None:
        self.config = config
        self.spreadsheet_id = config.sheet.spreadsheet_id
        self.policy = retry or RetryPolicy(budget=config.sheet.retry_seconds)
        self.emulator_host = os.environ.get(EMULATOR_ENV, "").strip()
        self._client: gspread.Client | None = None
        self._account = ""                       # service-account email, for 403 advice
        self._responses_title = config.sheet.responses_tab  # the real title, once a mix-up is resolved
        self._tabs: dict[str, _Tab] = {}          # "responses" and worker logical names
        self._timezone: tzinfo = config.school.timezone
        self._loaded = False

    # -- plumbing -----------------------------------------------------------

    def describe(self) -> str:
        where = f"Google Sheet {self.spreadsheet_id}"
        return f"{where} via emulator at {self.emulator_host}" if self.emulator_host else where

    @property
    def client(self) -> gspread.Client:
        if self._client is None:
            if self.emulator_host:
                client = gspread.Client(
                    auth=None, session=EmulatorSession(self.emulator_host), http_client=RetryingHTTPClient
                )
            else:
                client = gspread.Client(auth=self._credentials(), http_client=RetryingHTTPClient)
            http = client.http_client
            assert isinstance(http, RetryingHTTPClient)
            http.configure(self.policy)
            self._client = client
        return self._client

    def _credentials(self) -> Any:
        """Google credentials from sheet.credentials or $GOOGLE_APPLICATION_CREDENTIALS (never printed)."""
        setting = self.config.sheet.credentials or os.environ.get(CREDENTIALS_ENV, "")
        if not setting:
            raise StorageError(
                "no Google credentials: set sheet.credentials in the config to the service account's key "
                f"file (or set ${CREDENTIALS_ENV})"
            )
        path = Path(setting).expanduser()
        if not path.is_absolute():
            path = self.config.path.parent / path
        where = f"{path} (sheet.credentials)"
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StorageError(f"credentials file {where} does not exist") from None
        except (OSError, UnicodeDecodeError) as error:
            raise StorageError(f"cannot read credentials file {where}: {error.__class__.__name__}") from None
        except json.JSONDecodeError:
            raise StorageError(f"credentials file {where} is not JSON: download the key again") from None
        kind = info.get("type") if isinstance(info, dict) else None
        try:
            if kind == "service_account":
                from google.oauth2.service_account import Credentials as ServiceAccount

                credentials = ServiceAccount.from_service_account_file(str(path), scopes=SCOPES)
                self._account = str(info.get("client_email", ""))
                return credentials
            if kind == "authorized_user":
                from google.oauth2.credentials import Credentials as UserCredentials

                return UserCredentials.from_authorized_user_file(str(path), scopes=SCOPES)
        except (ValueError, KeyError, OSError) as error:
            # The message of google-auth names the missing field, never a secret.
            raise StorageError(f"credentials file {where} is not a valid key: {error}") from None
        raise StorageError(
            f"credentials file {where} is neither a service-account key nor an authorised-user file "
            f'(its "type" is {kind!r})'
        )

    def _request(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        """One Sheets call; Google's refusals become messages that say what to fix."""
        try:
            response = self.client.http_client.request(method, url, **kwargs)
        except APIError as error:
            raise self._refusal(error) from None
        except google.auth.exceptions.RefreshError as error:
            reason = str(error.args[0]) if error.args else "refused"
            raise StorageError(
                f"Google would not issue a token for the credentials in sheet.credentials ({reason}): "
                "the key may be deleted or disabled; download a new one"
            ) from None
        except google.auth.exceptions.TransportError as error:
            raise TemporaryFailure(
                f"Google's sign-in service could not be reached ({type(error).__name__}); nothing was written; "
                "the next sync will retry"
            ) from None
        try:
            return response.json()
        except ValueError:
            raise StorageError(f"Google Sheets sent a reply that is not JSON for {self.describe()}") from None

    def _refusal(self, error: APIError) -> StorageError:
        status = status_of(error)
        message = str((error.error or {}).get("message", "")) if isinstance(error.error, dict) else ""
        if status == 403:
            who = self._account or "the service account's email (client_email in the key file)"
            return StorageError(
                f"Google refused access to spreadsheet {self.spreadsheet_id} (HTTP 403): share the sheet "
                f"with {who} as an Editor{': ' + message if message else ''}"
            )
        if status == 404:
            return StorageError(f"spreadsheet {self.spreadsheet_id} not found: check sheet.spreadsheet_id")
        if status == 401:
            return StorageError(
                "Google rejected the credentials (HTTP 401): check sheet.credentials (the key may have been "
                "deleted or revoked)"
            )
        if status == 400:
            return _BadRequest(f"Google Sheets rejected a request for {self.describe()} (HTTP 400): {message}")
        return StorageError(f"Google Sheets error for {self.describe()} (HTTP {status}): {message}")

    def _get(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._request("get", SPREADSHEET_URL % self.spreadsheet_id, params=params)

    def _batch(self, body: dict[str, Any], reply_fields: str | None = None) -> dict[str, Any]:
        params = {"fields": reply_fields} if reply_fields else None
        return self._request("post", SPREADSHEET_BATCH_UPDATE_URL % self.spreadsheet_id, params=params, json=body)

    # -- titles ---------------------------------------------------------------

    def _wanted_titles(self) -> dict[str, str]:
        """Every tab a load reads; worker tabs are asked for each time, as setup may add them."""
        titles = {"responses": self._responses_title}
        titles.update({spec.logical: spec.title for spec in WORKER_TABS})
        return titles

    def _resolve_titles(self, sheets: list[dict[str, Any]]) -> dict[str, str]:
        """Logical name -> real title of the tabs that exist; no responses tab is a layout error."""
        existing = [s.get("properties", {}).get("title", "") for s in sheets]
        wanted = self.config.sheet.responses_tab
        responses = wanted if wanted in existing else find_title(existing, wanted)
        if responses is None:
            raise SheetLayoutError(
                f'spreadsheet {self.spreadsheet_id} has no tab "{wanted}" for the form responses; its tabs are: '
                + (", ".join(f'"{t}"' for t in existing) or "(none)")
                + ". Link the form to this spreadsheet first (Google Forms creates the tab), or set "
                "sheet.responses_tab to the tab's exact name"
            )
        if responses != wanted:
            log.warning('sheet.responses_tab is "%s" but the tab is titled "%s"; using "%s"', wanted, responses,
                        responses)
        titles = {"responses": responses}
        for spec in WORKER_TABS:
            title = spec.title if spec.title in existing else find_title(existing, spec.title)
            if title is not None:
                titles[spec.logical] = title
        return titles

    # -- load ---------------------------------------------------------------

    def load(self) -> Snapshot:
        """Every tab in ONE request (two more only when a tab is missing or titled differently)."""
        titles = self._wanted_titles()
        try:
            reply = self._read_tabs(titles)
        except _BadRequest as error:
            if "unable to parse range" not in str(error).lower():
                raise
            meta = self._get({"fields": TITLES_FIELDS})
            titles = self._resolve_titles(meta.get("sheets") or [])
            self._responses_title = titles["responses"]
            reply = self._read_tabs(titles)
        return self._snapshot(reply, titles)

    def _read_tabs(self, titles: dict[str, str]) -> dict[str, Any]:
        return self._get({
            "includeGridData": "true",
            "ranges": [a1_quote(title) + ("!1:1" if logical in HEADER_ONLY else "")
                       for logical, title in titles.items()],
            "fields": LOAD_FIELDS,
        })

    def _snapshot(self, reply: dict[str, Any], titles: dict[str, str]) -> Snapshot:
        self._timezone = _zone((reply.get("properties") or {}).get("timeZone"), self.config.school.timezone)
        by_title = {}
        for sheet in reply.get("sheets") or []:
            title = (sheet.get("properties") or {}).get("title", "")
            by_title.setdefault(title, sheet)
            by_title.setdefault(title.casefold(), sheet)
        specs: dict[str, TabSpec | None] = {"responses": None}
        specs.update({spec.logical: spec for spec in WORKER_TABS})
        tables: dict[str, Table] = {}
        self._tabs = {}
        for logical, title in titles.items():
            sheet = by_title.get(title) or by_title.get(title.casefold())
            if sheet is None:
                if logical == "responses":
                    raise SheetLayoutError(f'the responses tab "{title}" is missing from {self.describe()}')
                continue
            tab, table = self._read_tab(sheet, specs[logical])
            self._tabs[logical] = tab
            tables[logical] = table
        self._loaded = True
        responses = tables.pop("responses")
        return Snapshot(responses=responses, tabs=tables, sheet_timezone=self._timezone)

    def _read_tab(self, sheet: dict[str, Any], spec: TabSpec | None) -> tuple[_Tab, Table]:
        properties = sheet.get("properties") or {}
        grid = _grid(sheet)
        header_cells = grid.get(0, {})
        width = max(header_cells, default=-1) + 1
        header = [header_text(read_cell(header_cells.get(c))) for c in range(width)]
        while header and not header[-1]:
            header.pop()
        tab = _Tab(spec, properties.get("title", ""), int(properties.get("sheetId", 0)), header)
        if spec is None:
            stamp = tab.position(TIMESTAMP)
            if stamp is not None:
                tab.datetime_positions.add(stamp)
        last = max(grid, default=0)
        rows: list[list[CellValue]] = []
        for r in range(1, last + 1):
            cells = grid.get(r, {})
            row_width = max(len(header), max(cells, default=-1) + 1)
            row = [self._value(cells.get(c), c in tab.datetime_positions) for c in range(row_width)]
            rows.append(row)
        while rows and is_blank(rows[-1]):
            rows.pop()
        if spec is not None and spec.key:
            for index, row in enumerate(rows):
                if is_blank(row):
                    continue
                cells = dict(enumerate(row))
                key = tab.key_of(cells)
                tab.rows_by_key.setdefault(key, []).append(index)
                tab.known.setdefault(key, cells)
        return tab, Table(title=tab.title, header=header, rows=rows)

    def _value(self, cell: dict[str, Any] | None, datetime_column: bool) -> CellValue:
        """A cell's value; a serial becomes an aware datetime in a date-time column or when the
        cell is formatted as a date (as the local backend reads any date-formatted cell)."""
        value = read_cell(cell)
        if isinstance(value, int | float) and not isinstance(value, bool):
            kind = (((cell or {}).get("userEnteredFormat") or {}).get("numberFormat") or {}).get("type")
            if datetime_column or kind in DATE_TYPES:
                return from_serial(value, self._timezone)
        return value

    # -- commit ---------------------------------------------------------------

    def commit(self, changes: ChangeSet) -> None:
        """Everything in ONE batchUpdate; see the module docstring for how moved rows are handled."""
        if changes.is_empty():
            return
        if not self._loaded:
            self.load()
        requests: list[dict[str, Any]] = []
        appended: list[tuple[_Tab, dict[int, CellValue]]] = []
        for logical, records in changes.appends.items():
            if not records:
                continue
            tab = self._worker_tab(logical)
            rows = []
            for record in records:
                cells = tab.cells_of(record, "appending a row")
                appended.append((tab, cells))
                rows.append({"values": self._row_cells(tab, cells)})
            requests.append({"appendCells": {"sheetId": tab.sheet_id, "rows": rows, "fields": APPEND_FIELDS}})
        targets: list[_Target] = []
        for update in changes.updates:
            tab = self._worker_tab(update.tab)
            row = self._aim(tab, update)
            if row is None:
                continue
            target = _Target(tab, update, row, tab.cells_of(update.cells, f"updating row of {update.key}"))
            targets.append(target)
            requests.extend(self._update_requests(tab, row, target.cells))
        if not requests:
            return
        reply = self._batch(self._with_reply(requests), REPLY_FIELDS)
        # What we now know each keyed row holds: used to repair rows a sort swapped under us.
        for tab, cells in appended:
            if tab.spec is not None and tab.spec.key:
                tab.known[tab.key_of(cells)] = dict(cells)
        for target in targets:
            target.tab.known.setdefault(target.update.key, {}).update(target.cells)
        landed = self._absorb(reply)
        self._repair(targets, landed)

    def _worker_tab(self, logical: str) -> _Tab:
        tab = self._tabs.get(logical)
        if tab is None or tab.spec is None:
            spec_title = next((s.title for s in WORKER_TABS if s.logical == logical), logical)
            raise SheetLayoutError(
                f'tab "{spec_title}" is missing from {self.describe()}: run `python cli.py setup` to create it'
            )
        return tab

    def _aim(self, tab: _Tab, update: RowUpdate) -> int | None:
        """The row to write: where the key was last seen (it may have moved since the read)."""
        if tab.spec is None or not tab.spec.key:
            return update.row
        rows = tab.rows_by_key.get(update.key)
        if not rows:
            log.warning('row "%s" of tab "%s" is gone (deleted?); its update was dropped', update.key, tab.title)
            return None
        if update.row in rows:
            return update.row
        if len(rows) > 1:
            log.warning('key "%s" is in %d rows of tab "%s"; updating the first', update.key, len(rows), tab.title)
        return rows[0]

    def _row_cells(self, tab: _Tab, cells: dict[int, CellValue]) -> list[dict[str, Any]]:
        """An appended row's CellData list, by header position."""
        width = max(max(cells, default=-1) + 1, max(tab.datetime_positions, default=-1) + 1)
        done = tab.position("Done") if tab.spec is CHECKLIST else None
        values = []
        for position in range(width):
            data = cell_data(cells.get(position), self._timezone, position in tab.datetime_positions)
            if position == done:
                data["dataValidation"] = CHECKBOX_RULE
            values.append(data)
        return values

    def _update_requests(self, tab: _Tab, row: int, cells: dict[int, CellValue]) -> Iterator[dict[str, Any]]:
        """updateCells per run of adjacent cells that share a fields mask (only the named cells)."""
        for start, run, mask in _runs(cells, self._timezone):
            yield {
                "updateCells": {
                    "start": {"sheetId": tab.sheet_id, "rowIndex": row + 1, "columnIndex": start},
                    "rows": [{"values": run}],
                    "fields": mask,
                }
            }

    def _with_reply(self, requests: list[dict[str, Any]]) -> dict[str, Any]:
        """The batchUpdate body, asking for the key columns as they are after the write."""
        ranges = []
        for tab in self._tabs.values():
            for position in tab.key_positions:
                letter = column_letter(position)
                ranges.append(f"{a1_quote(tab.title)}!{letter}:{letter}")
        body: dict[str, Any] = {"requests": requests}
        if ranges:
            body.update(includeSpreadsheetInResponse=True, responseIncludeGridData=True, responseRanges=ranges)
        return body

    def _absorb(self, reply: dict[str, Any]) -> dict[str, dict[int, str]] | None:
        """Refresh key -> row maps from a batchUpdate reply; return {logical: {row: key}}."""
        updated = reply.get("updatedSpreadsheet")
        if not any(tab.key_positions for tab in self._tabs.values()):
            return None  # nothing keyed to check, so nothing was asked for
        if not updated:
            log.warning("Google did not return the sheet after writing; moved rows cannot be checked this time")
            return None
        by_id = {int((s.get("properties") or {}).get("sheetId", -1)): s for s in updated.get("sheets") or []}
        landed: dict[str, dict[int, str]] = {}
        for logical, tab in self._tabs.items():
            sheet = by_id.get(tab.sheet_id)
            if sheet is None or not tab.key_positions:
                continue
            grid = _grid(sheet)
            header = grid.get(0, {})
            for column, position in tab.key_columns:
                seen = header_text(read_cell(header.get(position)))
                if normalise(seen) != normalise(column):
                    log.warning('column "%s" of tab "%s" moved during the sync; the next sync re-reads it',
                                column, tab.title)
            keys: dict[int, str] = {}
            rows_by_key: dict[str, list[int]] = {}
            for r in sorted(grid):
                if r == 0:
                    continue
                cells = {p: read_cell(grid[r].get(p)) for p in tab.key_positions}
                if is_blank(cells.values()):
                    continue
                key = tab.key_of(cells)
                keys[r - 1] = key
                rows_by_key.setdefault(key, []).append(r - 1)
            tab.rows_by_key = rows_by_key
            landed[logical] = keys
        return landed

    def _repair(self, targets: list[_Target], landed: dict[str, dict[int, str]] | None) -> None:
        """If cells landed in another case's row (a sort raced the write), put both rows right."""
        if landed is None:
            return
        logical_of = {id(tab): logical for logical, tab in self._tabs.items()}
        wrong = [t for t in targets if logical_of[id(t.tab)] in landed
                 and landed[logical_of[id(t.tab)]].get(t.row, "") != t.update.key]
        if not wrong:
            return
        fixes: dict[tuple[int, int], tuple[_Tab, dict[int, CellValue]]] = {}
        for target in wrong:  # the row we hit holds another case: give it back its own values
            other = landed[logical_of[id(target.tab)]].get(target.row, "")
            before = target.tab.known.get(other, {}) if other else {}
            slot = fixes.setdefault((id(target.tab), target.row), (target.tab, {}))[1]
            for position in target.cells:
                slot.setdefault(position, before.get(position))
        lost = []
        for target in wrong:  # and write our values where our case is now
            rows = target.tab.rows_by_key.get(target.update.key)
            if not rows:
                lost.append(target.update.key)
                continue
            fixes.setdefault((id(target.tab), rows[0]), (target.tab, {}))[1].update(target.cells)
        log.warning(
            "rows moved while writing (a sort or insert in the sheet?): %d update(s) landed in other rows "
            "(%s); rewriting the affected cells of %d row(s)",
            len(wrong), ", ".join(t.update.key for t in wrong[:10]), len(fixes),
        )
        if lost:
            log.warning("rows gone before they could be updated: %s", ", ".join(lost))
        requests = []
        for (_, row), (tab, cells) in fixes.items():
            requests.extend(self._update_requests(tab, row, cells))
        if requests:
            self._absorb(self._batch(self._with_reply(requests), REPLY_FIELDS))

    # -- setup --------------------------------------------------------------

    def setup(self, response_headers: list[str]) -> list[str]:
        """Create or repair the worker tabs; idempotent (a second run writes nothing)."""
        meta = self._get({"fields": SETUP_META_FIELDS})
        sheets = meta.get("sheets") or []
        titles = self._resolve_titles(sheets)
        by_title = {(s.get("properties") or {}).get("title"): s for s in sheets}
        ranges = [f"{a1_quote(title)}!1:2" for title in titles.values()]
        grid_reply = self._get({"includeGridData": "true", "ranges": ranges, "fields": SETUP_GRID_FIELDS})
        grids = {(s.get("properties") or {}).get("title"): s for s in grid_reply.get("sheets") or []}

        plan = _SetupPlan(used_ids={int((s.get("properties") or {}).get("sheetId", 0)) for s in sheets})
        responses_title = titles["responses"]
        responses = by_title[responses_title]
        header_cells = _grid(grids.get(responses_title, {})).get(0, {})
        present = {normalise(header_text(read_cell(c))) for c in header_cells.values()}
        missing = [h for h in response_headers if normalise(h) not in present]
        if missing:
            log.warning('the responses tab "%s" has no column for: %s (check the form questions)',
                        responses_title, ", ".join(missing))
        plan.protect(responses, [{}], f'"{responses_title}"')
        for spec in WORKER_TABS:
            title = titles.get(spec.logical)
            if title is None:
                plan.add_tab(spec)
            else:
                plan.repair_tab(spec, by_title[title], grids.get(title, {}))
        if not plan.requests:
            return []
        self._batch({"requests": plan.requests})
        self._loaded = False
        return plan.changes

    # -- check --------------------------------------------------------------

    def check_access(self) -> list[str]:
        """Problems that would stop a sync (credentials, sharing, the responses tab); [] when fine."""
        try:
            meta = self._get({"fields": TITLES_FIELDS})
            self._resolve_titles(meta.get("sheets") or [])
        except DigitalIncidentsError as error:  # TemporaryFailure included: report, don't crash `check`
            return [str(error)]
        return []


def _runs(cells: dict[int, CellValue], tz: tzinfo) -> Iterator[tuple[int, list[dict[str, Any]], str]]:
    """Adjacent positions with the same fields mask, as (first position, CellData list, mask)."""
    start = -1
    run: list[dict[str, Any]] = []
    mask = ""
    previous = -2
    for position in sorted(cells):
        value = cells[position]
        this_mask = DATETIME_FIELDS if isinstance(value, date) else VALUE_FIELDS
        if run and (position != previous + 1 or this_mask != mask):
            yield start, run, mask
            run = []
        if not run:
            start, mask = position, this_mask
        run.append(cell_data(value, tz))
        previous = position
    if run:
        yield start, run, mask


# ---------------------------------------------------------------------------
# setup: what is missing, as batchUpdate requests
# ---------------------------------------------------------------------------


@dataclass
class _SetupPlan:
    used_ids: set[int]
    requests: list[dict[str, Any]] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)

    def new_sheet_id(self) -> int:
        sheet_id = max(self.used_ids, default=0) + 1
        self.used_ids.add(sheet_id)
        return sheet_id

    def add_tab(self, spec: TabSpec) -> None:
        sheet_id = self.new_sheet_id()
        columns = max(26, len(spec.columns))
        self.requests.append({
            "addSheet": {
                "properties": {
                    "sheetId": sheet_id,
                    "title": spec.title,
                    "gridProperties": {"rowCount": 1000, "columnCount": columns, "frozenRowCount": 1},
                }
            }
        })
        self.changes.append(f'created tab "{spec.title}"')
        sheet = {
            "properties": {
                "sheetId": sheet_id, "title": spec.title,
                "gridProperties": {"rowCount": 1000, "columnCount": columns, "frozenRowCount": 1},
            }
        }
        self.repair_tab(spec, sheet, {}, new=True)

    def repair_tab(self, spec: TabSpec, sheet: dict[str, Any], grid_sheet: dict[str, Any], new: bool = False) -> None:
        properties = sheet.get("properties") or {}
        sheet_id = int(properties.get("sheetId", 0))
        title = properties.get("title", spec.title)
        grid_props = properties.get("gridProperties") or {}
        grid = _grid(grid_sheet)
        header_cells = grid.get(0, {})
        first_row = grid.get(1, {})
        width = max(header_cells, default=-1) + 1
        header = [header_text(read_cell(header_cells.get(c))) for c in range(width)]
        while header and not header[-1]:
            header.pop()
        positions: dict[str, int] = {}
        for position, text in enumerate(header):
            if normalise(text):
                positions.setdefault(normalise(text), position)
        added = [c.name for c in spec.columns if normalise(c.name) not in positions]
        new_columns: set[int] = set()
        if added:
            start = len(header)
            for offset, name in enumerate(added):
                positions[normalise(name)] = start + offset
                new_columns.add(start + offset)
            needed = start + len(added)
            have = int(grid_props.get("columnCount", 26))
            if needed > have and not new:
                self.requests.append(
                    {"appendDimension": {"sheetId": sheet_id, "dimension": "COLUMNS", "length": needed - have}}
                )
            self.requests.append({
                "updateCells": {
                    "start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": start},
                    "rows": [{"values": [
                        {"userEnteredValue": {"stringValue": name},
                         "userEnteredFormat": {"textFormat": {"bold": True}}}
                        for name in added
                    ]}],
                    "fields": "userEnteredValue,userEnteredFormat.textFormat.bold",
                }
            })
            if not new:
                self.changes.append(f'added column{"s" if len(added) > 1 else ""} '
                                    + ", ".join(f'"{n}"' for n in added) + f' to tab "{title}"')
        if int(grid_props.get("frozenRowCount", 0)) < 1:
            self.requests.append({
                "updateSheetProperties": {
                    "properties": {"sheetId": sheet_id, "gridProperties": {"frozenRowCount": 1}},
                    "fields": "gridProperties.frozenRowCount",
                }
            })
            self.changes.append(f'froze the header row of "{title}"')

        def where(name: str) -> int:
            return positions[normalise(name)]

        def column_range(position: int) -> dict[str, Any]:
            return {"sheetId": sheet_id, "startRowIndex": 1, "startColumnIndex": position,
                    "endColumnIndex": position + 1}

        formatted = []
        for column in spec.columns:
            if column.kind is not Kind.DATETIME:
                continue
            position = where(column.name)
            number_format = ((first_row.get(position) or {}).get("userEnteredFormat") or {}).get("numberFormat") or {}
            if position in new_columns or number_format.get("type") not in ("DATE_TIME", "DATE"):
                self.requests.append({
                    "repeatCell": {
                        "range": column_range(position),
                        "cell": {"userEnteredFormat": {"numberFormat": {"type": "DATE_TIME",
                                                                        "pattern": DATETIME_FORMAT}}},
                        "fields": "userEnteredFormat.numberFormat",
                    }
                })
                formatted.append(column.name)
        if formatted and not new:
            self.changes.append(f'date-time format on "{title}": ' + ", ".join(formatted))

        if spec is CHECKLIST:
            position = where("Done")
            rule = ((first_row.get(position) or {}).get("dataValidation") or {}).get("condition") or {}
            if position in new_columns or rule.get("type") != "BOOLEAN":
                self.requests.append({"setDataValidation": {"range": column_range(position), "rule": CHECKBOX_RULE}})
                if not new:
                    self.changes.append(f'checkboxes in "{title}" column Done')

        if spec is CHECKLIST:
            done, due = column_letter(where("Done")), column_letter(where("Due"))
            formula = f"=AND(${done}2<>TRUE,ISNUMBER(${due}2),${due}2<NOW())"
            self._highlight(sheet, sheet_id, formula, OVERDUE_SHAPE, OVERDUE_COLOUR,
                            f'overdue steps highlighted in "{title}"', new)
        elif spec.logical == "cases":
            priority = column_letter(where("Priority"))
            self._highlight(sheet, sheet_id, f'=${priority}2="Urgent"', URGENT_SHAPE, URGENT_COLOUR,
                            f'urgent cases highlighted in "{title}"', new)

        metadata = []
        for block in grid_sheet.get("data") or []:
            left = block.get("startColumn", 0)
            for offset, item in enumerate(block.get("columnMetadata") or []):
                metadata.append((left + offset, bool((item or {}).get("hiddenByUser"))))
        hidden_now = {p for p, hidden in metadata if hidden}
        to_hide = [c for c in spec.columns if c.hidden and where(c.name) not in hidden_now]
        for column in to_hide:
            position = where(column.name)
            self.requests.append({
                "updateDimensionProperties": {
                    "range": {"sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": position,
                              "endIndex": position + 1},
                    "properties": {"hiddenByUser": True},
                    "fields": "hiddenByUser",
                }
            })
        if to_hide and not new:
            self.changes.append(f'hid bookkeeping column{"s" if len(to_hide) > 1 else ""} of "{title}": '
                                + ", ".join(c.name for c in to_hide))

        owned = sorted(where(c.name) for c in spec.columns if c.owner == "worker")
        runs: list[dict[str, Any]] = []
        for position in owned:
            if runs and runs[-1]["endColumnIndex"] == position:
                runs[-1]["endColumnIndex"] = position + 1
            else:
                runs.append({"startColumnIndex": position, "endColumnIndex": position + 1})
        self.protect(sheet, runs, f'the worker\'s columns of "{title}"', new)

    def _highlight(self, sheet: dict[str, Any], sheet_id: int, formula: str, shape: re.Pattern[str],
                   colour: dict[str, float], change: str, new: bool) -> None:
        """One conditional-format rule of ours per tab; a stale one (columns moved) is replaced."""
        stale = []
        for index, rule in enumerate(sheet.get("conditionalFormats") or []):
            condition = (rule.get("booleanRule") or {}).get("condition") or {}
            values = condition.get("values") or [{}]
            text = str(values[0].get("userEnteredValue", "")) if values else ""
            if condition.get("type") != "CUSTOM_FORMULA" or not shape.match(text):
                continue
            if text == formula:
                return
            stale.append(index)
        for index in sorted(stale, reverse=True):
            self.requests.append({"deleteConditionalFormatRule": {"sheetId": sheet_id, "index": index}})
        self.requests.append({
            "addConditionalFormatRule": {
                "index": 0,
                "rule": {
                    "ranges": [{"sheetId": sheet_id, "startRowIndex": 1}],
                    "booleanRule": {
                        "condition": {"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": formula}]},
                        "format": {"backgroundColor": colour},
                    },
                },
            }
        })
        if not new:
            self.changes.append(change)

    def protect(self, sheet: dict[str, Any], ranges: Iterable[dict[str, Any]], what: str, new: bool = False) -> None:
        """Warning-only protection of exactly ``ranges`` (column spans; {} = whole tab)."""
        properties = sheet.get("properties") or {}
        sheet_id = int(properties.get("sheetId", 0))
        grid = properties.get("gridProperties") or {}
        size = (int(grid.get("rowCount", 1000)), int(grid.get("columnCount", 26)))

        def _span(grid_range: dict[str, Any]) -> tuple[int, int | None, int, int | None]:
            return _bounds(grid_range, *size)

        wanted = {_span(r): r for r in ranges}
        have: dict[tuple[Any, ...], int] = {}
        stale = []
        for item in sheet.get("protectedRanges") or []:
            if item.get("description") != PROTECTION_NOTE:
                continue
            span = _span(item.get("range") or {})
            if span in wanted and span not in have:
                have[span] = item.get("protectedRangeId", 0)
            else:
                stale.append(item.get("protectedRangeId"))
        for protected_id in stale:
            if protected_id is not None:
                self.requests.append({"deleteProtectedRange": {"protectedRangeId": protected_id}})
        missing = [r for span, r in wanted.items() if span not in have]
        for span_range in missing:
            self.requests.append({
                "addProtectedRange": {
                    "protectedRange": {
                        "range": {"sheetId": sheet_id, **span_range},
                        "description": PROTECTION_NOTE,
                        "warningOnly": True,
                    }
                }
            })
        if (missing or stale) and not new:
            self.changes.append(f"protected (warning only) {what}")


def _bounds(grid_range: dict[str, Any], rows: int, columns: int) -> tuple[int, int | None, int, int | None]:
    """A GridRange without its sheet, comparable: an open end and an end at the grid's edge are
    the same (Google may answer either for a range that was sent open)."""
    def end(key: str, limit: int) -> int | None:
        value = grid_range.get(key)
        return None if value is None or int(value) >= limit else int(value)

    return (int(grid_range.get("startRowIndex") or 0), end("endRowIndex", rows),
            int(grid_range.get("startColumnIndex") or 0), end("endColumnIndex", columns))
