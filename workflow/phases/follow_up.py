"""Follow-up: every open case's steps as of now, and what the case shows for them.

A tick stamps Done at (an untick clears it); a step past its Due turns Overdue and
earns one reminder per school day, then one escalation; when no required step is
left open the case is Ready to close (and reopens if one is unticked). The case
then shows its next step, its next due and how many steps are overdue.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from ..book import Book, changed
from ..checklist import next_step, step_slug, template_for
from ..notifications import ESCALATION, OVERDUE, fmt_time, for_roles
from ..overdue import StepState, evaluate_step
from ..records import Case, Step
from ..schema import CASE_OPEN, CASE_READY, STEP_DONE, STEP_OPEN, STEP_OVERDUE
from . import FINISHED, Context, Decisions

OPEN = (STEP_OPEN, STEP_OVERDUE)


@dataclass(frozen=True)
class Followed:
    """A case and its steps after follow-up."""

    case: Case
    steps: list[Step]
    overdue: int


def follow_up(book: Book, ctx: Context, decisions: Decisions) -> int:
    """Follow every case with an ID; returns how many steps are overdue in all."""
    overdue = 0
    for case_id, at in book.case_at.items():
        followed = follow_case(book.cases[at], book.steps_of(case_id), ctx, decisions)
        book.cases[at] = followed.case
        book.put_steps(case_id, followed.steps)
        overdue += followed.overdue
    return overdue


def follow_case(case: Case, steps: list[Step], ctx: Context, decisions: Decisions) -> Followed:
    """One case: leaders' edits noted; if still open, its steps followed and Updated stamped."""
    before, steps_before = case, steps
    case = notice_leader_edits(case, decisions)
    if case.status in FINISHED:
        return Followed(case, steps, 0)
    urgent = case.priority == "Urgent"
    states = [follow_step(step, urgent, ctx, decisions) for step in steps]
    steps = [step for step, _ in states]
    open_steps = [step for step, state in states if state.status in OPEN]
    required_open = sum(1 for step in open_steps if _required(step, ctx))
    overdue = sum(1 for _, state in states if state.status == STEP_OVERDUE)
    case = readiness(case, bool(steps), required_open, decisions)
    first = next_step(open_steps)
    case = replace(
        case,
        next_step=first.title if first else "",
        next_due=first.due if first and isinstance(first.due, datetime) else None,
        overdue_steps=overdue,
    )
    touched = changed(replace(before, seen_owner=case.seen_owner), case) or any(
        changed(a, b) for a, b in zip(steps_before, steps, strict=True))
    if touched:
        case = replace(case, updated=ctx.now)
    return Followed(case, steps, overdue)


def notice_leader_edits(case: Case, decisions: Decisions) -> Case:
    """Log a leader's change of owner or status once, remembering what was seen."""
    if case.owner != case.seen_owner:
        decisions.note(case.case_id, "owner set", f"owner is now {case.owner}" if case.owner else "owner cleared")
        case = replace(case, seen_owner=case.owner)
    if case.status != case.seen_status:
        decisions.note(case.case_id, "status changed",
                       f"{case.seen_status or '(blank)'} → {case.status or '(blank)'} by a leader")
        case = replace(case, seen_status=case.status)
    return case


def follow_step(step: Step, urgent: bool, ctx: Context, decisions: Decisions) -> tuple[Step, StepState]:
    """A step's tick, status and reminders as of now."""
    step = stamp_done(step, ctx, decisions)
    state = evaluate_step(step.due, step.done, step.status, urgent, ctx.now, ctx.clock)
    if state.status == STEP_OVERDUE and step.status != STEP_OVERDUE:
        decisions.note(step.case_id, "step overdue", f"{step.title!r} was due {fmt_time(step.due, ctx.config)}")
    if state.status == STEP_OVERDUE:
        remind(step, state, ctx, decisions)
    return replace(step, status=state.status), state


def stamp_done(step: Step, ctx: Context, decisions: Decisions) -> Step:
    """Done at follows the tick: stamped when ticked, cleared when a done step is unticked."""
    if step.done and not isinstance(step.done_at, datetime):
        decisions.note(step.case_id, "step done", f"{step.title!r} ticked done")
        return replace(step, done_at=ctx.now)
    if not step.done and step.done_at is not None and step.status == STEP_DONE:
        decisions.note(step.case_id, "step reopened", f"{step.title!r} unticked")
        return replace(step, done_at=None)
    return step


def remind(step: Step, state: StepState, ctx: Context, decisions: Decisions) -> None:
    """Queue today's reminder for the step's role and, when due, the escalation."""
    config, case_id = ctx.config, step.case_id
    slug = step_slug(step.title, config.checklist)
    reminders = for_roles(case_id, OVERDUE, (step.role,), config, slug, step.title, state.reminder_level)
    decisions.queue_and_log(case_id, reminders, f"overdue reminder {state.reminder_level} for {step.title!r}")
    if state.escalate:
        escalations = for_roles(case_id, ESCALATION, config.escalate_to, config, slug, step.title, 1)
        decisions.queue_and_log(case_id, escalations, f"escalation for {step.title!r}")


def readiness(case: Case, has_steps: bool, required_open: int, decisions: Decisions) -> Case:
    """Ready to close when no required step is open; back to Open when one reopens."""
    if has_steps and required_open == 0 and case.status in (CASE_OPEN, ""):
        decisions.note(case.case_id, "ready to close", "every required step is done")
        return replace(case, status=CASE_READY, seen_status=CASE_READY)
    if required_open and case.status == CASE_READY:
        decisions.note(case.case_id, "reopened", "a required step is no longer done")
        return replace(case, status=CASE_OPEN, seen_status=CASE_OPEN)
    return case


def _required(step: Step, ctx: Context) -> bool:
    template = template_for(step.title, ctx.config.checklist)
    return template is None or template.required
