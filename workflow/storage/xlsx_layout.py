"""The local workbook's layout: the sheet declaration (workflow/schema.py) rendered with openpyxl.

``setup`` calls :func:`render_declaration`; commits use the row helpers (wrapping, row heights)
so rows the worker appends look like the rest. Everything is compared before it is changed, so
a second setup changes nothing and the file is not rewritten.
"""

from __future__ import annotations

import logging
from copy import copy
from typing import TYPE_CHECKING, Any

from openpyxl import Workbook
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

from ..schema import (
    CASE_OPEN,
    CASE_READY,
    CASES,
    FIRST_TAB,
    RESPONSES_TIMESTAMP,
    WORKER_TABS,
    Column,
    TabSpec,
    normalise,
)
from .cells import find_title, header_positions, header_text, is_blank
from .design import TabPlace, choices, highlight_column, highlight_formula, is_ours

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


def render_declaration(workbook: Workbook, config: Config, responses_tab: str, response_headers: list[str],
                       created: bool) -> list[str]:
    """Lay the workbook out as workflow/schema.py declares; return what changed (empty: nothing to save)."""
    changed: list[str] = []
    changed += _setup_responses(workbook, responses_tab, response_headers)
    places: dict[str, TabPlace] = {}
    widths: dict[str, int] = {}
    for spec in WORKER_TABS:
        places[spec.logical], widths[spec.logical] = _setup_columns(workbook, spec, changed)
    for spec in WORKER_TABS:
        place = places[spec.logical]
        formatted = _format_tab(workbook[place.title], place, places, widths[spec.logical])
        formatted += _add_dropdowns(workbook[place.title], place, config)
        if formatted and f"created tab {spec.title}" not in changed:
            changed.append(f"formatted {place.title}: {', '.join(formatted)}")
    changed += _migrate_ready_to_close(workbook[places[CASES.logical].title], places[CASES.logical])
    if _board_first(workbook, places[FIRST_TAB.logical].title) and not created:
        changed.append(f"{places[FIRST_TAB.logical].title} is now the first tab, where the workbook opens")
    return changed


def _setup_responses(workbook: Workbook, responses_tab: str, response_headers: list[str]) -> list[str]:
    """A responses tab as Google Forms would make it, when there is none yet."""
    if find_title(workbook.sheetnames, responses_tab) is not None:
        return []
    sheet = workbook.create_sheet(responses_tab.strip() or "Form Responses 1", 0)
    for position, text in enumerate(response_headers, start=1):
        sheet.cell(1, position, text)
    stamp_column = header_positions(response_headers).get(normalise(RESPONSES_TIMESTAMP.name))
    if stamp_column is not None:
        dimension = _column_dimension(sheet, stamp_column + 1, create=True)
        assert dimension is not None
        dimension.width = RESPONSES_TIMESTAMP.starting_width
        dimension.number_format = RESPONSES_TIMESTAMP.number_format
    return [f"created tab {sheet.title}"]

def _setup_columns(workbook: Workbook, spec: TabSpec, changed: list[str]) -> tuple[TabPlace, int]:
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


def last_used_row(sheet: Worksheet) -> int:
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
    last = last_used_row(sheet)
    for column in place.spec.columns:
        if not column.wrap:
            continue
        index = place.position(column.name) + 1
        cells = [row[0] for row in sheet.iter_rows(min_row=2, max_row=last, min_col=index, max_col=index)]
        unwrapped = [cell for cell in cells if cell.value is not None and not cell.alignment.wrap_text]
        for cell in unwrapped:
            cell.alignment = WRAPPED
            fit_row(sheet, cell.row, {index: column})
        if unwrapped:
            wrapped.append(column.name)
    return [f"wrapped {', '.join(wrapped)}"] if wrapped else []


def fit_row(sheet: Worksheet, row: int, wrapped: dict[int, Column]) -> None:
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
    for row in range(2, last_used_row(sheet) + 1):
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
