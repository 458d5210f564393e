"""The response checklist: the guide's steps filled into a case, with deadlines."""

from __future__ import annotations

import re
from datetime import datetime

from .config import StepTemplate
from .records import Step
from .schema import STEP_NOT_NEEDED, STEP_OPEN
from .schoolclock import SchoolClock


def step_applies(step: StepTemplate, flags: frozenset[str]) -> bool:
    return not step.when or step.when in flags


def new_steps(
    case_id: str,
    priority: str,
    flags: frozenset[str],
    received: datetime,
    steps: tuple[StepTemplate, ...],
    clock: SchoolClock,
) -> list[Step]:
    """Checklist rows for a new case; steps that don't apply are kept, marked Not needed."""
    rows = []
    for step in steps:
        applies = step_applies(step, flags)
        due = clock.due(received, step.due[priority]) if applies else None
        rows.append(
            Step(
                case_id=case_id,
                priority=priority,
                title=step.title,
                guidance=step.guidance,
                role=step.role,
                due=due,
                planned_due=due,
                done=False,
                done_at=None,
                status=STEP_OPEN if applies else STEP_NOT_NEEDED,
                notes="",
            )
        )
    return rows


def template_for(title: str, steps: tuple[StepTemplate, ...]) -> StepTemplate | None:
    folded = " ".join(title.split()).casefold()
    for step in steps:
        if step.title.casefold() == folded:
            return step
    return None


def step_slug(title: str, steps: tuple[StepTemplate, ...]) -> str:
    """A short stable id for a step, for notification IDs: the template id, else a slug."""
    template = template_for(title, steps)
    if template:
        return template.id
    return re.sub(r"[^a-z0-9]+", "-", title.casefold()).strip("-")[:40] or "step"


def next_step(open_steps: list[Step]) -> Step | None:
    """The open step due soonest; without dates, the first open step."""
    dated = [(step.due, at) for at, step in enumerate(open_steps) if isinstance(step.due, datetime)]
    if dated:
        return open_steps[min(dated)[1]]
    return open_steps[0] if open_steps else None
