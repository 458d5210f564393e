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
from .model import Failure
from .phases.heartbeat import failure_message, marks_for
from .phases.outbox import MAIL_CANCELLED
from .plan import Plan, plan_sync
from .storage import Storage
from .transports import Outgoing, Transport

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

    def count(self, plan: Plan, failures: dict[str, Failure]) -> None:
        """Tally what was sent; say what was not (IDs and reasons only, never content)."""
        for delivery in plan.deliveries:
            failure = failures.get(delivery.notification_id)
            if failure is None:
                self.sent += 1
            else:
                self.failed += 1
                log.warning("notification %s not sent: %s", delivery.notification_id, failure.error)
        if failures:
            self.errors.append(failure_message(failures))

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
        failures = deliver(plan, mailer, transport)
        result.count(plan, failures)
        storage.commit(marks_for(plan, failures, now, config))
    log.info("sync done: %s", result.summary())
    return result


def deliver(plan: Plan, mailer: Mailer, transport: Transport) -> dict[str, Failure]:
    """Send every queued notification over one connection; return why any did not go."""
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

    failures.update(transport.send(outgoing()).failures)
    return failures
