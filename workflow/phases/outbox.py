"""Outbox: decided emails become queued Notifications rows; queued rows are sent or cancelled.

A queued email is sent with a context built now (so a reminder names the step's
current due), unless it no longer makes sense: any email about a closed or
withdrawn case, yesterday's digest, or a case whose row is gone. Those are
cancelled, with the reason in Error. The reporter's acknowledgement is the one
email a closed case still sends: it only says the report arrived (no case
details), and a reporter who never hears back may not report again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from ..book import Book
from ..notifications import (
    ACKNOWLEDGEMENT,
    ADMIN_EVENTS,
    DIGEST,
    ESCALATION,
    OVERDUE,
    Notice,
    base_context,
    case_context,
    digest_notices,
    fmt_time,
)
from ..overdue import overdue_for
from ..records import Case, Notification
from ..schema import MAIL_QUEUED, STEP_OPEN, STEP_OVERDUE
from . import Context, Decisions, finished, status_of
from .follow_up import attention_items
from .heartbeat import outage_context

KEPT_WHEN_FINISHED = (ACKNOWLEDGEMENT, DIGEST)
MAIL_CANCELLED = "cancelled"


@dataclass(frozen=True)
class Delivery:
    """A queued notification to send after the plan is committed."""

    notification_id: str
    to: str
    event: str
    context: dict[str, Any]
    attempts: int
    row: int                  # where its row was read; -1 for a row this plan adds


def digest_due(ctx: Context, force: bool) -> bool:
    """The digest goes out on school days from ``digest_at`` (once: its ID carries the day)."""
    if force:
        return True
    local = ctx.now.astimezone(ctx.config.school.timezone)
    return ctx.clock.is_school_day(local.date()) and local.time() >= ctx.config.worker.digest_at


def queue_digest(ctx: Context, decisions: Decisions, force: bool) -> None:
    if digest_due(ctx, force):
        decisions.queue(digest_notices(_today(ctx), ctx.config))


def record_notices(book: Book, notices: list[Notice], now: datetime) -> None:
    """Every decided email as a queued row: the record that it was decided (SPEC §7)."""
    for notice in notices:
        book.notifications.add(Notification(
            notification_id=notice.id,
            case_id=notice.case_id if not notice.case_id.startswith("digest-") else "",
            event=notice.event,
            to=notice.to,
            status=MAIL_QUEUED,
            attempts=0,
            role=notice.role,
            step=notice.step,
            queued_at=now,
        ))


def deliveries(book: Book, answers: dict[str, dict[str, str]], ctx: Context) -> list[Delivery]:
    """Every queued email to send now; those that no longer make sense are cancelled."""
    today = _today(ctx)
    digest: dict[str, Any] | None = None
    out = []
    for index, row in enumerate(book.notifications.rows):
        record = row.record
        if record.status != MAIL_QUEUED:
            continue
        case = book.case(record.case_id)
        reason = cancel_reason(record, case, today)
        if reason:
            book.notifications[index] = replace(record, status=MAIL_CANCELLED, error=reason)
            continue
        context = base_context(ctx.config, record.event, record.role)
        if record.event == DIGEST:
            digest = digest or digest_context(book, ctx)
            context["digest"] = digest
        elif record.event in ADMIN_EVENTS:
            context["outage"] = outage_context(record, book, ctx)
        elif case is not None:
            context.update(case_contexts(record, case, book, answers.get(case.case_id), ctx))
        out.append(Delivery(record.notification_id, record.to, record.event, context,
                            record.attempts or 0, -1 if row.at is None else row.at))
    return out


def cancel_reason(record: Notification, case: Case | None, today: date) -> str:
    """Why a queued email should not go out any more ('' = send it). The admin's emails are
    about the worker, not a case: both go, in order, even when the outage is already over."""
    if record.event in ADMIN_EVENTS:
        return ""
    if case is not None and finished(case) and record.event not in KEPT_WHEN_FINISHED:
        return f"case {status_of(case).lower()}"
    if record.event == DIGEST:
        return "" if record.notification_id.startswith(f"digest-{today.isoformat()}/") else \
            "superseded by a later digest"
    return "case row not found" if case is None else ""


def case_contexts(record: Notification, case: Case, book: Book, answers: dict[str, str] | None,
                  ctx: Context) -> dict[str, Any]:
    """The "case" (and for reminders the "step") part of an email's context."""
    out: dict[str, Any] = {"case": case_context(case, ctx.config, record.role, answers)}
    if record.event == ACKNOWLEDGEMENT:
        out["case"]["details"] = None
    if record.event in (OVERDUE, ESCALATION):
        out["step"] = step_context(record, book, ctx)
    return out


def step_context(record: Notification, book: Book, ctx: Context) -> dict[str, Any]:
    step = next((s for s in book.steps_of(record.case_id) if s.title == record.step), None)
    due = step.due if step else None
    return {
        "title": record.step,
        "role": step.role if step else "",
        "due": fmt_time(due, ctx.config),
        "overdue_for": overdue_for(due, ctx.now, ctx.clock) if isinstance(due, datetime) else "",
        "level": record.level,
    }


def digest_context(book: Book, ctx: Context) -> dict[str, Any]:
    """Open cases, steps due today and overdue steps, as the digest and `status` show them."""
    tz = ctx.config.school.timezone
    today = _today(ctx)
    open_cases, due_today, overdue = [], [], []
    for case_id, at in sorted(book.case_at.items()):
        case = book.cases[at]
        if finished(case):
            continue
        open_cases.append(case_context(case, ctx.config, "", None))
        for step in book.steps_of(case_id):
            if step.status not in (STEP_OPEN, STEP_OVERDUE) or not isinstance(step.due, datetime):
                continue
            item = {"case_id": case_id, "step": step.title, "due": fmt_time(step.due, ctx.config),
                    "role": step.role, "priority": case.priority}
            if step.status == STEP_OVERDUE:
                overdue.append(item)
            elif step.due.astimezone(tz).date() == today:
                due_today.append(item)
    return {"date": today.strftime("%A %d %B %Y"), "open_cases": open_cases,
            "due_today": due_today, "overdue": overdue, "attention": attention_items(book)}


def _today(ctx: Context) -> date:
    return ctx.now.astimezone(ctx.config.school.timezone).date()
