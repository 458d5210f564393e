"""The planner's phases, in the order a sync runs them.

intake      new and edited form responses → cases, checklist steps, alerts
follow_up   each open case: ticks, overdue steps, reminders, escalation, next step
outbox      decided emails → Notifications rows; which queued ones to send or cancel
heartbeat   the Worker tab: version, last sync, last error

Each phase reads and replaces typed records in a ``Book`` and adds to one shared
``Decisions`` (emails to queue and Log lines, in the order they were decided).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..config import Config
from ..notifications import Notice
from ..records import LogEntry
from ..schema import CASE_CLOSED, CASE_WITHDRAWN
from ..schoolclock import SchoolClock

FINISHED = (CASE_CLOSED, CASE_WITHDRAWN)   # a case in these states is left alone


@dataclass(frozen=True)
class Context:
    """What every phase may consult: the config, the moment of the sync, the school's clock."""

    config: Config
    now: datetime
    clock: SchoolClock
    text_limit: int

    @classmethod
    def make(cls, config: Config, now: datetime, text_limit: int) -> Context:
        return cls(config, now.replace(microsecond=0), SchoolClock(config.calendar, config.school.timezone),
                   text_limit)


@dataclass
class Decisions:
    """Emails decided and Log lines written so far; an email already decided is never queued twice."""

    now: datetime
    known_ids: set[str] = field(default_factory=set)
    notices: list[Notice] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)

    def note(self, case_id: str, event: str, detail: str) -> None:
        self.log.append(LogEntry(self.now, case_id, event, detail))

    def queue(self, notices: list[Notice]) -> list[Notice]:
        fresh = [n for n in notices if n.id not in self.known_ids]
        for notice in fresh:
            self.known_ids.add(notice.id)
            self.notices.append(notice)
        return fresh

    def queue_and_log(self, case_id: str, notices: list[Notice], what: str) -> None:
        fresh = self.queue(notices)
        if fresh:
            roles = ", ".join(dict.fromkeys(n.role for n in fresh))
            self.note(case_id, "emailed", f"{what} queued for {roles} ({len(fresh)} email{'s' * (len(fresh) != 1)})")
