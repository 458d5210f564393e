"""One sync: read once, plan, write once, send, then mark what was sent.

Order matters for guarantee 2 (every decided email goes out at least once): the
notifications are written as ``queued`` before any is sent, and marked ``sent``
only after. A crash in between leaves them queued, so the next sync sends them
again, once, with the same Message-ID.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from .config import Config
from .errors import TemplateError
from .mail import Mailer
from .model import ChangeSet
from .plan import LAST_ERROR, LAST_ERROR_AT, MAIL_CANCELLED, Delivery, Plan, plan_sync
from .schema import MAIL_FAILED, MAIL_SENT
from .storage import Storage
from .transports import Failure, Outgoing, Transport

log = logging.getLogger(__name__)

__all__ = ["SyncResult", "run_sync", "deliver", "MAIL_CANCELLED"]


@dataclass
class SyncResult:
    stats: dict[str, int]
    sent: int = 0
    failed: int = 0
    dry_run: bool = False
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        s = self.stats
        text = (
            f"{s.get('cases_opened', 0)} new case(s), {s.get('cases_updated', 0)} updated, "
            f"{s.get('cases_total', 0)} in all; {s.get('steps_overdue', 0)} step(s) overdue; "
            f"{s.get('notifications_queued', 0)} email(s) decided, {self.sent} sent, {self.failed} not sent"
        )
        return ("dry run (nothing written or sent): " if self.dry_run else "") + text

    def as_dict(self) -> dict[str, object]:
        return {**self.stats, "emails_sent": self.sent, "emails_not_sent": self.failed,
                "dry_run": self.dry_run, "errors": self.errors}


def run_sync(
    config: Config,
    storage: Storage,
    transport: Transport,
    now: datetime,
    *,
    dry_run: bool = False,
    force_digest: bool = False,
    mailer: Mailer | None = None,
) -> SyncResult:
    snapshot = storage.load()
    plan = plan_sync(snapshot, config, now, force_digest=force_digest)
    result = SyncResult(plan.stats, dry_run=dry_run)
    if dry_run:
        result.stats["emails_to_send"] = len(plan.deliveries)
        return result
    storage.commit(plan.changes)
    if plan.deliveries:
        mailer = mailer or Mailer(config.templates_dir, config.email.sender)
        marks = deliver(plan, config, mailer, transport, now, result)
        storage.commit(marks)
    log.info("sync done: %s", result.summary())
    return result


def deliver(plan: Plan, config: Config, mailer: Mailer, transport: Transport, now: datetime,
            result: SyncResult) -> ChangeSet:
    """Send every queued notification over one connection; return the status updates."""
    failures: dict[str, Failure] = {}

    def outgoing() -> Iterator[Outgoing]:
        """Each email is rendered just before it is sent: a backlog never sits in memory."""
        for delivery in plan.deliveries:
            try:
                rendered = mailer.render(delivery.event, delivery.context)
            except TemplateError as error:
                failures[delivery.notification_id] = Failure(str(error), permanent=False)
                continue
            yield Outgoing(delivery.notification_id, mailer.build(delivery.notification_id, delivery.to, rendered))

    transport.send(outgoing())
    failures.update(transport.failures)
    marks = ChangeSet()
    stamp = now.replace(microsecond=0)
    for delivery in plan.deliveries:
        marks.update("notifications", delivery.notification_id, delivery.row, _mark(delivery, failures, config, stamp))
        if delivery.notification_id in failures:
            result.failed += 1
            log.warning("notification %s not sent: %s", delivery.notification_id,
                        failures[delivery.notification_id].error)
        else:
            result.sent += 1
    if failures:
        first = next(iter(failures.values())).error
        message = f"{len(failures)} email(s) not sent (they stay queued and are retried): {first}"
        result.errors.append(message)
        for setting, value in ((LAST_ERROR, message), (LAST_ERROR_AT, stamp)):
            row = plan.worker_rows.get(setting, -1)
            if row >= 0:
                marks.update("worker", setting, row, {"Value": value})
            else:
                marks.append("worker", {"Setting": setting, "Value": value})
    return marks


def _mark(delivery: Delivery, failures: dict[str, Failure], config: Config, stamp: datetime) -> dict[str, object]:
    attempts = delivery.attempts + 1
    failure = failures.get(delivery.notification_id)
    if failure is None:
        return {"Status": MAIL_SENT, "Attempts": attempts, "Sent at": stamp, "Error": ""}
    status = MAIL_FAILED if failure.permanent or attempts >= config.email.max_attempts else "queued"
    return {"Status": status, "Attempts": attempts, "Error": failure.error[:500]}
