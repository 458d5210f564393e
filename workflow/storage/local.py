"""The local backend: one .xlsx workbook that the worker and school leaders both edit.

Leaders may sort, filter, reorder columns and add their own columns between syncs, so
columns are found by header text and rows by their key (see ``Storage``). Every write
reopens the workbook fresh and replaces the file atomically: a crash or a full disk
leaves the previous workbook, never a half-written one.

Known limits of openpyxl, which reads and rewrites the whole file: charts, images,
slicers and some Excel extensions that a leader adds are dropped on the next write;
cells, formats, filters, conditional formatting, data validation and frozen panes
survive. Keep the workbook closed in Excel while the worker runs: a save made from an
Excel window that was opened before the worker's write would overwrite it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import tempfile
from copy import copy
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from openpyxl import Workbook, load_workbook
from openpyxl.formatting.formatting import ConditionalFormattingList
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.numbers import is_date_format
from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import coordinate_from_string, range_boundaries
from openpyxl.utils.units import DEFAULT_COLUMN_WIDTH
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.dimensions import ColumnDimension
from openpyxl.worksheet.worksheet import Worksheet

from ..errors import DigitalIncidentsError, SheetLayoutError, StorageError, TemporaryFailure
from ..model import CellValue, ChangeSet, RowUpdate, Snapshot, Table, row_key
from ..schema import (
    BY_LOGICAL,
    CASE_OPEN,
    CASE_READY,
    CASES,
    DATE_FORMAT,
    DATETIME_FORMAT,
    FIRST_TAB,
    RESPONSES_TIMESTAMP,
    WORKER_TABS,
    Column,
    Kind,
    TabSpec,
    normalise,
)
from .cells import (
    XLSX_TEXT_LIMIT,
    find_title,
    header_positions,
    header_text,
    is_blank,
    read_value,
    sheet_value,
)
from .design import TabPlace, choices, highlight_column, highlight_formula, is_ours
from .rows import RowIndex

if TYPE_CHECKING:
    from ..config import Config

log = logging.getLogger(__name__)

MAX_ROW = 1_048_576  # the last row of an xlsx sheet: rules and validation cover whole columns

# The xlsx stand-in for a checkbox: leaders type TRUE (or pick it from the list) when done.
CHECKBOX_LIST = '"TRUE,FALSE"'
LIST_LIMIT = 255  # the longest inline list Excel accepts in a data validation (characters)
WRAPPED = Alignment(wrap_text=True, vertical="top")
TOP = Alignment(vertical="top")   # the other cells of a tab with wrapped columns: a row reads across its first line
CENTRED = Alignment(horizontal="center", vertical="top")   # counts, clear of the text beside them
LINE_HEIGHT = 15.0   # points: one line of the default font
MAX_LINES = 3        # a row grows to show at most this many lines of wrapped text: the board stays scannable


class LocalWorkbookStorage:
    """Storage in an .xlsx file, read and written with openpyxl."""

    def __init__(self, config: Config) -> None:
        path = Path(config.sheet.path)
        if not path.is_absolute():
            path = Path(config.path).parent / path
        self.path = path
        self.config = config
        self.config_path = config.path
        self.timezone = config.school.timezone
        self.responses_tab = config.sheet.responses_tab

    def describe(self) -> str:
        return str(self.path)

    # -- reading -------------------------------------------------------------------------

    def load(self) -> Snapshot:
        """Read every tab in one pass each, read-only (fast, and the file is never locked long)."""
        workbook = self._open(read_only=True)
        try:
            titles = workbook.sheetnames
            title = find_title(titles, self.responses_tab)
            if title is None:
                raise SheetLayoutError(
                    f"Workbook {self.path} has no tab {self.responses_tab!r} for form responses; "
                    f"its tabs are: {', '.join(repr(t) for t in titles)}. Rename the responses "
                    "tab or set [sheet] responses_tab in the config"
                )
            responses = self._read_table(workbook[title])
            tabs: dict[str, Table] = {}
            for spec in WORKER_TABS:
                found = find_title(titles, spec.title)
                if found is not None:
                    tabs[spec.logical] = self._read_table(workbook[found], header_only=spec.append_only)
        finally:
            workbook.close()
        return Snapshot(responses=responses, tabs=tabs, sheet_timezone=self.timezone, text_limit=XLSX_TEXT_LIMIT,
                        locale=self.config.school.locale)

    def _read_table(self, sheet: Any, header_only: bool = False) -> Table:
        try:
            # Trust the cells, not the <dimension> tag some writers get wrong.
            sheet.reset_dimensions()
            rows = sheet.iter_rows(values_only=True)
            header = [header_text(value) for value in next(rows, ())]
            if header_only:
                return Table(title=sheet.title, header=header, rows=[])
            data: list[list[CellValue]] = []
            last = 0
            for row in rows:
                values = [read_value(value, self.timezone) for value in row]
                data.append(values)
                if not is_blank(values):
                    last = len(data)
        except Exception as exc:
            raise StorageError(f"Cannot read tab {sheet.title!r} of {self.path}: {exc}") from exc
        return Table(title=sheet.title, header=header, rows=data[:last])

    # -- writing -------------------------------------------------------------------------

    def commit(self, changes: ChangeSet) -> None:
        """Apply a whole ChangeSet to a freshly opened workbook and replace the file once."""
        if changes.is_empty():
            return
        self._require_file()
        stamp = self._stamp()
        workbook = self._open(read_only=False)
        tabs: dict[str, _Tab] = {}
        for logical in [name for name, rows in changes.appends.items() if rows] + [
            update.tab for update in changes.updates
        ]:
            if logical not in tabs:
                tabs[logical] = self._tab(workbook, BY_LOGICAL[logical])

        # Check the layout before writing anything, so a missing column names itself clearly.
        for logical, records in changes.appends.items():
            for record in records:
                for column in record:
                    if not column.startswith("_"):
                        tabs[logical].require(column)
        for update in changes.updates:
            for column in update.cells:
                tabs[update.tab].require(column)

        for update in changes.updates:
            self._apply_update(tabs[update.tab], update)
        for logical, records in changes.appends.items():
            for record in records:
                self._append(tabs[logical], record)
        self._save(workbook, stamp)

    def _tab(self, workbook: Workbook, spec: TabSpec) -> _Tab:
        title = find_title(workbook.sheetnames, spec.title)
        if title is None:
            raise SheetLayoutError(
                f"Workbook {self.path} has no tab {spec.title!r}: "
                f"run `digital-incidents -c {self.config_path} setup` to add it"
            )
        return _Tab(self, spec, workbook[title])

    def _append(self, tab: _Tab, record: dict[str, CellValue]) -> None:
        """One new row below the last; long text in wrapped columns wraps (setup only wraps the cells it found)."""
        tab.last_row += 1
        for column, value in record.items():
            if not column.startswith("_") and value is not None:
                cell = tab.sheet.cell(tab.last_row, tab.position(column) + 1)
                self._write(cell, value)
                if normalise(column) in tab.wrapped:
                    cell.alignment = WRAPPED
                elif tab.wrapped:
                    cell.alignment = CENTRED if normalise(column) in tab.numbers else TOP
        _fit_row(tab.sheet, tab.last_row, tab.wrapped_columns())

    def _apply_update(self, tab: _Tab, update: RowUpdate) -> None:
        row = tab.find(update)
        if row is None:
            return
        for column, value in update.cells.items():
            cell = tab.sheet.cell(row, tab.position(column) + 1)
            self._write(cell, value)
            if normalise(column) in tab.wrapped and not cell.alignment.wrap_text:
                cell.alignment = WRAPPED
        if any(normalise(column) in tab.wrapped for column in update.cells):
            _fit_row(tab.sheet, row, tab.wrapped_columns())

    def _write(self, cell: Any, value: CellValue) -> None:
        """Write one value by the rules in cells.py (text always literal, wall-clock times)."""
        plain = sheet_value(value, self.timezone, XLSX_TEXT_LIMIT)
        if plain is None:
            cell.value = None
        elif isinstance(plain, str):
            cell.value = plain
            cell.data_type = "s"  # openpyxl reads "=..." as a formula and "#N/A" as an error
        elif isinstance(plain, bool):
            cell.value = plain
        elif isinstance(plain, int | float):
            cell.value = plain
            if is_date_format(cell.number_format):
                cell.number_format = "General"  # else it would read back as a date
        else:
            previous = cell.number_format  # openpyxl swaps in its own format on assignment
            cell.value = plain
            if is_date_format(previous):
                cell.number_format = previous  # a leader's own date format stays
            else:
                day_only = isinstance(value, date) and not isinstance(value, datetime)
                cell.number_format = DATE_FORMAT if day_only else DATETIME_FORMAT

    def add_responses(self, records: list[dict[str, CellValue]]) -> None:
        """Append form responses, as Google Forms would (the demo, and schools without Forms).

        Values go under the header with the same text; unknown headers are an error.
        """
        self._require_file()
        stamp = self._stamp()
        workbook = self._open(read_only=False)
        title = find_title(workbook.sheetnames, self.responses_tab)
        if title is None:
            raise SheetLayoutError(f"Workbook {self.path} has no tab {self.responses_tab!r}: run setup first")
        sheet = workbook[title]
        positions = header_positions(cell.value for cell in sheet[1])
        row = _last_used_row(sheet)
        for record in records:
            row += 1
            for column, value in record.items():
                position = positions.get(normalise(column))
                if position is None:
                    raise SheetLayoutError(f"tab {title!r} has no column {column!r}")
                if value is not None:
                    self._write(sheet.cell(row, position + 1), value)
        self._save(workbook, stamp)

    # -- setup ---------------------------------------------------------------------------

    def setup(self, response_headers: list[str]) -> list[str]:
        """Create or repair the workbook without touching leaders' columns or data.

        Idempotent: everything is compared first, and the file is only written when
        something was actually missing.
        """
        changed: list[str] = []
        stamp: tuple[int, int, int] | None = None
        created = not self.path.exists()
        if not created:
            stamp = self._stamp()
            workbook = self._open(read_only=False)
        else:
            workbook = Workbook()
            workbook.remove(workbook.active)
            changed.append(f"created workbook {self.path}")

        changed += self._setup_responses(workbook, response_headers)
        places: dict[str, TabPlace] = {}
        widths: dict[str, int] = {}
        for spec in WORKER_TABS:
            places[spec.logical], widths[spec.logical] = self._setup_columns(workbook, spec, changed)
        for spec in WORKER_TABS:
            place = places[spec.logical]
            formatted = _format_tab(workbook[place.title], place, places, widths[spec.logical])
            formatted += _add_dropdowns(workbook[place.title], place, self.config)
            if formatted and f"created tab {spec.title}" not in changed:
                changed.append(f"formatted {place.title}: {', '.join(formatted)}")
        changed += _migrate_ready_to_close(workbook[places[CASES.logical].title], places[CASES.logical])
        if _board_first(workbook, places[FIRST_TAB.logical].title) and not created:
            changed.append(f"{places[FIRST_TAB.logical].title} is now the first tab, where the workbook opens")

        if changed:
            self._save(workbook, stamp)
        return changed

    def _setup_responses(self, workbook: Workbook, response_headers: list[str]) -> list[str]:
        """A responses tab as Google Forms would make it, when there is none yet."""
        if find_title(workbook.sheetnames, self.responses_tab) is not None:
            return []
        sheet = workbook.create_sheet(self.responses_tab.strip() or "Form Responses 1", 0)
        for position, text in enumerate(response_headers, start=1):
            sheet.cell(1, position, text)
        stamp_column = header_positions(response_headers).get(normalise(RESPONSES_TIMESTAMP.name))
        if stamp_column is not None:
            dimension = _column_dimension(sheet, stamp_column + 1, create=True)
            assert dimension is not None
            dimension.width = RESPONSES_TIMESTAMP.starting_width
            dimension.number_format = RESPONSES_TIMESTAMP.number_format
        return [f"created tab {sheet.title}"]

    def _setup_columns(self, workbook: Workbook, spec: TabSpec, changed: list[str]) -> tuple[TabPlace, int]:
        """Create the tab or add its missing columns at the right; return where its columns are
        and how wide its header is."""
        title = find_title(workbook.sheetnames, spec.title)
        created = title is None
        sheet = workbook.create_sheet(spec.title) if title is None else workbook[title]
        header = [cell.value for cell in sheet[1]]
        while header and header_text(header[-1]).strip() == "":
            header.pop()
        positions = header_positions(header)
        added = []
        for column in spec.columns:
            if normalise(column.name) not in positions:
                header.append(column.name)
                positions[normalise(column.name)] = len(header) - 1
                sheet.cell(1, len(header), column.name)
                added.append(column.name)
        if created:
            changed.append(f"created tab {spec.title}")
        else:
            changed.extend(f"added column {name} to {sheet.title}" for name in added)
        return TabPlace(spec, sheet.title, positions), len(header)

    # -- files ---------------------------------------------------------------------------

    def _require_file(self) -> None:
        if not self.path.exists():
            raise SheetLayoutError(
                f"Workbook {self.path} does not exist: run `digital-incidents -c {self.config_path} setup` to create it"
            )

    def _open(self, read_only: bool) -> Workbook:
        self._require_file()
        try:
            return load_workbook(self.path, read_only=read_only, data_only=False)
        except Exception as exc:
            raise StorageError(f"Cannot open workbook {self.path}: {exc.__class__.__name__}: {exc}") from exc

    def _stamp(self) -> tuple[int, int, int]:
        """What tells us the file changed under us: modified time, size and inode."""
        info = os.stat(self.path)
        return info.st_mtime_ns, info.st_size, info.st_ino

    def _save(self, workbook: Workbook, stamp: tuple[int, int, int] | None) -> None:
        """Write a temp file beside the workbook, fsync it, then os.replace it into place.

        ``stamp`` is the file as it was when opened: if someone saved it since, nothing is
        written and the next run retries with their edits included. A read-only workbook is
        refused (exit 1); a full disk or any other write error is temporary (exit 75). Either
        way the previous workbook is untouched and the temp file is removed.
        """
        target = self.path.resolve() if self.path.exists() else self.path
        folder = target.parent
        self._require_writable(target if stamp is not None else None, folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            mode = stat.S_IMODE(os.stat(target).st_mode) if stamp is not None else _new_file_mode()
            handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
        except OSError as exc:
            raise self._write_error(exc) from exc
        replaced = False
        try:
            with os.fdopen(handle, "wb") as stream:
                _dump(workbook, stream)
            os.chmod(temp, mode)  # mkstemp makes 0600; leaders must keep their access
            if stamp is not None and self._stamp() != stamp:
                raise TemporaryFailure(
                    f"Workbook {self.path} was changed by someone else while the worker was "
                    "writing it; nothing was written, the next run will retry"
                )
            try:
                os.replace(temp, target)
            except PermissionError as exc:   # Windows: the file is open in Excel
                raise TemporaryFailure(
                    f"Cannot replace workbook {self.path} ({exc}); if it is open in Excel, "
                    "close it; the next run will retry"
                ) from exc
            replaced = True
        except OSError as exc:
            raise self._write_error(exc) from exc
        finally:
            if not replaced:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
        _fsync_folder(folder)

    def _require_writable(self, target: Path | None, folder: Path) -> None:
        """Refuse to replace a workbook (or write into a folder) marked read-only.

        ``os.replace`` needs only the folder to be writable, so it would silently replace a
        file marked read-only; and root (a container, a careless cron job) passes every
        permission check. So the write bits are honoured explicitly, as well as os.access.
        """
        for path, what in ((target, "the file"), (folder, "its folder")):
            if path is None or not path.exists():
                continue
            if not stat.S_IMODE(os.stat(path).st_mode) & 0o222 or not os.access(path, os.W_OK):
                raise StorageError(
                    f"Workbook {self.path} is read-only ({what} {path} is not writable): nothing was "
                    "written. Make it writable for the worker's user (e.g. chmod u+w), or point "
                    "[sheet] path at a writable copy"
                )

    def _write_error(self, exc: OSError) -> DigitalIncidentsError:
        """A write that failed: permissions and read-only file systems are the admin's to fix
        (exit 1); anything else — a full disk, an I/O error — is temporary (exit 75)."""
        reason = exc.strerror or str(exc) or type(exc).__name__
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return StorageError(
                f"Cannot write workbook {self.path}: {reason}. Nothing was written; make the file "
                "and its folder writable for the worker's user"
            )
        return TemporaryFailure(
            f"Cannot save workbook {self.path}: {reason}. Nothing was written (the previous "
            "workbook is intact); the next run will retry" + (
                " — free some disk space" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "")
        )


class _Tab:
    """One worker tab opened for a commit: header positions, last used row, key lookup."""

    def __init__(self, storage: LocalWorkbookStorage, spec: TabSpec, sheet: Worksheet) -> None:
        self.storage = storage
        self.spec = spec
        self.sheet = sheet
        self.positions = header_positions(cell.value for cell in sheet[1])
        self.last_row = _last_used_row(sheet)
        self.wrapped = {normalise(column.name) for column in spec.columns if column.wrap}
        self.numbers = {normalise(column.name) for column in spec.columns if column.kind is Kind.NUMBER}
        self._rows: RowIndex | None = None

    def position(self, column: str) -> int:
        return self.positions[normalise(column)]

    def wrapped_columns(self) -> dict[int, Column]:
        """1-based sheet column -> declared column, for the wrapped columns the tab has."""
        return {self.positions[normalise(c.name)] + 1: c for c in self.spec.columns
                if c.wrap and normalise(c.name) in self.positions}

    def require(self, column: str) -> None:
        if normalise(column) not in self.positions:
            raise SheetLayoutError(
                f"Tab {self.sheet.title} of {self.storage.path} has no column {column!r}: "
                f"run `digital-incidents -c {self.storage.config_path} setup` to add it"
            )

    def rows(self) -> RowIndex:
        """The key of every data row (index 0 = sheet row 2), read once per commit."""
        if self._rows is None:
            for column in self.spec.key:
                self.require(column)
            count = max(self.last_row - 1, 0)
            columns: dict[str, list[Any]] = {}
            for column in self.spec.key:
                at = self.position(column) + 1
                cells = self.sheet.iter_rows(min_row=2, max_row=self.last_row, min_col=at, max_col=at, values_only=True)
                columns[column] = [row[0] for row in cells] if count else []
            tz = self.storage.timezone
            keys = []
            for index in range(count):
                record = {name: read_value(values[index], tz) for name, values in columns.items()}
                blank = not any(str(value or "").strip() for value in record.values())
                keys.append("" if blank else row_key(self.spec, record))
            self._rows = RowIndex(self.sheet.title, keys, keyed=bool(self.spec.key))
        return self._rows

    def find(self, update: RowUpdate) -> int | None:
        """The sheet row to write (see RowIndex.locate)."""
        row = self.rows().locate(update.key, update.row)
        return None if row is None else row + 2


def _last_used_row(sheet: Worksheet) -> int:
    """The last row holding a value (1 when only the header is there).

    ``max_row`` counts formatted but empty cells too, so walk back from it; only the
    trailing blank rows are looked at.
    """
    row = sheet.max_row
    while row > 1 and is_blank(cell.value for cell in sheet[row]):
        row -= 1
    return row


def _column_dimension(sheet: Worksheet, index: int, create: bool) -> ColumnDimension | None:
    """The width/format/hidden settings of one column, splitting a shared range if needed.

    Excel stores ``<col min=3 max=7>`` ranges; openpyxl keeps them under the first letter,
    so writing settings for a letter inside a range would produce overlapping ranges that
    Excel "repairs". Splitting keeps every column's settings exactly as they were.
    """
    dimensions = sheet.column_dimensions
    for letter, dimension in list(dimensions.items()):
        dimension.reindex()
        if dimension.min is None or dimension.max is None:
            continue
        if not dimension.min <= index <= dimension.max:
            continue
        if dimension.min == dimension.max:
            return dimension
        first, last = dimension.min, dimension.max
        del dimensions[letter]
        for column in range(first, last + 1):
            part = copy(dimension)
            part.index = get_column_letter(column)
            part.min = part.max = column
            dimensions[part.index] = part
        return dimensions[get_column_letter(index)]
    if not create:
        return None
    letter = get_column_letter(index)
    dimension = ColumnDimension(sheet, index=letter, min=index, max=index)
    dimensions[letter] = dimension
    return dimension


def _format_tab(sheet: Worksheet, place: TabPlace, places: dict[str, TabPlace], width: int) -> list[str]:
    """Render the tab's declaration where it is missing; return what was changed."""
    changed = [label for label, done in [
        ("bold header", _bold_header(sheet, place)),
        ("froze header row", _freeze_header(sheet, place.spec.frozen_rows)),
    ] if done]
    changed += _format_columns(sheet, place)
    changed += _wrap_columns(sheet, place)
    changed += _add_checkbox_lists(sheet, place)
    changed += _ensure_rules(sheet, place, places, get_column_letter(max(width, sheet.max_column, 1)))
    if place.spec.filter and _ensure_filter(sheet, width):
        changed.append("filter on the header row")
    return changed


def _bold_header(sheet: Worksheet, place: TabPlace) -> bool:
    bolded = False
    for column in place.spec.columns:
        cell = sheet.cell(1, place.position(column.name) + 1)
        if not cell.font.b:
            font = copy(cell.font)
            font.b = True
            cell.font = font
            bolded = True
    return bolded


def _freeze_header(sheet: Worksheet, rows: int) -> bool:
    """Freeze at least ``rows`` rows, keeping any columns a leader froze."""
    frozen = sheet.freeze_panes
    if frozen is not None and coordinate_from_string(frozen)[1] > rows:
        return False
    column_letter = coordinate_from_string(frozen)[0] if frozen else "A"
    sheet.freeze_panes = f"{column_letter}{rows + 1}"
    return True


def _width(column: Column) -> float:
    """The declared width; never DEFAULT_COLUMN_WIDTH, which openpyxl reads as 'not set yet'."""
    width = column.starting_width
    return width + 1 if width == DEFAULT_COLUMN_WIDTH else width


def _ours_to_widen(column: Column, width: float | None) -> bool:
    """Whether a column's width is unset, the default, or one an older setup gave it (never a leader's)."""
    if not width or width == DEFAULT_COLUMN_WIDTH:
        return True
    legacy = column.legacy_width
    return width in (legacy, legacy + 1 if legacy == DEFAULT_COLUMN_WIDTH else legacy)


def _format_columns(sheet: Worksheet, place: TabPlace) -> list[str]:
    widths = hidden = formats = False
    for column in place.spec.columns:
        index = place.position(column.name) + 1
        dimension = _column_dimension(sheet, index, create=False)
        if dimension is None or (_ours_to_widen(column, dimension.width) and dimension.width != _width(column)):
            dimension = dimension or _column_dimension(sheet, index, create=True)
            assert dimension is not None
            dimension.width = _width(column)
            widths = True
        if column.hidden and not dimension.hidden:
            dimension.hidden = True
            hidden = True
        if column.number_format and not is_date_format(dimension.number_format):
            dimension.number_format = column.number_format  # new cells typed in this column
            formats = True
    flags = [(widths, "column widths"), (hidden, "hid bookkeeping columns"), (formats, "date-time format")]
    return [label for flag, label in flags if flag]


def _add_checkbox_lists(sheet: Worksheet, place: TabPlace) -> list[str]:
    """xlsx has no checkbox: a TRUE/FALSE list stands in for one."""
    changed = []
    for column in place.spec.columns:
        if not column.checkbox:
            continue
        letter = place.letter(column.name)
        if _has_checkbox_list(sheet, f"{letter}2"):
            continue
        rule = DataValidation(
            type="list",
            formula1=CHECKBOX_LIST,
            allow_blank=True,
            showErrorMessage=True,
            errorTitle=column.name,
            error=f"Type TRUE when the step is {column.name.lower()} (or pick it from the list).",
            showInputMessage=True,
            promptTitle=column.name,
            prompt=f"Type TRUE or pick it from the list when this step is {column.name.lower()}.",
        )
        rule.add(f"{letter}2:{letter}{MAX_ROW}")
        sheet.add_data_validation(rule)
        changed.append(f"TRUE/FALSE list on {column.name}")
    return changed


def _has_checkbox_list(sheet: Worksheet, cell: str) -> bool:
    for rule in sheet.data_validations.dataValidation:
        formula = (rule.formula1 or "").replace(" ", "").upper()
        if rule.type == "list" and formula == CHECKBOX_LIST and cell in rule.sqref:
            return True
    return False


def _wrap_columns(sheet: Worksheet, place: TabPlace) -> list[str]:
    """Wrap long text in the declared columns: the cells there now (the worker wraps the ones it adds)."""
    wrapped = []
    last = _last_used_row(sheet)
    for column in place.spec.columns:
        if not column.wrap:
            continue
        index = place.position(column.name) + 1
        cells = [row[0] for row in sheet.iter_rows(min_row=2, max_row=last, min_col=index, max_col=index)]
        unwrapped = [cell for cell in cells if cell.value is not None and not cell.alignment.wrap_text]
        for cell in unwrapped:
            cell.alignment = WRAPPED
            _fit_row(sheet, cell.row, {index: column})
        if unwrapped:
            wrapped.append(column.name)
    return [f"wrapped {', '.join(wrapped)}"] if wrapped else []


def _fit_row(sheet: Worksheet, row: int, wrapped: dict[int, Column]) -> None:
    """Give a row the height its wrapped text needs (up to MAX_LINES), as neither openpyxl nor
    LibreOffice sizes rows when a file is written; a row a leader sized stays as it is."""
    dimension = sheet.row_dimensions[row]
    current = dimension.height if dimension.customHeight and dimension.height else None
    if current is not None and current not in [LINE_HEIGHT * n for n in range(2, MAX_LINES + 1)]:
        return  # a leader's height
    lines = 1
    for index, column in wrapped.items():
        value = sheet.cell(row, index).value
        if isinstance(value, str) and value:
            per_line = max(int(column.starting_width * 1.15) - 1, 1)  # a character averages under one unit
            need = sum(max(1, -(-len(part) // per_line)) for part in value.splitlines() or [""])
            lines = max(lines, min(need, MAX_LINES))
    if lines > 1 or current is not None:
        dimension.height = LINE_HEIGHT * lines if lines > 1 else None


def _ensure_rules(sheet: Worksheet, place: TabPlace, places: dict[str, TabPlace], last: str) -> list[str]:
    """The tab's highlights, strongest first, ahead of any rules of a leader's; our own stale
    versions (columns moved, an older rule) are dropped. Returns the names of rules (re)installed."""
    wanted = []
    for rule in place.spec.highlights:
        position = highlight_column(rule, place)
        letters = ("A", last) if position is None else (get_column_letter(position + 1),) * 2
        wanted.append((rule, f"{letters[0]}2:{letters[1]}{MAX_ROW}", highlight_formula(rule, place, places)))
    ours: list[tuple[int, Any, str | None, Any]] = []
    others: list[tuple[int, Any, str | None, Any]] = []
    for formatting in sheet.conditional_formatting:
        for existing in formatting.rules:
            text = existing.formula[0] if existing.type == "expression" and existing.formula else None
            mine = text is not None and any(is_ours(rule, text) for rule in place.spec.highlights)
            (ours if mine else others).append((existing.priority or 0, formatting, text, existing))
    ours.sort(key=lambda item: item[0])
    have = [(str(formatting.sqref), text) for _, formatting, text, _ in ours]
    if have == [(rows, formula) for _, rows, formula in wanted]:
        return []
    rebuilt = ConditionalFormattingList()
    for priority, (rule, rows, formula) in enumerate(wanted, start=1):
        fill = PatternFill(start_color=rule.fill, end_color=rule.fill, fill_type="solid")
        font = Font(color=rule.font) if rule.font else None
        made = FormulaRule(formula=[formula], fill=fill, font=font, stopIfTrue=False)
        made.priority = priority
        rebuilt.add(rows, made)
    others.sort(key=lambda item: item[0])
    for priority, (_, formatting, _, existing) in enumerate(others, start=len(wanted) + 1):
        existing.priority = priority
        rebuilt.add(formatting, existing)
    sheet.conditional_formatting = rebuilt
    return [rule.name for rule, rows, formula in wanted if (rows, formula) not in have]


def _ensure_filter(sheet: Worksheet, width: int) -> bool:
    """A filter on the header row over every column; a leader's filter is kept (its criteria too),
    only widened when it misses columns."""
    wanted = f"A1:{get_column_letter(max(width, 1))}{MAX_ROW}"
    ref = sheet.auto_filter.ref
    if ref:
        first_column, first_row, last_column, _ = range_boundaries(ref)
        if first_row == 1 and first_column == 1 and (last_column or 0) >= width:
            return False
    sheet.auto_filter.ref = wanted
    return True


def _add_dropdowns(sheet: Worksheet, place: TabPlace, config: Config) -> list[str]:
    """A dropdown list per declared column; other values get a warning, never a refusal (a
    leader's synonym is still read by the worker). Replaces our own list when the config changed."""
    changed = []
    for column in place.spec.columns:
        values = choices(column, config)
        if not values:
            continue
        letter = place.letter(column.name)
        rows = f"{letter}2:{letter}{MAX_ROW}"
        formula = '"' + ",".join(values) + '"'
        if any("," in value or '"' in value for value in values) or len(formula) - 2 > LIST_LIMIT:
            log.warning('no dropdown on "%s" of tab %s: an .xlsx list holds at most %d characters and no '
                        "commas or quotes; shorten the list in the config", column.name, sheet.title, LIST_LIMIT)
            continue
        mine = [rule for rule in sheet.data_validations.dataValidation
                if rule.type == "list" and str(rule.sqref) == rows]
        if any(rule.formula1 == formula and rule.errorStyle == "warning" for rule in mine):
            continue
        for rule in mine:
            sheet.data_validations.dataValidation.remove(rule)
        shown = ", ".join(values)
        rule = DataValidation(
            type="list", formula1=formula, allow_blank=True,
            showErrorMessage=True, errorStyle="warning", errorTitle=column.name,
            error=f"{column.name} is usually one of: {shown}. Keep your entry? The worker reads "
                  "common alternatives and flags what it cannot read.",
        )
        rule.add(rows)
        sheet.add_data_validation(rule)
        changed.append(f"{column.name} dropdown")
    return changed


def _migrate_ready_to_close(sheet: Worksheet, place: TabPlace) -> list[str]:
    """Older versions wrote "Ready to close" into Status, which is now the leader's alone (the worker
    shows it under Progress): such a case becomes "Open" again, once."""
    column = place.position("Status") + 1
    case_id = place.position("Case ID") + 1
    moved = []
    for row in range(2, _last_used_row(sheet) + 1):
        cell = sheet.cell(row, column)
        if isinstance(cell.value, str) and normalise(cell.value) == normalise(CASE_READY):
            cell.value = CASE_OPEN
            moved.append(str(sheet.cell(row, case_id).value or f"row {row}"))
    if not moved:
        return []
    log.info('setup: Status "%s" became "%s" on %d case(s): %s', CASE_READY, CASE_OPEN, len(moved), ", ".join(moved))
    return [f'Status "{CASE_READY}" (written by older versions) became "{CASE_OPEN}" on {len(moved)} case(s) '
            f"of {sheet.title}: {', '.join(moved)}"]


def _board_first(workbook: Workbook, title: str) -> bool:
    """The board is the first tab, and the one the workbook opens on (the only one selected)."""
    sheet = workbook[title]
    views = [(other, other.sheet_view) for other in workbook.worksheets]
    selected = [other for other, view in views if view.tabSelected]
    if workbook.sheetnames[0] == title and workbook.active is sheet and selected == [sheet]:
        return False
    workbook.move_sheet(sheet, -workbook.sheetnames.index(title))
    workbook.active = 0
    for other, view in views:
        view.tabSelected = other is sheet
    return True


def _new_file_mode() -> int:
    """The mode a plain open() would give a new file (0666 less the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _dump(workbook: Workbook, stream: BinaryIO) -> None:
    """The low-level write of a save: the whole workbook, flushed and fsynced (a full disk
    shows up here, as OSError ENOSPC)."""
    workbook.save(stream)
    stream.flush()
    os.fsync(stream.fileno())


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable where the platform allows it (not on Windows)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
