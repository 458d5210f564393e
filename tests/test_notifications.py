"""Tests for workflow.notifications: deterministic notice IDs, routing, acknowledgements, contexts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from workflow.config import Config
from workflow.model import CellValue
from workflow.notifications import (
    ACKNOWLEDGEMENT,
    DIGEST,
    ESCALATION,
    NEW_CASE,
    OVERDUE,
    REPORTER_ROLE,
    Notice,
    acknowledgement,
    base_context,
    case_context,
    digest_notices,
    fmt_time,
    for_roles,
    notice_id,
)
from workflow.records import Case, from_cells

NZ = ZoneInfo("Pacific/Auckland")
MakeConfig = Callable[..., Config]

NARRATIVE = "Jane Doe posted a video of Sam Smith crying in the changing room"
NAMES = "Jane Doe (Y10), Sam Smith (Y9)"


# -- notice_id --------------------------------------------------------------------------------


def test_notice_id_format_and_determinism() -> None:
    first = notice_id("DI-2026-0007", OVERDUE, " Dean@School.Example ", "safety", 2)
    assert first == "DI-2026-0007/overdue/safety/2/dean@school.example"
    assert notice_id("DI-2026-0007", OVERDUE, "dean@school.example", "safety", 2) == first


def test_notice_id_defaults() -> None:
    assert notice_id("DI-2026-0007", NEW_CASE, "p@school.example") == "DI-2026-0007/new_case/-/0/p@school.example"
    assert notice_id("", DIGEST, "p@school.example") == "-/digest/-/0/p@school.example"


def test_notice_id_distinct_per_recipient_step_level_event_and_case() -> None:
    base = dict(case_id="DI-2026-0007", event=OVERDUE, to="a@school.example", step="safety", level=1)
    variants = [
        base,
        {**base, "to": "b@school.example"},
        {**base, "step": "facts"},
        {**base, "level": 2},
        {**base, "event": ESCALATION},
        {**base, "case_id": "DI-2026-0008"},
    ]
    ids = [notice_id(**v) for v in variants]  # type: ignore[arg-type]
    assert len(set(ids)) == len(ids)


# -- for_roles ------------------------------------------------------------------------------------


def test_for_roles_one_notice_per_address_in_role_order(config: Config) -> None:
    notices = for_roles("DI-2026-0001", NEW_CASE, ("principal", "pastoral_lead", "counsellor"), config)
    assert notices == [
        Notice("DI-2026-0001/new_case/-/0/principal@school.example", "DI-2026-0001", NEW_CASE,
               "principal@school.example", "principal"),
        Notice("DI-2026-0001/new_case/-/0/dean@school.example", "DI-2026-0001", NEW_CASE,
               "dean@school.example", "pastoral_lead"),
        Notice("DI-2026-0001/new_case/-/0/counsellor@school.example", "DI-2026-0001", NEW_CASE,
               "counsellor@school.example", "counsellor"),
    ]


def test_for_roles_dedups_an_address_in_two_roles(make_config: MakeConfig) -> None:
    config = make_config(replace={"pastoral_lead": '["Principal@School.example", "dean@school.example"]'})
    notices = for_roles("DI-2026-0001", NEW_CASE, ("principal", "pastoral_lead"), config)
    assert [(n.to, n.role) for n in notices] == [
        ("principal@school.example", "principal"),
        ("dean@school.example", "pastoral_lead"),
    ]
    assert len({n.id for n in notices}) == 2


def test_for_roles_dedups_a_repeated_role(config: Config) -> None:
    notices = for_roles("DI-2026-0001", NEW_CASE, ("principal", "principal"), config)
    assert [n.to for n in notices] == ["principal@school.example"]


def test_for_roles_with_step_and_level(config: Config) -> None:
    [notice] = for_roles("DI-2026-0001", OVERDUE, ("pastoral_lead",), config, "safety",
                         "Make sure everyone is safe now", 3)
    assert notice.id == "DI-2026-0001/overdue/safety/3/dean@school.example"
    assert notice.step == "Make sure everyone is safe now"
    assert (notice.event, notice.role, notice.to) == (OVERDUE, "pastoral_lead", "dean@school.example")


def test_for_roles_ignores_a_role_without_contacts(config: Config) -> None:
    assert for_roles("DI-2026-0001", NEW_CASE, ("board",), config) == []


def test_for_roles_is_deterministic(config: Config) -> None:
    roles = ("principal", "it_lead")
    assert for_roles("C", ESCALATION, roles, config, "s", "S", 1) == for_roles("C", ESCALATION, roles, config,
                                                                               "s", "S", 1)


def test_digest_notices(config: Config) -> None:
    notices = digest_notices(date(2026, 3, 2), config)
    assert [(n.id, n.role) for n in notices] == [
        ("digest-2026-03-02/digest/-/0/principal@school.example", "principal"),
        ("digest-2026-03-02/digest/-/0/dean@school.example", "pastoral_lead"),
    ]


# -- acknowledgement -----------------------------------------------------------------------------------


def test_acknowledgement_for_a_school_address(config: Config) -> None:
    assert acknowledgement("DI-2026-0001", " Teacher@School.Example ", config) == [
        Notice("DI-2026-0001/acknowledgement/-/0/teacher@school.example", "DI-2026-0001", ACKNOWLEDGEMENT,
               "teacher@school.example", REPORTER_ROLE),
    ]


@pytest.mark.parametrize(
    "reporter",
    [
        "x@evil.example",
        "",
        "   ",
        "no-at-sign",
        "x@mail.school.example",
        "x@evilschool.example",
        "x@school.example.evil.example",
        "a@school.example\nbcc: x@evil.example",
        "a@school.example\r\nBcc: b@school.example",
        "a\n@school.example",
        "a@school.example, b@school.example",
        "evil@evil.example,b@school.example",
        "a@school.example;b@school.example",
        "Name <a@school.example>",
        "a b@school.example",
    ],
)
def test_no_acknowledgement(config: Config, reporter: str) -> None:
    assert acknowledgement("DI-2026-0001", reporter, config) == []


def test_acknowledgement_domains_come_from_config(make_config: MakeConfig) -> None:
    config = make_config(replace={"reporter_domains": '["@Staff.School.example", "school.example"]'})
    assert config.email.reporter_domains == ("staff.school.example", "school.example")
    assert [n.to for n in acknowledgement("C", "a@staff.school.example", config)] == ["a@staff.school.example"]
    assert [n.to for n in acknowledgement("C", "a@school.example", config)] == ["a@school.example"]


def test_no_acknowledgement_without_reporter_domains(make_config: MakeConfig) -> None:
    config = make_config(replace={"reporter_domains": "[]"})
    assert acknowledgement("C", "a@school.example", config) == []


# -- case_context ------------------------------------------------------------------------------------------


def case_record(**cells: CellValue) -> Case:
    """A case as read from these Cases cells (the mapping is part of what is tested)."""
    return from_cells(Case, {**case_cells(), **cells})


def case_cells() -> dict[str, CellValue]:
    return {
        "Case ID": "DI-2026-0007",
        "Received": datetime(2026, 3, 1, 21, 5, tzinfo=ZoneInfo("UTC")),
        "Reported by": "teacher@school.example",
        "Incident type": "Nude or intimate images shared",
        "Priority": "Urgent",
        "Status": "Open",
        "Next step": "Make sure everyone is safe now",
        "Next due": datetime(2026, 3, 2, 11, 5, tzinfo=NZ),
        "Overdue steps": 2.0,
        "Summary": NARRATIVE,
    }


ANSWERS = {
    "what_happened": NARRATIVE,
    "involved": NAMES,
    "where_online": "Snapchat",
    "location": "At school",
    "actions_taken": "Spoke to Jane Doe's form teacher",
}


def test_case_context_minimum_fields(config: Config) -> None:
    context = case_context(case_record(), config, "principal", ANSWERS)
    assert context == {
        "id": "DI-2026-0007",
        "incident_type": "Nude or intimate images shared",
        "priority": "Urgent",
        "urgent": True,
        "status": "Open",
        "received": "Mon 02 Mar 2026 10:05",
        "next_step": "Make sure everyone is safe now",
        "next_due": "Mon 02 Mar 2026 11:05",
        "overdue_steps": 2,
        "details": None,
    }


@pytest.mark.parametrize("role", ["principal", "counsellor", "pastoral_lead", "reporter", ""])
def test_case_context_never_carries_narrative_or_names_by_default(config: Config, role: str) -> None:
    context = case_context(case_record(), config, role, ANSWERS)
    text = repr(context)
    assert context["details"] is None
    for secret in ("Jane Doe", "Sam Smith", "changing room", "Snapchat", "teacher@school.example"):
        assert secret not in text


def test_case_context_details_only_for_details_roles(make_config: MakeConfig) -> None:
    config = make_config(replace={"details_roles": '["counsellor"]'})
    counsellor = case_context(case_record(), config, "counsellor", ANSWERS)
    assert counsellor["details"] == {
        "reported_by": "teacher@school.example",
        "summary": NARRATIVE,
        "involved": NAMES,
        "where_online": "Snapchat",
        "location": "At school",
        "actions_taken": "Spoke to Jane Doe's form teacher",
    }
    for role in ("principal", "pastoral_lead", "it_lead", "reporter"):
        context = case_context(case_record(), config, role, ANSWERS)
        assert context["details"] is None
        assert "Jane Doe" not in repr(context) and "teacher@school.example" not in repr(context)


def test_case_context_details_role_without_answers_gets_no_details(make_config: MakeConfig) -> None:
    config = make_config(replace={"details_roles": '["counsellor"]'})
    assert case_context(case_record(), config, "counsellor", None)["details"] is None


def test_case_context_blank_case(config: Config) -> None:
    context = case_context(Case(), config, "principal", None)
    assert context == {
        "id": "", "incident_type": "", "priority": "", "urgent": False, "status": "Open", "received": "",
        "next_step": "", "next_due": "", "overdue_steps": 0, "details": None,
    }


def test_case_context_non_urgent_and_text_overdue_count(config: Config) -> None:
    case = case_record(**{"Priority": "High", "Overdue steps": "3"})
    context = case_context(case, config, "principal", None)
    assert context["urgent"] is False
    assert context["overdue_steps"] == 0


def test_fmt_time(config: Config) -> None:
    assert fmt_time(datetime(2026, 3, 7, 10, 30, tzinfo=ZoneInfo("UTC")), config) == "Sat 07 Mar 2026 23:30"
    assert fmt_time(None, config) == ""
    assert fmt_time(" as typed ", config) == "as typed"


def test_base_context(config: Config) -> None:
    assert base_context(config, NEW_CASE, "principal") == {
        "school": "Example School",
        "sheet_url": "https://docs.google.com/spreadsheets/d/your-spreadsheet-id/edit",
        "event": NEW_CASE,
        "recipient_role": "principal",
        "case": None,
        "step": None,
        "digest": None,
    }
