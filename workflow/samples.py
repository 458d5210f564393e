"""Fictional email contexts, one per event: `check` renders the templates with them, and so do the tests.

They live apart from ``mail.py`` so that the production renderer carries no fixture data.
Every name and detail here is made up.
"""

from __future__ import annotations

from typing import Any

_SCHOOL = "Kōwhai Valley School"
_SHEET = "https://docs.google.com/spreadsheets/d/EXAMPLE-SHEET-ID/edit"


def _case(**overrides: Any) -> dict[str, Any]:
    case: dict[str, Any] = {
        "id": "DI-2025-014",
        "incident_type": "Cyberbullying",
        "priority": "High",
        "urgent": False,
        "status": "Open",
        "received": "Tue 4 Mar 2025, 10:42",
        "next_step": "Speak with the student and make sure they feel safe",
        "next_due": "Tue 4 Mar 2025, 14:42",
        "overdue_steps": 0,
        "details": None,
    }
    case.update(overrides)
    return case


SAMPLE_CONTEXTS: dict[str, dict[str, Any]] = {
    "new_case": {
        "school": _SCHOOL,
        "sheet_url": _SHEET,
        "event": "new_case",
        "recipient_role": "pastoral_lead",
        "case": _case(
            id="DI-2025-015",
            incident_type="Intimate images shared",
            priority="Urgent",
            urgent=True,
            received="Tue 4 Mar 2025, 11:05",
            next_step="Secure the device — do not view, copy or forward the images",
            next_due="Tue 4 Mar 2025, 12:05",
            details={
                "reported_by": "Ms A. Example (Year 10 dean)",
                "summary": "A Year 10 student says a photo of them is being passed around "
                           "a group chat.",
                "involved": "Student A (Y10); two students from another class",
                "where_online": "Group chat on a messaging app",
                "location": "Reported in the library at lunchtime",
                "actions_taken": "Student is with the guidance counsellor.",
            },
        ),
        "step": None,
        "digest": None,
    },
    "acknowledgement": {
        "school": _SCHOOL,
        "sheet_url": _SHEET,
        "event": "acknowledgement",
        "recipient_role": "reporter",
        "case": _case(),
        "step": None,
        "digest": None,
    },
    "overdue": {
        "school": _SCHOOL,
        "sheet_url": _SHEET,
        "event": "overdue",
        "recipient_role": "pastoral_lead",
        "case": _case(overdue_steps=1),
        "step": {
            "title": "Speak with the student and make sure they feel safe",
            "role": "pastoral_lead",
            "due": "Tue 4 Mar 2025, 14:42",
            "overdue_for": "3 hours",
            "level": 1,
        },
        "digest": None,
    },
    "priority_changed": {
        "school": _SCHOOL,
        "sheet_url": _SHEET,
        "event": "priority_changed",
        "recipient_role": "counsellor",
        "case": _case(priority="Urgent", urgent=True),
        "step": None,
        "digest": None,
    },
    "escalation": {
        "school": _SCHOOL,
        "sheet_url": _SHEET,
        "event": "escalation",
        "recipient_role": "principal",
        "case": _case(overdue_steps=2),
        "step": {
            "title": "Contact the student's parents or caregivers",
            "role": "dean",
            "due": "Wed 5 Mar 2025, 15:00",
            "overdue_for": "2 school days",
            "level": 2,
        },
        "digest": None,
    },
    "digest": {
        "school": _SCHOOL,
        "sheet_url": _SHEET,
        "event": "digest",
        "recipient_role": "principal",
        "case": None,
        "step": None,
        "digest": {
            "date": "Thu 6 Mar 2025",
            "open_cases": [
                _case(overdue_steps=1),
                _case(id="DI-2025-015", incident_type="Intimate images shared",
                      priority="Urgent", urgent=True,
                      next_step="Decide whether to contact Police",
                      next_due="Thu 6 Mar 2025, 12:00"),
                _case(id="DI-2025-016", incident_type="Harmful content seen",
                      priority="Normal", next_step="Record what was seen and where",
                      next_due="Fri 7 Mar 2025, 15:00"),
            ],
            "due_today": [
                {"case_id": "DI-2025-015", "step": "Decide whether to contact Police",
                 "due": "12:00", "role": "principal"},
            ],
            "overdue": [
                {"case_id": "DI-2025-014", "step": "Contact the student's parents or "
                 "caregivers", "due": "Wed 5 Mar 2025, 15:00", "role": "dean",
                 "priority": "High"},
            ],
            "attention": [
                {"case_id": "DI-2025-016", "where": "Checklist row 9 (Record what was seen and where)",
                 "column": "Role", "problem": "not one of the configured roles, so its reminders go to "
                 "principal. Use one of: principal, pastoral_lead, counsellor."},
            ],
        },
    },
    "admin_failing": {
        "school": _SCHOOL,
        "sheet_url": _SHEET,
        "event": "admin_failing",
        "recipient_role": "admin",
        "case": None,
        "step": None,
        "digest": None,
        "outage": {
            "since": "Tue 04 Mar 2025 10:42",
            "last_error": "3 email(s) not sent (they stay queued and are retried): mail server unreachable: "
                          "connection to smtp.school.example:587 refused",
            "last_error_at": "Tue 04 Mar 2025 11:14",
            "decided_at": "Tue 04 Mar 2025 11:14",
        },
    },
    "admin_recovered": {
        "school": _SCHOOL,
        "sheet_url": _SHEET,
        "event": "admin_recovered",
        "recipient_role": "admin",
        "case": None,
        "step": None,
        "digest": None,
        "outage": {
            "since": "Tue 04 Mar 2025 10:42",
            "last_error": "",
            "last_error_at": "",
            "decided_at": "Tue 04 Mar 2025 12:02",
        },
    },
}
