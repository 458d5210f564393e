"""Plan a sync: from one Snapshot and ``now``, every change and every email to send.

Pure: no I/O, no clock. The approach is "copy, change, diff": the rows are read
into typed records (``book.py``), the phases replace records, and the ChangeSet is
the difference from what was read. A sync that finds nothing to do writes nothing.

    leaders → intake → follow-up → digest → admin alerts → outbox → heartbeat  (workflow/phases/)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .book import Book
from .config import Config
from .errors import SheetLayoutError
from .intake import check_form_columns, read_reports
from .layout import layout_problems
from .lease import LEASE_HOLDER, LEASE_UNTIL
from .model import CellValue, ChangeSet, Snapshot
from .phases import Context, Decisions
from .phases.follow_up import follow_up
from .phases.heartbeat import FAILING_SINCE, heartbeat, watch_syncs
from .phases.intake import take_in
from .phases.leaders import read_leaders
from .phases.outbox import Delivery, deliveries, digest_context, queue_digest, record_notices


@dataclass
class Plan:
    changes: ChangeSet
    deliveries: list[Delivery]
    stats: dict[str, int] = field(default_factory=dict)
    worker_rows: dict[str, int] = field(default_factory=dict)  # setting -> row as read (for later marks)
    digest_context: dict[str, Any] = field(default_factory=dict)  # open cases, due today, overdue
    failing_since: datetime | None = None   # the outage the Worker tab remembers, after this plan
    lease: tuple[CellValue, CellValue] = (None, None)  # Lease holder, Lease until as read ([worker] lease)


def plan_sync(snapshot: Snapshot, config: Config, now: datetime, *, force_digest: bool = False,
              digest: bool = True) -> Plan:
    """Everything one sync will write and send, computed from what was read."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    check_layout(snapshot, config)
    ctx = Context.make(config, now, snapshot.text_limit, snapshot.locale)
    book = Book(snapshot)
    decisions = Decisions(ctx.now, {n.notification_id for n in book.notifications})

    read_leaders(book, ctx, decisions)
    taken = take_in(book, read_reports(snapshot.responses, config.form), ctx, decisions)
    overdue = follow_up(book, ctx, decisions)
    if digest or force_digest:
        queue_digest(ctx, decisions, force_digest)
    watch_syncs(book, ctx, decisions)
    record_notices(book, decisions.notices, ctx.now)
    to_send = deliveries(book, taken.answers, ctx)
    book.log.extend(decisions.log)

    changes = book.workflow_changes()
    heartbeat(book, ctx, changes_pending=not changes.is_empty())
    book.settings.changes(changes)

    stats = {"cases_opened": taken.opened, "cases_updated": taken.updated, "steps_overdue": overdue,
             "notifications_queued": len(decisions.notices), "cases_total": len(book.case_at)}
    failing = book.setting(FAILING_SINCE)
    return Plan(changes, to_send, stats, book.setting_rows(), digest_context(book, ctx),
                failing if isinstance(failing, datetime) else None,
                (book.setting(LEASE_HOLDER), book.setting(LEASE_UNTIL)))


def check_layout(snapshot: Snapshot, config: Config) -> None:
    """Stop before planning when a tab, column or form question is missing."""
    problems = layout_problems(snapshot)
    if problems:
        raise SheetLayoutError("; ".join(problems) + ". Run `digital-incidents setup` to create or repair the tabs.")
    check_form_columns(snapshot.responses, config.form)
