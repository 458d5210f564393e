"""The response checklist: the guide's steps filled into a case, with deadlines."""

from __future__ import annotations

import re
from datetime import datetime

from .config import StepTemplate
from .model import CellValue
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
) -> list[dict[str, CellValue]]:
    """Checklist rows for a new case; steps that don't apply are kept, marked Not needed."""
    rows = []
    for step in steps:
        applies = step_applies(step, flags)
        rows.append(
            {
                "Case ID": case_id,
                "Step": step.title,
                "Guidance": step.guidance,
                "Role": step.role,
                "Due": clock.due(received, step.due[priority]) if applies else None,
                "Done": False,
                "Done at": None,
                "Status": STEP_OPEN if applies else STEP_NOT_NEEDED,
                "Notes": "",
            }
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
