"""The intake phase on records: numbering, opening and revising cases from form responses."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from workflow.book import Book
from workflow.config import Config
from workflow.intake import Report
from workflow.phases import Context, Decisions
from workflow.phases.intake import next_case_number, open_case, revise_case, take_in, truncate
from workflow.records import Case, Setting
from workflow.schema import CELL_LIMIT

NZ = ZoneInfo("Pacific/Auckland")
MON_9 = datetime(2026, 11, 23, 9, 0, tzinfo=NZ)
BULLYING = {"incident_types": "Cyberbullying or harassment", "immediate_risk": "No", "nude_image_u18": "No",
            "affected": "Students", "what_happened": "Names called in a group chat"}


def report(row: int = 0, answers: dict[str, str] | None = None, reporter: str = "t.teacher@school.example",
           when: datetime | None = MON_9, digest: str = "d1") -> Report:
    return Report(row, f"key-{row}|{reporter}|1", digest, when, reporter, answers or dict(BULLYING))


def ctx(config: Config) -> Context:
    return Context.make(config, MON_9, CELL_LIMIT)


def test_open_case_triages_fills_the_checklist_and_queues_alerts(config: Config) -> None:
    decisions = Decisions(MON_9)
    case, steps = open_case("DI-2026-0001", report(), ctx(config), decisions)
    assert (case.priority, case.status, case.seen_status, case.overdue_steps) == ("Normal", "Open", "Open", 0)
    assert (case.response_key, case.response_row, case.response_hash) == ("key-0|t.teacher@school.example|1", 0, "d1")
    assert case.summary == "Names called in a group chat" and case.updated == MON_9
    assert len(steps) == len(config.checklist) and {s.case_id for s in steps} == {"DI-2026-0001"}
    assert [n.event for n in decisions.notices] == ["new_case", "acknowledgement"]
    assert [e.event for e in decisions.log] == ["case opened", "triaged", "emailed", "emailed"]


def test_case_numbers_continue_from_counter_or_highest_id(config: Config) -> None:
    book = Book()
    book.settings.add(Setting("Case counter 2026", 7))
    assert next_case_number(book, 2026) == 8
    assert book.setting("Case counter 2026") == 8
    book.add_case(Case(case_id="DI-2026-0020"), [])
    assert next_case_number(book, 2026) == 21
    assert next_case_number(book, 2027) == 1


def test_take_in_opens_new_reports_in_order_received(config: Config) -> None:
    book = Book()
    later = report(0, when=MON_9.replace(hour=10))
    earlier = report(1, when=MON_9)
    taken = take_in(book, [later, earlier], ctx(config), Decisions(MON_9))
    assert (taken.opened, taken.updated) == (2, 0)
    assert [(c.case_id, c.response_row) for c in book.cases] == [("DI-2026-0001", 1), ("DI-2026-0002", 0)]
    assert set(taken.answers) == {"DI-2026-0001", "DI-2026-0002"}


def test_take_in_follows_a_moved_response(config: Config) -> None:
    book = Book()
    decisions = Decisions(MON_9)
    take_in(book, [report(0)], ctx(config), decisions)
    moved = replace(report(0), row=3)
    taken = take_in(book, [moved], ctx(config), Decisions(MON_9))
    assert taken.opened == 0 and book.cases[0].response_row == 3


def test_an_edit_raises_priority_adds_steps_and_never_lowers(config: Config) -> None:
    decisions = Decisions(MON_9)
    case, steps = open_case("DI-2026-0001", report(), ctx(config), decisions)
    urgent = {**BULLYING, "immediate_risk": "Yes", "what_happened": "Now a threat"}
    decisions = Decisions(MON_9)
    revised, revised_steps = revise_case(case, steps, report(answers=urgent, digest="d2"), ctx(config), decisions)
    assert revised.priority == "Urgent" and revised.summary == "Now a threat" and revised.response_hash == "d2"
    assert [e.event for e in decisions.log][:2] == ["response edited", "triaged"]
    before, after = (next(s.due for s in group if s.title == "Make sure everyone is safe now")
                     for group in (steps, revised_steps))
    assert isinstance(before, datetime) and isinstance(after, datetime) and after < before
    calmer, _ = revise_case(revised, revised_steps, report(digest="d3"), ctx(config), Decisions(MON_9))
    assert calmer.priority == "Urgent"


def test_an_edit_to_a_closed_case_only_updates_its_text(config: Config) -> None:
    case, steps = open_case("DI-2026-0001", report(), ctx(config), Decisions(MON_9))
    closed = replace(case, status="Closed")
    decisions = Decisions(MON_9)
    urgent = {**BULLYING, "immediate_risk": "Yes"}
    revised, revised_steps = revise_case(closed, steps, report(answers=urgent), ctx(config), decisions)
    assert revised.priority == "Normal" and revised_steps == steps and decisions.notices == []


def test_truncate_keeps_the_limit_and_says_where_the_rest_is() -> None:
    assert truncate("short", "see row 2", 10) == "short"
    cut = truncate("x" * 100, "see row 2", 60)
    assert len(cut) == 60 and cut.endswith("[… truncated: see row 2]")


def test_a_response_gone_from_the_tab_is_noted_once_and_its_case_kept(config: Config) -> None:
    book = Book()
    take_in(book, [report(0), report(1, reporter="x@school.example", digest="d2")], ctx(config), Decisions(MON_9))
    before = book.cases[0]
    decisions = Decisions(MON_9)
    taken = take_in(book, [report(1, reporter="x@school.example", digest="d2")], ctx(config), decisions)
    assert (taken.opened, taken.updated) == (0, 0)
    assert book.cases[0] == replace(before, response_row=None)
    assert [(e.case_id, e.event) for e in decisions.log] == [("DI-2026-0001", "response gone")]
    assert "row 2 " in decisions.log[0].detail and "t.teacher" not in decisions.log[0].detail
    again = Decisions(MON_9)
    take_in(book, [report(1, reporter="x@school.example", digest="d2")], ctx(config), again)
    assert again.log == [] and book.cases[0].response_row is None


def test_cases_keep_the_account_fingerprint(config: Config) -> None:
    book = Book()
    fingerprinted = replace(report(0), account="acc1")
    take_in(book, [fingerprinted], ctx(config), Decisions(MON_9))
    assert book.cases[0].response_hash == "d1:acc1"
    take_in(book, [replace(fingerprinted, row=4)], ctx(config), Decisions(MON_9))
    assert (book.cases[0].response_row, book.cases[0].response_hash) == (4, "d1:acc1")
