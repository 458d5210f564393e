"""Load and commit on Google: one read per load, one atomic batchUpdate per commit.

Request budget (SPEC, README "Budgets"): a load, a commit, and one commit per batch of marks
while sending; an idle sync writes nothing; +1 read for each write Google did not confirm
(+1 write when part of it had not landed; see the end of this docstring).

* ``load()`` is ONE ``spreadsheets.get`` with ``includeGridData``, a ``ranges`` entry per tab
  (the responses tab and every worker tab) and a ``fields`` mask that keeps only the
  spreadsheet's title/time zone/locale, each sheet's properties and each cell's effective value
  (plus its number-format type, so date-formatted serials read back as date-times, as they do
  from the local workbook). Only when Google says a range cannot be parsed (a worker tab missing
  before setup, or a responses tab titled differently from sheet.responses_tab) does it read the
  tab list once and retry with the tabs that exist; the responses tab's real title is remembered
  for later loads. (Google, like the emulator, finds tabs ignoring case.)
* ``commit()`` is ONE ``spreadsheets:batchUpdate`` (atomic on Google: all or nothing):
  ``appendCells`` per tab, then ``updateCells`` per run of adjacent cells of each RowUpdate
  (see ``codec`` for how values are written); appended checkbox cells carry a BOOLEAN rule.
  An empty ChangeSet sends nothing.

Row safety. Leaders sort, insert and delete rows while the worker runs, so a row number read
by ``load()`` may point at another case by the time ``commit()`` writes.

1. Each RowUpdate is aimed (``rows.RowIndex``) at the row where the backend last saw its key
   (from ``load()``, refreshed by every commit); a key no longer present is dropped with a warning.
2. The batchUpdate asks for ``includeSpreadsheetInResponse`` with ``responseIncludeGridData``
   and ``responseRanges`` = the key columns of each worker tab, so the reply shows which key
   sits in every row *after* the write, at no extra request. That refreshes the row index (so
   the second commit of a sync hits moved rows without another read).
3. Each RowUpdate is then checked against that reply. If a sort slipped in between the read
   and the write, some cells landed in another case's row: the backend logs a warning and sends
   ONE corrective batchUpdate that rewrites the affected cells of both rows from known values
   (ours as planned, at its new row; the other case's as read at ``load()`` or planned for it).
   This costs a fourth request only in that rare race.

Writes that may have landed. A batchUpdate answered with a 5xx, or whose connection broke or
timed out after it was sent, may have been applied (``client.UncertainWrite``). Sending it again
blindly would append cases, steps and emails twice, so ``commit`` first reads, in ONE
``spreadsheets.get`` with a ``fields`` mask, the key columns of every keyed tab and the columns
the batch updates, and works out what landed:

* an appended keyed row landed when its key now appears more often than before the write;
* an update landed when its case's row (found by key, wherever a sort moved it) holds the
  written values; cells that hit another case's row (a sort before the write) are put back;
* appended Log rows (no key) are repeated only when the rest of the batch shows it was not
  applied (a batchUpdate is all or nothing), never when that cannot be told.

Then it sends only what did not land — nothing when everything did — and checks again if that
send is uncertain too, within ``RetryPolicy.max_attempts`` and ``budget`` (after which the sync
exits 75 and the next one reads the sheet first). Cost: +1 read per uncertain write, +1 write
when something had not landed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ...errors import DigitalIncidentsError, SheetLayoutError, TemporaryFailure
from ...lease import LEASE_HOLDER, claim
from ...model import CellValue, ChangeSet, RowUpdate, Snapshot, Table, cell_text, row_key
from ...schema import CASES, TIMESTAMP, WORKER_TABS, Kind, TabSpec, normalise
from ..cells import find_title, header_text, is_blank
from ..design import TabPlace, choices
from ..rows import RowIndex
from .client import BadRequest, RetryPolicy, SheetsConnection, UncertainWrite
from .codec import (
    CHECKBOX_RULE,
    DATE_TYPES,
    Grid,
    a1_quote,
    cell_data,
    column_letter,
    dropdown_rule,
    from_serial,
    grid,
    header_of,
    number_format_type,
    read_cell,
)
from .setup import SetupPlan

if TYPE_CHECKING:
    from ...config import Config

log = logging.getLogger(__name__)

LOAD_FIELDS = (
    "properties(title,timeZone,locale),"
    "sheets(properties(sheetId,title,index,gridProperties),"
    "data(startRow,startColumn,rowData(values(effectiveValue,userEnteredFormat.numberFormat.type))))"
)
TITLES_FIELDS = "properties(title,timeZone,locale),sheets(properties(sheetId,title,index,gridProperties))"
SETUP_META_FIELDS = (
    "properties(title,timeZone,locale),"
    "sheets(properties(sheetId,title,index,gridProperties),conditionalFormats,protectedRanges,basicFilter)"
)
SETUP_GRID_FIELDS = (
    "sheets(properties(sheetId,title),data(startRow,startColumn,columnMetadata(hiddenByUser,pixelSize),"
    "rowData(values(effectiveValue,userEnteredFormat(numberFormat,wrapStrategy,verticalAlignment),dataValidation))))"
)
COLUMN_FIELDS = "sheets(data(startRow,rowData(values(effectiveValue))))"
# What a commit's reply must carry: the key columns after the write, nothing more.
REPLY_FIELDS = (
    "spreadsheetId,updatedSpreadsheet(properties(timeZone),"
    "sheets(properties(sheetId,title),data(startRow,startColumn,rowData(values(effectiveValue)))))"
)
# After an uncertain write: the key columns and updated columns as they are now.
VERIFY_FIELDS = "sheets(properties(sheetId,title),data(startRow,startColumn,rowData(values(effectiveValue))))"
SERIAL_SLACK = 6e-6  # half a second, in days: a date-time read back equals the one written
APPEND_FIELDS = "userEnteredValue,userEnteredFormat.numberFormat,dataValidation"
VALUE_FIELDS = "userEnteredValue"
DATETIME_FIELDS = "userEnteredValue,userEnteredFormat.numberFormat"
HEADER_ONLY = {spec.logical for spec in WORKER_TABS if spec.append_only}


@dataclass
class _Tab:
    """One tab as last seen: ids, column positions, and where each key's row is."""

    spec: TabSpec | None      # None for the responses tab
    title: str
    sheet_id: int
    header: list[str]
    positions: dict[str, int] = field(default_factory=dict)
    datetime_positions: set[int] = field(default_factory=set)
    rows: RowIndex = field(default_factory=lambda: RowIndex("", []))
    known: dict[str, dict[int, CellValue]] = field(default_factory=dict)  # last known cells per key

    def __post_init__(self) -> None:
        for position, text in enumerate(self.header):
            if normalise(text):
                self.positions.setdefault(normalise(text), position)
        if self.spec is not None:
            for column in self.spec.columns:
                found = self.positions.get(normalise(column.name))
                if column.kind is Kind.DATETIME and found is not None:
                    self.datetime_positions.add(found)

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
        """The row key of a row given as {position: value}; '' when its key cells are blank."""
        if self.spec is None or is_blank(cells.get(position) for position in self.key_positions):
            return ""
        record = {column: cells.get(position) for column, position in self.key_columns}
        return row_key(self.spec, record)

    def index(self, keys: list[str]) -> RowIndex:
        return RowIndex(self.title, keys, keyed=bool(self.spec is not None and self.spec.key))

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
                    f'tab "{self.title}" has no column "{column}" ({what}); run `digital-incidents setup` '
                    "to add the missing columns"
                )
            cells[position] = value
        return cells


_Appended = tuple[_Tab, dict[int, CellValue]]  # a row appended by a commit, by header position


@dataclass
class _Target:
    """A RowUpdate resolved to the data row it is written to."""

    tab: _Tab
    update: RowUpdate
    row: int
    cells: dict[int, CellValue]


@dataclass
class _Batch:
    """One commit's writes, and what the sheet held before them (to tell what landed)."""

    appends: list[_Appended]
    targets: list[_Target]
    counts: dict[tuple[int, str], int] = field(default_factory=dict)  # (tab id, key) -> rows before

    def is_empty(self) -> bool:
        return not self.appends and not self.targets


class GoogleSheetStorage:
    """Storage on a Google Sheet: one read per load, one batchUpdate per commit."""

    def __init__(self, config: Config, *, retry: RetryPolicy | None = None) -> None:
        self.config = config
        self.spreadsheet_id = config.sheet.spreadsheet_id
        self.sheets = SheetsConnection(config, retry or RetryPolicy.for_budget(config.sheet.retry_seconds))
        self._responses_title = config.sheet.responses_tab  # the real title, once a mix-up is resolved
        self._tabs: dict[str, _Tab] = {}          # "responses" and worker logical names
        self._timezone: tzinfo = config.school.timezone
        self._loaded = False
        # Appended cells carry their column's validation (the append's mask would clear it).
        self._rules = {
            spec.logical: {normalise(c.name): CHECKBOX_RULE if c.checkbox else dropdown_rule(choices(c, config))
                           for c in spec.columns if c.checkbox or choices(c, config)}
            for spec in WORKER_TABS
        }

    def describe(self) -> str:
        return self.sheets.describe()

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
        except BadRequest as error:
            if "unable to parse range" not in str(error).lower():
                raise
            meta = self.sheets.get({"fields": TITLES_FIELDS})
            titles = self._resolve_titles(meta.get("sheets") or [])
            self._responses_title = titles["responses"]
            reply = self._read_tabs(titles)
        return self._snapshot(reply, titles)

    def _read_tabs(self, titles: dict[str, str]) -> dict[str, Any]:
        return self.sheets.get({
            "includeGridData": "true",
            "ranges": [a1_quote(title, "1:1" if logical in HEADER_ONLY else None)
                       for logical, title in titles.items()],
            "fields": LOAD_FIELDS,
        })

    def _snapshot(self, reply: dict[str, Any], titles: dict[str, str]) -> Snapshot:
        properties = reply.get("properties") or {}
        self._timezone = _zone(properties.get("timeZone"), self.config.school.timezone)
        by_title: dict[str, dict[str, Any]] = {}
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
        return Snapshot(responses=responses, tabs=tables, sheet_timezone=self._timezone,
                        locale=str(properties.get("locale") or ""))

    def _read_tab(self, sheet: dict[str, Any], spec: TabSpec | None) -> tuple[_Tab, Table]:
        properties = sheet.get("properties") or {}
        cells = grid(sheet)
        header = header_of(cells)
        tab = _Tab(spec, properties.get("title", ""), int(properties.get("sheetId", 0)), header)
        if spec is None:
            stamp = tab.position(TIMESTAMP)
            if stamp is not None:
                tab.datetime_positions.add(stamp)
        rows: list[list[CellValue]] = []
        for r in range(1, max(cells, default=0) + 1):
            row_cells = cells.get(r, {})
            row_width = max(len(header), max(row_cells, default=-1) + 1)
            rows.append([self._value(row_cells.get(c), c in tab.datetime_positions) for c in range(row_width)])
        while rows and is_blank(rows[-1]):
            rows.pop()
        keys = [tab.key_of(dict(enumerate(row))) for row in rows]
        tab.rows = tab.index(keys)
        for key, row in zip(keys, rows, strict=True):
            if key:
                tab.known.setdefault(key, dict(enumerate(row)))
        return tab, Table(title=tab.title, header=header, rows=rows)

    def _value(self, cell: dict[str, Any] | None, datetime_column: bool) -> CellValue:
        """A cell's value; a serial becomes an aware datetime in a date-time column or when the
        cell is formatted as a date (as the local backend reads any date-formatted cell)."""
        value = read_cell(cell)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and (datetime_column or number_format_type(cell) in DATE_TYPES):
            assert isinstance(value, int | float)
            return from_serial(value, self._timezone)
        return value

    # -- commit ---------------------------------------------------------------

    def commit(self, changes: ChangeSet) -> None:
        """Everything in ONE batchUpdate; see the module docstring for moved rows and for
        writes that may have landed."""
        if changes.is_empty():
            return
        if not self._loaded:
            self.load()
        appended = self._appended(changes)
        targets: list[_Target] = []
        for update in changes.updates:
            tab = self._worker_tab(update.tab)
            row = tab.rows.locate(update.key, update.row)
            if row is not None:
                targets.append(_Target(tab, update, row, tab.cells_of(update.cells, f"updating row of {update.key}")))
        batch = _Batch(appended, targets)
        for tab, cells in appended:
            key = tab.key_of(cells)
            if key:
                batch.counts[(id(tab), key)] = len(tab.rows.rows_of(key))
        if batch.is_empty():
            return
        sent, reply = self._send(batch)
        # What we now know each keyed row holds: used to repair rows a sort swapped under us.
        for tab, cells in appended:
            key = tab.key_of(cells)
            if key:
                tab.known[key] = dict(cells)
        for target in targets:
            target.tab.known.setdefault(target.update.key, {}).update(target.cells)
        if reply is not None:
            self._repair(sent.targets, self._absorb(reply))

    def claim_lease(self, holder: str, until: datetime) -> str:
        """ONE write of the two lease cells, then ONE read of the Worker tab's two columns (no
        formats): the holder that stands. No conditional write exists in the Sheets API; this
        read-back is what picks one of two hosts whose writes raced."""
        if not self._loaded:
            self.load()
        tab = self._worker_tab("worker")
        self.commit(claim(holder, until, lambda name: bool(tab.rows.rows_of(name))))
        setting, value = tab.position("Setting"), tab.position("Value")
        if setting is None or value is None:
            raise SheetLayoutError(f'tab "{tab.title}" has no Setting or Value column; run `digital-incidents setup`')
        first, last = sorted((setting, value))
        reply = self.sheets.get({"includeGridData": "true", "fields": VERIFY_FIELDS,
                                 "ranges": [a1_quote(tab.title, f"{column_letter(first)}:{column_letter(last)}")]})
        sheets = reply.get("sheets") or [{}]
        cells = grid(sheets[0])
        for row in range(1, max(cells, default=0) + 1):  # the first row with the key, as a commit finds it
            if cell_text(read_cell(cells.get(row, {}).get(setting))).strip() == LEASE_HOLDER:
                return cell_text(read_cell(cells[row].get(value))).strip()
        return ""

    def _send(self, batch: _Batch) -> tuple[_Batch, dict[str, Any] | None]:
        """Send ``batch``; when Google may have applied it without saying so, read what landed
        and send only the rest. Returns what was last sent and its reply (None: nothing left)."""
        policy = self.sheets.policy
        started = time.monotonic()
        todo, attempt = batch, 1
        while True:
            try:
                return todo, self.sheets.batch(self._with_reply(self._requests(todo)), REPLY_FIELDS)
            except UncertainWrite as uncertain:
                log.warning("Google Sheets did not confirm a write (%s); checking what landed before repeating "
                            "it", uncertain.reason)
                self.sheets.sleep(min(policy.pause(attempt), max(0.0, policy.budget - (time.monotonic() - started))))
                todo = self._unlanded(todo, batch, uncertain)  # always checked, even past the budget
                if todo.is_empty():
                    log.info("the unconfirmed write had landed in full; nothing repeated")
                    return todo, None
                elapsed = time.monotonic() - started
                if attempt >= policy.max_attempts or elapsed >= policy.budget:
                    raise TemporaryFailure(
                        f"Google Sheets did not confirm a write ({uncertain.reason}) after {attempt} "
                        f"attempt{'s' if attempt != 1 else ''} over {elapsed:.1f} s; each was checked before "
                        "it was repeated, so nothing was written twice; the next sync reads the sheet again "
                        "and carries on from what is there"
                    ) from uncertain
                attempt += 1

    def _requests(self, batch: _Batch) -> list[dict[str, Any]]:
        requests: list[dict[str, Any]] = []
        by_tab: dict[int, tuple[_Tab, list[dict[str, Any]]]] = {}
        for tab, cells in batch.appends:
            by_tab.setdefault(id(tab), (tab, []))[1].append({"values": self._row_cells(tab, cells)})
        for tab, rows in by_tab.values():
            requests.append({"appendCells": {"sheetId": tab.sheet_id, "rows": rows, "fields": APPEND_FIELDS}})
        for target in batch.targets:
            requests.extend(self._update_requests(target.tab, target.row, target.cells))
        return requests

    # -- after an uncertain write -------------------------------------------------

    def _unlanded(self, sent: _Batch, batch: _Batch, uncertain: UncertainWrite) -> _Batch:
        """ONE read of the key columns and the updated columns; what of ``sent`` is not in the
        sheet now, aimed at the rows its keys are in now (see the module docstring)."""
        columns: dict[int, set[int]] = {id(tab): set(tab.key_positions) for tab in self._tabs.values()}
        for target in sent.targets:
            columns[id(target.tab)].update(target.cells)
        ranges = [a1_quote(tab.title, f"{column_letter(p)}:{column_letter(p)}")
                  for tab in self._tabs.values() for p in sorted(columns[id(tab)])]
        try:
            reply = self.sheets.get({"includeGridData": "true", "ranges": ranges, "fields": VERIFY_FIELDS})
        except TemporaryFailure as failed:
            raise TemporaryFailure(
                f"Google Sheets did not confirm a write ({uncertain.reason}), and reading what landed failed too: "
                f"{str(failed).split(';')[0]}; nothing was repeated; the next sync reads the sheet again and "
                "carries on from what is there"
            ) from failed
        landed = self._absorb({"updatedSpreadsheet": reply})
        if landed is None:
            raise uncertain
        by_id = {int((s.get("properties") or {}).get("sheetId", -1)): grid(s) for s in reply.get("sheets") or []}
        grids = {id(tab): by_id.get(tab.sheet_id, {}) for tab in self._tabs.values()}
        left = _Batch([], [], sent.counts)
        evidence: set[bool] = set()  # True: some of it landed; False: some of it did not
        for tab, cells in sent.appends:
            key = tab.key_of(cells)
            if key:
                there = len(tab.rows.rows_of(key)) > sent.counts.get((id(tab), key), 0)
                evidence.add(there)
                if not there:
                    left.appends.append((tab, cells))
        planned = {(id(t.tab), t.update.key): t.cells for t in batch.targets}
        for target in sent.targets:
            self._check_target(target, grids[id(target.tab)], planned, left, evidence)
        unkeyed = [(tab, cells) for tab, cells in sent.appends if not tab.key_of(cells)]
        if unkeyed and evidence == {False}:
            left.appends.extend(unkeyed)  # nothing of the (all-or-nothing) batch landed
        elif unkeyed and not evidence:
            log.warning("could not tell whether %d Log row(s) were written; not repeating them", len(unkeyed))
        log.warning("checked the uncertain write: %d row(s) to append and %d row(s) to update are not there yet",
                    len(left.appends), len(left.targets))
        return left

    def _check_target(self, target: _Target, cells: Grid, planned: dict[tuple[int, str], dict[int, CellValue]],
                      left: _Batch, evidence: set[bool]) -> None:
        """Is ``target`` in its case's row now? Did it hit another case's row? Queue what is left."""
        tab, key = target.tab, target.update.key

        def now(row: int, position: int) -> CellValue:
            return read_cell(cells.get(row + 1, {}).get(position))

        rows = tab.rows.rows_of(key)
        if not rows:
            log.warning('Skipped an update to tab "%s": no row has key %r any more', tab.title, key)
        else:
            row = target.row if target.row in rows else rows[0]
            missing = {p: v for p, v in target.cells.items() if not self._holds(now(row, p), v)}
            before = tab.known.get(key, {})
            if any(not self._same(before.get(p), v) for p, v in target.cells.items()):
                evidence.add(not missing)
            if missing:
                left.targets.append(_Target(tab, target.update, row, missing))
        other = tab.rows.key_at(target.row)
        if other and other != key and other in tab.known:
            # Our cells may sit in another case's row (a sort before the write): give them back.
            ours = all(self._holds(now(target.row, p), v) for p, v in target.cells.items())
            theirs = {**tab.known[other], **planned.get((id(tab), other), {})}
            restore = {p: theirs.get(p) for p in target.cells if not self._holds(now(target.row, p), theirs.get(p))}
            if ours and restore:
                update = RowUpdate(target.update.tab, other, target.row, {})
                left.targets.append(_Target(tab, update, target.row, restore))

    def _holds(self, got: CellValue, value: CellValue) -> bool:
        """Does a cell read back as ``got`` (raw: serials stay numbers) hold ``value`` as written?"""
        written = cell_data(value, self._timezone)
        return _comparable(written) == _comparable(cell_data(got, self._timezone)) or _close(written, got)

    def _same(self, a: CellValue, b: CellValue) -> bool:
        return _comparable(cell_data(a, self._timezone)) == _comparable(cell_data(b, self._timezone))

    def _appended(self, changes: ChangeSet) -> list[_Appended]:
        appended: list[_Appended] = []
        for logical, records in changes.appends.items():
            if records:
                tab = self._worker_tab(logical)
                appended.extend((tab, tab.cells_of(record, "appending a row")) for record in records)
        return appended

    def _worker_tab(self, logical: str) -> _Tab:
        tab = self._tabs.get(logical)
        if tab is None or tab.spec is None:
            spec_title = next((s.title for s in WORKER_TABS if s.logical == logical), logical)
            raise SheetLayoutError(
                f'tab "{spec_title}" is missing from {self.describe()}: run `digital-incidents setup` to create it'
            )
        return tab

    def _row_cells(self, tab: _Tab, cells: dict[int, CellValue]) -> list[dict[str, Any]]:
        """An appended row's CellData list, by header position."""
        width = max(max(cells, default=-1) + 1, max(tab.datetime_positions, default=-1) + 1)
        assert tab.spec is not None
        rules = {tab.position(name): rule for name, rule in self._rules[tab.spec.logical].items()}
        values = []
        for position in range(width):
            data = cell_data(cells.get(position), self._timezone, position in tab.datetime_positions)
            if position in rules:
                data["dataValidation"] = rules[position]
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
                ranges.append(a1_quote(tab.title, f"{letter}:{letter}"))
        body: dict[str, Any] = {"requests": requests}
        if ranges:
            body.update(includeSpreadsheetInResponse=True, responseIncludeGridData=True, responseRanges=ranges)
        return body

    def _absorb(self, reply: dict[str, Any]) -> dict[str, RowIndex] | None:
        """Refresh each tab's row index from a batchUpdate reply; return them by logical name."""
        updated = reply.get("updatedSpreadsheet")
        if not any(tab.key_positions for tab in self._tabs.values()):
            return None  # nothing keyed to check, so nothing was asked for
        if not updated:
            log.warning("Google did not return the sheet after writing; moved rows cannot be checked this time")
            return None
        by_id = {int((s.get("properties") or {}).get("sheetId", -1)): s for s in updated.get("sheets") or []}
        landed: dict[str, RowIndex] = {}
        for logical, tab in self._tabs.items():
            sheet = by_id.get(tab.sheet_id)
            if sheet is None or not tab.key_positions:
                continue
            cells = grid(sheet)
            header = cells.get(0, {})
            for column, position in tab.key_columns:
                if normalise(header_text(read_cell(header.get(position)))) != normalise(column):
                    log.warning('column "%s" of tab "%s" moved during the sync; the next sync re-reads it',
                                column, tab.title)
            keys = [
                tab.key_of({p: read_cell(cells.get(r, {}).get(p)) for p in tab.key_positions})
                for r in range(1, max(cells, default=0) + 1)
            ]
            tab.rows = landed[logical] = tab.index(keys)
        return landed

    def _repair(self, targets: list[_Target], landed: dict[str, RowIndex] | None) -> None:
        """If cells landed in another case's row (a sort raced the write), put both rows right."""
        if landed is None:
            return
        after = {id(tab): landed[logical] for logical, tab in self._tabs.items() if logical in landed}
        wrong = [t for t in targets if id(t.tab) in after and after[id(t.tab)].key_at(t.row) != t.update.key]
        if not wrong:
            return
        fixes: dict[tuple[int, int], _Target] = {}

        def fix(tab: _Tab, key: str, row: int) -> dict[int, CellValue]:
            update = RowUpdate(tab.spec.logical if tab.spec else "", key, row, {})
            return fixes.setdefault((id(tab), row), _Target(tab, update, row, {})).cells

        for target in wrong:  # the row we hit holds another case: give it back its own values
            other = after[id(target.tab)].key_at(target.row)
            before = target.tab.known.get(other, {}) if other else {}
            slot = fix(target.tab, other, target.row)
            for position in target.cells:
                slot.setdefault(position, before.get(position))
        lost = []
        for target in wrong:  # and write our values where our case is now
            rows = target.tab.rows.rows_of(target.update.key)
            if not rows:
                lost.append(target.update.key)
                continue
            fix(target.tab, target.update.key, rows[0]).update(target.cells)
        log.warning(
            "rows moved while writing (a sort or insert in the sheet?): %d update(s) landed in other rows "
            "(%s); rewriting the affected cells of %d row(s)",
            len(wrong), ", ".join(t.update.key for t in wrong[:10]), len(fixes),
        )
        if lost:
            log.warning("rows gone before they could be updated: %s", ", ".join(lost))
        if fixes:
            _, reply = self._send(_Batch([], list(fixes.values())))
            if reply is not None:
                self._absorb(reply)

    # -- setup --------------------------------------------------------------

    def setup(self, response_headers: list[str]) -> list[str]:
        """Create or repair the worker tabs (see ``setup``); idempotent (a second run writes nothing)."""
        meta = self.sheets.get({"fields": SETUP_META_FIELDS})
        sheets = meta.get("sheets") or []
        titles = self._resolve_titles(sheets)
        by_title = {(s.get("properties") or {}).get("title"): s for s in sheets}
        ranges = [a1_quote(title, "1:2") for title in titles.values()]
        grid_reply = self.sheets.get({"includeGridData": "true", "ranges": ranges, "fields": SETUP_GRID_FIELDS})
        grids = {(s.get("properties") or {}).get("title"): s for s in grid_reply.get("sheets") or []}

        plan = SetupPlan(used_ids={int((s.get("properties") or {}).get("sheetId", 0)) for s in sheets},
                         config=self.config)
        responses_title = titles["responses"]
        present = {normalise(h) for h in header_of(grid(grids.get(responses_title, {})))}
        missing = [h for h in response_headers if normalise(h) not in present]
        if missing:
            log.warning('the responses tab "%s" has no column for: %s (check the form questions)',
                        responses_title, ", ".join(missing))
        plan.protect(by_title[responses_title], [{}], f'"{responses_title}"')
        found = {}
        for spec in WORKER_TABS:
            title = titles.get(spec.logical)
            found[spec.logical] = plan.tab(spec, by_title.get(title) if title else None, grids.get(title, {}))
        places: dict[str, TabPlace] = {logical: tab.place for logical, tab in found.items()}
        for tab in found.values():
            plan.render(tab, places)
        cases = found[CASES.logical]
        if not cases.new:
            plan.migrate(cases, self._statuses(cases.place))
        if not plan.requests:
            return []
        self.sheets.batch({"requests": plan.requests})
        self._loaded = False
        return plan.changes

    def _statuses(self, place: TabPlace) -> list[tuple[str, str]]:
        """(Case ID, Status) of every case: one more read, in setup only."""
        columns = [column_letter(place.position(name)) for name in ("Case ID", "Status")]
        reply = self.sheets.get({"includeGridData": "true", "fields": COLUMN_FIELDS,
                                 "ranges": [a1_quote(place.title, f"{c}2:{c}") for c in columns]})
        blocks = [{row: read_cell(next(iter(cells.values()), None)) for row, cells in grid(block).items()}
                  for block in _blocks(reply)]
        if len(blocks) != 2:
            return []
        ids, statuses = blocks
        return [(str(ids.get(row) or f"row {row + 1}"), str(status)) for row, status in sorted(statuses.items())
                if isinstance(status, str)]

    # -- check --------------------------------------------------------------

    def check_access(self) -> list[str]:
        """Problems that would stop a sync (credentials, sharing, the responses tab); [] when fine."""
        try:
            meta = self.sheets.get({"fields": TITLES_FIELDS})
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


def _comparable(data: dict[str, Any]) -> tuple[str, Any]:
    """A CellData's value as (kind, value), blank as ("", None)."""
    value = data.get("userEnteredValue") or {}
    for kind in ("stringValue", "boolValue", "numberValue"):
        if kind in value:
            return kind, value[kind]
    return "", None


def _close(data: dict[str, Any], got: CellValue) -> bool:
    """A number (a date-time's serial) read back within half a second of the one written."""
    kind, value = _comparable(data)
    number = isinstance(got, int | float) and not isinstance(got, bool)
    return kind == "numberValue" and number and abs(float(value) - float(got)) <= SERIAL_SLACK  # type: ignore[arg-type]


def _blocks(reply: dict[str, Any]) -> list[dict[str, Any]]:
    """A get's GridData blocks, each as a one-block sheet (for ``grid``)."""
    return [{"data": [block]} for sheet in reply.get("sheets") or [] for block in sheet.get("data") or []]


def _zone(name: str | None, fallback: tzinfo) -> tzinfo:
    try:
        return ZoneInfo(name) if name else fallback
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("spreadsheet time zone %r is unknown here; using the school's", name)
        return fallback
