"""Reading what leaders type: every accepted spelling, and what is refused (None → Attention)."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from workflow import leader_input as li

NZ = ZoneInfo("Pacific/Auckland")
END = time(15, 30)
ROLES = ("principal", "pastoral_lead", "counsellor", "dean")


@pytest.mark.parametrize(("typed", "meant"), [
    (None, "Open"), ("", "Open"), ("Open", "Open"), (" open ", "Open"), ("Re-open", "Open"), ("reopen", "Open"),
    ("RE OPENED", "Open"), ("In progress", "Open"), ("ongoing", "Open"), ("Active", "Open"),
    ("Ready to close", "Open"), ("ready  to close", "Open"),
    ("Closed", "Closed"), ("closed", "Closed"), ("Resolved", "Closed"), ("close", "Closed"), ("DONE", "Closed"),
    ("complete", "Closed"), ("Completed", "Closed"), ("finished", "Closed"),
    ("Withdrawn", "Withdrawn"), ("withdraw", "Withdrawn"), ("Cancelled", "Withdrawn"), ("canceled", "Withdrawn"),
    ("duplicate", "Withdrawn"), ("Not an incident", "Withdrawn"), ("not-an-incident", "Withdrawn"),
])
def test_case_status(typed: object, meant: str) -> None:
    assert li.case_status(typed) == meant  # type: ignore[arg-type]


@pytest.mark.parametrize("typed", ["Ms Smith", "pending", "closed?", "open/closed", "x", 1, True])
def test_case_status_not_understood(typed: object) -> None:
    assert li.case_status(typed) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(("typed", "meant"), [
    ("Not needed", "Not needed"), ("not needed", "Not needed"), ("NOT NEEDED ", "Not needed"), ("n/a", "Not needed"),
    ("N/A", "Not needed"), ("NA", "Not needed"), ("not applicable", "Not needed"), ("Not required", "Not needed"),
    ("skip", "Not needed"), ("Skipped", "Not needed"), ("notneeded", "Not needed"),
    ("done", "Done"), ("Done", "Done"), ("completed", "Done"), ("complete", "Done"), ("finished", "Done"),
    ("", ""), (None, ""), ("Open", ""), ("overdue", ""), ("Case closed", ""), ("in progress", ""), ("To do", ""),
])
def test_step_status(typed: object, meant: str) -> None:
    assert li.step_status(typed) == meant  # type: ignore[arg-type]


@pytest.mark.parametrize("typed", ["waiting for mum", "later", "?", "yes"])
def test_step_status_not_understood(typed: str) -> None:
    assert li.step_status(typed) is None


@pytest.mark.parametrize("typed", [True, 1, 1.0, "TRUE", "true", " True ", "x", "X", "yes", "Y", "✓", "✔", "☑",
                                   "done", "Ticked", "1", "=TRUE()", "=true()", "= TRUE ( )", "=TRUE"])
def test_ticked(typed: object) -> None:
    assert li.tick(typed) is True  # type: ignore[arg-type]


@pytest.mark.parametrize("typed", [False, 0, 0.0, None, "", "  ", "FALSE", "false", "no", "N", "0", "not done",
                                   "unticked", "=FALSE()", "=false()", "=FALSE"])
def test_not_ticked(typed: object) -> None:
    assert li.tick(typed) is False  # type: ignore[arg-type]


@pytest.mark.parametrize("typed", ["maybe", "half", 2, 0.5, "=1=1", "=A1", datetime(2026, 1, 1)])
def test_tick_not_understood(typed: object) -> None:
    assert li.tick(typed) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(("typed", "meant"), [
    ("Urgent", "Urgent"), ("urgent", "Urgent"), (" URGENT ", "Urgent"), ("critical", "Urgent"),
    ("Emergency", "Urgent"), ("immediate", "Urgent"), ("High", "High"), ("high", "High"), ("Normal", "Normal"),
    ("normal", "Normal"), ("low", "Normal"), ("routine", "Normal"), ("standard", "Normal"),
])
def test_priority(typed: str, meant: str) -> None:
    assert li.priority(typed) == meant


@pytest.mark.parametrize("typed", ["", None, "medium", "asap", "1", "very high"])
def test_priority_not_understood(typed: object) -> None:
    assert li.priority(typed) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(("typed", "meant"), [
    ("pastoral_lead", "pastoral_lead"), ("Pastoral lead", "pastoral_lead"), ("PASTORAL-LEAD", "pastoral_lead"),
    (" pastoral  lead ", "pastoral_lead"), ("Principal", "principal"), ("Dean", "dean"),
])
def test_role(typed: str, meant: str) -> None:
    assert li.role(typed, ROLES) == meant


@pytest.mark.parametrize("typed", ["Mrs Smith", "", None, "lead", "it_lead"])
def test_role_not_understood(typed: object) -> None:
    assert li.role(typed, ROLES) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(("typed", "meant"), [
    ("10/12/2026 9:00", datetime(2026, 12, 10, 9, 0)),
    ("10/12/2026 09:00", datetime(2026, 12, 10, 9, 0)),
    ("10/12/2026", datetime(2026, 12, 10, 15, 30)),          # a date alone: the end of the school day
    ("10-12-2026 09:00", datetime(2026, 12, 10, 9, 0)),
    ("10.12.2026 14:15", datetime(2026, 12, 10, 14, 15)),
    ("10/12/26 9:00", datetime(2026, 12, 10, 9, 0)),
    ("2026-12-10 9:00", datetime(2026, 12, 10, 9, 0)),
    ("2026-12-10T09:00:30", datetime(2026, 12, 10, 9, 0, 30)),
    ("2026-12-10", datetime(2026, 12, 10, 15, 30)),
    ("10 Dec 2026 9am", datetime(2026, 12, 10, 9, 0)),
    ("10 December 2026 9:30 pm", datetime(2026, 12, 10, 21, 30)),
    ("10th Dec 2026 at 9.30am", datetime(2026, 12, 10, 9, 30)),
    ("Thu 10 Dec 2026 09:00", datetime(2026, 12, 10, 9, 0)),    # as the emails print it
    ("Thursday, 10 Dec 2026", datetime(2026, 12, 10, 15, 30)),
    ("Dec 10, 2026 9:00", datetime(2026, 12, 10, 9, 0)),
    ("12 am 1 Jan 2027", None),
    ("1 Jan 2027 12am", datetime(2027, 1, 1, 0, 0)),
    ("1 Jan 2027 12pm", datetime(2027, 1, 1, 12, 0)),
])
def test_when_day_first(typed: str, meant: datetime | None) -> None:
    expected = meant.replace(tzinfo=NZ) if meant else None
    assert li.when(typed, "en_NZ", NZ, END) == expected


@pytest.mark.parametrize(("typed", "meant"), [
    ("10/12/2026 9:00", datetime(2026, 10, 12, 9, 0)), ("12/31/2026", datetime(2026, 12, 31, 15, 30)),
    ("2026-12-10 9:00", datetime(2026, 12, 10, 9, 0)), ("10 Dec 2026 9am", datetime(2026, 12, 10, 9, 0)),
])
def test_when_month_first_locales(typed: str, meant: datetime) -> None:
    assert li.when(typed, "en_US", NZ, END) == meant.replace(tzinfo=NZ)
    assert li.month_first("en_US") and li.month_first("en-PH") and not li.month_first("en_NZ")
    assert not li.month_first("en_GB") and not li.month_first("")


@pytest.mark.parametrize("typed", ["next Friday", "10/12", "Dec 2026", "31/02/2026", "10/13/2026 9:00",
                                   "10/12/2026 9", "10/12/2026 25:00", "10/12/2026 9:75", "13pm 10 Dec 2026",
                                   "10 Foo 2026", "soon", "", "2026", 45000, 3.5, True])
def test_when_not_a_date(typed: object) -> None:
    assert li.when(typed, "en_NZ", NZ, END) is None  # type: ignore[arg-type]


def test_when_keeps_a_real_date_time() -> None:
    moment = datetime(2026, 12, 10, 9, 0, tzinfo=NZ)
    assert li.when(moment, "en_US", NZ, END) is moment
    assert li.when(datetime(2026, 12, 10, 9, 0), "en_NZ", NZ, END) == moment


def test_date_example_follows_the_locale() -> None:
    assert li.date_example("en_NZ") == "10/12/2026 9:00" and li.date_example("en_US") == "12/10/2026 9:00"
