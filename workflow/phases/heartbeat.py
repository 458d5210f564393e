"""Heartbeat: the Worker tab tells leaders the worker is alive, which version, and what failed.

``Last successful sync`` is written when a sync changed something, or hourly when
idle (so an idle sync usually writes nothing). While sending, ``marks_for`` turns
each batch of outcomes into the notification marks, and at the end the ``Last error`` rows.

``Failing since`` remembers an outage, so the admin role hears of it once and of its end once
(``watch_syncs``). It is set by the first sync that records a ``Last error`` (with that error),
or — when failures could not be written at all (the sheet or disk refused writes, the layout
was broken, the worker was not running) — by the first sync that can write and finds
``Last successful sync`` older than an hour plus ``alert_admin_after``: the outage is then
dated from that last sync. It is cleared by the first sync that finds the previous one recorded
no error. Each email's ID carries the outage's start, so each goes at most once per outage.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..book import Book
from ..model import CellValue, ChangeSet, Failure, cell_text
from ..notifications import ADMIN_FAILING, ADMIN_RECOVERED, admin_notices, fmt_time
from ..records import Notification, Setting, some_cells, to_cells
from ..schema import MAIL_FAILED, MAIL_QUEUED, MAIL_SENT
from . import Context, Decisions

if TYPE_CHECKING:
    from .outbox import Delivery

HEARTBEAT_EVERY = timedelta(hours=1)
LAST_SYNC, LAST_ERROR, LAST_ERROR_AT, VERSION = "Last successful sync", "Last error", "Last error at", "Version"
FAILING_SINCE = "Failing since"
OUTAGE_KEY = "%Y-%m-%dT%H:%M"     # an outage's start in its emails' IDs: school time, to the minute
ADDRESS = re.compile(r"[^\s<>\"'(),;:\[\]]+@[^\s<>\"'(),;:\[\]]+")


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


def watch_syncs(book: Book, ctx: Context, decisions: Decisions) -> None:
    """Keep ``Failing since`` and decide the admin's two emails about an outage (pure: it
    reads only what the last syncs that could write left in the Worker tab)."""
    since = book.setting(FAILING_SINCE)
    error = cell_text(book.setting(LAST_ERROR))
    if cell_text(since) and not error:     # the last sync that wrote recorded no error: recovered
        book.set_setting(FAILING_SINCE, "")
        if isinstance(since, datetime) and admin_told(since, ctx, decisions):
            decisions.queue(admin_notices(ADMIN_RECOVERED, outage_key(since, ctx), ctx.config))
        return
    if not isinstance(since, datetime):
        since = outage_start(book, ctx, error)
        if since is None:
            return
        book.set_setting(FAILING_SINCE, since)
    if ctx.now - since >= ctx.config.worker.alert_admin_after:
        decisions.queue(admin_notices(ADMIN_FAILING, outage_key(since, ctx), ctx.config))


def outage_start(book: Book, ctx: Context, error: str) -> datetime | None:
    """When an outage not yet remembered began: an error recorded without ``Failing since``
    (by an older version, or a hand-cleared cell) dates from that error; a gap since the last
    sync that wrote longer than any healthy worker leaves dates from that sync; else none."""
    if error:
        at = book.setting(LAST_ERROR_AT)
        return at if isinstance(at, datetime) else ctx.now
    last = book.setting(LAST_SYNC)
    gap = max(HEARTBEAT_EVERY, ctx.config.worker.interval) + ctx.config.worker.alert_admin_after
    return last if isinstance(last, datetime) and ctx.now - last > gap else None


def outage_key(since: datetime, ctx: Context) -> str:
    return since.astimezone(ctx.config.school.timezone).strftime(OUTAGE_KEY)


def admin_told(since: datetime, ctx: Context, decisions: Decisions) -> bool:
    """Whether the "failing" email of this outage was decided (to whichever admin address)."""
    prefix = f"-/{ADMIN_FAILING}/{outage_key(since, ctx)}/"
    return any(known.startswith(prefix) for known in decisions.known_ids)


def outage_context(record: Notification, book: Book, ctx: Context) -> dict[str, Any]:
    """What an admin email says: since when, and the last error as the Worker tab records it
    (a worker's message, never form answers; addresses are left out — the tab has them)."""
    key = record.notification_id.split("/", 4)[2] if record.notification_id.count("/") >= 4 else ""
    try:
        since: CellValue = datetime.strptime(key, OUTAGE_KEY).replace(tzinfo=ctx.config.school.timezone)
    except ValueError:
        since = key
    error = cell_text(book.setting(LAST_ERROR))
    return {
        "since": fmt_time(since, ctx.config),
        "last_error": ADDRESS.sub("[address]", error)[:500],
        "last_error_at": fmt_time(book.setting(LAST_ERROR_AT), ctx.config) if error else "",
        "decided_at": fmt_time(record.queued_at, ctx.config),
    }


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
              worker_rows: Mapping[str, int] | None = None, error: str = "", *,
              failing: bool = True) -> ChangeSet:
    """After sending some emails: each one marked (absent from ``failures`` = it went), and
    ``error`` (when given) in the Worker tab's Last error rows — with ``Failing since`` when
    no outage is remembered yet (``failing`` False)."""
    marks = ChangeSet()
    stamp = now.replace(microsecond=0)
    for delivery in deliveries:
        marks.update("notifications", delivery.notification_id, delivery.row,
                     mark(delivery, failures.get(delivery.notification_id), stamp))
    if error:
        settings: dict[str, CellValue] = {LAST_ERROR: error, LAST_ERROR_AT: stamp}
        if not failing:
            settings[FAILING_SINCE] = stamp
        set_settings(marks, worker_rows or {}, settings)
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
