"""``setup`` on Google: the sheet declared in ``schema`` rendered as batchUpdate requests.

Only what is missing or stale is sent, all in one batchUpdate, so a second run sends nothing.
It never changes the spreadsheet's time zone, and never deletes or reorders leaders' data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gspread.utils import convert_hex_to_colors_dict

from ...schema import DATETIME_FORMAT, PROTECTION_NOTE, Highlight, TabSpec, normalise
from ..design import TabPlace, header_places, highlight_formula, is_ours, worker_spans
from .codec import CHECKBOX_RULE, DATE_TYPES, Grid, grid, header_of, number_format_type

NEW_TAB_GRID = {"rowCount": 1000, "columnCount": 26}


@dataclass
class _Found:
    """A worker tab as setup found it (or is about to create it)."""

    sheet: dict[str, Any]          # the tab's metadata: properties, conditionalFormats, protectedRanges
    cells: Grid                    # its first two rows
    columns_hidden: set[int]
    new: bool
    place: TabPlace
    added: set[int] = field(default_factory=set)  # positions of the columns setup adds

    @property
    def sheet_id(self) -> int:
        return int((self.sheet.get("properties") or {}).get("sheetId", 0))


@dataclass
class SetupPlan:
    """The requests that bring a spreadsheet to the declared layout, and what they change."""

    used_ids: set[int]
    requests: list[dict[str, Any]] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)

    def tab(self, spec: TabSpec, sheet: dict[str, Any] | None, grid_sheet: dict[str, Any]) -> _Found:
        """Create the tab when ``sheet`` is None, then add its missing columns at the right."""
        new = sheet is None
        if sheet is None:
            sheet = self._add_sheet(spec)
        cells = grid(grid_sheet)
        header = header_of(cells)
        found = _Found(sheet, cells, _hidden_columns(grid_sheet), new,
                       TabPlace(spec, _title(sheet, spec.title), header_places(header)))
        self._add_columns(found, len(header))
        return found

    def render(self, found: _Found, places: dict[str, TabPlace]) -> None:
        """Everything else the declaration asks of a tab."""
        self._freeze(found)
        self._date_formats(found)
        self._checkboxes(found)
        for rule in found.place.spec.highlights:
            self._highlight(found, rule, highlight_formula(rule, found.place, places))
        self._hide(found)
        runs = [{"startColumnIndex": first, "endColumnIndex": end} for first, end in worker_spans(found.place)]
        self.protect(found.sheet, runs, f'the worker\'s columns of "{found.place.title}"', found.new)

    # -- the parts -----------------------------------------------------------------------

    def _add_sheet(self, spec: TabSpec) -> dict[str, Any]:
        sheet_id = max(self.used_ids, default=0) + 1
        self.used_ids.add(sheet_id)
        grid_properties = dict(NEW_TAB_GRID, columnCount=max(26, len(spec.columns)), frozenRowCount=spec.frozen_rows)
        properties = {"sheetId": sheet_id, "title": spec.title, "gridProperties": grid_properties}
        self.requests.append({"addSheet": {"properties": properties}})
        self.changes.append(f'created tab "{spec.title}"')
        return {"properties": properties}

    def _add_columns(self, found: _Found, start: int) -> None:
        place = found.place
        added = [c.name for c in place.spec.columns if normalise(c.name) not in place.positions]
        if not added:
            return
        for offset, name in enumerate(added):
            place.positions[normalise(name)] = start + offset
            found.added.add(start + offset)
        have = int(_grid_properties(found.sheet).get("columnCount", 26))
        if start + len(added) > have and not found.new:
            self.requests.append({"appendDimension": {
                "sheetId": found.sheet_id, "dimension": "COLUMNS", "length": start + len(added) - have}})
        self.requests.append({
            "updateCells": {
                "start": {"sheetId": found.sheet_id, "rowIndex": 0, "columnIndex": start},
                "rows": [{"values": [
                    {"userEnteredValue": {"stringValue": name}, "userEnteredFormat": {"textFormat": {"bold": True}}}
                    for name in added
                ]}],
                "fields": "userEnteredValue,userEnteredFormat.textFormat.bold",
            }
        })
        if not found.new:
            self.changes.append(f'added column{"s" if len(added) > 1 else ""} '
                                + ", ".join(f'"{n}"' for n in added) + f' to tab "{place.title}"')

    def _freeze(self, found: _Found) -> None:
        rows = found.place.spec.frozen_rows
        if int(_grid_properties(found.sheet).get("frozenRowCount", 0)) >= rows:
            return
        self.requests.append({
            "updateSheetProperties": {
                "properties": {"sheetId": found.sheet_id, "gridProperties": {"frozenRowCount": rows}},
                "fields": "gridProperties.frozenRowCount",
            }
        })
        self.changes.append(f'froze the header row of "{found.place.title}"')

    def _date_formats(self, found: _Found) -> None:
        formatted = []
        first_row = found.cells.get(1, {})
        for column in found.place.spec.columns:
            if column.number_format is None:
                continue
            position = found.place.position(column.name)
            if position not in found.added and number_format_type(first_row.get(position)) in DATE_TYPES:
                continue
            self.requests.append({
                "repeatCell": {
                    "range": _column_range(found.sheet_id, position),
                    "cell": {"userEnteredFormat": {"numberFormat": {"type": "DATE_TIME",
                                                                    "pattern": DATETIME_FORMAT}}},
                    "fields": "userEnteredFormat.numberFormat",
                }
            })
            formatted.append(column.name)
        if formatted and not found.new:
            self.changes.append(f'date-time format on "{found.place.title}": ' + ", ".join(formatted))

    def _checkboxes(self, found: _Found) -> None:
        first_row = found.cells.get(1, {})
        for column in found.place.spec.columns:
            if not column.checkbox:
                continue
            position = found.place.position(column.name)
            rule = ((first_row.get(position) or {}).get("dataValidation") or {}).get("condition") or {}
            if position not in found.added and rule.get("type") == "BOOLEAN":
                continue
            self.requests.append({"setDataValidation": {"range": _column_range(found.sheet_id, position),
                                                        "rule": CHECKBOX_RULE}})
            if not found.new:
                self.changes.append(f'checkboxes in "{found.place.title}" column {column.name}')

    def _highlight(self, found: _Found, rule: Highlight, formula: str) -> None:
        """One conditional-format rule per Highlight; a stale one (columns moved, older rule) is replaced."""
        stale = []
        for index, existing in enumerate(found.sheet.get("conditionalFormats") or []):
            condition = (existing.get("booleanRule") or {}).get("condition") or {}
            values = condition.get("values") or [{}]
            text = str(values[0].get("userEnteredValue", "")) if values else ""
            if condition.get("type") != "CUSTOM_FORMULA" or not is_ours(rule, text):
                continue
            if text == "=" + formula:
                return
            stale.append(index)
        for index in sorted(stale, reverse=True):
            self.requests.append({"deleteConditionalFormatRule": {"sheetId": found.sheet_id, "index": index}})
        cell_format: dict[str, Any] = {"backgroundColor": dict(convert_hex_to_colors_dict(rule.fill))}
        if rule.font:
            cell_format["textFormat"] = {"foregroundColor": dict(convert_hex_to_colors_dict(rule.font))}
        self.requests.append({
            "addConditionalFormatRule": {
                "index": 0,
                "rule": {
                    "ranges": [{"sheetId": found.sheet_id, "startRowIndex": 1}],
                    "booleanRule": {
                        "condition": {"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": "=" + formula}]},
                        "format": cell_format,
                    },
                },
            }
        })
        if not found.new:
            self.changes.append(f'{rule.name} in "{found.place.title}"')

    def _hide(self, found: _Found) -> None:
        to_hide = [c for c in found.place.spec.columns
                   if c.hidden and found.place.position(c.name) not in found.columns_hidden]
        for column in to_hide:
            position = found.place.position(column.name)
            self.requests.append({
                "updateDimensionProperties": {
                    "range": {"sheetId": found.sheet_id, "dimension": "COLUMNS", "startIndex": position,
                              "endIndex": position + 1},
                    "properties": {"hiddenByUser": True},
                    "fields": "hiddenByUser",
                }
            })
        if to_hide and not found.new:
            self.changes.append(f'hid bookkeeping column{"s" if len(to_hide) > 1 else ""} of "{found.place.title}": '
                                + ", ".join(c.name for c in to_hide))

    def protect(self, sheet: dict[str, Any], ranges: Iterable[dict[str, Any]], what: str, new: bool = False) -> None:
        """Warning-only protection of exactly ``ranges`` (column spans; {} = whole tab)."""
        properties = sheet.get("properties") or {}
        sheet_id = int(properties.get("sheetId", 0))
        grid_properties = properties.get("gridProperties") or {}
        size = (int(grid_properties.get("rowCount", 1000)), int(grid_properties.get("columnCount", 26)))
        wanted = {_bounds(r, *size): r for r in ranges}
        have: set[tuple[int, int | None, int, int | None]] = set()
        stale = []
        for item in sheet.get("protectedRanges") or []:
            if item.get("description") != PROTECTION_NOTE:
                continue
            span = _bounds(item.get("range") or {}, *size)
            if span in wanted and span not in have:
                have.add(span)
            else:
                stale.append(item.get("protectedRangeId"))
        for protected_id in stale:
            if protected_id is not None:
                self.requests.append({"deleteProtectedRange": {"protectedRangeId": protected_id}})
        missing = [r for span, r in wanted.items() if span not in have]
        for span_range in missing:
            self.requests.append({"addProtectedRange": {"protectedRange": {
                "range": {"sheetId": sheet_id, **span_range}, "description": PROTECTION_NOTE, "warningOnly": True,
            }}})
        if (missing or stale) and not new:
            self.changes.append(f"protected (warning only) {what}")


def _title(sheet: dict[str, Any], default: str) -> str:
    return str((sheet.get("properties") or {}).get("title", default))


def _grid_properties(sheet: dict[str, Any]) -> dict[str, Any]:
    return dict((sheet.get("properties") or {}).get("gridProperties") or {})


def _column_range(sheet_id: int, position: int) -> dict[str, Any]:
    """A column's data cells (below the header)."""
    return {"sheetId": sheet_id, "startRowIndex": 1, "startColumnIndex": position, "endColumnIndex": position + 1}


def _hidden_columns(grid_sheet: dict[str, Any]) -> set[int]:
    hidden = set()
    for block in grid_sheet.get("data") or []:
        left = block.get("startColumn", 0)
        for offset, item in enumerate(block.get("columnMetadata") or []):
            if (item or {}).get("hiddenByUser"):
                hidden.add(left + offset)
    return hidden


def _bounds(grid_range: dict[str, Any], rows: int, columns: int) -> tuple[int, int | None, int, int | None]:
    """A GridRange without its sheet, comparable: an open end and an end at the grid's edge are
    the same (Google may answer either for a range that was sent open)."""
    def end(key: str, limit: int) -> int | None:
        value = grid_range.get(key)
        return None if value is None or int(value) >= limit else int(value)

    return (int(grid_range.get("startRowIndex") or 0), end("endRowIndex", rows),
            int(grid_range.get("startColumnIndex") or 0), end("endColumnIndex", columns))
