"""The Google Sheets backend, through gspread's HTTP client and the Sheets API v4.

* ``codec``  — cell values to and from CellData, date-time serials, A1 ranges.
* ``client`` — credentials, the emulator seam, bounded retries, Google's refusals as messages.
* ``store``  — ``GoogleSheetStorage``: one read per load, one atomic batchUpdate per commit,
  repair when a leader's sort raced the write.
* ``setup``  — the sheet declared in ``schema`` rendered as batchUpdate requests.
"""

from ...schema import PROTECTION_NOTE
from .client import EMULATOR_ENV, EmulatorSession, RetryPolicy
from .codec import column_letter, from_serial, to_serial
from .store import GoogleSheetStorage

__all__ = [
    "EMULATOR_ENV",
    "PROTECTION_NOTE",
    "EmulatorSession",
    "GoogleSheetStorage",
    "RetryPolicy",
    "column_letter",
    "from_serial",
    "to_serial",
]
