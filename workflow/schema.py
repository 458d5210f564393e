"""The worker's tabs and columns: the one place that names them and declares their look (SPEC §3).

Columns are found by header text, case- and space-insensitive, so leaders may
reorder them and add their own. Each tab has a key that identifies a row no
matter where sorting or filtering has moved it.

Everything ``setup`` installs is declared here as data (kinds and their number
formats, widths and wrapping, hidden columns, checkboxes, dropdowns, frozen header,
filter, row and cell highlights, protection of worker-owned columns, which tab comes
first); the local and the Google backends only *render* it, so the two cannot drift apart.
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


# Number formats setup gives date-time columns (and writes give date-time cells), in both backends.
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DATE_FORMAT = "yyyy-mm-dd"


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind = Kind.TEXT
    owner: str = "worker"  # "worker" writes it; "leader" owns it after the row is created; "shared"
    hidden: bool = False   # bookkeeping column that setup hides
    checkbox: bool = False  # a tick box (Google) / a TRUE,FALSE list (xlsx)
    width: float | None = None  # starting width in characters; None = by kind and name
    wrap: bool = False     # long text wraps inside the column instead of running under the next one
    # A dropdown of the values a leader may pick: a tuple, or the name of a list in the config
    # ("roles": the [contacts] roles, "owners": [board] owners, "outcomes": [board] outcomes),
    # resolved by setup. The sheet warns about other values but keeps them (a leader's synonym is
    # read by the worker); an empty list (no owners configured) means free text.
    choices: tuple[str, ...] | str = ()

    @property
    def number_format(self) -> str | None:
        """The format setup gives the whole column, so values typed by leaders read back as dates."""
        return DATETIME_FORMAT if self.kind is Kind.DATETIME else None

    @property
    def starting_width(self) -> float:
        """A readable starting width in characters (the local workbook; Google keeps its own)."""
        if self.width is not None:
            return self.width
        if self.kind is Kind.DATETIME:
            return 18.0
        if self.kind is Kind.BOOL:
            return 8.0
        return self.legacy_width

    @property
    def legacy_width(self) -> float:
        """The width setup gave a column before widths were declared (until issue 7): a column still
        that wide was never resized by a leader, so setup may widen it."""
        if self.kind is Kind.DATETIME:
            return 17.0
        if self.kind is Kind.BOOL:
            return 8.0
        return float(max(len(self.name) + 4, 12))

    @property
    def pixel_width(self) -> int:
        """The starting width in pixels (Google): about 7 px a character of the default font, plus padding."""
        return round(self.starting_width * 7 + 10)


@dataclass(frozen=True)
class Highlight:
    """A conditional format: data rows where ``formula`` is true get these colours, the whole row
    or, with ``column``, only that column's cell.

    ``formula`` is a template in spreadsheet syntax without the leading "=": ``{Due}`` is this
    tab's Due cell of the row (``$E2``), ``{Cases!Status}`` another tab's whole column (through
    INDIRECT, which Google requires in conditional formats and Excel/LibreOffice accept).
    ``replaces`` are regular expressions of older versions of this rule that setup swaps out;
    ``was`` are older formula templates (same placeholders), recognised in any layout.

    A tab's highlights are installed in the declared order, first = strongest: where two apply
    to one cell, the first one's colours show (Google, Excel and LibreOffice alike).
    """

    name: str                    # what setup reports: "overdue steps highlighted"
    formula: str
    fill: str                    # RGB hex
    font: str | None = None      # RGB hex of the text, if coloured
    replaces: tuple[str, ...] = ()
    was: tuple[str, ...] = ()
    column: str | None = None    # paint only this column's cell; None = the whole row


@dataclass(frozen=True)
class TabSpec:
    logical: str          # the name used in code: "cases", "checklist", ...
    title: str            # the tab's title in the workbook
    columns: tuple[Column, ...]
    key: tuple[str, ...] = field(default=())  # columns whose values identify a row
    append_only: bool = False  # rows are only ever added: a load reads just the header (the Log grows forever)
    highlights: tuple[Highlight, ...] = ()   # strongest first
    frozen_rows: int = 1       # the header row stays in view
    filter: bool = False       # a filter on the header row (kept as a leader left it, widened if needed)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if normalise(column.name) == normalise(name):
                return column
        raise KeyError(name)

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def worker_columns(self) -> list[Column]:
        """The columns only the worker writes: protected (warning only) where the backend can."""
        return [column for column in self.columns if column.owner == "worker"]


@lru_cache(maxsize=4096)
def normalise(header: object) -> str:
    """Header matching ignores case and all white space (SPEC §3)."""
    return re.sub(r"\s+", "", str(header or "")).casefold()


# Values the worker writes, and the values leaders pick from (dropdowns).
PRIORITIES = ("Urgent", "High", "Normal")
CASE_OPEN, CASE_READY, CASE_CLOSED, CASE_WITHDRAWN = "Open", "Ready to close", "Closed", "Withdrawn"
CASE_STATUSES = (CASE_OPEN, CASE_CLOSED, CASE_WITHDRAWN)   # a leader's choices; the worker never writes Status
STEP_OPEN, STEP_OVERDUE, STEP_DONE, STEP_NOT_NEEDED = "Open", "Overdue", "Done", "Not needed"
STEP_CASE_CLOSED = "Case closed"   # a step left open when its case was closed or withdrawn: never overdue
STEP_STATUSES = (STEP_OPEN, STEP_OVERDUE, STEP_DONE, STEP_NOT_NEEDED, STEP_CASE_CLOSED)
# The worker's own view of a case (Cases → Progress): "Ready to close", or how far the checklist is.
PROGRESS_READY = CASE_READY
MAIL_QUEUED, MAIL_SENT, MAIL_FAILED = "queued", "sent", "failed"

T, D, B, N = Kind.TEXT, Kind.DATETIME, Kind.BOOL, Kind.NUMBER


def _spaceless(text: str) -> str:
    return text.replace(" ", "")


def _not_any(cell: str, values: tuple[str, ...]) -> str:
    """Formula parts: ``cell`` (spaces removed) is none of ``values``; ``<>`` ignores case everywhere."""
    return ",".join(f'SUBSTITUTE({cell}," ","")<>"{_spaceless(value)}"' for value in values)


_CASE_STATUS = "INDEX({Cases!Status},MATCH({Case ID},{Cases!Case ID},0))"

# Red: an open step (not ticked, not Done / Not needed / Case closed) of an open case (not
# Closed / Withdrawn) past its Due. A step whose case is not on Cases is not red (the lookup
# fails, and a rule that fails is false in Google Sheets, Excel and LibreOffice alike).
RED, RED_TEXT = "FFC7CE", "9C0006"
_OVERDUE_STEP_6 = (  # issue 6: a step of a closed case was still red
    'AND({Done}<>TRUE,{Done}<>"TRUE",'
    + _not_any("{Status}", (STEP_DONE, STEP_NOT_NEEDED))
    + ",ISNUMBER({Due}),{Due}<NOW(),"
    + _not_any(_CASE_STATUS, (CASE_CLOSED, CASE_WITHDRAWN))
    + ")"
)
OVERDUE_STEP = Highlight(
    name="overdue steps highlighted",
    formula=(
        'AND({Done}<>TRUE,{Done}<>"TRUE",'
        + _not_any("{Status}", (STEP_DONE, STEP_NOT_NEEDED, STEP_CASE_CLOSED))
        + ",ISNUMBER({Due}),{Due}<NOW(),"
        + _not_any(_CASE_STATUS, (CASE_CLOSED, CASE_WITHDRAWN))
        + ")"
    ),
    fill=RED,
    font=RED_TEXT,
    replaces=(
        # until issue 6, local: ignored the case
        r'AND\(\$[A-Z]+2<>TRUE,\$[A-Z]+2<>"TRUE",\$[A-Z]+2<>"[^"]*",\$[A-Z]+2<>"[^"]*",'
        r"ISNUMBER\(\$[A-Z]+2\),\$[A-Z]+2<NOW\(\)\)",
        # until issue 6, Google: ignored Status and the case
        r"AND\(\$[A-Z]+2<>TRUE,ISNUMBER\(\$[A-Z]+2\),\$[A-Z]+2<NOW\(\)\)",
    ),
    was=(_OVERDUE_STEP_6,),
)
URGENT, HIGH = "FFDDC1", "FFF2CC"   # orange and pale yellow: Urgent and High rows differ at a glance
URGENT_CASE = Highlight(name="urgent cases highlighted", formula='{Priority}="Urgent"', fill=URGENT)
HIGH_CASE = Highlight(name="high-priority cases highlighted", formula='{Priority}="High"', fill=HIGH)
_CASE_OPEN = _not_any("{Status}", (CASE_CLOSED, CASE_WITHDRAWN))
OVERDUE_CASE = Highlight(
    name="cases with overdue steps highlighted",
    formula="AND(ISNUMBER({Overdue steps}),{Overdue steps}>0)",
    fill=RED, font=RED_TEXT, column="Overdue steps",
)
PAST_NEXT_DUE = Highlight(
    name="past next due dates highlighted",
    formula=f"AND(ISNUMBER({{Next due}}),{{Next due}}<NOW(),{_CASE_OPEN})",
    fill=RED, font=RED_TEXT, column="Next due",
)
ATTENTION, ATTENTION_TEXT = "E4D7F5", "4B1C7A"   # violet: the worker could not read a leader's entry
CASE_ATTENTION = Highlight(
    name="entries needing a leader's attention highlighted",
    formula='LEN(TRIM({Attention}))>0', fill=ATTENTION, font=ATTENTION_TEXT, column="Attention",
)
STEP_ATTENTION = CASE_ATTENTION
URGENT_STEP = Highlight(name="urgent steps highlighted", formula='{Priority}="Urgent"', fill=URGENT,
                        column="Priority")
HIGH_STEP = Highlight(name="high-priority steps highlighted", formula='{Priority}="High"', fill=HIGH,
                      column="Priority")

CASES = TabSpec(
    "cases",
    "Cases",
    (
        Column("Case ID", width=14),
        Column("Received", D),
        Column("Reported by", width=26),
        Column("Incident type", width=26, wrap=True),
        Column("Priority", owner="shared", width=10, choices=PRIORITIES),  # set at intake; a leader's change wins
        Column("Status", owner="leader", width=11, choices=CASE_STATUSES),
        Column("Owner", owner="leader", width=16, choices="owners"),
        Column("Next step", width=34, wrap=True),
        Column("Next due", D),
        Column("Overdue steps", N, width=14),
        Column("Progress", width=18),  # the worker's view: "Ready to close", "3 of 7 steps done"
        Column("Attention", width=30, wrap=True),  # leader input the worker could not understand, and where
        Column("Summary", width=50, wrap=True),
        Column("Outcome", owner="leader", width=24, wrap=True, choices="outcomes"),
        Column("Closed at", D),
        Column("Updated", D),
        Column("Response key", hidden=True),
        Column("Response row", N, hidden=True),
        Column("Response hash", hidden=True),
        Column("Seen owner", hidden=True),
        Column("Seen status", hidden=True),
        Column("Seen priority", hidden=True),  # the priority the worker last saw: a difference is a leader's change
        Column("Priority set by", hidden=True),  # "worker" or "leader": a leader's priority is never changed
    ),
    key=("Case ID",),
    highlights=(CASE_ATTENTION, OVERDUE_CASE, PAST_NEXT_DUE, URGENT_CASE, HIGH_CASE),
    filter=True,
)

CHECKLIST = TabSpec(
    "checklist",
    "Checklist",
    (
        Column("Case ID", width=14),
        Column("Priority", width=10),          # the case's priority, so the checklist can be scanned alone
        Column("Step", width=36, wrap=True),
        Column("Guidance", width=50),
        Column("Role", owner="shared", width=16, choices="roles"),
        Column("Due", D, owner="shared"),
        Column("Done", B, owner="leader", checkbox=True),
        Column("Done at", D),
        Column("Status", owner="shared", width=12, choices=STEP_STATUSES),
        Column("Notes", owner="leader", width=30, wrap=True),
        Column("Attention", width=30, wrap=True),
        Column("Planned due", D, hidden=True),  # the Due the worker last set: a different Due was re-dated by a leader
    ),
    key=("Case ID", "Step"),
    highlights=(STEP_ATTENTION, OVERDUE_STEP, URGENT_STEP, HIGH_STEP),
    filter=True,
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
        Column("Error", width=40),
        Column("Role"),
        Column("Step", width=36),
        Column("Queued at", D),
    ),
    key=("Notification ID",),
)

LOG = TabSpec(
    "log",
    "Log",
    (Column("Time", D), Column("Case ID"), Column("Event"), Column("Detail", width=50)),
    append_only=True,
)

WORKER = TabSpec(
    "worker",
    "Worker",
    (Column("Setting", width=20), Column("Value", width=44)),  # wide enough for a date-time or an error
    key=("Setting",),
)

WORKER_TABS: tuple[TabSpec, ...] = (CASES, CHECKLIST, NOTIFICATIONS, LOG, WORKER)
FIRST_TAB = CASES   # the leaders' board: the workbook opens on it, and it is the first tab
BY_LOGICAL = {spec.logical: spec for spec in WORKER_TABS}

# Form responses: the only column the worker needs by fixed name; the rest come from the form mapping.
TIMESTAMP = "Timestamp"
RESPONSES_TIMESTAMP = Column(TIMESTAMP, D, width=20)  # how setup lays out a responses tab it creates
# Setup protects, warning only, the worker's columns and the whole responses tab (Google; xlsx has
# no warning-only protection), marked with this note so it recognises its own protections.
PROTECTION_NOTE = "digital-incidents: written by the worker"
EMAIL_ADDRESS = "Email Address"


# Google Sheets and Excel both cap a cell at 50,000 characters.
CELL_LIMIT = 50_000
