"""The worker's tabs and columns: the one place that names them (SPEC §3).

Columns are found by header text, case- and space-insensitive, so leaders may
reorder them and add their own. Each tab has a key that identifies a row no
matter where sorting or filtering has moved it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache


class Kind(Enum):
    TEXT = "text"
    DATETIME = "datetime"
    BOOL = "bool"
    NUMBER = "number"


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind = Kind.TEXT
    owner: str = "worker"  # "worker" writes it; "leader" owns it after the row is created
    hidden: bool = False   # bookkeeping column; setup hides it on Google


@dataclass(frozen=True)
class TabSpec:
    logical: str          # the name used in code: "cases", "checklist", ...
    title: str            # the tab's title in the workbook
    columns: tuple[Column, ...]
    key: tuple[str, ...] = field(default=())  # columns whose values identify a row
    append_only: bool = False  # rows are only ever added: a load reads just the header (the Log grows forever)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if normalise(column.name) == normalise(name):
                return column
        raise KeyError(name)

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]


@lru_cache(maxsize=4096)
def normalise(header: object) -> str:
    """Header matching ignores case and all white space (SPEC §3)."""
    return re.sub(r"\s+", "", str(header or "")).casefold()


T, D, B, N = Kind.TEXT, Kind.DATETIME, Kind.BOOL, Kind.NUMBER

CASES = TabSpec(
    "cases",
    "Cases",
    (
        Column("Case ID"),
        Column("Received", D),
        Column("Reported by"),
        Column("Incident type"),
        Column("Priority"),
        Column("Status", owner="shared"),
        Column("Owner", owner="leader"),
        Column("Next step"),
        Column("Next due", D),
        Column("Overdue steps", N),
        Column("Summary"),
        Column("Updated", D),
        Column("Response key", hidden=True),
        Column("Response row", N, hidden=True),
        Column("Response hash", hidden=True),
        Column("Seen owner", hidden=True),
        Column("Seen status", hidden=True),
    ),
    key=("Case ID",),
)

CHECKLIST = TabSpec(
    "checklist",
    "Checklist",
    (
        Column("Case ID"),
        Column("Step"),
        Column("Guidance"),
        Column("Role"),
        Column("Due", D, owner="shared"),
        Column("Done", B, owner="leader"),
        Column("Done at", D),
        Column("Status", owner="shared"),
        Column("Notes", owner="leader"),
    ),
    key=("Case ID", "Step"),
)

NOTIFICATIONS = TabSpec(
    "notifications",
    "Notifications",
    (
        Column("Notification ID"),
        Column("Case ID"),
        Column("Event"),
        Column("To"),
        Column("Status"),
        Column("Attempts", N),
        Column("Sent at", D),
        Column("Error"),
        Column("Role"),
        Column("Step"),
        Column("Queued at", D),
    ),
    key=("Notification ID",),
)

LOG = TabSpec(
    "log",
    "Log",
    (Column("Time", D), Column("Case ID"), Column("Event"), Column("Detail")),
    append_only=True,
)

WORKER = TabSpec(
    "worker",
    "Worker",
    (Column("Setting"), Column("Value")),
    key=("Setting",),
)

WORKER_TABS: tuple[TabSpec, ...] = (CASES, CHECKLIST, NOTIFICATIONS, LOG, WORKER)
BY_LOGICAL = {spec.logical: spec for spec in WORKER_TABS}

# Form responses: the only column the worker needs by fixed name; the rest come from the form mapping.
TIMESTAMP = "Timestamp"
EMAIL_ADDRESS = "Email Address"

# Values the worker writes.
PRIORITIES = ("Urgent", "High", "Normal")
CASE_OPEN, CASE_READY, CASE_CLOSED, CASE_WITHDRAWN = "Open", "Ready to close", "Closed", "Withdrawn"
CASE_STATUSES = (CASE_OPEN, CASE_READY, CASE_CLOSED, CASE_WITHDRAWN)
STEP_OPEN, STEP_OVERDUE, STEP_DONE, STEP_NOT_NEEDED = "Open", "Overdue", "Done", "Not needed"
MAIL_QUEUED, MAIL_SENT, MAIL_FAILED = "queued", "sent", "failed"

# Google Sheets and Excel both cap a cell at 50,000 characters.
CELL_LIMIT = 50_000
