"""The leaders phase: a priority changed by hand re-times, tells new roles once, and is logged."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from workflow.book import Book
from workflow.config import Config
from workflow.intake import Report
from workflow.phases import Context, Decisions
from workflow.phases.intake import open_case, revise_case
from workflow.phases.leaders import read_leaders
from workflow.records import Notification
from workflow.schema import CELL_LIMIT

NZ = ZoneInfo("Pacific/Auckland")
MON_9 = datetime(2026, 11, 23, 9, 0, tzinfo=NZ)
BULLYING = {"incident_types": "Cyberbullying or harassment", "immediate_risk": "No", "nude_image_u18": "No",
            "affected": "Students", "what_happened": "Names called in a group chat"}


def ctx(config: Config, now: datetime = MON_9) -> Context:
    return Context.make(config, now, CELL_LIMIT)


def opened(config: Config) -> Book:
    """A Normal case as the worker left it, its alert already sent to the pastoral lead."""
    book = Book()
    decisions = Decisions(MON_9)
    case, steps = open_case("DI-2026-0001", Report(0, "k|r|1", "d1", MON_9, "t@school.example", dict(BULLYING)),
                            ctx(config), decisions)
    book.add_case(case, steps)
    for notice in decisions.notices:
        book.notifications.add(Notification(notice.id, notice.case_id, notice.event, notice.to, "sent",
                                            role=notice.role))
    return book


def test_a_priority_raised_by_hand_retimes_tells_new_roles_once_and_logs(config: Config) -> None:
    book = opened(config)
    redated = MON_9 + timedelta(days=10)
    steps = book.steps_of("DI-2026-0001")
    steps[1] = replace(steps[1], due=redated)                   # a leader's own date
    book.put_steps("DI-2026-0001", steps)
    book.cases[0] = replace(book.cases[0], priority="urgent")
    later = MON_9 + timedelta(hours=2)
    decisions = Decisions(later, {n.notification_id for n in book.notifications})
    read_leaders(book, ctx(config, later), decisions)
    case = book.cases[0]
    assert (case.priority, case.seen_priority, case.priority_set_by) == ("Urgent", "Urgent", "leader")
    after = book.steps_of("DI-2026-0001")
    assert after[0].due == MON_9 + timedelta(hours=1) == after[0].planned_due    # Urgent: 1h from Received
    assert after[1].due == redated                                             # the leader's date stays
    told = sorted(n.to for n in decisions.notices)
    assert told == ["counsellor@school.example", "principal@school.example"]   # not the pastoral lead again
    assert {n.id.split("/")[2] for n in decisions.notices} == {"Urgent"}
    changed = [e.detail for e in decisions.log if e.event == "priority changed"]
    assert changed and changed[0].startswith("Normal → Urgent by a leader;")
    again = Decisions(later, decisions.known_ids)
    read_leaders(book, ctx(config, later), again)
    assert again.notices == [] and again.log == []


def test_an_edited_response_never_changes_a_leaders_priority(config: Config) -> None:
    book = opened(config)
    book.cases[0] = replace(book.cases[0], priority="High")
    read_leaders(book, ctx(config), Decisions(MON_9))
    decisions = Decisions(MON_9)
    urgent = dict(BULLYING, incident_types="Threats of violence")
    case, _ = revise_case(book.cases[0], book.steps_of("DI-2026-0001"),
                          Report(0, "k|r|1", "d2", MON_9, "t@school.example", urgent), ctx(config), decisions)
    assert case.priority == "High"
    assert any("would make it Urgent; High kept because a leader set it" in e.detail for e in decisions.log)


def test_a_priority_not_understood_keeps_the_last_one(config: Config) -> None:
    book = opened(config)
    book.cases[0] = replace(book.cases[0], priority="asap please")
    decisions = Decisions(MON_9)
    read_leaders(book, ctx(config), decisions)
    assert book.cases[0].seen_priority == "Normal" and book.cases[0].priority == "asap please"
    assert decisions.notices == [] and decisions.log == []


def test_old_rows_without_seen_priority_are_taken_as_the_workers(config: Config) -> None:
    book = opened(config)
    book.cases[0] = replace(book.cases[0], priority="High", seen_priority="", priority_set_by="")
    decisions = Decisions(MON_9)
    read_leaders(book, ctx(config), decisions)
    assert (book.cases[0].seen_priority, book.cases[0].priority_set_by) == ("High", "worker")
    assert decisions.log == []
