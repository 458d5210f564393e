"""batchUpdate requests: each mutates a working copy; _Invalid aborts the whole batch."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from .base import (
    CELL_LIMIT,
    DEFAULT_COLUMN_COUNT,
    DEFAULT_ROW_COUNT,
    READ_ONLY_CELL_FIELDS,
    VALUE_KEYS,
    WRITABLE_CELL_FIELDS,
    _Invalid,
)
from .masks import _MISSING, _del_path, _get_path, _set_path, parse_field_mask
from .state import (
    _delete_dimension,
    _grid_limit_message,
    _insert_dimension,
    _output_range,
    _output_ranges_in,
    _Sheet,
    _sheet_properties_out,
    _sort_block,
    _Spreadsheet,
)


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
    assert isinstance(rule, dict)  # _check_rule refused anything else
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


def _find_scope(ss: _Spreadsheet, p: dict[str, Any]) -> list[tuple[_Sheet, int, int, int, int]]:
    scopes = [key for key in ("range", "sheetId", "allSheets") if p.get(key) not in (None, False)]
    if len(scopes) != 1:
        raise _Invalid("Exactly one of range, sheetId or allSheets must be set.")
    if "range" in scopes:
        return [_grid_range(ss, p["range"])]
    sheets = ss.sheets if "allSheets" in scopes else [_sheet_of(ss, p["sheetId"])]
    return [(sheet, 0, sheet.row_count, 0, sheet.col_count) for sheet in sheets]


def _find_pattern(p: dict[str, Any]) -> re.Pattern[str]:
    find = p.get("find")
    if not isinstance(find, str) or find == "":
        raise _Invalid("Find string must not be empty.")
    flags = 0 if p.get("matchCase") else re.IGNORECASE
    try:
        return re.compile(find if p.get("searchByRegex") else re.escape(find), flags)
    except re.error:
        raise _Invalid(f"Invalid regular expression: {find}") from None


def _req_find_replace(ss: _Spreadsheet, p: dict[str, Any]) -> dict[str, Any]:
    """Text and (with includeFormulas) formula cells; regex replacements use $1 for groups, as Google does."""
    pattern = _find_pattern(p)
    replacement = str(p.get("replacement") or "")
    if p.get("searchByRegex"):
        replacement = re.sub(r"\$(\d+)", r"\\\1", replacement.replace("\\", "\\\\"))
    else:
        replacement = replacement.replace("\\", "\\\\")
    counts = {"valuesChanged": 0, "formulasChanged": 0, "occurrencesChanged": 0}
    rows: set[tuple[int, int]] = set()
    sheets: set[int] = set()
    for sheet, r0, r1, c0, c1 in _find_scope(ss, p):
        for r in range(r0, min(r1, len(sheet.rows))):
            for c in range(c0, min(c1, len(sheet.rows[r]))):
                cell = sheet.get(r, c) or {}
                value = cell.get("userEnteredValue") or {}
                key = "formulaValue" if "formulaValue" in value else "stringValue" if "stringValue" in value else None
                if key is None or (key == "formulaValue" and not p.get("includeFormulas")):
                    continue
                text = str(value[key])
                if p.get("matchEntireCell"):
                    found = 1 if pattern.fullmatch(text) else 0
                    new = pattern.sub(replacement, text, count=1) if found else text
                else:
                    new, found = pattern.subn(replacement, text)
                if not found:
                    continue
                counts["occurrencesChanged"] += found
                counts["formulasChanged" if key == "formulaValue" else "valuesChanged"] += 1
                rows.add((sheet.sheet_id, r))
                sheets.add(sheet.sheet_id)
                sheet.put(r, c, _apply_cell(cell, {"userEnteredValue": {key: new}}, [("userEnteredValue",)]))
    reply: dict[str, Any] = {"findReplace": {k: v for k, v in counts.items() if v}}
    if rows:
        reply["findReplace"].update(rowsChanged=len(rows), sheetsChanged=len(sheets))
    return reply


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


_REQUESTS: dict[str, Callable[[_Spreadsheet, dict[str, Any]], dict[str, Any] | None]] = {
    "addSheet": _req_add_sheet,
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
    "addProtectedRange": _req_add_protected_range,
    "deleteProtectedRange": _req_delete_protected_range,
    "setBasicFilter": _req_set_basic_filter,
    "findReplace": _req_find_replace,
    "createDeveloperMetadata": _req_create_developer_metadata,
}


