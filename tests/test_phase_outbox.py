"""The outbox phase on records: queued rows, what is sent, what is cancelled and why."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from workflow.book import Book
from workflow.config import Config
from workflow.notifications import Notice
from workflow.phases import Context, Decisions
from workflow.phases.outbox import (
    MAIL_CANCELLED,
    cancel_reason,
    deliveries,
    digest_context,
    digest_due,
    queue_digest,
    record_notices,
)
from workflow.records import Case, Notification, Step
from workflow.schema import CELL_LIMIT

NZ = ZoneInfo("Pacific/Auckland")
MON_9 = datetime(2026, 11, 23, 9, 0, tzinfo=NZ)
TODAY = MON_9.date()
CASE_ID = "DI-2026-0001"


def ctx(config: Config, now: datetime = MON_9) -> Context:
    return Context.make(config, now, CELL_LIMIT)


def queued(event: str, case_id: str = CASE_ID, step: str = "", level: int = 0, to: str = "dean@school.example",
           role: str = "pastoral_lead") -> Notification:
    return Notification(Notification.make_id(case_id, event, to, step, level), case_id, event, to, "queued", 0,
                        role=role, step=step)


def book_with(*notifications: Notification, status: str = "Open") -> Book:
    book = Book()
    book.add_case(Case(case_id=CASE_ID, priority="High", status=status),
                  [Step(case_id=CASE_ID, title="Safety", role="pastoral_lead", due=MON_9 - timedelta(minutes=30),
                        status="Overdue")])
    for notification in notifications:
        book.notifications.add(notification)
    return book


def test_record_notices_adds_queued_rows(config: Config) -> None:
    book = Book()
    record_notices(book, [Notice("digest-2026-11-23/digest/-/0/p@s", "digest-2026-11-23", "digest", "p@s",
                                 "principal")], MON_9)
    (row,) = book.notifications
    assert (row.case_id, row.status, row.attempts, row.queued_at) == ("", "queued", 0, MON_9)


def test_cancel_reasons() -> None:
    open_case, closed = Case(case_id=CASE_ID, status="Open"), Case(case_id=CASE_ID, status="Closed")
    assert cancel_reason(queued("overdue"), closed, TODAY) == "case closed"
    assert cancel_reason(queued("new_case"), closed, TODAY) == "case closed"     # every email about it…
    assert cancel_reason(queued("priority_changed"), Case(case_id=CASE_ID, status="withdrawn"), TODAY) == \
        "case withdrawn"
    assert cancel_reason(queued("acknowledgement"), closed, TODAY) == ""         # …but the reporter's thanks
    assert cancel_reason(queued("new_case"), Case(case_id=CASE_ID, status="Resolved"), TODAY) == "case closed"
    assert cancel_reason(queued("overdue"), Case(case_id=CASE_ID, status="no idea"), TODAY) == ""
    assert cancel_reason(queued("overdue"), open_case, TODAY) == ""
    assert cancel_reason(queued("new_case"), None, TODAY) == "case row not found"
    yesterday = queued("digest", case_id=f"digest-{TODAY - timedelta(days=1)}")
    assert cancel_reason(yesterday, None, TODAY) == "superseded by a later digest"
    assert cancel_reason(queued("digest", case_id=f"digest-{TODAY}"), None, TODAY) == ""


def test_deliveries_send_live_ones_and_cancel_the_rest(config: Config) -> None:
    reminder = queued("overdue", step="Safety", level=2)
    orphan = queued("new_case", case_id="DI-2026-0099")
    book = book_with(reminder, orphan)
    out = deliveries(book, {}, ctx(config))
    assert [d.notification_id for d in out] == [reminder.notification_id]
    assert (out[0].row, out[0].attempts) == (-1, 0)
    step = out[0].context["step"]
    assert (step["title"], step["level"], step["role"], step["overdue_for"]) == ("Safety", 2, "pastoral_lead",
                                                                                 "30 minutes")
    assert out[0].context["case"]["id"] == CASE_ID
    assert [(n.status, n.error) for n in book.notifications][1] == (MAIL_CANCELLED, "case row not found")


def test_acknowledgement_never_carries_details(make_config: Callable[..., Config]) -> None:
    config = make_config(replace={"details_roles": '["pastoral_lead"]'})
    book = book_with(queued("acknowledgement"), queued("new_case"))
    alert, thanks = sorted(deliveries(book, {CASE_ID: {"what_happened": "secret"}}, ctx(config)),
                           key=lambda d: d.event, reverse=True)
    assert alert.context["case"]["details"]["summary"] == "secret"
    assert thanks.context["case"]["details"] is None


def test_digest_is_due_on_school_days_from_digest_at(config: Config) -> None:
    assert digest_due(ctx(config, MON_9.replace(hour=7, minute=0)), force=False) is False
    assert digest_due(ctx(config, MON_9), force=False) is True
    saturday = MON_9 - timedelta(days=2)
    assert digest_due(ctx(config, saturday), force=False) is False
    assert digest_due(ctx(config, saturday), force=True) is True
    decisions = Decisions(MON_9)
    queue_digest(ctx(config), decisions, force=False)
    assert {n.case_id for n in decisions.notices} == {f"digest-{date(2026, 11, 23)}"}


def test_digest_context_lists_open_cases_and_overdue_steps(config: Config) -> None:
    book = book_with()
    book.add_case(Case(case_id="DI-2026-0000", status="Closed"), [])
    context = digest_context(book, ctx(config))
    assert [c["id"] for c in context["open_cases"]] == [CASE_ID]
    assert [o["step"] for o in context["overdue"]] == ["Safety"] and context["due_today"] == []
