"""The planner over in-memory snapshots: what a sync decides, with no I/O."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflow.config import Config
from workflow.errors import SheetLayoutError
from workflow.model import ChangeSet, Snapshot, Table
from workflow.plan import plan_sync
from workflow.schema import BY_LOGICAL, CELL_LIMIT, WORKER_TABS

NZ = ZoneInfo("Pacific/Auckland")
HEADERS = ["Timestamp", "Email Address", "What kind of incident is it?", "Is anyone at immediate risk of harm?",
           "Does it involve a nude or sexual image of anyone under 18?", "Who is affected?",
           "Did it happen at school or outside school?", "Where online did it happen?", "What happened?",
           "Who is involved?", "What have you done so far?"]
MON_9 = datetime(2026, 11, 23, 9, 0, tzinfo=NZ)


def response(when: datetime, kind: str = "Cyberbullying or harassment", risk: str = "No",
             reporter: str = "t.teacher@school.example", what: str = "Names called in a group chat",
             affected: str = "Students", u18: str = "No") -> list[object]:
    return [when, reporter, kind, risk, u18, affected, "Outside school", "Instagram", what, "A.B.", "Talked"]


class Sheet:
    """An in-memory workbook that applies ChangeSets the way a backend must."""

    def __init__(self, rows: list[list[object]] | None = None) -> None:
        self.responses = Table("Form Responses 1", list(HEADERS), [list(r) for r in rows or []])
        self.tabs = {s.logical: Table(s.title, s.column_names, []) for s in WORKER_TABS}

    def snapshot(self) -> Snapshot:
        tabs = {k: Table(t.title, list(t.header), [list(r) for r in t.rows]) for k, t in self.tabs.items()}
        return Snapshot(Table(self.responses.title, list(self.responses.header),
                              [list(r) for r in self.responses.rows]), tabs, NZ)

    def apply(self, changes: ChangeSet) -> None:
        for logical, records in changes.appends.items():
            table = self.tabs[logical]
            for record in records:
                table.rows.append([record.get(h) for h in table.header])
        for update in changes.updates:
            table = self.tabs[update.tab]
            spec = BY_LOGICAL[update.tab]
            rows = [i for i in range(len(table.rows))
                    if " | ".join(str(table.value(i, c) or "").strip() for c in spec.key) == update.key]
            assert rows, f"no row for {update.key}"
            for column, value in update.cells.items():
                table.rows[rows[0]][table.header.index(column)] = value

    def records(self, logical: str) -> list[dict[str, object]]:
        return self.tabs[logical].records(BY_LOGICAL[logical])

    def sync(self, config: Config, now: datetime, **kwargs: object):
        plan = plan_sync(self.snapshot(), config, now, **kwargs)
        self.apply(plan.changes)
        return plan


def test_new_response_opens_one_case_with_checklist_and_alerts(config: Config) -> None:
    sheet = Sheet([response(MON_9)])
    plan = sheet.sync(config, MON_9 + timedelta(minutes=5))
    cases = sheet.records("cases")
    assert [c["Case ID"] for c in cases] == ["DI-2026-0001"]
    case = cases[0]
    assert case["Priority"] == "Normal" and case["Status"] == "Open"
    assert case["Summary"] == "Names called in a group chat"
    steps = sheet.records("checklist")
    assert len(steps) == len(config.checklist)
    assert {s["Status"] for s in steps} == {"Open", "Not needed"}
    events = sorted((d.event, d.to) for d in plan.deliveries if d.event != "digest")
    assert events == [("acknowledgement", "t.teacher@school.example"), ("new_case", "dean@school.example")]
    assert case["Next step"] == "Make sure everyone is safe now"


def test_second_identical_sync_changes_nothing(config: Config) -> None:
    sheet = Sheet([response(MON_9), response(MON_9 + timedelta(minutes=1), kind="Nude or intimate images shared")])
    sheet.sync(config, MON_9 + timedelta(minutes=5))
    # the deliveries were not marked sent here, so mark them as a sync would
    for row in sheet.tabs["notifications"].rows:
        row[sheet.tabs["notifications"].header.index("Status")] = "sent"
    again = plan_sync(sheet.snapshot(), config, MON_9 + timedelta(minutes=6))
    assert again.changes.is_empty(), again.changes
    assert again.deliveries == []


def test_urgent_case_alerts_principal_pastoral_lead_and_counsellor(config: Config) -> None:
    sheet = Sheet([response(MON_9, kind="Nude or intimate images shared", u18="Yes")])
    plan = sheet.sync(config, MON_9)
    to = sorted(d.to for d in plan.deliveries if d.event == "new_case")
    assert to == ["counsellor@school.example", "dean@school.example", "principal@school.example"]
    steps = {s["Step"]: s for s in sheet.records("checklist")}
    assert steps["Determine the nature and legality of the content"]["Status"] == "Open"
    assert steps["Make sure everyone is safe now"]["Due"] == MON_9 + timedelta(hours=1)


def test_case_ids_are_sequential_per_year_and_never_reused(config: Config) -> None:
    sheet = Sheet([response(datetime(2026, 12, 31, 23, 0, tzinfo=NZ)), response(datetime(2027, 1, 1, 1, tzinfo=NZ))])
    sheet.sync(config, datetime(2027, 1, 1, 2, tzinfo=NZ))
    assert [c["Case ID"] for c in sheet.records("cases")] == ["DI-2026-0001", "DI-2027-0001"]
    # a leader deletes the 2027 case row; its number is not handed out again
    sheet.tabs["cases"].rows.pop()
    sheet.responses.rows.append(response(datetime(2027, 1, 1, 3, tzinfo=NZ), reporter="x@school.example"))
    sheet.sync(config, datetime(2027, 1, 1, 4, tzinfo=NZ))
    ids = sorted(c["Case ID"] for c in sheet.records("cases"))
    assert "DI-2027-0001" not in ids[1:] and ids.count("DI-2027-0001") <= 1
    assert {"DI-2027-0002", "DI-2027-0003"} <= set(ids)


def test_sorted_responses_tab_opens_no_second_case(config: Config) -> None:
    sheet = Sheet([response(MON_9 + timedelta(minutes=i), reporter=f"r{i}@school.example") for i in range(5)])
    sheet.sync(config, MON_9 + timedelta(hours=1))
    sheet.responses.rows.reverse()
    plan = sheet.sync(config, MON_9 + timedelta(hours=1))
    assert len(sheet.records("cases")) == 5
    assert plan.stats.get("cases_opened", 0) == 0


def test_edited_response_updates_its_case(config: Config) -> None:
    sheet = Sheet([response(MON_9)])
    sheet.sync(config, MON_9 + timedelta(minutes=1))
    # Google Forms rewrites the row in place with a new timestamp
    sheet.responses.rows[0] = response(MON_9 + timedelta(minutes=30), kind="Threats of violence",
                                       what="Now threatening to hurt him")
    plan = sheet.sync(config, MON_9 + timedelta(minutes=31))
    cases = sheet.records("cases")
    assert len(cases) == 1
    assert cases[0]["Priority"] == "Urgent" and cases[0]["Summary"] == "Now threatening to hurt him"
    assert {d.to for d in plan.deliveries if d.event == "new_case"} >= {"principal@school.example"}
    assert any(e["Event"] == "response edited" for e in sheet.records("log"))


def test_overdue_reminder_once_per_school_day_then_escalation(config: Config) -> None:
    sheet = Sheet([response(MON_9)])
    sheet.sync(config, MON_9)
    tue_10 = MON_9 + timedelta(days=1, hours=1)  # Normal safety step was due Tue 09:00
    plan = sheet.sync(config, tue_10)
    reminders = [d for d in plan.deliveries if d.event == "overdue"]
    assert [(d.to, d.context["step"]["title"]) for d in reminders] == [
        ("dean@school.example", "Make sure everyone is safe now")]
    assert sheet.records("cases")[0]["Overdue steps"] == 1
    for row in sheet.tabs["notifications"].rows:
        row[sheet.tabs["notifications"].header.index("Status")] = "sent"
    later_same_day = sheet.sync(config, tue_10 + timedelta(hours=5))
    assert [d for d in later_same_day.deliveries if d.event == "overdue"] == []
    wed = sheet.sync(config, tue_10 + timedelta(days=1))
    events = sorted(d.event for d in wed.deliveries)
    assert events.count("overdue") >= 1 and "escalation" in events
    assert {d.to for d in wed.deliveries if d.event == "escalation"} == {"principal@school.example"}


def test_closed_case_gets_no_reminders_and_is_never_reopened(config: Config) -> None:
    sheet = Sheet([response(MON_9)])
    sheet.sync(config, MON_9)
    status = sheet.tabs["cases"].header.index("Status")
    sheet.tabs["cases"].rows[0][status] = "Closed"
    plan = sheet.sync(config, MON_9 + timedelta(days=3))
    assert [d for d in plan.deliveries if d.event in ("overdue", "escalation")] == []
    assert sheet.records("cases")[0]["Status"] == "Closed"
    assert any(e["Event"] == "status changed" for e in sheet.records("log"))


def test_ticking_every_step_makes_case_ready_to_close(config: Config) -> None:
    sheet = Sheet([response(MON_9)])
    sheet.sync(config, MON_9)
    done = sheet.tabs["checklist"].header.index("Done")
    for row in sheet.tabs["checklist"].rows:
        row[done] = True
    sheet.sync(config, MON_9 + timedelta(hours=2))
    case = sheet.records("cases")[0]
    assert case["Progress"] == "Ready to close" and case["Status"] == "Open" and case["Overdue steps"] == 0
    assert all(isinstance(s["Done at"], datetime) for s in sheet.records("checklist"))
    # unticking one required step puts it back to Open
    sheet.tabs["checklist"].rows[0][done] = False
    sheet.sync(config, MON_9 + timedelta(hours=3))
    assert sheet.records("cases")[0]["Status"] == "Open"
    assert sheet.records("cases")[0]["Progress"] != "Ready to close"


def test_leader_edits_survive(config: Config) -> None:
    sheet = Sheet([response(MON_9)])
    sheet.sync(config, MON_9)
    header = sheet.tabs["cases"].header
    sheet.tabs["cases"].rows[0][header.index("Owner")] = "Ms Dean"
    notes = sheet.tabs["checklist"].header.index("Notes")
    sheet.tabs["checklist"].rows[0][notes] = "Spoke with whānau"
    plan = sheet.sync(config, MON_9 + timedelta(days=2))
    for update in plan.changes.updates:
        assert "Owner" not in update.cells and "Notes" not in update.cells and "Done" not in update.cells
    assert sheet.records("cases")[0]["Owner"] == "Ms Dean"
    assert any(e["Event"] == "owner set" for e in sheet.records("log"))


def test_unknown_answers_never_stop_intake(config: Config) -> None:
    sheet = Sheet([response(MON_9, kind="Sexting", risk="Maybe")])
    sheet.sync(config, MON_9)
    case = sheet.records("cases")[0]
    assert case["Priority"] == "Normal"
    notes = [e for e in sheet.records("log") if e["Event"] == "answer not recognised"]
    assert len(notes) == 2
    assert all("Sexting" not in str(e["Detail"]) and "Maybe" not in str(e["Detail"]) for e in notes)


def test_log_never_holds_form_answers(config: Config) -> None:
    secret = "Secret narrative about A.B."
    sheet = Sheet([response(MON_9, what=secret, kind="Self-harm or suicide risk")])
    sheet.sync(config, MON_9 + timedelta(days=3))
    for entry in sheet.records("log"):
        assert secret not in str(entry["Detail"]) and "A.B." not in str(entry["Detail"])


def test_oversized_summary_is_truncated_with_a_note(config: Config) -> None:
    sheet = Sheet([response(MON_9, what="x" * (CELL_LIMIT + 10_000))])
    sheet.sync(config, MON_9)
    summary = sheet.records("cases")[0]["Summary"]
    assert len(summary) <= CELL_LIMIT and "truncated" in summary


def test_reporter_outside_domains_gets_no_acknowledgement(config: Config) -> None:
    sheet = Sheet([response(MON_9, reporter="someone@example.org")])
    plan = sheet.sync(config, MON_9)
    assert [d for d in plan.deliveries if d.event == "acknowledgement"] == []


def test_digest_once_on_school_days_after_digest_time(config: Config) -> None:
    sheet = Sheet([response(MON_9)])
    sheet.sync(config, MON_9)
    tue_0700 = datetime(2026, 11, 24, 7, 0, tzinfo=NZ)
    # Monday's digest, never sent, is superseded rather than sent a day late
    assert [d for d in sheet.sync(config, tue_0700).deliveries if d.event == "digest"] == []
    statuses = {r["Notification ID"].split("/")[0]: r["Status"] for r in sheet.records("notifications")
                if r["Event"] == "digest"}
    assert statuses == {"digest-2026-11-23": "cancelled"}
    digests = [d for d in sheet.sync(config, tue_0700 + timedelta(minutes=45)).deliveries if d.event == "digest"]
    assert sorted(d.to for d in digests) == ["dean@school.example", "principal@school.example"]
    assert digests[0].context["digest"]["open_cases"][0]["id"] == "DI-2026-0001"
    saturday = datetime(2026, 11, 28, 8, 0, tzinfo=NZ)
    assert [d for d in sheet.sync(config, saturday).deliveries
            if d.event == "digest" and "2026-11-28" in d.notification_id] == []


def test_missing_worker_tab_is_a_layout_error(config: Config) -> None:
    sheet = Sheet([])
    snapshot = sheet.snapshot()
    del snapshot.tabs["checklist"]
    with pytest.raises(SheetLayoutError, match="Checklist.*setup"):
        plan_sync(snapshot, config, MON_9)


def test_renamed_question_is_a_layout_error_naming_it(config: Config) -> None:
    sheet = Sheet([])
    sheet.responses.header[3] = "Is anyone in danger?"
    with pytest.raises(SheetLayoutError, match="Is anyone at immediate risk of harm"):
        plan_sync(sheet.snapshot(), config, MON_9)


def test_idle_sync_makes_no_change(config: Config) -> None:
    sheet = Sheet([])
    first = sheet.sync(config, MON_9)
    assert not first.changes.is_empty()  # version and heartbeat written once
    assert plan_sync(sheet.snapshot(), config, MON_9 + timedelta(minutes=2)).changes.is_empty()
