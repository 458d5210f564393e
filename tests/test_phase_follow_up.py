"""The follow-up phase on records: ticks, overdue steps, reminders, escalation, ready to close."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from workflow.config import Config
from workflow.phases import Context, Decisions
from workflow.phases.follow_up import follow_case, notice_leader_edits, readiness, stamp_done
from workflow.records import Case, Step
from workflow.schema import CELL_LIMIT

NZ = ZoneInfo("Pacific/Auckland")
MON_9 = datetime(2026, 11, 23, 9, 0, tzinfo=NZ)
SAFETY = "Make sure everyone is safe now"
FACTS = "Gather the facts: what happened, when, where, who is involved"


def ctx(config: Config, now: datetime) -> Context:
    return Context.make(config, now, CELL_LIMIT)


def case(**changes: Any) -> Case:
    base = Case(case_id="DI-2026-0001", priority="Normal", status="Open", seen_status="Open", overdue_steps=0)
    return replace(base, **changes)


def step(title: str = SAFETY, due: datetime | None = MON_9, **changes: Any) -> Step:
    base = Step(case_id="DI-2026-0001", title=title, role="pastoral_lead", due=due, status="Open")
    return replace(base, **changes)


def events(decisions: Decisions) -> list[str]:
    return [entry.event for entry in decisions.log]


def test_nothing_to_do_changes_nothing(config: Config) -> None:
    decisions = Decisions(MON_9)
    steps = [step(due=MON_9 + timedelta(days=1)), step(FACTS, MON_9 + timedelta(days=2))]
    before = case(next_step=SAFETY, next_due=MON_9 + timedelta(days=1))
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
    follow_case(case(), [step(due=MON_9, status="Overdue")], ctx(config, MON_9 + timedelta(minutes=5)), decisions)
    assert decisions.notices == [] and decisions.log == []


def test_tick_stamps_done_at_and_untick_clears_it(config: Config) -> None:
    context = ctx(config, MON_9)
    decisions = Decisions(MON_9)
    ticked = stamp_done(step(done=True), context, decisions)
    assert ticked.done_at == MON_9
    unticked = stamp_done(replace(ticked, done=False, status="Done"), context, decisions)
    assert unticked.done_at is None
    assert events(decisions) == ["step done", "step reopened"]


def test_ready_to_close_when_no_required_step_is_open_and_back(config: Config) -> None:
    decisions = Decisions(MON_9)
    ready = readiness(case(), True, 0, decisions)
    assert (ready.status, ready.seen_status) == ("Ready to close", "Ready to close")
    reopened = readiness(ready, True, 1, decisions)
    assert (reopened.status, reopened.seen_status) == ("Open", "Open")
    assert readiness(case(), False, 0, decisions) == case()     # no steps: nothing to be ready for
    assert events(decisions) == ["ready to close", "reopened"]


def test_next_step_is_the_open_step_due_soonest(config: Config) -> None:
    steps = [step(SAFETY, MON_9 + timedelta(days=2)), step(FACTS, MON_9 + timedelta(days=1)),
             step("Not dated", None)]
    followed = follow_case(case(), steps, ctx(config, MON_9), Decisions(MON_9))
    assert (followed.case.next_step, followed.case.next_due) == (FACTS, MON_9 + timedelta(days=1))


def test_leader_edits_are_logged_once_and_a_closed_case_is_left_alone(config: Config) -> None:
    decisions = Decisions(MON_9)
    closed = case(status="Closed", owner="Ms Dean")
    followed = follow_case(closed, [step(due=MON_9 - timedelta(days=3))], ctx(config, MON_9), decisions)
    assert followed.case == replace(closed, seen_status="Closed", seen_owner="Ms Dean")
    assert followed.steps[0].status == "Open" and decisions.notices == []
    assert events(decisions) == ["owner set", "status changed"]
    assert notice_leader_edits(followed.case, decisions) == followed.case
