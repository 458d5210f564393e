"""The spreadsheets in memory, grid data as the API returns it, and row/column shifts."""

from __future__ import annotations

import copy
import functools
import random
import zlib
from typing import Any

from .a1 import _WHOLE, _Bounds, _cell_a1, _parse_cells, _span_a1, _split_range, quote_title
from .base import DEFAULT_COLUMN_COUNT, DEFAULT_FORMAT, DEFAULT_ROW_COUNT, WRITABLE_CELL_FIELDS, _bad
from .cells import (
    _effective,
    _error_text,
    _has_value,
    _is_datetime_format,
    _json_number,
    _number_format,
    evaluate_formula,
    format_effective,
)
from .masks import _deep_merge


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
    if "numberValue" in effective and datetime_render == "FORMATTED_STRING" and _is_datetime_format(number_format):
        return format_effective(effective, number_format, locale)
    return unformatted(effective)


def unformatted(effective: dict[str, Any]) -> Any:
    """An effective value as JSON, unformatted: a number, a bool, text, or an error's text."""
    if "numberValue" in effective:
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
    ordered: dict[str, Any] = {k: props.pop(k) for k in ("sheetId", "title", "index", "sheetType", "gridProperties")
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


