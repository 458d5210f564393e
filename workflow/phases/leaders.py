"""Leaders: what a leader changed on Cases since the last sync, adopted before anything else.

Runs before intake, so an edited form response already sees a leader's priority.
An owner or status change is logged once (the hidden Seen columns remember what was
seen). A priority changed by hand (Priority ≠ Seen priority) is the leader's from then
on: the open steps a leader has not re-dated are re-timed from Received with the new
priority's deadlines, the roles the new priority involves that were not told yet get
one alert, and the change is logged. A priority not understood is left as typed (the
follow-up marks it for attention) and the last one seen keeps counting.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ..book import Book
from ..checklist import template_for
from ..config import StepTemplate
from ..leader_input import STEP_RECOMPUTE, case_status, priority, step_status, when
from ..model import same_cell
from ..notifications import ALERTS, PRIORITY_CHANGED, for_roles, involved_roles
from ..records import Case, Step
from ..schema import PRIORITIES
from . import LEADER, WORKER, Context, Decisions, finished

NOT_UNDERSTOOD = "a value not understood"


def read_leaders(book: Book, ctx: Context, decisions: Decisions) -> None:
    """Every case's owner, status and priority as a leader left them."""
    for at in book.case_at.values():
        case = notice_edits(book.cases[at], decisions)
        case = adopt_priority(case, book, ctx, decisions)
        book.cases[at] = case


def notice_edits(case: Case, decisions: Decisions) -> Case:
    """Log a leader's change of owner or status once, remembering what was seen."""
    if case.owner != case.seen_owner:
        decisions.note(case.case_id, "owner set", f"owner is now {case.owner}" if case.owner else "owner cleared")
        case = replace(case, seen_owner=case.owner)
    if case.status != case.seen_status:
        before, after = case_status(case.seen_status), case_status(case.status)
        if before != after or after is None:
            decisions.note(case.case_id, "status changed",
                           f"{before or NOT_UNDERSTOOD} → {after or NOT_UNDERSTOOD} by a leader")
        case = replace(case, seen_status=case.status)
    return case


def adopt_priority(case: Case, book: Book, ctx: Context, decisions: Decisions) -> Case:
    """A priority typed by a leader becomes the case's; the same one in other spelling is tidied."""
    typed = priority(case.priority)
    seen = case.seen_priority if case.seen_priority in PRIORITIES else ""
    if not seen:   # a case from before the worker remembered priorities: what it shows is the worker's
        if typed is None:
            return case
        return replace(case, priority=typed, seen_priority=typed, priority_set_by=case.priority_set_by or WORKER)
    if typed is None or typed == seen:
        return replace(case, priority=typed) if typed else case
    retimed = 0
    if not finished(case):
        steps, retimed = retime(book.steps_of(case.case_id), case, seen, typed, ctx)
        book.put_steps(case.case_id, steps)
    decisions.note(case.case_id, "priority changed",
                   f"{seen} → {typed} by a leader; {retimed} open step(s) re-timed")
    case = replace(case, priority=typed, seen_priority=typed, priority_set_by=LEADER)
    if not finished(case):
        tell_involved(case, typed, book, ctx, decisions)
    return case


def retime(steps: list[Step], case: Case, old: str, new: str, ctx: Context) -> tuple[list[Step], int]:
    """Open steps the worker dated get the new priority's deadlines; a leader's own dates stay."""
    if not isinstance(case.received, datetime):
        return steps, 0
    out, count = [], 0
    for step in steps:
        template = template_for(step.title, ctx.config.checklist)
        if template is None or not _open(step):
            out.append(step)
            continue
        due = ctx.clock.due(case.received, template.due[new])
        planned = worker_planned(step, template, case.received, old, ctx)
        if planned is None:            # re-dated by a leader
            out.append(step)
            continue
        typed = when(step.due, ctx.locale, ctx.config.school.timezone, ctx.config.calendar.day_ends)
        keep_text = step.due not in (None, "") and typed is None   # unreadable: the leader fixes it
        out.append(replace(step, due=step.due if keep_text else due, planned_due=due))
        count += 1
    return out, count


def worker_planned(step: Step, template: StepTemplate, received: datetime, old: str,
                   ctx: Context) -> datetime | None:
    """The step's due as the worker planned it, when no leader has re-dated it (else None).

    Rows from before Planned due existed count as the worker's when their Due is still what
    the old priority gives.
    """
    planned = step.planned_due if isinstance(step.planned_due, datetime) else None
    if planned is None and isinstance(step.due, datetime):
        computed = ctx.clock.due(received, template.due[old])
        planned = computed if same_cell(step.due, computed) else None
    if planned is None:
        return None
    typed = when(step.due, ctx.locale, ctx.config.school.timezone, ctx.config.calendar.day_ends)
    if typed is not None and not same_cell(typed, planned):
        return None
    return planned


def _open(step: Step) -> bool:
    """Not ticked, not Done or Not needed (a Status not understood counts as open)."""
    return not step.ticked and step_status(step.status) in (STEP_RECOMPUTE, None)


def tell_involved(case: Case, new: str, book: Book, ctx: Context, decisions: Decisions) -> None:
    """One alert to each address the new priority involves that has not heard of the case."""
    told = {n.to.strip().lower() for n in book.notifications if n.case_id == case.case_id and n.event in ALERTS}
    told |= {n.to.strip().lower() for n in decisions.notices if n.case_id == case.case_id and n.event in ALERTS}
    notices = [n for n in for_roles(case.case_id, PRIORITY_CHANGED, involved_roles(new, ctx.config), ctx.config, new)
               if n.to.strip().lower() not in told]
    decisions.queue_and_log(case.case_id, notices, f"priority change alert ({new})")

