"""Heartbeat: the Worker tab tells leaders the worker is alive, which version, and what failed.

``Last successful sync`` is written when a sync changed something, or hourly when
idle (so an idle sync usually writes nothing). After sending, ``marks_for`` turns
the transport's failures into the notification marks and ``Last error`` rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .. import __version__
from ..book import Book
from ..config import Config
from ..model import CellValue, ChangeSet, Failure, cell_text
from ..records import Notification, Setting, some_cells, to_cells
from ..schema import MAIL_FAILED, MAIL_QUEUED, MAIL_SENT
from . import Context

if TYPE_CHECKING:
    from ..plan import Plan
    from .outbox import Delivery

HEARTBEAT_EVERY = timedelta(hours=1)
LAST_SYNC, LAST_ERROR, LAST_ERROR_AT, VERSION = "Last successful sync", "Last error", "Last error at", "Version"


def heartbeat(book: Book, ctx: Context, changes_pending: bool) -> None:
    """Version, last sync and a cleared last error, written only when they say something new."""
    if cell_text(book.setting(VERSION)) != __version__:
        book.set_setting(VERSION, __version__)
        changes_pending = True
    last = book.setting(LAST_SYNC)
    stale = not isinstance(last, datetime) or ctx.now - last >= HEARTBEAT_EVERY
    if changes_pending or stale:
        book.set_setting(LAST_SYNC, ctx.now)
    if cell_text(book.setting(LAST_ERROR)):
        book.set_setting(LAST_ERROR, "")


def failure_message(failures: Mapping[str, Failure]) -> str:
    first = next(iter(failures.values())).error
    return f"{len(failures)} email(s) not sent (they stay queued and are retried): {first}"


def marks_for(plan: Plan, failures: Mapping[str, Failure], now: datetime, config: Config) -> ChangeSet:
    """After sending: each delivery marked sent or failed, and any failure in Last error."""
    marks = ChangeSet()
    stamp = now.replace(microsecond=0)
    for delivery in plan.deliveries:
        marks.update("notifications", delivery.notification_id, delivery.row,
                     mark(delivery, failures.get(delivery.notification_id), config.email.max_attempts, stamp))
    if failures:
        values: tuple[tuple[str, CellValue], ...] = ((LAST_ERROR, failure_message(failures)), (LAST_ERROR_AT, stamp))
        for setting, value in values:
            row = plan.worker_rows.get(setting, -1)
            if row >= 0:
                marks.update("worker", setting, row, some_cells(Setting, value=value))
            else:
                marks.append("worker", to_cells(Setting(setting, value)))
    return marks


def mark(delivery: Delivery, failure: Failure | None, max_attempts: int, stamp: datetime) -> dict[str, CellValue]:
    """A notification's cells after one attempt: sent, queued for a retry, or failed for good."""
    attempts = delivery.attempts + 1
    if failure is None:
        return some_cells(Notification, status=MAIL_SENT, attempts=attempts, sent_at=stamp, error="")
    status = MAIL_FAILED if failure.permanent or attempts >= max_attempts else MAIL_QUEUED
    return some_cells(Notification, status=status, attempts=attempts, error=failure.error[:500])
