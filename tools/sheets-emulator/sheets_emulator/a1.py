"""A1 notation: column letters, quoted titles, ranges as bounds."""

from __future__ import annotations

import re
from dataclasses import dataclass


def column_letters(index: int) -> str:
    """0-based column index -> "A", "Z", "AA" ..."""
    n = index + 1
    letters = ""
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _column_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


def _cell_a1(row: int, col: int) -> str:
    return f"{column_letters(col)}{row + 1}"


def _span_a1(r0: int, r1: int, c0: int, c1: int) -> str:
    """Half-open 0-based bounds -> "B7" (one cell) or "A1:C3"."""
    if r1 - r0 == 1 and c1 - c0 == 1:
        return _cell_a1(r0, c0)
    return f"{_cell_a1(r0, c0)}:{_cell_a1(r1 - 1, c1 - 1)}"


_BARE_TITLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CELL_LIKE = re.compile(r"[A-Za-z]{1,3}[0-9]+")
_R1C1_LIKE = re.compile(r"[Rr][0-9]*[Cc][0-9]*")


def quote_title(title: str) -> str:
    """A tab title as Google writes it in a range: bare when unambiguous, else single-quoted."""
    if _BARE_TITLE.fullmatch(title) and not _CELL_LIKE.fullmatch(title) \
            and not _R1C1_LIKE.fullmatch(title):
        return title
    return "'" + title.replace("'", "''") + "'"


@dataclass(frozen=True)
class _Bounds:
    """0-based, end-exclusive; None = unbounded. ``single`` marks a one-cell A1 ("B7")."""

    r0: int | None = None
    r1: int | None = None
    c0: int | None = None
    c1: int | None = None
    single: bool = False


_WHOLE = _Bounds()
_ENDPOINT = re.compile(r"\$?([A-Za-z]{0,3})\$?([0-9]{0,8})")


def _endpoint(text: str) -> tuple[int | None, int | None] | None:
    match = _ENDPOINT.fullmatch(text)
    if not match or not (match.group(1) or match.group(2)):
        return None
    col = _column_index(match.group(1)) if match.group(1) else None
    row = None
    if match.group(2):
        row = int(match.group(2)) - 1
        if row < 0:
            return None
    return col, row


def _parse_cells(text: str) -> _Bounds | None:
    """The part after "!": "B7", "A1:C3", "A:C", "2:4", "A2:Z", "A1:1"; None if not A1."""
    parts = text.split(":")
    if len(parts) == 1:
        point = _endpoint(parts[0])
        if point is None:
            return None
        col, row = point
        if col is None or row is None:
            return None
        return _Bounds(row, row + 1, col, col + 1, single=True)
    if len(parts) != 2:
        return None
    first, second = _endpoint(parts[0]), _endpoint(parts[1])
    if first is None or second is None:
        return None
    (ca, ra), (cb, rb) = first, second
    if ca is None and cb is None:
        if ra is None or rb is None:
            return None
        lo, hi = sorted((ra, rb))
        return _Bounds(lo, hi + 1, None, None)
    if ra is None and rb is None:
        if ca is None or cb is None:
            return None
        lo, hi = sorted((ca, cb))
        return _Bounds(None, None, lo, hi + 1)
    r0 = ra if ra is not None else 0
    c0 = ca if ca is not None else 0
    r1 = rb + 1 if rb is not None else None
    c1 = cb + 1 if cb is not None else None
    if r1 is not None and r0 >= r1:
        r0, r1 = r1 - 1, r0 + 1
    if c1 is not None and c0 >= c1:
        c0, c1 = c1 - 1, c0 + 1
    return _Bounds(r0, r1, c0, c1)


def _split_range(text: str) -> tuple[str | None, str | None]:
    """(tab title or None = first visible tab, cells part or None = whole tab); ValueError if bad.

    A string without "!" that is valid A1 is a range on the first tab; anything else is a title
    (Google resolves the ambiguity the same way).
    """
    text = text.strip()
    if not text:
        raise ValueError(text)
    if text.startswith("'"):
        title: list[str] = []
        i = 1
        while True:
            if i >= len(text):
                raise ValueError(text)
            ch = text[i]
            if ch == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    title.append("'")
                    i += 2
                    continue
                break
            title.append(ch)
            i += 1
        rest = text[i + 1:]
        if not rest:
            return "".join(title), None
        if not rest.startswith("!") or len(rest) == 1:
            raise ValueError(text)
        return "".join(title), rest[1:]
    if "!" in text:
        title_text, _, cells = text.rpartition("!")
        if not title_text or not cells:
            raise ValueError(text)
        return title_text, cells
    if _parse_cells(text) is not None:
        return None, text
    return text, None


