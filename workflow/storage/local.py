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
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from openpyxl import Workbook, load_workbook
from openpyxl.styles.numbers import is_date_format
from openpyxl.worksheet.worksheet import Worksheet

from ..errors import DigitalIncidentsError, SheetLayoutError, StorageError, TemporaryFailure
from ..model import CellValue, ChangeSet, RowUpdate, Snapshot, Table, row_key
from ..schema import (
    BY_LOGICAL,
    DATE_FORMAT,
    DATETIME_FORMAT,
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
from .rows import RowIndex
from .xlsx_layout import CENTRED, TOP, WRAPPED, fit_row, last_used_row, render_declaration

if TYPE_CHECKING:
    from ..config import Config

log = logging.getLogger(__name__)



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

    def claim_lease(self, holder: str, until: datetime) -> str:
        """Not applicable: the lock file next to the workbook keeps its syncs apart, and the
        config refuses ``[worker] lease`` for a local workbook. Nothing is written."""
        return holder

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
        fit_row(tab.sheet, tab.last_row, tab.wrapped_columns())

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
            fit_row(tab.sheet, row, tab.wrapped_columns())

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
        row = last_used_row(sheet)
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

        changed += render_declaration(workbook, self.config, self.responses_tab, response_headers, created)
        if changed:
            self._save(workbook, stamp)
        return changed

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
        self.last_row = last_used_row(sheet)
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
