"""One sync: read once, plan, write once, send — marking what went as it goes.

Order matters for guarantee 2 (every decided email goes out at least once): the
notifications are written as ``queued`` before any is sent, and marked ``sent``
after. Marks are written in small batches while sending (every ``email.mark_every``
emails or ``MARK_SECONDS``, whichever comes first; each batch is one storage commit),
so a crash resends at most one batch, with the same Message-IDs.

When the plan itself writes nothing but emails are due, a heartbeat is written first: a
sheet or disk that cannot take writes then fails before anything is sent (exit 75), rather
than after a batch that would be resent by every sync until it is fixed.

A sync also stops sending when its time budget (``worker.time_budget``) runs out or
when asked to stop (SIGTERM): what went is marked, the rest stays queued for the next run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from .config import Config
from .errors import TemplateError
from .lease import blocker, busy_line, holder_id, release
from .mail import Mailer
from .model import ChangeSet, Failure
from .phases.heartbeat import before_sending, failure_message, marks_for
from .phases.outbox import MAIL_CANCELLED, Delivery
from .plan import Plan, plan_sync
from .storage import Storage
from .transports import Outgoing, Transport

log = logging.getLogger(__name__)

__all__ = ["SyncResult", "run_sync", "deliver", "Marker", "MAIL_CANCELLED", "MARK_SECONDS"]

MARK_SECONDS = 10.0   # an unmarked "sent" never waits longer than this for its batch to be written

Clock = Callable[[], float]


def never() -> bool:
    return False


@dataclass
class SyncResult:
    stats: dict[str, int]
    sent: int = 0
    failed: int = 0          # refused for good: marked failed
    waiting: int = 0         # a transient failure: still queued, retried next run
    left: int = 0            # not tried: the time budget ran out, or a stop was asked for
    stopped: str = ""        # why sending stopped early ("" = it did not)
    marks: int = 0           # storage commits spent on marks
    dry_run: bool = False
    errors: list[str] = field(default_factory=list)
    blocked: str = ""        # another host holds the lease: this sync wrote and sent nothing

    def summary(self) -> str:
        if self.blocked:
            return self.blocked
        s = self.stats
        not_sent = self.failed + self.waiting + self.left
        text = (
            f"{s.get('cases_opened', 0)} new case(s), {s.get('cases_updated', 0)} updated, "
            f"{s.get('cases_total', 0)} in all; {s.get('steps_overdue', 0)} step(s) overdue; "
            f"{s.get('notifications_queued', 0)} email(s) decided, {self.sent} sent, {not_sent} not sent"
        )
        return ("dry run (nothing written or sent): " if self.dry_run else "") + text

    def notes(self) -> list[str]:
        """Lines for the operator beyond the summary (not errors)."""
        if not self.left:
            return []
        return [f"{self.left} email(s) left queued for the next run: {self.stopped}"]

    @property
    def exit_code(self) -> int:
        """75 while anything waits on a transient failure; 1 when an address was refused for
        good (a contact to fix); 0 otherwise — an early stop is not a failure."""
        if self.waiting:
            return 75
        return 1 if self.failed else 0

    def as_dict(self) -> dict[str, object]:
        if self.blocked:
            return {"skipped": self.blocked}
        return {**self.stats, "emails_sent": self.sent, "emails_not_sent": self.failed + self.waiting + self.left,
                "emails_failed": self.failed, "emails_still_queued": self.waiting + self.left,
                "emails_left_for_next_run": self.left, "mark_writes": self.marks,
                "dry_run": self.dry_run, "errors": self.errors}


class Marker:
    """Writes delivery outcomes in small batches while sending; each batch is ONE commit.

    A batch closes after ``every`` emails went, or ``seconds`` after its first one went,
    whichever comes first. Transient failures ride along with the next batch (losing them
    resends nothing). ``finish`` writes the rest and the Worker tab's Last error.
    """

    def __init__(self, storage: Storage, plan: Plan, now: datetime, *, every: int,
                 seconds: float = MARK_SECONDS, clock: Clock = time.monotonic) -> None:
        self.storage, self.plan, self.now = storage, plan, now
        self.every, self.seconds, self.clock = every, seconds, clock
        self.by_id: dict[str, Delivery] = {d.notification_id: d for d in plan.deliveries}
        self.pending: dict[str, Failure | None] = {}
        self.unmarked_sent = 0
        self.first_sent_at: float | None = None
        self.failures: dict[str, Failure] = {}
        self.sent = 0
        self.commits = 0

    def record(self, notification_id: str, failure: Failure | None) -> None:
        self.pending[notification_id] = failure
        if failure is not None:
            self.failures[notification_id] = failure
            log.log(logging.WARNING if failure.permanent else logging.DEBUG,  # an outage: said once, by the transport
                    "notification %s not sent: %s", notification_id, failure.error)
        else:
            self.sent += 1
            self.unmarked_sent += 1
            if self.first_sent_at is None:
                self.first_sent_at = self.clock()
        if self.unmarked_sent >= self.every or (
                self.first_sent_at is not None and self.clock() - self.first_sent_at >= self.seconds):
            self.flush()

    def flush(self, error: str = "", also: ChangeSet | None = None) -> None:
        deliveries = [self.by_id[n] for n in self.pending if n in self.by_id]
        marks = marks_for(deliveries, self.pending, self.now, self.plan.worker_rows, error,
                          failing=self.plan.failing_since is not None)
        if also is not None:
            marks.updates.extend(also.updates)
        if not marks.is_empty():
            self.storage.commit(marks)
            self.commits += 1
            log.info("marked %d email(s) (%d sent)", len(deliveries), self.unmarked_sent)
        self.pending.clear()
        self.unmarked_sent = 0
        self.first_sent_at = None

    def finish(self, also: ChangeSet | None = None) -> None:
        """The last marks, and a failure's reason in Last error (which also starts ``Failing
        since`` when no outage is remembered yet: same commit, no extra request); ``also`` rides
        along (the lease's release)."""
        self.flush(failure_message(self.failures) if self.failures else "", also)


def run_sync(
    config: Config,
    storage: Storage,
    transport: Transport,
    now: datetime,
    *,
    dry_run: bool = False,
    force_digest: bool = False,
    mailer: Mailer | None = None,
    should_stop: Callable[[], bool] = never,
    clock: Clock = time.monotonic,
    holder: str = "",
) -> SyncResult:
    """``should_stop`` is polled between emails (SIGTERM); ``clock`` (monotonic seconds)
    measures the time budget from the start of the sync; ``holder`` names this sync in the
    lease (``[worker] lease``; default host:pid:random)."""
    started = clock()
    snapshot = storage.load()
    plan = plan_sync(snapshot, config, now, force_digest=force_digest)
    result = SyncResult(plan.stats, dry_run=dry_run)
    if dry_run:
        result.stats["emails_to_send"] = len(plan.deliveries)
        return result
    released: ChangeSet | None = None
    if config.worker.lease:
        result.blocked = take_lease(config, storage, plan, now, holder or holder_id())
        if result.blocked:
            log.warning("%s", result.blocked)
            return result
        if not plan.changes.is_empty() or plan.deliveries:
            released = release(now)
    if released is not None and not plan.deliveries:
        plan.changes.updates.extend(released.updates)   # the one commit of this sync releases the lease
        storage.commit(plan.changes)
    elif plan.changes.is_empty() and plan.deliveries:
        if released is None:  # the lease's write already proved the sheet takes writes
            storage.commit(before_sending(plan.worker_rows, now))
    else:
        storage.commit(plan.changes)
    if plan.deliveries:
        mailer = mailer or Mailer(config.templates_dir, config.email.sender)
        budget = config.worker.time_budget.total_seconds()

        def stop_reason() -> str:
            if should_stop():
                return "the worker was asked to stop"
            if clock() - started >= budget:
                return f"this sync's time budget ({_duration(budget)}, [worker] time_budget) ran out"
            return ""

        marker = Marker(storage, plan, now, every=config.email.mark_every, clock=clock)
        deliver(plan, mailer, transport, marker, stop_reason, result, released)
        result.sent, result.marks = marker.sent, marker.commits
        result.failed = sum(f.permanent for f in marker.failures.values())
        result.waiting = len(marker.failures) - result.failed
        if marker.failures:
            result.errors.append(failure_message(marker.failures))
    if result.left:
        log.warning("%d email(s) left queued for the next run: %s", result.left, result.stopped)
    log.info("sync done: %s", result.summary())
    return result


def deliver(plan: Plan, mailer: Mailer, transport: Transport, marker: Marker,
            stop_reason: Callable[[], str], result: SyncResult, release_with: ChangeSet | None = None) -> None:
    """Send the queued notifications over one connection, marking them as they go, until
    done or told to stop; what was not tried is counted in ``result.left``."""

    def outgoing() -> Iterator[Outgoing]:
        """Each email is rendered just before it is sent: a backlog never sits in memory."""
        for index, delivery in enumerate(plan.deliveries):
            reason = stop_reason()
            if reason:
                result.left, result.stopped = len(plan.deliveries) - index, reason
                return
            try:
                rendered = mailer.render(delivery.event, delivery.context)
            except TemplateError as error:
                # the admin's to fix (like a password): the email stays queued, no attempt spent
                marker.record(delivery.notification_id, Failure(str(error), permanent=False))
                continue
            yield Outgoing(delivery.notification_id, mailer.build(delivery.notification_id, delivery.to, rendered))

    transport.send(outgoing(), marker.record)
    marker.finish(release_with)


def take_lease(config: Config, storage: Storage, plan: Plan, now: datetime, me: str) -> str:
    """"" when this sync may go on; else the one line saying which host holds the lease. An idle
    sync (nothing to write or send) takes no lease: it costs no request and cannot race."""
    holder, until = plan.lease
    busy = blocker(holder, until, now, me)
    if busy or (plan.changes.is_empty() and not plan.deliveries):
        return busy
    until_ours = now + config.worker.lease_for
    stands = storage.claim_lease(me, until_ours)
    if stands != me:
        log.info("lease: wrote %s, read back %s", me, stands)
        return busy_line(stands or "unknown", None, now)
    log.debug("lease taken by %s until %s", me, until_ours)
    return ""


def _duration(seconds: float) -> str:
    whole = int(seconds)
    if whole % 3600 == 0:
        return f"{whole // 3600}h"
    return f"{whole // 60}m" if whole % 60 == 0 else f"{whole}s"
