"""Overdue detection: which steps are late, when to remind, when to escalate.

Reminders repeat at most once per school day: the reminder "level" is 1 when a step
first goes overdue and goes up by one at each school-day start after that, and each
level is one notification (its ID carries the level). Escalation goes to the
principal once per step: after one more school day overdue, or after 1 hour for a
step of an Urgent case (safety never waits for Monday).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .model import CellValue
from .schema import STEP_DONE, STEP_NOT_NEEDED, STEP_OPEN, STEP_OVERDUE
from .schoolclock import SchoolClock

URGENT_ESCALATION_AFTER = timedelta(hours=1)

@dataclass(frozen=True)
class StepState:
    status: str
    reminder_level: int          # 0 = no reminder due
    escalate: bool


def evaluate_step(
    due: CellValue,
    ticked: bool,
    current_status: str,
    urgent_case: bool,
    now: datetime,
    clock: SchoolClock,
) -> StepState:
    if ticked:
        return StepState(STEP_DONE, 0, False)
    if current_status == STEP_NOT_NEEDED:
        return StepState(STEP_NOT_NEEDED, 0, False)
    if not isinstance(due, datetime) or now <= due:
        return StepState(STEP_OPEN, 0, False)
    level = 1 + clock.school_days_elapsed(due, now)
    if urgent_case:
        escalate = now >= due + URGENT_ESCALATION_AFTER
    else:
        escalate = now >= clock.add_school_days(due, 1)
    return StepState(STEP_OVERDUE, level, escalate)


def overdue_for(due: datetime, now: datetime, clock: SchoolClock) -> str:
    """How late a step is, in words for an email."""
    days = clock.school_days_elapsed(due, now)
    if days >= 1:
        return f"{days} school day{'s' if days != 1 else ''}"
    minutes = max(int((now - due).total_seconds() // 60), 1)
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = minutes // 60
    return f"{hours} hour{'s' if hours != 1 else ''}"
