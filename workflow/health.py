"""``status --health``: is the worker alive and are alerts leaving? For monitoring (reads only).

Unhealthy when the Worker tab's ``Last successful sync`` is older than the bound (the worker
stopped, or every sync fails before planning), when an email has sat queued longer than the
bound (the mail server refuses or is unreachable), or when an alert about an open Urgent case
is ``failed`` (nobody was told). Each problem is one line naming IDs only, never answers or
addresses. The bound must exceed an hour: an idle sync refreshes ``Last successful sync`` hourly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .book import Book
from .model import Snapshot, cell_text
from .phases.heartbeat import LAST_ERROR, LAST_SYNC
from .schema import CASE_CLOSED, CASE_WITHDRAWN, MAIL_FAILED, MAIL_QUEUED

URGENT = "Urgent"


@dataclass(frozen=True)
class Health:
    problems: list[str]
    summary: str

    @property
    def healthy(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        return [f"unhealthy: {p}" for p in self.problems] if self.problems else [f"healthy: {self.summary}"]


def spoken(age: timedelta) -> str:
    """An age as a person reads it: 45s, 12m, 3h 5m, 2d 4h."""
    seconds = max(int(age.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m" if minutes else f"{seconds}s"


def assess(snapshot: Snapshot, now: datetime, max_age: timedelta) -> Health:
    book = Book(snapshot)
    tz = now.tzinfo
    problems = []
    last = book.setting(LAST_SYNC)
    if not isinstance(last, datetime):
        problems.append("the Worker tab records no successful sync: is the worker running (systemd timer, cron, "
                        "or `digital-incidents run`)?")
        summary = ""
    else:
        age = now - last
        when = f"{last.astimezone(tz):%Y-%m-%d %H:%M} ({spoken(age)} ago)"
        if age > max_age:
            error = cell_text(book.setting(LAST_ERROR))
            problems.append(f"last successful sync {when}, longer ago than {spoken(max_age)}: the worker is stopped "
                            "or every sync fails; see its log" + (f"; Worker tab Last error: {error}" if error else ""))
        summary = f"last sync {when}"
    problems += stuck_mail(book, now, max_age)
    queued = sum(n.status == MAIL_QUEUED for n in book.notifications)
    return Health(problems, f"{summary}; {queued} email(s) queued, none stuck")


def stuck_mail(book: Book, now: datetime, max_age: timedelta) -> list[str]:
    """Queued longer than the bound, and failed alerts about open Urgent cases (case IDs only)."""
    problems = []
    stuck = [n for n in book.notifications if n.status == MAIL_QUEUED and isinstance(n.queued_at, datetime)
             and now - n.queued_at > max_age]
    if stuck:
        oldest = min(n.queued_at for n in stuck if isinstance(n.queued_at, datetime))
        cases = sorted({n.case_id for n in stuck if n.case_id})
        problems.append(f"{len(stuck)} email(s) queued for longer than {spoken(max_age)} (oldest queued "
                        f"{spoken(now - oldest)} ago; case(s) {', '.join(cases) or '-'}): the mail server is "
                        "unreachable or refusing; see the Notifications tab's Error column and `check`")
    urgent_open = {c.case_id for c in book.cases
                   if c.priority == URGENT and c.status not in (CASE_CLOSED, CASE_WITHDRAWN)}
    failed = sorted({n.case_id for n in book.notifications if n.status == MAIL_FAILED and n.case_id in urgent_open})
    if failed:
        problems.append(f"alerts about open Urgent case(s) {', '.join(failed)} failed and were never delivered: "
                        "tell the people concerned another way; the Notifications tab's Error column says why")
    return problems
