"""Who gets which email: notification decisions with deterministic IDs, and their contexts.

A notification's ID is built from case + event + step + reminder level + recipient,
so deciding the same thing twice yields the same ID: the Notifications tab is the
record of what was decided, and an ID already there is never queued again.
Contexts carry the minimum (case ID, type, priority, step, due, link); names and the
account of what happened only for roles listed in ``email.details_roles``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .config import EMAIL_PATTERN, Config
from .leader_input import case_status
from .model import CellValue, cell_text
from .records import Case, Notification
from .schema import CASE_OPEN

NEW_CASE, ACKNOWLEDGEMENT, OVERDUE, ESCALATION, DIGEST, PRIORITY_CHANGED = (
    "new_case",
    "acknowledgement",
    "overdue",
    "escalation",
    "digest",
    "priority_changed",
)
ALERTS = (NEW_CASE, PRIORITY_CHANGED)   # the emails that tell a role about a case
REPORTER_ROLE = "reporter"
ADMIN_ROLE = "admin"                    # optional in [contacts]: told when syncs keep failing
ADMIN_FAILING, ADMIN_RECOVERED = "admin_failing", "admin_recovered"
ADMIN_EVENTS = (ADMIN_FAILING, ADMIN_RECOVERED)   # about the worker, not a case: never cancelled


@dataclass(frozen=True)
class Notice:
    id: str
    case_id: str
    event: str
    to: str
    role: str
    step: str = ""


def notice_id(case_id: str, event: str, to: str, step: str = "", level: int = 0) -> str:
    return Notification.make_id(case_id, event, to, step, level)


def for_roles(case_id: str, event: str, roles: tuple[str, ...], config: Config,
              step_id: str = "", step_title: str = "", level: int = 0) -> list[Notice]:
    """One notice per address of each role (an address in two roles gets one email)."""
    notices: dict[str, Notice] = {}
    for role in roles:
        for address in config.contacts.get(role, ()):
            key = address.strip().lower()
            if key not in notices:
                notices[key] = Notice(
                    notice_id(case_id, event, address, step_id, level), case_id, event, address, role, step_title
                )
    return list(notices.values())


def involved_roles(priority: str, config: Config) -> tuple[str, ...]:
    """The roles a priority involves: those the triage rules giving it notify (else the default)."""
    roles = [role for rule in config.triage if rule.priority == priority for role in rule.notify]
    return tuple(dict.fromkeys(roles)) or config.default_notify


def acknowledgement(case_id: str, reporter: str, config: Config) -> list[Notice]:
    """Thank the reporter, only at the school's own domains (SPEC §5)."""
    address = reporter.strip().lower()
    if not EMAIL_PATTERN.match(address) or address.rpartition("@")[2] not in config.email.reporter_domains:
        return []
    return [Notice(notice_id(case_id, ACKNOWLEDGEMENT, address), case_id, ACKNOWLEDGEMENT, address, REPORTER_ROLE)]


def digest_notices(day: date, config: Config) -> list[Notice]:
    return for_roles(f"digest-{day.isoformat()}", DIGEST, config.digest_to, config)


def admin_notices(event: str, outage: str, config: Config) -> list[Notice]:
    """``-/admin_failing/<outage>/0/<address>``: the outage's start is in the ID, so each
    outage gets at most one of each email (none when [contacts] has no admin)."""
    return for_roles("", event, (ADMIN_ROLE,), config, step_id=outage)


def fmt_time(value: CellValue, config: Config) -> str:
    if isinstance(value, datetime):
        return value.astimezone(config.school.timezone).strftime("%a %d %b %Y %H:%M")
    return cell_text(value)


def case_context(case: Case, config: Config, role: str, answers: dict[str, str] | None) -> dict[str, Any]:
    """What an email may say about a case; details only for roles allowed them."""
    details = None
    if role in config.email.details_roles and answers is not None:
        details = {
            "reported_by": case.reported_by,
            "summary": answers.get("what_happened", ""),
            "involved": answers.get("involved", ""),
            "where_online": answers.get("where_online", ""),
            "location": answers.get("location", ""),
            "actions_taken": answers.get("actions_taken", ""),
        }
    return {
        "id": case.case_id,
        "incident_type": case.incident_type,
        "priority": case.priority,
        "urgent": case.priority == "Urgent",
        "status": case_status(case.status) or CASE_OPEN,
        "received": fmt_time(case.received, config),
        "next_step": case.next_step,
        "next_due": fmt_time(case.next_due, config),
        "overdue_steps": case.overdue_steps or 0,
        "details": details,
    }


def base_context(config: Config, event: str, role: str) -> dict[str, Any]:
    return {
        "school": config.school.name,
        "sheet_url": config.school.sheet_url,
        "event": event,
        "recipient_role": role,
        "case": None,
        "step": None,
        "digest": None,
    }
