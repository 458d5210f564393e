"""Where cases live: a Google Sheet or a local .xlsx workbook, behind one small interface."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from ..model import ChangeSet, Snapshot

if TYPE_CHECKING:
    from ..config import Config


class Storage(Protocol):
    """A backend reads every tab once and writes a whole ChangeSet at once.

    Contract for ``commit``: appended rows go below the last row of their tab;
    each RowUpdate writes only the cells it names, into the row whose key
    columns hold ``update.key`` (looked up afresh if the row has moved, and
    dropped with a warning if it is gone); text is written as a literal value,
    never as a formula; datetimes as real date-times in the sheet's time zone;
    booleans as checkbox values. Either everything lands or nothing does.
    """

    def load(self) -> Snapshot:
        """Read the responses tab and every worker tab that exists."""
        ...

    def commit(self, changes: ChangeSet) -> None:
        """Write every change of one sync; an empty ChangeSet makes no write."""
        ...

    def claim_lease(self, holder: str, until: datetime) -> str:
        """Write ``holder`` and ``until`` as the Worker tab's lease (one write), read the holder
        back (one small read) and return it: the holder that stands after a race."""
        ...

    def setup(self, response_headers: list[str]) -> list[str]:
        """Create or repair tabs, headers, checkboxes, formats; return what was changed."""
        ...

    def describe(self) -> str:
        """Where the data is, for messages: a path or a spreadsheet id."""
        ...


def open_storage(config: Config) -> Storage:
    """The backend that ``[sheet] backend`` names."""
    if config.sheet.backend == "google":
        from .google import GoogleSheetStorage

        return GoogleSheetStorage(config)
    from .local import LocalWorkbookStorage

    return LocalWorkbookStorage(config)
