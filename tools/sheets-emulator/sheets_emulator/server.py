"""The HTTP server and SheetsEmulator, the object tests drive."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

from .a1 import _Bounds, _column_index, _parse_cells
from .base import (
    DEFAULT_COLUMN_COUNT,
    DEFAULT_ROW_COUNT,
    GOOGLE_REQUEST_KINDS,
    STATUS_MESSAGES,
    SheetsApiError,
    _bad,
    _Invalid,
)
from .batch import _REQUESTS
from .cells import _effective, _has_value, _json_number, _number_format, to_serial
from .masks import _mask_tree, _select, parse_field_mask
from .state import (
    _clamp_read,
    _delete_dimension,
    _insert_dimension,
    _range_name,
    _Sheet,
    _sort_block,
    _Spreadsheet,
    _spreadsheet_resource,
    _trim,
    render_cell,
    unformatted,
)
from .values_api import (
    _DATETIME_OPTIONS,
    _INPUT_OPTIONS,
    _RENDER_OPTIONS,
    _drop_nulls,
    _enum,
    _input_cell,
    _mask_plan,
    _read_values,
    _retrim_grid,
    _rows_of,
    _truthy,
    _write_values,
)


@dataclass
class _Failure:
    status: int
    json_body: bool
    retry_after: float | None
    after_apply: bool = False   # handle the request first (a batchUpdate lands), then fail
    drop: bool = False          # close the connection without any reply (status unused)
    hang: float = 0.0           # before dropping, hold the connection open this long (a client timeout)



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
_DROPPED = -1  # _handle_http's status for "close the connection without replying"; the body is the hang


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
        if status == _DROPPED:
            hang = float(payload.decode() or 0)
            if hang > 0:
                time.sleep(hang)
            self.close_connection = True
            return
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(payload)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
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
                  retry_after: float | None = None, after_apply: bool = False) -> None:
        """Answer the next ``count`` requests with ``status`` (HTML body if not json_body).

        ``after_apply``: handle each request first — a batchUpdate is applied, as Google
        sometimes does before answering 500/503 — and only then answer ``status``.
        """
        with self._lock:
            for _ in range(count):
                self._failures.append(_Failure(status, json_body, retry_after, after_apply))

    def drop_next(self, count: int = 1, *, after_apply: bool = True, hang: float = 0.0) -> None:
        """Close the connection of the next ``count`` requests without a reply, after handling
        them (``after_apply``, the default: the write lands, the client never hears) or not.

        ``hang`` holds the connection open that many seconds first, so a client whose timeout
        is shorter sees a read timeout rather than a reset.
        """
        with self._lock:
            for _ in range(count):
                self._failures.append(_Failure(0, True, None, after_apply, drop=True, hang=hang))

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
        return unformatted(effective) if effective else None

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
            if failure is not None and not failure.after_apply:
                return self._failure_response(method, failure)
            answer = self._answer(method, raw_path, body)
            if failure is not None:  # applied (or refused) as usual; the client is told otherwise
                return self._failure_response(method, failure)
            return answer

    def _answer(self, method: str, raw_path: str, body: bytes) -> _Response:
        try:
            payload, params = self._route(method, raw_path, body)
            fields = _param(params, "fields")
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
        if failure.drop:
            return _DROPPED, [], repr(failure.hang).encode()
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
        tabs: dict[str, list[list[Any]]] = {((s.get("properties") or {}).get("title") or f"Sheet{i + 1}"): []
                for i, s in enumerate(body.get("sheets") or [{}])}
        self.create_spreadsheet(sid, props.get("title") or "Untitled spreadsheet",
                                time_zone=props.get("timeZone", "Etc/GMT"),
                                locale=props.get("locale", "en_US"), tabs=tabs)
        return _spreadsheet_resource(self._spreadsheets[sid], None, False)

    def _get(self, ss: _Spreadsheet, _: str, params: dict[str, list[str]],
             body: dict[str, Any]) -> dict[str, Any]:
        ranges = params.get("ranges") or params.get("ranges[]") or []
        include = _truthy((params.get("includeGridData") or ["false"])[0])
        masked, cell_fields = _mask_plan(_param(params, "fields"), ())
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
            masked, cell_fields = _mask_plan(_param(params, "fields"),
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
            return _param(params, name)

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
        option = _param(params, "valueInputOption")
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
        option = _param(params, "valueInputOption")
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


def _param(params: dict[str, list[str]], name: str) -> str | None:
    """A query parameter's first value, or None."""
    values = params.get(name)
    return values[0] if values else None


def _injected_error(method: str, status: int) -> SheetsApiError:
    """What Google sends for a quota hit or an outage (message, status and details)."""
    if status == 429:
        kind = "Read" if method in ("GET", "HEAD") else "Write"
        message = (f"Quota exceeded for quota metric '{kind} requests' and limit '{kind} requests "
                   "per minute per user' of service 'sheets.googleapis.com' for consumer "
                   "'project_number:123456789012'.")
        details: list[dict[str, Any]] = [{
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


