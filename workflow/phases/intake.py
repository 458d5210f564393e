"""Intake: each new form response opens a case; an edited one updates its case.

A new case gets the next number of its year, a triage, its checklist and the first
alerts. An edit re-reads the answers: priority only ever goes up, a step that now
applies is added back, and a deadline only ever comes closer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime

from ..book import Book
from ..checklist import new_steps, step_applies, template_for
from ..config import PRIORITY_ORDER
from ..intake import Report, match_reports
from ..model import cell_text
from ..notifications import NEW_CASE, acknowledgement, for_roles
from ..records import Case, Step
from ..schema import CASE_OPEN, CELL_LIMIT, STEP_NOT_NEEDED, STEP_OPEN
from ..triage import describe_types, parse_answers, triage
from . import LEADER, WORKER, Context, Decisions, finished, priority_of

CASE_PREFIX = "DI"
CASE_ID_PATTERN = re.compile(rf"^{CASE_PREFIX}-(\d{{4}})-(\d+)$")


@dataclass
class Taken:
    """What intake learned: each case's answers (for emails) and how many cases it touched."""

    answers: dict[str, dict[str, str]] = field(default_factory=dict)
    opened: int = 0
    updated: int = 0


def take_in(book: Book, reports: list[Report], ctx: Context, decisions: Decisions) -> Taken:
    """Match every response to its case, then open the new cases in the order they arrived."""
    matched = match_reports(reports, list(book.cases), finished=finished)
    taken = Taken()
    for report, at in matched.unchanged + matched.moved:
        taken.answers[book.cases[at].case_id] = report.answers
    for report, at in matched.moved:
        book.cases[at] = replace(book.cases[at], response_row=report.row, response_hash=report.fingerprint)
    for at in matched.gone:
        case = book.cases[at]
        book.cases[at] = replace(case, response_row=None)
        decisions.note(case.case_id, "response gone",
                       f"form response row {_sheet_row(case.response_row)} is no longer in the responses tab "
                       "(deleted, or edited and taken as a new response); the case is kept as it is")
    for report, at in matched.edited:
        case = book.cases[at]
        taken.answers[case.case_id] = report.answers
        book.cases[at], steps = revise_case(case, book.steps_of(case.case_id), report, ctx, decisions)
        book.put_steps(case.case_id, steps)
        taken.updated += 1
    for report in sorted(matched.new, key=lambda r: (r.received or ctx.now, r.row)):
        received = report.received or ctx.now
        year = received.astimezone(ctx.config.school.timezone).year
        case_id = f"{CASE_PREFIX}-{year}-{next_case_number(book, year):04d}"
        book.add_case(*open_case(case_id, report, ctx, decisions))
        taken.answers[case_id] = report.answers
        taken.opened += 1
    return taken


def next_case_number(book: Book, year: int) -> int:
    """One more than the year's counter or its highest case ID, whichever is higher."""
    name = f"Case counter {year}"
    counter = cell_text(book.setting(name))
    highest = int(counter) if counter.isdigit() else 0
    for case_id in book.case_at:
        match = CASE_ID_PATTERN.match(case_id)
        if match and int(match[1]) == year:
            highest = max(highest, int(match[2]))
    book.set_setting(name, highest + 1)
    return highest + 1


def open_case(case_id: str, report: Report, ctx: Context, decisions: Decisions) -> tuple[Case, list[Step]]:
    """A new case from a response: triaged, with its checklist, alerts queued and logged."""
    config = ctx.config
    received = report.received or ctx.now
    parsed = parse_answers(report.answers, config.form)
    result = triage(parsed, config)
    case = Case(
        case_id=case_id,
        received=received,
        reported_by=report.reporter,
        incident_type=describe_types(result, parsed, config),
        priority=result.priority,
        status=CASE_OPEN,
        overdue_steps=0,
        summary=summary(report, ctx.text_limit),
        updated=ctx.now,
        response_key=report.key,
        response_row=report.row,
        response_hash=report.fingerprint,
        seen_status=CASE_OPEN,
        seen_priority=result.priority,
        priority_set_by=WORKER,
    )
    steps = new_steps(case_id, result.priority, result.flags, received, config.checklist, ctx.clock)
    decisions.note(case_id, "case opened", f"from form response row {report.row + 2}")
    because = "; ".join(result.reasons) or "no rule matched"
    decisions.note(case_id, "triaged", f"{result.priority} because: {because}")
    for question in parsed.unrecognised:
        decisions.note(case_id, "answer not recognised",
                       f"the answer to {question!r} is not one of the known options; "
                       "check [form.options] in config.toml matches the form")
    decisions.queue_and_log(case_id, for_roles(case_id, NEW_CASE, result.roles, config), "new case alert")
    decisions.queue_and_log(case_id, acknowledgement(case_id, report.reporter, config), "acknowledgement")
    return case, steps


def revise_case(case: Case, steps: list[Step], report: Report, ctx: Context,
                decisions: Decisions) -> tuple[Case, list[Step]]:
    """A case after its response was edited; a finished case only takes the new text."""
    config = ctx.config
    parsed = parse_answers(report.answers, config.form)
    result = triage(parsed, config)
    case = replace(
        case,
        incident_type=describe_types(result, parsed, config),
        reported_by=report.reporter or case.reported_by,
        summary=summary(report, ctx.text_limit),
        response_key=report.key,
        response_row=report.row,
        response_hash=report.fingerprint,
    )
    decisions.note(case.case_id, "response edited", f"form response row {report.row + 2} was edited; case updated")
    if finished(case):
        return case, steps
    case, priority = revise_priority(case, result.priority, result.reasons, ctx, decisions)
    start = report.received or ctx.now
    steps = [_revise_step(step, priority, result.flags, start, ctx, decisions) for step in steps]
    decisions.queue_and_log(case.case_id, for_roles(case.case_id, NEW_CASE, result.roles, config), "new case alert")
    return case, steps


def revise_priority(case: Case, triaged: str, reasons: tuple[str, ...], ctx: Context,
                    decisions: Decisions) -> tuple[Case, str]:
    """An edit may only raise the worker's priority; a leader's priority is never changed."""
    old = priority_of(case, ctx.config)
    if case.priority_set_by == LEADER:
        if triaged != old:
            decisions.note(case.case_id, "triaged", f"the edited response would make it {triaged}; "
                                                    f"{old} kept because a leader set it")
        return case, old
    if PRIORITY_ORDER.get(triaged, 0) <= PRIORITY_ORDER.get(old, 0):
        return case, old
    decisions.note(case.case_id, "triaged", f"priority raised {old} → {triaged} because: {'; '.join(reasons)}")
    return replace(case, priority=triaged, seen_priority=triaged, priority_set_by=WORKER), triaged


def _revise_step(step: Step, priority: str, flags: frozenset[str], start: datetime, ctx: Context,
                 decisions: Decisions) -> Step:
    """An open step that now applies is added back; a deadline may only come closer."""
    template = template_for(step.title, ctx.config.checklist)
    if template is None or step.ticked:
        return step
    due = ctx.clock.due(start, template.due[priority])
    applies = step_applies(template, flags)
    if step.status == STEP_NOT_NEEDED and applies:
        decisions.note(step.case_id, "step added", f"{template.title!r} now applies")
        return replace(step, status=STEP_OPEN, due=due, planned_due=due)
    if applies and isinstance(step.due, datetime) and due < step.due:
        return replace(step, due=due, planned_due=due)
    return step


def _sheet_row(row: int | float | None) -> str:
    return str(int(row) + 2) if row is not None else "?"


def summary(report: Report, limit: int) -> str:
    return truncate(report.answers.get("what_happened", ""),
                    f"the full account is in the form responses, row {report.row + 2}", limit)


def truncate(text: str, note: str, limit: int = CELL_LIMIT) -> str:
    """Keep a cell under the sheet's limit, saying where the rest is (SPEC §7.5)."""
    if len(text) <= limit:
        return text
    suffix = f"\n[… truncated: {note}]"
    return text[: limit - len(suffix)] + suffix
