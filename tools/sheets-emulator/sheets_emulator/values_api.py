"""The values.* endpoints: reading and writing plain values."""

from __future__ import annotations

import json
import math
from typing import Any

from .a1 import _Bounds, column_letters
from .base import _bad
from .cells import _number_format, _user_entered
from .masks import _mask_tree, parse_field_mask
from .state import _clamp_read, _grid_limit_message, _range_name, _render_value, _Sheet, _trim

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


