"""The planner's phases, in the order a sync runs them.

leaders     leaders' edits on Cases: owner and status noted, a priority changed by hand adopted
intake      new and edited form responses → cases, checklist steps, alerts
follow_up   each case: ticks, overdue steps, reminders, escalation, next step, progress, attention
outbox      decided emails → Notifications rows; which queued ones to send or cancel
heartbeat   the Worker tab: version, last sync, last error; Failing since and the admin's emails

Each phase reads and replaces typed records in a ``Book`` and adds to one shared
``Decisions`` (emails to queue and Log lines, in the order they were decided).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..config import Config
from ..leader_input import case_status, priority
from ..notifications import Notice
from ..records import Case, LogEntry
from ..schema import CASE_CLOSED, CASE_OPEN, CASE_WITHDRAWN, PRIORITIES
from ..schoolclock import SchoolClock

FINISHED = (CASE_CLOSED, CASE_WITHDRAWN)   # a case in these states is left alone
WORKER, LEADER = "worker", "leader"        # who set a case's priority (Cases → Priority set by)


def status_of(case: Case) -> str:
    """Open, Closed or Withdrawn as the leader meant it; a Status not understood keeps the case open."""
    return case_status(case.status) or CASE_OPEN


def finished(case: Case) -> bool:
    return status_of(case) in FINISHED


def priority_of(case: Case, config: Config) -> str:
    """The priority that counts: as typed if understood, else the last one the worker saw."""
    return priority(case.priority) or (case.seen_priority if case.seen_priority in PRIORITIES
                                       else config.default_priority)


@dataclass(frozen=True)
class Context:
    """What every phase may consult: the config, the moment of the sync, the school's clock."""

    config: Config
    now: datetime
    clock: SchoolClock
    text_limit: int
    locale: str = "en_NZ"   # how a date typed as text is read (the sheet's locale)

    @classmethod
    def make(cls, config: Config, now: datetime, text_limit: int, locale: str = "") -> Context:
        return cls(config, now.replace(microsecond=0), SchoolClock(config.calendar, config.school.timezone),
                   text_limit, locale or config.school.locale)


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
