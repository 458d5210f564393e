"""``setup`` on Google: the sheet declared in ``schema`` rendered as batchUpdate requests.

Only what is missing or stale is sent, all in one batchUpdate, so a second run sends nothing.
It never changes the spreadsheet's time zone, and never deletes or reorders leaders' data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gspread.utils import convert_hex_to_colors_dict

from ...schema import CASE_OPEN, CASE_READY, DATETIME_FORMAT, FIRST_TAB, PROTECTION_NOTE, Highlight, TabSpec, normalise
from ..design import TabPlace, choices, header_places, highlight_column, highlight_formula, is_ours, worker_spans
from .codec import CHECKBOX_RULE, DATE_TYPES, Grid, dropdown_rule, grid, header_of, number_format_type

if TYPE_CHECKING:
    from ...config import Config

log = logging.getLogger(__name__)

NEW_TAB_GRID = {"rowCount": 1000, "columnCount": 26}
DEFAULT_PIXELS = 100   # a column Google sized itself, never a leader: setup may widen it


@dataclass
class _Found:
    """A worker tab as setup found it (or is about to create it)."""

    sheet: dict[str, Any]          # the tab's metadata: properties, conditionalFormats, protectedRanges
    cells: Grid                    # its first two rows
    columns_hidden: set[int]
    pixels: dict[int, int]         # column widths Google reported
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
    config: Config
    requests: list[dict[str, Any]] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)

    def tab(self, spec: TabSpec, sheet: dict[str, Any] | None, grid_sheet: dict[str, Any]) -> _Found:
        """Create the tab when ``sheet`` is None, then add its missing columns at the right."""
        new = sheet is None
        if sheet is None:
            sheet = self._add_sheet(spec)
        cells = grid(grid_sheet)
        header = header_of(cells)
        found = _Found(sheet, cells, _hidden_columns(grid_sheet), _pixel_sizes(grid_sheet), new,
                       TabPlace(spec, _title(sheet, spec.title), header_places(header)))
        self._add_columns(found, len(header))
        return found

    def render(self, found: _Found, places: dict[str, TabPlace]) -> None:
        """Everything else the declaration asks of a tab."""
        self._freeze(found)
        self._date_formats(found)
        self._checkboxes(found)
        self._dropdowns(found)
        self._highlights(found, places)
        self._hide(found)
        self._widths(found)
        self._wrap(found)
        if found.place.spec.filter:
            self._filter(found)
        if found.place.spec is FIRST_TAB:
            self._first(found)
        runs = [{"startColumnIndex": first, "endColumnIndex": end} for first, end in worker_spans(found.place)]
        self.protect(found.sheet, runs, f'the worker\'s columns of "{found.place.title}"', found.new)

    # -- the parts -----------------------------------------------------------------------

    def _add_sheet(self, spec: TabSpec) -> dict[str, Any]:
        sheet_id = max(self.used_ids, default=0) + 1
        self.used_ids.add(sheet_id)
        grid_properties = dict(NEW_TAB_GRID, columnCount=max(26, len(spec.columns)), frozenRowCount=spec.frozen_rows)
        properties: dict[str, Any] = {"sheetId": sheet_id, "title": spec.title, "gridProperties": grid_properties}
        if spec is FIRST_TAB:
            properties["index"] = 0
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

    def _dropdowns(self, found: _Found) -> None:
        """A dropdown per declared column (Owner only when the config lists owners); a stale list is replaced."""
        first_row = found.cells.get(1, {})
        for column in found.place.spec.columns:
            values = choices(column, self.config)
            if not values:
                continue
            position = found.place.position(column.name)
            rule = dropdown_rule(values)
            if position not in found.added and (first_row.get(position) or {}).get("dataValidation") == rule:
                continue
            self.requests.append({"setDataValidation": {"range": _column_range(found.sheet_id, position),
                                                        "rule": dict(rule, strict=False)}})
            if not found.new:
                self.changes.append(f'{column.name} dropdown in "{found.place.title}"')

    def _highlights(self, found: _Found, places: dict[str, TabPlace]) -> None:
        """The tab's rules, strongest first and ahead of a leader's own; when any is missing or stale
        (columns moved, an older rule) all of ours are put back in order, a leader's are kept."""
        spec = found.place.spec
        wanted = [(rule, "=" + highlight_formula(rule, found.place, places)) for rule in spec.highlights]
        ours: list[tuple[int, str]] = []
        for index, existing in enumerate(found.sheet.get("conditionalFormats") or []):
            condition = (existing.get("booleanRule") or {}).get("condition") or {}
            values = condition.get("values") or [{}]
            text = str(values[0].get("userEnteredValue", "")) if values else ""
            if condition.get("type") == "CUSTOM_FORMULA" and any(is_ours(rule, text) for rule in spec.highlights):
                ours.append((index, text))
        have = [text for _, text in ours]
        if have == [formula for _, formula in wanted] and [index for index, _ in ours] == list(range(len(ours))):
            return
        for index, _ in sorted(ours, reverse=True):
            self.requests.append({"deleteConditionalFormatRule": {"sheetId": found.sheet_id, "index": index}})
        for index, (rule, formula) in enumerate(wanted):
            self.requests.append({"addConditionalFormatRule": {"index": index,
                                                               "rule": self._rule(found, rule, formula)}})
            if not found.new and formula not in have:
                self.changes.append(f'{rule.name} in "{found.place.title}"')

    def _rule(self, found: _Found, rule: Highlight, formula: str) -> dict[str, Any]:
        cell_format: dict[str, Any] = {"backgroundColor": dict(convert_hex_to_colors_dict(rule.fill))}
        if rule.font:
            cell_format["textFormat"] = {"foregroundColor": dict(convert_hex_to_colors_dict(rule.font))}
        position = highlight_column(rule, found.place)
        cells = {"sheetId": found.sheet_id, "startRowIndex": 1}
        if position is not None:
            cells.update(startColumnIndex=position, endColumnIndex=position + 1)
        return {
            "ranges": [cells],
            "booleanRule": {
                "condition": {"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": formula}]},
                "format": cell_format,
            },
        }

    def _widths(self, found: _Found) -> None:
        """Declared widths where Google's default width is still there (a leader's width is kept)."""
        widened = []
        for column in found.place.spec.columns:
            position = found.place.position(column.name)
            if column.hidden or found.pixels.get(position, DEFAULT_PIXELS) != DEFAULT_PIXELS:
                continue
            if column.pixel_width == DEFAULT_PIXELS:
                continue
            self.requests.append({
                "updateDimensionProperties": {
                    "range": {"sheetId": found.sheet_id, "dimension": "COLUMNS", "startIndex": position,
                              "endIndex": position + 1},
                    "properties": {"pixelSize": column.pixel_width},
                    "fields": "pixelSize",
                }
            })
            widened.append(column.name)
        if widened and not found.new:
            self.changes.append(f'column widths of "{found.place.title}": ' + ", ".join(widened))

    def _wrap(self, found: _Found) -> None:
        """Wrapped columns wrap; the data rows of such a tab align to the top, so a row whose
        summary takes three lines still reads across on its first line."""
        columns = [c for c in found.place.spec.columns if c.wrap]
        if not columns:
            return
        first_row = found.cells.get(1, {})

        def has(position: int, key: str, value: str) -> bool:
            cell_format = (first_row.get(position) or {}).get("userEnteredFormat") or {}
            return position not in found.added and cell_format.get(key) == value

        if found.new or not has(0, "verticalAlignment", "TOP"):
            width = max(found.place.positions.values()) + 1
            rows = {"sheetId": found.sheet_id, "startRowIndex": 1, "startColumnIndex": 0, "endColumnIndex": width}
            self.requests.append({"repeatCell": {"range": rows,
                                                 "cell": {"userEnteredFormat": {"verticalAlignment": "TOP"}},
                                                 "fields": "userEnteredFormat.verticalAlignment"}})
        wrapped = []
        for column in columns:
            position = found.place.position(column.name)
            if has(position, "wrapStrategy", "WRAP"):
                continue
            self.requests.append({"repeatCell": {"range": _column_range(found.sheet_id, position),
                                                 "cell": {"userEnteredFormat": {"wrapStrategy": "WRAP"}},
                                                 "fields": "userEnteredFormat.wrapStrategy"}})
            wrapped.append(column.name)
        if wrapped and not found.new:
            self.changes.append(f'wrapped text in "{found.place.title}": ' + ", ".join(wrapped))

    def _filter(self, found: _Found) -> None:
        """A filter on the header row over every column. A leader's filter stays as it is (criteria
        and all) unless it misses columns: then it is widened, its criteria kept (not re-sorted)."""
        width = max(found.place.positions.values(), default=0) + 1
        existing = found.sheet.get("basicFilter")
        wanted_range = {"sheetId": found.sheet_id, "startRowIndex": 0, "startColumnIndex": 0}
        if existing:
            have = existing.get("range") or {}
            end = have.get("endColumnIndex")
            starts = int(have.get("startRowIndex") or 0) == 0 and int(have.get("startColumnIndex") or 0) == 0
            if starts and (end is None or int(end) >= width):
                return
            kept = {k: v for k, v in existing.items() if k not in ("range", "sortSpecs")}
            self.requests.append({"setBasicFilter": {"filter": {**kept, "range": wanted_range}}})
            self.changes.append(f'widened the filter of "{found.place.title}" to every column')
            return
        self.requests.append({"setBasicFilter": {"filter": {"range": wanted_range}}})
        if not found.new:
            self.changes.append(f'filter on the header row of "{found.place.title}"')

    def _first(self, found: _Found) -> None:
        """The board is the first tab (a new spreadsheet opens on it)."""
        if int((found.sheet.get("properties") or {}).get("index", 0)) == 0:
            return
        self.requests.append({"updateSheetProperties": {"properties": {"sheetId": found.sheet_id, "index": 0},
                                                        "fields": "index"}})
        self.changes.append(f'"{found.place.title}" is now the first tab')

    def migrate(self, found: _Found, statuses: list[tuple[str, str]]) -> None:
        """Older versions wrote "Ready to close" into Status, now the leader's alone (the worker says it
        under Progress): those cases become "Open" again, once. A server-side find and replace on the
        Status column only, so a sort between the read and the write cannot hit another case."""
        ready = [case_id for case_id, status in statuses if normalise(status) == normalise(CASE_READY)]
        if not ready:
            return
        position = found.place.position("Status")
        self.requests.append({"findReplace": {
            "find": r"^\s*ready\s*to\s*close\s*$", "replacement": CASE_OPEN, "searchByRegex": True,
            "matchCase": False, "matchEntireCell": True,
            "range": _column_range(found.sheet_id, position),
        }})
        log.info('setup: Status "%s" became "%s" on %d case(s): %s', CASE_READY, CASE_OPEN, len(ready),
                 ", ".join(ready))
        self.changes.append(f'Status "{CASE_READY}" (written by older versions) became "{CASE_OPEN}" on '
                            f'{len(ready)} case(s) of "{found.place.title}": ' + ", ".join(ready))

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


def _pixel_sizes(grid_sheet: dict[str, Any]) -> dict[int, int]:
    sizes = {}
    for block in grid_sheet.get("data") or []:
        left = block.get("startColumn", 0)
        for offset, item in enumerate(block.get("columnMetadata") or []):
            if (item or {}).get("pixelSize") is not None:
                sizes[left + offset] = int(item["pixelSize"])
    return sizes


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
