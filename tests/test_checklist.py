"""Tests for workflow.checklist: the shipped steps filled into a new case, with SPEC §5 deadlines.

Calendar: the example config's Mon-Fri 08:30-16:30 in Pacific/Auckland, closed
2026-12-18..2027-02-02. 2026-03-02 is a Monday.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflow.checklist import new_steps, step_applies, step_slug, template_for
from workflow.config import Config, StepTemplate
from workflow.model import CellValue
from workflow.records import to_cells
from workflow.schema import CHECKLIST, STEP_NOT_NEEDED, STEP_OPEN
from workflow.schoolclock import SchoolClock

NZ = ZoneInfo("Pacific/Auckland")
CONTENT = frozenset({"content"})
NONE: frozenset[str] = frozenset()

SAFETY = "Make sure everyone is safe now"
LEGALITY = "Determine the nature and legality of the content"
MUST_DOS = "Apply the must-dos and don'ts"


def nz(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=NZ)


@pytest.fixture
def clock(config: Config) -> SchoolClock:
    return SchoolClock(config.calendar, config.school.timezone)


def new_rows(case_id: str, priority: str, flags: frozenset[str], received: datetime,
             steps: tuple[StepTemplate, ...], clock: SchoolClock) -> list[dict[str, CellValue]]:
    """The cells new_steps' records become in the Checklist tab."""
    return [to_cells(step) for step in new_steps(case_id, priority, flags, received, steps, clock)]


def by_step(rows: list[dict]) -> dict[str, dict]:
    return {row["Step"]: row for row in rows}


def make(config: Config, clock: SchoolClock, priority: str, received: datetime, flags: frozenset[str] = NONE) -> dict:
    return by_step(new_rows("DI-2026-0001", priority, flags, received, config.checklist, clock))


# -- deadlines (SPEC §5 table) ---------------------------------------------------------------


def test_urgent_safety_is_one_hour_even_on_saturday_night(config: Config, clock: SchoolClock) -> None:
    received = nz(2026, 3, 7, 22, 30)  # Saturday
    rows = make(config, clock, "Urgent", received)
    assert rows[SAFETY]["Due"] == nz(2026, 3, 7, 23, 30)
    assert rows[SAFETY]["Status"] == STEP_OPEN


def test_urgent_safety_in_the_summer_holidays(config: Config, clock: SchoolClock) -> None:
    rows = make(config, clock, "Urgent", nz(2026, 12, 25, 3, 0))
    assert rows[SAFETY]["Due"] == nz(2026, 12, 25, 4, 0)


def test_high_safety_is_end_of_school_day(config: Config, clock: SchoolClock) -> None:
    assert make(config, clock, "High", nz(2026, 3, 2, 10, 0))[SAFETY]["Due"] == nz(2026, 3, 2, 16, 30)


def test_high_safety_after_school_is_next_school_days_end(config: Config, clock: SchoolClock) -> None:
    assert make(config, clock, "High", nz(2026, 3, 2, 17, 0))[SAFETY]["Due"] == nz(2026, 3, 3, 16, 30)
    assert make(config, clock, "High", nz(2026, 3, 6, 18, 0))[SAFETY]["Due"] == nz(2026, 3, 9, 16, 30)


def test_normal_safety_is_one_school_day(config: Config, clock: SchoolClock) -> None:
    assert make(config, clock, "Normal", nz(2026, 3, 2, 10, 0))[SAFETY]["Due"] == nz(2026, 3, 3, 10, 0)
    assert make(config, clock, "Normal", nz(2026, 3, 6, 15, 0))[SAFETY]["Due"] == nz(2026, 3, 9, 15, 0)
    assert make(config, clock, "Normal", nz(2026, 3, 7, 12, 0))[SAFETY]["Due"] == nz(2026, 3, 9, 16, 30)


EXPECTED_MON_10 = {
    # step title: (Urgent, High, Normal) due for a case received Monday 2026-03-02 10:00
    SAFETY: (nz(2026, 3, 2, 11), nz(2026, 3, 2, 16, 30), nz(2026, 3, 3, 10)),
    "Gather the facts: what happened, when, where, who is involved": (
        nz(2026, 3, 3, 10), nz(2026, 3, 3, 10), nz(2026, 3, 4, 10)),
    "Support those involved (target, bystanders, the student responsible)": (
        nz(2026, 3, 3, 10), nz(2026, 3, 3, 10), nz(2026, 3, 4, 10)),
    "Record all details in the case": (nz(2026, 3, 3, 10), nz(2026, 3, 4, 10), nz(2026, 3, 5, 10)),
    LEGALITY: (nz(2026, 3, 2, 14), nz(2026, 3, 3, 10), nz(2026, 3, 4, 10)),
    MUST_DOS: (nz(2026, 3, 2, 14), nz(2026, 3, 3, 10), nz(2026, 3, 4, 10)),
    "Contact those who need to know and organisations that can help": (
        nz(2026, 3, 3, 10), nz(2026, 3, 4, 10), nz(2026, 3, 5, 10)),
    "Communicate as needed with those who need to know, respecting confidentiality": (
        nz(2026, 3, 5, 10), nz(2026, 3, 5, 10), nz(2026, 3, 9, 10)),
    "Review outcome and follow up with those affected": (
        nz(2026, 3, 16, 10), nz(2026, 3, 16, 10), nz(2026, 3, 16, 10)),
}


@pytest.mark.parametrize("index, priority", [(0, "Urgent"), (1, "High"), (2, "Normal")])
def test_every_step_deadline_per_priority(config: Config, clock: SchoolClock, index: int, priority: str) -> None:
    rows = make(config, clock, priority, nz(2026, 3, 2, 10, 0), CONTENT)
    assert {title: row["Due"] for title, row in rows.items()} == {
        title: dues[index] for title, dues in EXPECTED_MON_10.items()
    }


def test_due_is_in_the_school_timezone_even_for_a_utc_received(config: Config, clock: SchoolClock) -> None:
    received = nz(2026, 3, 7, 22, 30).astimezone(ZoneInfo("UTC"))
    due = make(config, clock, "Urgent", received)[SAFETY]["Due"]
    assert due == nz(2026, 3, 7, 23, 30)
    assert due.utcoffset() == timedelta(hours=13)


# -- content steps --------------------------------------------------------------------------


@pytest.mark.parametrize("priority", ["Urgent", "High", "Normal"])
def test_content_steps_not_needed_without_content_flag(config: Config, clock: SchoolClock, priority: str) -> None:
    rows = make(config, clock, priority, nz(2026, 3, 2, 10, 0))
    for title in (LEGALITY, MUST_DOS):
        assert rows[title]["Status"] == STEP_NOT_NEEDED
        assert rows[title]["Due"] is None
    others = [row for title, row in rows.items() if title not in (LEGALITY, MUST_DOS)]
    assert all(row["Status"] == STEP_OPEN and isinstance(row["Due"], datetime) for row in others)


def test_content_steps_open_with_content_flag(config: Config, clock: SchoolClock) -> None:
    rows = make(config, clock, "Urgent", nz(2026, 3, 7, 22, 30), CONTENT)
    for title in (LEGALITY, MUST_DOS):
        assert rows[title]["Status"] == STEP_OPEN
        assert rows[title]["Due"] == nz(2026, 3, 8, 2, 30)


def test_unrelated_flags_do_not_turn_on_content_steps(config: Config, clock: SchoolClock) -> None:
    rows = make(config, clock, "High", nz(2026, 3, 2, 10, 0), frozenset({"other"}))
    assert rows[LEGALITY]["Status"] == STEP_NOT_NEEDED


def test_step_applies(config: Config) -> None:
    legality = next(step for step in config.checklist if step.id == "legality")
    safety = next(step for step in config.checklist if step.id == "safety")
    assert step_applies(legality, CONTENT) is True
    assert step_applies(legality, NONE) is False
    assert step_applies(safety, NONE) is True


# -- row shape ---------------------------------------------------------------------------------


def test_rows_have_the_checklist_columns_in_step_order(config: Config, clock: SchoolClock) -> None:
    rows = new_rows("DI-2026-0042", "Normal", NONE, nz(2026, 3, 2, 10), config.checklist, clock)
    assert [row["Step"] for row in rows] == [step.title for step in config.checklist]
    assert len(rows) == 9
    for row in rows:
        assert list(row) == CHECKLIST.column_names
        assert row["Case ID"] == "DI-2026-0042"
        assert row["Done"] is False
        assert row["Done at"] is None
        assert row["Notes"] == ""


def test_every_row_has_guidance_and_a_role_with_contacts(config: Config, clock: SchoolClock) -> None:
    rows = new_rows("DI-2026-0001", "High", CONTENT, nz(2026, 3, 2, 10), config.checklist, clock)
    for row in rows:
        assert len(row["Guidance"]) > 40, row["Step"]
        assert "\n" not in row["Guidance"] and "  " not in row["Guidance"]
        assert config.contacts.get(row["Role"]), row["Role"]
    roles = {row["Step"]: row["Role"] for row in rows}
    assert roles[SAFETY] == "pastoral_lead"
    assert roles["Support those involved (target, bystanders, the student responsible)"] == "counsellor"
    assert roles[LEGALITY] == "principal"


def test_guidance_carries_the_key_facts(config: Config, clock: SchoolClock) -> None:
    rows = make(config, clock, "Normal", nz(2026, 3, 2, 10), CONTENT)
    assert "111" in rows[SAFETY]["Guidance"] and "1737" in rows[SAFETY]["Guidance"]
    assert "Harmful Digital Communications Act" in rows[LEGALITY]["Guidance"]
    assert "Never screenshot" in rows[MUST_DOS]["Guidance"]


# -- template_for and step_slug ----------------------------------------------------------------


def test_template_for_matches_case_and_space_insensitively(config: Config) -> None:
    template = template_for("  make sure   everyone is SAFE now ", config.checklist)
    assert template is not None and template.id == "safety"
    assert template_for("Something else", config.checklist) is None


@pytest.mark.parametrize(
    "title, slug",
    [
        (SAFETY, "safety"),
        (MUST_DOS, "must-dos"),
        ("REVIEW OUTCOME AND FOLLOW UP WITH THOSE AFFECTED", "review"),
        ("Call the board!", "call-the-board"),
        ("  Ring   Netsafe (0508 638 723)  ", "ring-netsafe-0508-638-723"),
        ("!!!", "step"),
        ("", "step"),
        ("A very long title for a step that a leader typed in by hand", "a-very-long-title-for-a-step-that-a-lead"),
    ],
)
def test_step_slug(config: Config, title: str, slug: str) -> None:
    assert step_slug(title, config.checklist) == slug
