"""The follow-up phase on records: ticks, overdue steps, reminders, escalation, progress, closing, attention."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from workflow.config import Config
from workflow.phases import Context, Decisions
from workflow.phases.follow_up import follow_case, read_step, stamp_done
from workflow.phases.leaders import notice_edits
from workflow.records import Case, Step
from workflow.schema import CELL_LIMIT

NZ = ZoneInfo("Pacific/Auckland")
MON_9 = datetime(2026, 11, 23, 9, 0, tzinfo=NZ)
SAFETY = "Make sure everyone is safe now"
FACTS = "Gather the facts: what happened, when, where, who is involved"


def ctx(config: Config, now: datetime, locale: str = "") -> Context:
    return Context.make(config, now, CELL_LIMIT, locale)


def case(**changes: Any) -> Case:
    base = Case(case_id="DI-2026-0001", priority="Normal", status="Open", seen_status="Open", overdue_steps=0,
                seen_priority="Normal", priority_set_by="worker", received=MON_9 - timedelta(hours=1))
    return replace(base, **changes)


def step(title: str = SAFETY, due: datetime | None = MON_9, **changes: Any) -> Step:
    base = Step(case_id="DI-2026-0001", title=title, role="pastoral_lead", due=due, status="Open",
                priority="Normal", planned_due=due)
    return replace(base, **changes)


def events(decisions: Decisions) -> list[str]:
    return [entry.event for entry in decisions.log]


def settled(config: Config, before: Case, steps: list[Step], now: datetime = MON_9) -> tuple[Case, list[Step]]:
    """A case and steps as one follow-up leaves them: a second follow-up must change nothing."""
    followed = follow_case(before, steps, ctx(config, now), Decisions(now))
    return followed.case, followed.steps


def test_nothing_to_do_changes_nothing(config: Config) -> None:
    decisions = Decisions(MON_9)
    steps = [step(due=MON_9 + timedelta(days=1)), step(FACTS, MON_9 + timedelta(days=2))]
    before = case(next_step=SAFETY, next_due=MON_9 + timedelta(days=1), progress="0 of 2 steps done")
    followed = follow_case(before, steps, ctx(config, MON_9), decisions)
    assert followed.case == before and followed.steps == steps and followed.overdue == 0
    assert decisions.log == [] and decisions.notices == []


def test_a_step_past_due_turns_overdue_and_reminds_its_role(config: Config) -> None:
    decisions = Decisions(MON_9)
    now = MON_9 + timedelta(minutes=30)
    followed = follow_case(case(), [step(due=MON_9)], ctx(config, now), decisions)
    assert followed.steps[0].status == "Overdue" and followed.overdue == 1
    assert followed.case.overdue_steps == 1 and followed.case.updated == now
    assert [n.id for n in decisions.notices] == ["DI-2026-0001/overdue/safety/1/dean@school.example"]
    assert events(decisions) == ["step overdue", "emailed"]


def test_escalation_after_a_school_day_overdue(config: Config) -> None:
    decisions = Decisions(MON_9)
    now = MON_9 + timedelta(days=1, hours=1)   # Tuesday 10:00
    follow_case(case(status="Open"), [step(due=MON_9, status="Overdue")], ctx(config, now), decisions)
    assert sorted(n.event for n in decisions.notices) == ["escalation", "overdue"]
    assert {n.to for n in decisions.notices if n.event == "escalation"} == {"principal@school.example"}
    assert "step overdue" not in events(decisions)     # it was already overdue


def test_an_already_decided_reminder_is_not_queued_again(config: Config) -> None:
    known = {"DI-2026-0001/overdue/safety/1/dean@school.example"}
    decisions = Decisions(MON_9, set(known))
    before, steps = settled(config, case(), [step(due=MON_9, status="Overdue")], MON_9 + timedelta(minutes=5))
    follow_case(before, steps, ctx(config, MON_9 + timedelta(minutes=5)), decisions)
    assert decisions.notices == [] and decisions.log == []


def test_tick_stamps_done_at_and_untick_clears_it(config: Config) -> None:
    context = ctx(config, MON_9)
    decisions = Decisions(MON_9)
    first = step(done=True)
    ticked, _ = stamp_done(first, read_step(first, case(), context), context, decisions)
    assert ticked.done_at == MON_9
    again = replace(ticked, done=False, status="Done")
    unticked, reading = stamp_done(again, read_step(again, case(), context), context, decisions)
    assert unticked.done_at is None and unticked.status == "Open" and reading.intent == ""
    assert events(decisions) == ["step done", "step reopened"]


@pytest.mark.parametrize("done", ["=TRUE()", "=true()", "x", "Yes", "✓", 1, True, "TRUE"])
def test_a_tick_in_any_spelling_is_done(config: Config, done: object) -> None:
    followed = follow_case(case(), [step(due=MON_9 - timedelta(days=2), done=done)],
                           ctx(config, MON_9), Decisions(MON_9))
    assert followed.steps[0].status == "Done" and followed.steps[0].done_at == MON_9
    assert followed.case.progress == "Ready to close" and followed.overdue == 0


def test_ready_to_close_goes_into_progress_never_status(config: Config) -> None:
    decisions = Decisions(MON_9)
    ready = follow_case(case(), [step(done=True)], ctx(config, MON_9), decisions).case
    assert (ready.status, ready.progress) == ("Open", "Ready to close")
    again = follow_case(ready, [step(done=False, status="Done", done_at=MON_9)], ctx(config, MON_9), decisions)
    assert (again.case.status, again.case.progress) == ("Open", "0 of 1 steps done")
    assert events(decisions) == ["step done", "ready to close", "step reopened", "not ready to close"]


def test_progress_counts_applicable_steps(config: Config) -> None:
    steps = [step(done=True), step(FACTS, MON_9 + timedelta(days=2)), step("Other", None, status="Not needed")]
    followed = follow_case(case(), steps, ctx(config, MON_9), Decisions(MON_9))
    assert followed.case.progress == "1 of 2 steps done"


def test_next_step_is_the_open_step_due_soonest(config: Config) -> None:
    steps = [step(SAFETY, MON_9 + timedelta(days=2)), step(FACTS, MON_9 + timedelta(days=1))]
    followed = follow_case(case(), steps, ctx(config, MON_9), Decisions(MON_9))
    assert (followed.case.next_step, followed.case.next_due) == (FACTS, MON_9 + timedelta(days=1))


def test_leader_edits_are_logged_once(config: Config) -> None:
    decisions = Decisions(MON_9)
    edited = notice_edits(case(status="resolved", owner="Ms Dean"), decisions)
    assert (edited.seen_status, edited.seen_owner) == ("resolved", "Ms Dean")
    assert [(e.event, e.detail) for e in decisions.log] == [
        ("owner set", "owner is now Ms Dean"), ("status changed", "Open → Closed by a leader")]
    assert notice_edits(edited, decisions) == edited and len(decisions.log) == 2
    notice_edits(case(status="OPEN "), decisions)      # the same status in other words: nothing to log
    assert len(decisions.log) == 2


@pytest.mark.parametrize("typed", ["Closed", "closed", "Resolved", " DONE ", "withdrawn", "Duplicate"])
def test_a_closed_case_has_nothing_overdue_and_is_not_reminded(config: Config, typed: str) -> None:
    decisions = Decisions(MON_9)
    steps = [step(due=MON_9 - timedelta(days=3), status="Overdue"), step(FACTS, done=True, done_at=MON_9),
             step("Other", None, status="Not needed")]
    followed = follow_case(case(status=typed, overdue_steps=1, next_step=SAFETY), steps,
                           ctx(config, MON_9), decisions)
    assert [s.status for s in followed.steps] == ["Case closed", "Done", "Not needed"]
    assert followed.overdue == 0 and followed.case.overdue_steps == 0 and decisions.notices == []
    assert (followed.case.next_step, followed.case.next_due) == ("", None)
    assert followed.case.progress in ("Case closed", "Withdrawn") and followed.case.closed_at == MON_9
    assert followed.case.status == typed       # a leader's Status is never rewritten
    assert events(decisions) == ["case closed"]
    later = follow_case(followed.case, followed.steps, ctx(config, MON_9 + timedelta(days=1)), Decisions(MON_9))
    assert later.case.closed_at == MON_9       # set once


def test_a_reopened_case_follows_its_steps_again(config: Config) -> None:
    closed_case, closed_steps = settled(config, case(status="Closed"), [step(due=MON_9 - timedelta(days=1))])
    decisions = Decisions(MON_9)
    followed = follow_case(replace(closed_case, status="re-open"), closed_steps, ctx(config, MON_9), decisions)
    assert followed.case.closed_at is None and followed.steps[0].status == "Overdue"
    assert followed.case.overdue_steps == 1
    assert events(decisions)[:2] == ["case reopened", "step overdue"]


def test_typed_step_statuses(config: Config) -> None:
    decisions = Decisions(MON_9)
    steps = [step(due=MON_9 - timedelta(days=1), status="not needed"),
             step(FACTS, MON_9 - timedelta(days=1), status="n/a"),
             step("Third", MON_9 - timedelta(days=1), status="done")]
    followed = follow_case(case(), steps, ctx(config, MON_9), decisions)
    assert [s.status for s in followed.steps] == ["Not needed", "Not needed", "Done"]
    assert followed.steps[2].done_at is None and followed.overdue == 0 and decisions.notices == []
    assert events(decisions).count("step not needed") == 2 and "step done" in events(decisions)
    again = Decisions(MON_9)
    follow_case(followed.case, followed.steps, ctx(config, MON_9), again)
    assert again.log == []


def test_unknown_entries_are_flagged_logged_once_and_fall_back_safely(config: Config) -> None:
    decisions = Decisions(MON_9)
    now = MON_9 + timedelta(hours=1)
    steps = [step(due=MON_9, role="Mrs Smith"), step(FACTS, "next week", status="sort of",
                                                      planned_due=MON_9 - timedelta(minutes=30), done="maybe")]
    followed = follow_case(case(status="pending?", priority="asap"), steps, ctx(config, now), decisions, 4, [7, 8])
    first, second = followed.steps
    assert first.role == "Mrs Smith" and first.status == "Overdue"
    assert {n.to for n in decisions.notices if n.event == "overdue"} >= {"principal@school.example"}
    assert second.status == "sort of" and second.due == "next week"      # never overwritten
    assert followed.overdue == 2                                      # the planned due counts
    assert first.attention.startswith("Role: not one of the configured roles, so its reminders go to principal")
    assert [line.partition(":")[0] for line in second.attention.splitlines()] == ["Done", "Status", "Due"]
    assert [line.partition(":")[0] for line in followed.case.attention.splitlines()] == [
        "Status", "Priority", "Checklist"]
    attention = [e.detail for e in decisions.log if e.event == "needs attention"]
    assert "Checklist row 7, column Role: not one of the configured roles, so its reminders go to principal. " \
           "Use one of: principal, pastoral_lead, counsellor, dean." in attention or any(
               d.startswith("Checklist row 7, column Role:") for d in attention)
    assert len(attention) == 6 and not any("Mrs Smith" in d or "next week" in d or "asap" in d for d in attention)
    again = Decisions(now)
    fixed = [replace(first, role="Pastoral lead"), second]
    follow_case(followed.case, followed.steps, ctx(config, now), again, 4, [7, 8])
    assert [e for e in again.log if "attention" in e.event] == []      # not again every sync
    fixed_follow = follow_case(followed.case, fixed, ctx(config, now), again, 4, [7, 8])
    assert fixed_follow.steps[0].role == "pastoral_lead" and fixed_follow.steps[0].attention == ""
    assert [(e.event, e.detail) for e in again.log if "attention" in e.event] == [
        ("attention resolved", "Checklist row 7, column Role: understood now")]


def test_due_typed_as_text_is_read_in_the_locale(config: Config) -> None:
    followed = follow_case(case(), [step(due="10/12/2026 9:00")], ctx(config, MON_9), Decisions(MON_9))
    assert followed.steps[0].due == datetime(2026, 12, 10, 9, 0, tzinfo=NZ) and followed.steps[0].attention == ""
    us = follow_case(case(), [step(due="10/12/2026 9:00")], ctx(config, MON_9, "en_US"), Decisions(MON_9))
    assert us.steps[0].due == datetime(2026, 10, 12, 9, 0, tzinfo=NZ)
    assert us.steps[0].status == "Overdue"


def test_checklist_priority_follows_the_case(config: Config) -> None:
    followed = follow_case(case(priority="High", seen_priority="High"), [step()], ctx(config, MON_9),
                           Decisions(MON_9))
    assert followed.steps[0].priority == "High"
