"""What both backends need to render the sheet declared in ``schema``: where the columns are, the
highlight formulas with real column letters, and how to recognise a rule setup installed before.

Pure functions over header positions; the backends turn the results into openpyxl objects or
batchUpdate requests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gspread.utils import absolute_range_name, rowcol_to_a1

from ..schema import Column, Highlight, TabSpec, normalise

if TYPE_CHECKING:
    from ..config import Config

# ``{Column}`` or ``{Tab!Column}`` in a Highlight formula.
_PLACEHOLDER = re.compile(r"\{(?:([^{}!]+)!)?([^{}!]+)\}")
_OWN_CELL = r"\$[A-Z]+2"
_OTHER_COLUMN = r"""INDIRECT\("'(?:[^']|'')*'!\$[A-Z]+:\$[A-Z]+"\)"""


def column_letter(position: int) -> str:
    """0-based column position -> A1 letters (0 -> A, 26 -> AA)."""
    return rowcol_to_a1(1, position + 1).rstrip("0123456789")


@dataclass
class TabPlace:
    """A tab as setup finds (or makes) it: its real title and where each declared column is."""

    spec: TabSpec
    title: str
    positions: dict[str, int] = field(default_factory=dict)  # normalised header -> 0-based position

    def position(self, column: str) -> int:
        return self.positions[normalise(column)]

    def letter(self, column: str) -> str:
        return column_letter(self.position(column))


def header_places(header: Iterable[str]) -> dict[str, int]:
    """Normalised header -> position; the first of duplicate headers wins, blanks are skipped."""
    positions: dict[str, int] = {}
    for position, text in enumerate(header):
        if normalise(text):
            positions.setdefault(normalise(text), position)
    return positions


def highlight_formula(rule: Highlight, here: TabPlace, places: Mapping[str, TabPlace]) -> str:
    """The rule's formula (no leading "=") for this tab's layout; ``places`` are tabs by title."""
    by_title = {normalise(place.spec.title): place for place in places.values()}

    def fill(match: re.Match[str]) -> str:
        tab, column = match.group(1), match.group(2)
        if tab is None:
            return f"${here.letter(column)}2"
        other = by_title[normalise(tab)]
        letter = other.letter(column)
        reference = absolute_range_name(other.title, f"${letter}:${letter}").replace('"', '""')
        return f'INDIRECT("{reference}")'

    return _PLACEHOLDER.sub(fill, rule.formula)


def is_ours(rule: Highlight, formula: str) -> bool:
    """Whether a formula found in the sheet is this rule (any layout) or an older version of it."""
    text = formula.removeprefix("=")
    patterns = (_shape(rule.formula), *(_shape(old) for old in rule.was), *rule.replaces)
    return any(re.fullmatch(pattern, text) for pattern in patterns)


def _shape(template: str) -> str:
    """A formula template as a pattern that matches it whatever the column letters and titles."""
    parts = []
    last = 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[last:match.start()]))
        parts.append(_OWN_CELL if match.group(1) is None else _OTHER_COLUMN)
        last = match.end()
    parts.append(re.escape(template[last:]))
    return "".join(parts)


def highlight_column(rule: Highlight, place: TabPlace) -> int | None:
    """The 0-based position a cell highlight paints; None for a whole-row highlight."""
    return None if rule.column is None else place.position(rule.column)


def choices(column: Column, config: Config) -> tuple[str, ...]:
    """The dropdown list of a column, its named config list resolved; () = no dropdown."""
    if isinstance(column.choices, tuple):
        return column.choices
    named: dict[str, tuple[str, ...]] = {
        "roles": tuple(config.contacts),
        "owners": config.board.owners,
        "outcomes": config.board.outcomes,
    }
    return named[column.choices]


def worker_spans(place: TabPlace) -> list[tuple[int, int]]:
    """The worker-owned columns as runs of adjacent positions, (first, end) with end exclusive."""
    spans: list[tuple[int, int]] = []
    for position in sorted(place.position(column.name) for column in place.spec.worker_columns):
        if spans and spans[-1][1] == position:
            spans[-1] = (spans[-1][0], position + 1)
        else:
            spans.append((position, position + 1))
    return spans
