"""Follow-up: every case's steps as of now, what the case shows for them, and what needs a leader.

Each step's leader cells are read tolerantly (``leader_input``): a tick in any spelling,
"not needed" or "done" typed in Status, a Due typed as text, a Role in words. A tick
stamps Done at (an untick clears it); a step past its Due turns Overdue and earns one
reminder per school day, then one escalation. An open case shows its next step, next
due, overdue count and Progress ("3 of 7 steps done", or "Ready to close" when no
required step is left open). A Closed or Withdrawn case has its open steps marked
"Case closed": nothing about it is counted, painted or reminded; re-opened, they are
followed again.

Whatever a leader typed that cannot be understood is never silently dropped: the row's
Attention cell says what is wrong and what is valid, the Log gets one row when it
appears and one when it is fixed (the Attention cell is the memory), and the worker
falls back safely (not done; still open; the planned due; reminders to the principal).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from ..book import Book, changed
from ..checklist import next_step, step_slug, template_for
from ..leader_input import (
    STEP_RECOMPUTE,
    case_status,
    date_example,
    priority,
    role,
    step_status,
    tick,
    valid_case_statuses,
    valid_priorities,
    when,
)
from ..notifications import ESCALATION, OVERDUE, fmt_time, for_roles
from ..overdue import StepState, evaluate_step
from ..records import Case, Step, When
from ..schema import (
    CASE_CLOSED,
    PROGRESS_READY,
    STEP_CASE_CLOSED,
    STEP_DONE,
    STEP_NOT_NEEDED,
    STEP_OPEN,
    STEP_OVERDUE,
)
from . import FINISHED, Context, Decisions, priority_of, status_of

OPEN = (STEP_OPEN, STEP_OVERDUE)
SUMMARY = "Checklist:"          # the case row's line about its checklist rows (not logged on its own)


@dataclass(frozen=True)
class Followed:
    """A case and its steps after follow-up."""

    case: Case
    steps: list[Step]
    overdue: int


@dataclass(frozen=True)
class Reading:
    """A step's leader cells as the worker understands them, and what it could not understand."""

    ticked: bool
    intent: str | None             # step_status(): Done, Not needed, STEP_RECOMPUTE, None = not understood
    due: datetime | None           # the due that counts
    due_cell: When                 # what Due should hold (text typed as a date becomes that date)
    roles: tuple[str, ...]         # who is reminded
    role_cell: str
    problems: tuple[str, ...]      # Attention lines


def follow_up(book: Book, ctx: Context, decisions: Decisions) -> int:
    """Follow every case with an ID; returns how many steps are overdue in all."""
    overdue = 0
    for case_id, at in book.case_at.items():
        rows = [book.sheet_row(book.steps, index) for index in book.steps_at.get(case_id, [])]
        followed = follow_case(book.cases[at], book.steps_of(case_id), ctx, decisions,
                               book.sheet_row(book.cases, at), rows)
        book.cases[at] = followed.case
        book.put_steps(case_id, followed.steps)
        overdue += followed.overdue
    return overdue


def follow_case(case: Case, steps: list[Step], ctx: Context, decisions: Decisions,
                row: int | None = None, step_rows: list[int | None] | None = None) -> Followed:
    """One case: its steps followed (or marked closed), its board cells and Attention; Updated stamped."""
    before, steps_before = case, steps
    status = status_of(case)
    case = closing(case, status, ctx, decisions)
    readings = [read_step(step, case, ctx) for step in steps]
    if status in FINISHED:
        steps = [close_step(step, reading, ctx, decisions) for step, reading in zip(steps, readings, strict=True)]
        case = replace(case, next_step="", next_due=None, overdue_steps=0,
                       progress=STEP_CASE_CLOSED if status == CASE_CLOSED else status)
        overdue = 0
    else:
        case, steps, overdue = follow_open(case, steps, readings, ctx, decisions)
    shown = priority_of(case, ctx.config)
    steps = [replace(step, priority=shown) for step in steps]     # the Checklist shows the case's priority
    steps, flagged = settle_steps(steps, readings, status not in FINISHED, step_rows, decisions)
    case = settle_case(case, flagged, ctx, row, decisions)
    touched = changed(replace(before, seen_owner=case.seen_owner, seen_status=case.seen_status), case) or any(
        changed(a, b) for a, b in zip(steps_before, steps, strict=True))
    if touched:
        case = replace(case, updated=ctx.now)
    return Followed(case, steps, overdue)


def follow_open(case: Case, steps: list[Step], readings: list[Reading], ctx: Context,
                decisions: Decisions) -> tuple[Case, list[Step], int]:
    """An open case's steps followed; its next step, next due, overdue count and progress."""
    urgent = priority_of(case, ctx.config) == "Urgent"
    states = [follow_step(step, reading, urgent, ctx, decisions) for step, reading in zip(steps, readings, strict=True)]
    steps = [step for step, _ in states]
    open_steps = [(step, reading) for (step, state), reading in zip(states, readings, strict=True)
                  if state.status in OPEN]
    required_open = sum(1 for step, _ in open_steps if _required(step, ctx))
    overdue = sum(1 for _, state in states if state.status == STEP_OVERDUE)
    applicable = [state for _, state in states if state.status != STEP_NOT_NEEDED]
    done = sum(1 for state in applicable if state.status == STEP_DONE)
    progress = PROGRESS_READY if steps and not required_open else f"{done} of {len(applicable)} steps done"
    _note_readiness(case, progress, decisions)
    first = next_step([replace(step, due=reading.due) for step, reading in open_steps])
    case = replace(
        case,
        next_step=first.title if first else "",
        next_due=first.due if first and isinstance(first.due, datetime) else None,
        overdue_steps=overdue,
        progress=progress,
    )
    return case, steps, overdue


def _note_readiness(case: Case, progress: str, decisions: Decisions) -> None:
    if progress == PROGRESS_READY and case.progress != PROGRESS_READY:
        decisions.note(case.case_id, "ready to close", "every required step is done or not needed")
    elif progress != PROGRESS_READY and case.progress == PROGRESS_READY:
        decisions.note(case.case_id, "not ready to close", "a required step is no longer done")


def closing(case: Case, status: str, ctx: Context, decisions: Decisions) -> Case:
    """Closed at is set the first time a case is seen closed, and cleared when a leader re-opens it."""
    if status in FINISHED:
        if isinstance(case.closed_at, datetime):
            return case
        decisions.note(case.case_id, "case closed",
                       f"{status} by a leader: open steps marked {STEP_CASE_CLOSED!r}, "
                       "queued emails cancelled (the reporter's acknowledgement still goes)")
        return replace(case, closed_at=ctx.now)
    if case.closed_at not in (None, ""):
        decisions.note(case.case_id, "case reopened", "re-opened by a leader: its open steps are followed again")
        return replace(case, closed_at=None)
    return case


# -- steps -----------------------------------------------------------------------------------------

def read_step(step: Step, case: Case, ctx: Context) -> Reading:
    """A step's Done, Status, Due and Role as a person means them, with what could not be read.

    Due and Role only matter while the step is to do, so only then are they flagged.
    """
    config, problems = ctx.config, []
    ticked = tick(step.done)
    if ticked is None:
        problems.append("Done: not understood, so the step counts as not done. "
                        "Tick the box, or type TRUE or FALSE (yes / no and x also work).")
    intent = step_status(step.status)
    if intent is None:
        problems.append("Status: not understood, so the step stays open and its reminders continue. "
                        f"Use {STEP_OPEN}, {STEP_DONE} or {STEP_NOT_NEEDED} (blank lets the worker decide).")
    to_do = not ticked and intent in (STEP_RECOMPUTE, None)
    due, due_cell = _read_due(step, case, ctx, problems if to_do else [])
    found = role(step.role, config.contacts)
    if found is None and to_do:
        problems.append(f"Role: not one of the configured roles, so its reminders go to "
                        f"{', '.join(config.escalate_to)}. Use one of: {', '.join(config.contacts)}.")
    return Reading(bool(ticked), intent, due, due_cell, (found,) if found else config.escalate_to,
                   found or step.role, tuple(problems))


def _read_due(step: Step, case: Case, ctx: Context, problems: list[str]) -> tuple[datetime | None, When]:
    """The due that counts and what the Due cell should hold; text that is not a date keeps the plan."""
    config = ctx.config
    typed = when(step.due, ctx.locale, config.school.timezone, config.calendar.day_ends)
    if typed is not None:
        return typed, typed
    planned = step.planned_due if isinstance(step.planned_due, datetime) else _computed_due(step, case, ctx)
    fallback = f"the planned due {fmt_time(planned, config)}" if planned else "no due"
    what = "blank" if step.due in (None, "") else "not read as a date"
    problems.append(f"Due: {what}, so {fallback} counts. Type a date and time such as {date_example(ctx.locale)}.")
    return planned, step.due


def _computed_due(step: Step, case: Case, ctx: Context) -> datetime | None:
    template = template_for(step.title, ctx.config.checklist)
    if template is None or not isinstance(case.received, datetime):
        return None
    return ctx.clock.due(case.received, template.due[priority_of(case, ctx.config)])


def follow_step(step: Step, reading: Reading, urgent: bool, ctx: Context,
                decisions: Decisions) -> tuple[Step, StepState]:
    """A step's tick, status and reminders as of now; a Status not understood is left as typed."""
    step, reading = stamp_done(step, reading, ctx, decisions)
    state = step_state(reading, urgent, ctx)
    if state.status == STEP_OVERDUE and reading.intent == STEP_RECOMPUTE and step.status != STEP_OVERDUE:
        decisions.note(step.case_id, "step overdue", f"{step.title!r} was due {fmt_time(reading.due, ctx.config)}")
    if state.status == STEP_OVERDUE:
        remind(step, reading, state, ctx, decisions)
    _note_typed(step, reading, state.status, decisions)
    status = step.status if reading.intent is None else state.status
    return replace(step, status=status, due=reading.due_cell, role=reading.role_cell), state


def step_state(reading: Reading, urgent: bool, ctx: Context) -> StepState:
    if reading.ticked or reading.intent == STEP_DONE:
        return StepState(STEP_DONE, 0, False)
    if reading.intent == STEP_NOT_NEEDED:
        return StepState(STEP_NOT_NEEDED, 0, False)
    return evaluate_step(reading.due, False, "", urgent, ctx.now, ctx.clock)


def _note_typed(step: Step, reading: Reading, status: str, decisions: Decisions) -> None:
    """A step marked in its Status cell by a leader (in other words than the worker's) is logged once."""
    if reading.ticked or step.status == status or reading.intent not in (STEP_DONE, STEP_NOT_NEEDED):
        return
    decisions.note(step.case_id, "step done" if status == STEP_DONE else "step not needed",
                   f"{step.title!r} marked {status.lower()} in Status by a leader")


def close_step(step: Step, reading: Reading, ctx: Context, decisions: Decisions) -> Step:
    """A step of a closed or withdrawn case: done, not needed, or "Case closed" — never overdue."""
    step, reading = stamp_done(step, reading, ctx, decisions)
    if reading.ticked or reading.intent == STEP_DONE:
        status = STEP_DONE
    elif reading.intent == STEP_NOT_NEEDED:
        status = STEP_NOT_NEEDED
    elif reading.intent is None:
        status = step.status
    else:
        status = STEP_CASE_CLOSED
    return replace(step, status=status, due=reading.due_cell, role=reading.role_cell)


def stamp_done(step: Step, reading: Reading, ctx: Context, decisions: Decisions) -> tuple[Step, Reading]:
    """Done at follows the tick: stamped when ticked, cleared when a done step is unticked.

    A step marked Done in Status without a tick has no Done at: that is how an untick (Done at
    set, Status still the worker's Done) is told from a leader's typed "done".
    """
    if reading.ticked and not isinstance(step.done_at, datetime):
        decisions.note(step.case_id, "step done", f"{step.title!r} ticked done")
        return replace(step, done_at=ctx.now), reading
    if not reading.ticked and step.done_at is not None and reading.intent == STEP_DONE:
        decisions.note(step.case_id, "step reopened", f"{step.title!r} unticked")
        return replace(step, done_at=None, status=STEP_OPEN), replace(reading, intent=STEP_RECOMPUTE)
    return step, reading


def remind(step: Step, reading: Reading, state: StepState, ctx: Context, decisions: Decisions) -> None:
    """Queue today's reminder for the step's role (the principal when the Role is unknown), then escalate."""
    config, case_id = ctx.config, step.case_id
    slug = step_slug(step.title, config.checklist)
    reminders = for_roles(case_id, OVERDUE, reading.roles, config, slug, step.title, state.reminder_level)
    decisions.queue_and_log(case_id, reminders, f"overdue reminder {state.reminder_level} for {step.title!r}")
    if state.escalate:
        escalations = for_roles(case_id, ESCALATION, config.escalate_to, config, slug, step.title, 1)
        decisions.queue_and_log(case_id, escalations, f"escalation for {step.title!r}")


def _required(step: Step, ctx: Context) -> bool:
    template = template_for(step.title, ctx.config.checklist)
    return template is None or template.required


# -- attention -------------------------------------------------------------------------------------

def settle_steps(steps: list[Step], readings: list[Reading], open_case: bool, rows: list[int | None] | None,
                 decisions: Decisions) -> tuple[list[Step], int]:
    """Each step's Attention cell (only an open case's steps need a leader); how many are flagged."""
    out, flagged = [], 0
    for at, (step, reading) in enumerate(zip(steps, readings, strict=True)):
        lines = list(reading.problems) if open_case else []
        where = _where("Checklist", rows[at] if rows else None)
        attention = settle(step.case_id, step.attention, lines, where, decisions, log=open_case)
        flagged += bool(lines)
        out.append(replace(step, attention=attention))
    return out, flagged


def case_problems(case: Case, ctx: Context) -> list[str]:
    """What on a case row a leader typed that the worker cannot understand."""
    problems = []
    if case_status(case.status) is None:
        problems.append("Status: not understood, so the case stays open and its reminders continue. "
                        f"Use {valid_case_statuses()}.")
    if priority(case.priority) is None:
        problems.append(f"Priority: not understood, so {priority_of(case, ctx.config)} still counts. "
                        f"Use {valid_priorities()}.")
    return problems


def settle_case(case: Case, flagged: int, ctx: Context, row: int | None, decisions: Decisions) -> Case:
    lines = case_problems(case, ctx)
    if flagged:
        lines.append(f"{SUMMARY} {flagged} row{'s' * (flagged != 1)} of this case need{'s' * (flagged == 1)} "
                     "attention (see the Attention column there).")
    return replace(case, attention=settle(case.case_id, case.attention, lines, _where("Cases", row), decisions))


def settle(case_id: str, old: str, lines: list[str], where: str, decisions: Decisions, log: bool = True) -> str:
    """The new Attention text; a line that appears is logged once, and so is one that goes."""
    before = [line for line in old.splitlines() if line.strip()]
    if log:
        for line in lines:
            if line not in before and not line.startswith(SUMMARY):
                decisions.note(case_id, "needs attention", f"{where}, column {line}")
        for line in before:
            if line not in lines and not line.startswith(SUMMARY):
                column = line.partition(":")[0]
                decisions.note(case_id, "attention resolved", f"{where}, column {column}: understood now")
    return "\n".join(lines)


def _where(tab: str, row: int | None) -> str:
    return f"{tab} row {row}" if row is not None else f"{tab} (new row)"



def attention_items(book: Book) -> list[dict[str, str]]:
    """Every Attention line on the board, case by case: for the digest, `status` and `check`."""
    items = []
    for case_id, at in sorted(book.case_at.items()):
        for line in book.cases[at].attention.splitlines():
            if line.strip() and not line.startswith(SUMMARY):
                items.append(_item(case_id, _where("Cases", book.sheet_row(book.cases, at)), line))
        for index in book.steps_at.get(case_id, []):
            step = book.steps[index]
            for line in step.attention.splitlines():
                if line.strip():
                    where = f"{_where('Checklist', book.sheet_row(book.steps, index))} ({step.title})"
                    items.append(_item(case_id, where, line))
    return items


def _item(case_id: str, where: str, line: str) -> dict[str, str]:
    column, _, problem = line.partition(":")
    return {"case_id": case_id, "where": where, "column": column.strip(), "problem": problem.strip()}
