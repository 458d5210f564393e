"""Heartbeat: the Worker tab tells leaders the worker is alive, which version, and what failed.

``Last successful sync`` is written when a sync changed something, or hourly when
idle (so an idle sync usually writes nothing). While sending, ``marks_for`` turns
each batch of outcomes into the notification marks, and at the end the ``Last error`` rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .. import __version__
from ..book import Book
from ..model import CellValue, ChangeSet, Failure, cell_text
from ..records import Notification, Setting, some_cells, to_cells
from ..schema import MAIL_FAILED, MAIL_QUEUED, MAIL_SENT
from . import Context

if TYPE_CHECKING:
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
    """What went wrong, in the words that match what the rows now say."""
    waiting = [f.error for f in failures.values() if not f.permanent]
    refused = [f.error for f in failures.values() if f.permanent]
    parts = []
    if waiting:
        parts.append(f"{len(waiting)} email(s) not sent (they stay queued and are retried): {waiting[0]}")
    if refused:
        parts.append(f"{len(refused)} email(s) not sent and marked failed (not retried): {refused[0]}")
    return "; ".join(parts)


def marks_for(deliveries: Iterable[Delivery], failures: Mapping[str, Failure | None], now: datetime,
              worker_rows: Mapping[str, int] | None = None, error: str = "") -> ChangeSet:
    """After sending some emails: each one marked (absent from ``failures`` = it went), and
    ``error`` (when given) in the Worker tab's Last error rows."""
    marks = ChangeSet()
    stamp = now.replace(microsecond=0)
    for delivery in deliveries:
        marks.update("notifications", delivery.notification_id, delivery.row,
                     mark(delivery, failures.get(delivery.notification_id), stamp))
    if error:
        set_settings(marks, worker_rows or {}, {LAST_ERROR: error, LAST_ERROR_AT: stamp})
    return marks


def before_sending(worker_rows: Mapping[str, int], now: datetime) -> ChangeSet:
    """The heartbeat written before sending when the plan wrote nothing: it proves the sheet
    (or the disk) takes writes before an email goes out that would then be unmarkable."""
    return set_settings(ChangeSet(), worker_rows, {LAST_SYNC: now.replace(microsecond=0)})


def set_settings(changes: ChangeSet, worker_rows: Mapping[str, int], values: Mapping[str, CellValue]) -> ChangeSet:
    for setting, value in values.items():
        row = worker_rows.get(setting, -1)
        if row >= 0:
            changes.update("worker", setting, row, some_cells(Setting, value=value))
        else:
            changes.append("worker", to_cells(Setting(setting, value)))
    return changes


def mark(delivery: Delivery, failure: Failure | None, stamp: datetime) -> dict[str, CellValue]:
    """A notification's cells after one try: sent, failed for good (a permanent refusal), or
    still queued with the reason in Error — a transient failure never spends an attempt."""
    if failure is None:
        return some_cells(Notification, status=MAIL_SENT, attempts=delivery.attempts + 1, sent_at=stamp, error="")
    if failure.permanent:
        return some_cells(Notification, status=MAIL_FAILED, attempts=delivery.attempts + 1, error=failure.error[:500])
    return some_cells(Notification, status=MAIL_QUEUED, error=failure.error[:500])
