"""`status --health` through cli.py on both backends: a stopped worker, stuck mail, a failed Urgent alert."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner, Result
from conftest import SmtpServer, config_text, free_port
from sheets_emulator import SheetsEmulator

from cli import cli
from workflow.config import load_config
from workflow.demo import RESPONSE_HEADERS
from workflow.health import spoken
from workflow.storage.local import LocalWorkbookStorage

NOW = datetime.fromisoformat("2026-11-25T10:00")


def at(minutes: float) -> str:
    return (NOW + timedelta(minutes=minutes)).isoformat(timespec="minutes")


class School:
    def __init__(self, backend: str, folder: Path, emulator: SheetsEmulator, smtp_port: int) -> None:
        self.backend, self.folder, self.emulator = backend, folder, emulator
        self.spreadsheet_id = f"health-{folder.name}"
        if backend == "google":
            emulator.create_spreadsheet(self.spreadsheet_id, tabs={"Form Responses 1": [RESPONSE_HEADERS]})
        self.path = folder / "config.toml"
        self.point_mail_at(smtp_port)
        assert self.cli("setup").exit_code == 0

    def point_mail_at(self, port: int) -> None:
        self.path.write_text(config_text(self.folder, backend=self.backend, transport="smtp", smtp_port=port,
                                         spreadsheet_id=self.spreadsheet_id, replace={"retry_seconds": "1"}),
                             encoding="utf-8")

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["-c", str(self.path), *args])

    def health(self, now: str, *more: str) -> Result:
        return self.cli("status", "--health", "--now", now, *more)

    def report(self, risk: str = "No") -> None:
        row = [NOW - timedelta(minutes=5), "staff@school.example", "Cyberbullying or harassment", risk, "No",
               "Students", "At school", "Chat", "Report", "A.B.", "Talked"]
        if self.backend == "local":
            LocalWorkbookStorage(load_config(self.path)).add_responses([dict(zip(RESPONSE_HEADERS, row, strict=True))])
        else:
            self.emulator.append_row(self.spreadsheet_id, "Form Responses 1", row)

    def close_case(self, row: int) -> None:
        """A leader setting the case's Status to Closed."""
        if self.backend == "google":
            header = self.emulator.values(self.spreadsheet_id, "Cases")[0]
            letter = chr(ord("A") + header.index("Status"))
            self.emulator.set_values(self.spreadsheet_id, "Cases", f"{letter}{row + 2}", [["Closed"]])
            return
        path = load_config(self.path).sheet.path
        workbook = openpyxl.load_workbook(path)
        sheet = workbook["Cases"]
        header: list[Any] = [c.value for c in sheet[1]]
        sheet.cell(row + 2, header.index("Status") + 1, "Closed")
        workbook.save(path)


@pytest.fixture(params=["local", "google"])
def school(request: pytest.FixtureRequest, tmp_path: Path, emulator: SheetsEmulator, smtp_server: SmtpServer,
           monkeypatch: pytest.MonkeyPatch) -> School:
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", emulator.host)
    return School(request.param, tmp_path, emulator, smtp_server.port)


def test_never_synced_is_unhealthy(school: School) -> None:
    result = school.health(at(0))
    assert result.exit_code == 1
    assert result.output.startswith("unhealthy: the Worker tab records no successful sync")


def test_a_recent_sync_is_healthy_and_a_stopped_worker_is_not(school: School) -> None:
    school.report()
    assert school.cli("sync", "--now", at(0)).exit_code == 0
    healthy = school.health(at(10))
    assert healthy.exit_code == 0, healthy.output
    assert healthy.output == "healthy: last sync 2026-11-25 10:00 (10m ago); 0 email(s) queued, none stuck\n"
    stale = school.health(at(91))
    assert stale.exit_code == 1
    assert stale.output == ("unhealthy: last successful sync 2026-11-25 10:00 (1h 31m ago), longer ago than 1h 30m: "
                            "the worker is stopped or every sync fails; see its log\n")
    assert school.health(at(91), "--max-age", "2h").exit_code == 0
    bad = school.health(at(91), "--max-age", "15m")
    assert bad.exit_code == 2 and "from 61m to 7d" in bad.output


def test_an_idle_worker_stays_healthy_between_hourly_heartbeats(school: School) -> None:
    assert school.cli("sync", "--now", at(0)).exit_code == 0
    for minutes in range(15, 165, 15):  # nothing happening: the heartbeat is written only hourly
        assert school.cli("sync", "--now", at(minutes)).exit_code == 0
        result = school.health(at(minutes + 14))  # just before the next sync: the oldest it gets
        assert result.exit_code == 0, (minutes, result.output)


def test_mail_stuck_in_the_queue_is_unhealthy(school: School) -> None:
    school.point_mail_at(free_port())  # nothing listens: every send fails, the emails stay queued
    school.report()
    assert school.cli("sync", "--now", at(0)).exit_code == 75
    assert school.health(at(30)).exit_code == 0          # a short outage is not yet a problem
    assert school.cli("sync", "--now", at(100)).exit_code == 75
    result = school.health(at(101))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("unhealthy: ")
    assert "email(s) queued for longer than 1h 30m (oldest queued 1h 41m ago; case(s) DI-2026-0001)" in lines[0]
    assert "staff@school.example" not in result.output and "Report" not in result.output


def test_a_failed_alert_about_an_open_urgent_case_is_unhealthy_until_it_is_closed(
        school: School, smtp_server: SmtpServer) -> None:
    smtp_server.handler.refuse["principal@school.example"] = "550 5.1.1 no such mailbox"
    school.report(risk="Yes")
    assert school.cli("sync", "--now", at(0)).exit_code == 1  # a recipient refused for good: an address to fix
    result = school.health(at(5))
    assert result.exit_code == 1, result.output
    assert "alerts about open Urgent case(s) DI-2026-0001 failed and were never delivered" in result.output
    school.close_case(0)
    assert school.health(at(5)).exit_code == 0


@pytest.mark.parametrize("age, text", [(timedelta(seconds=45), "45s"), (timedelta(minutes=12), "12m"),
                                       (timedelta(hours=3, minutes=5), "3h 5m"), (timedelta(days=2, hours=4), "2d 4h")])
def test_ages_read_like_a_person_says_them(age: timedelta, text: str) -> None:
    assert spoken(age) == text
