"""Where an update lands: one rule, shared by both backends, for finding a row by its key.

Leaders sort, insert and delete rows between the worker's read and its write, so a RowUpdate
carries both the row it was read from and the key that row held. ``RowIndex`` is built from the
keys of a tab's data rows as now present (data row i is sheet row i + 2) and says where the
update goes, or that the row is gone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

log = logging.getLogger(__name__)


class RowIndex:
    """The keys of a tab's data rows, for key -> row look-ups.

    ``keys[i]`` is the key of data row i, ``""`` for a row without one (blank key cells);
    such rows are never found by key. A keyless tab (``keyed=False``) has nothing to match,
    so an update lands at its own row while that row exists.
    """

    def __init__(self, title: str, keys: Sequence[str], keyed: bool = True) -> None:
        self.title = title
        self.keys = list(keys)
        self.keyed = keyed
        self._rows: dict[str, list[int]] = {}
        for row, key in enumerate(self.keys):
            if key:
                self._rows.setdefault(key, []).append(row)

    def rows_of(self, key: str) -> list[int]:
        """Every data row holding ``key``, top first."""
        return self._rows.get(key, [])

    def key_at(self, row: int) -> str:
        return self.keys[row] if 0 <= row < len(self.keys) else ""

    def locate(self, key: str, row: int) -> int | None:
        """The data row to write: ``row`` while it still holds ``key``, else the first row that
        does (with a warning when several do), else None: the row is gone."""
        if not self.keyed:
            return row if 0 <= row < len(self.keys) else None
        rows = self.rows_of(key)
        if not rows:
            log.warning('Skipped an update to tab "%s": no row has key %r any more (deleted or re-keyed)',
                        self.title, key)
            return None
        if row in rows:
            return row
        if len(rows) > 1:
            log.warning('Tab "%s" has %d rows with key %r; updating the first (sheet row %d)',
                        self.title, len(rows), key, rows[0] + 2)
        return rows[0]
