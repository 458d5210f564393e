"""Google-only behaviour through cli.py against the emulator: request budget, races, outages, zones."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from conftest import SmtpServer, config_text
from sheets_emulator import SheetsEmulator

from cli import cli
from workflow.demo import RESPONSE_HEADERS
from workflow.storage.google.client import RetryPolicy

NZ = ZoneInfo("Pacific/Auckland")
NOW = "2026-11-25T10:00"


@pytest.fixture(autouse=True)
def emulated(emulator: SheetsEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", emulator.host)
    yield
    emulator.clear_faults()


def school(emulator: SheetsEmulator, folder: Path, smtp: SmtpServer, responses: int = 0, *,
           time_zone: str = "Pacific/Auckland", locale: str = "en_NZ") -> Path:
    spreadsheet_id = f"google-{folder.name}"
    start = datetime(2026, 11, 25, 8, 0, tzinfo=NZ)
    rows = [[start + timedelta(minutes=i), f"staff{i}@school.example", "Cyberbullying or harassment", "No", "No",
             "Students", "At school", "Chat", f"Report {i}", "A.B.", "Talked"] for i in range(responses)]
    emulator.create_spreadsheet(spreadsheet_id, time_zone=time_zone, locale=locale,
                                tabs={"Form Responses 1": [RESPONSE_HEADERS, *rows]})
    path = folder / "config.toml"
    path.write_text(config_text(folder, backend="google", transport="smtp", smtp_port=smtp.port,
                                spreadsheet_id=spreadsheet_id, replace={"retry_seconds": "2"}), encoding="utf-8")
    setup = run(path, "setup")
    assert setup.exit_code == 0, setup.output
    return path


def run(path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-c", str(path), *args], catch_exceptions=False)


def writes(emulator: SheetsEmulator) -> list[tuple[str, str]]:
    return [r for r in emulator.requests if r[0] != "GET"]


@pytest.mark.parametrize("responses", [1, 300])
def test_a_sync_costs_a_read_a_write_and_one_mark_per_batch_of_emails(
        emulator: SheetsEmulator, tmp_path: Path, smtp_server: SmtpServer, responses: int) -> None:
    path = school(emulator, tmp_path, smtp_server, responses)
    emulator.reset_requests()
    result = run(path, "sync", "--now", NOW)
    assert result.exit_code == 0, result.output
    assert f"{responses} new case(s)" in result.output
    sent = len(smtp_server.handler.envelopes)
    assert sent > 0 and f"{sent} sent" in result.output
    # README "Budgets": 1 read + 1 write + ceil(sent / email.mark_every) marks
    assert len(emulator.requests) == 2 + math.ceil(sent / 20), emulator.requests
    assert len(writes(emulator)) == len(emulator.requests) - 1
    assert len(emulator.values(f"google-{tmp_path.name}", "Checklist")) == 1 + 9 * responses
    emulator.reset_requests()
    assert run(path, "sync", "--now", NOW).exit_code == 0
    assert len(emulator.requests) == 1 and writes(emulator) == []


def test_second_setup_makes_no_write(emulator: SheetsEmulator, tmp_path: Path, smtp_server: SmtpServer) -> None:
    path = school(emulator, tmp_path, smtp_server)
    emulator.reset_requests()
    result = run(path, "setup")
    assert result.exit_code == 0 and "already set up" in result.output
    assert writes(emulator) == []


def test_a_sort_between_read_and_write_never_lands_in_the_wrong_row(
        emulator: SheetsEmulator, tmp_path: Path, smtp_server: SmtpServer) -> None:
    path = school(emulator, tmp_path, smtp_server, 6)
    assert run(path, "sync", "--now", NOW).exit_code == 0
    spreadsheet_id = f"google-{tmp_path.name}"
    emulator.reset_requests()
    emulator.before_request(2, lambda: emulator.sort_tab(spreadsheet_id, "Cases", 1, reverse=True))
    emulator.before_request(3, lambda: emulator.sort_tab(spreadsheet_id, "Notifications", 4, reverse=True))
    result = run(path, "sync", "--now", "2026-11-27T11:00")
    assert result.exit_code == 0, result.output
    table = emulator.values(spreadsheet_id, "Cases")
    header = table[0]
    for row in table[1:]:
        record = dict(zip(header, row, strict=False))
        number = int(record["Case ID"][-4:]) - 1
        assert record["Reported by"] == f"staff{number}@school.example"
        assert record["Summary"] == f"Report {number}"
        assert int(record["Overdue steps"]) > 0
    notifications = emulator.values(spreadsheet_id, "Notifications")
    nheader = notifications[0]
    for row in notifications[1:]:
        record = dict(zip(nheader, row, strict=False))
        assert record["Status"] == "sent", record
        assert record["To"] in record["Notification ID"]


def test_a_burst_of_429s_is_retried(emulator: SheetsEmulator, tmp_path: Path, smtp_server: SmtpServer) -> None:
    path = school(emulator, tmp_path, smtp_server, 2)
    emulator.fail_next(2, 429, retry_after=0.01)
    result = run(path, "sync", "--now", NOW)
    assert result.exit_code == 0, result.output
    assert "2 new case(s)" in result.output


def test_persistent_503_exits_75_with_the_sheet_unchanged(
        emulator: SheetsEmulator, tmp_path: Path, smtp_server: SmtpServer) -> None:
    path = school(emulator, tmp_path, smtp_server, 2)
    spreadsheet_id = f"google-{tmp_path.name}"
    before = {tab: emulator.values(spreadsheet_id, tab) for tab in ("Cases", "Checklist", "Notifications", "Log")}
    emulator.before_request(2, lambda: emulator.fail_always(503))  # the read works, every write fails
    result = CliRunner().invoke(cli, ["-c", str(path), "sync", "--now", NOW])
    assert result.exit_code == 75, result.output
    assert "503" in result.output and "Traceback" not in result.output
    emulator.fail_always(None)
    assert {tab: emulator.values(spreadsheet_id, tab) for tab in before} == before
    assert smtp_server.handler.envelopes == []  # nothing sent for what was never recorded


def test_spreadsheet_time_zone_and_locale_are_honoured(
        emulator: SheetsEmulator, tmp_path: Path, smtp_server: SmtpServer) -> None:
    path = school(emulator, tmp_path, smtp_server, time_zone="Europe/London", locale="en_US")
    spreadsheet_id = f"google-{tmp_path.name}"
    # Forms writes the timestamp as a serial in the spreadsheet's zone: 2026-11-24 20:00 London
    london = datetime(2026, 11, 24, 20, 0)
    serial = (london - datetime(1899, 12, 30)) / timedelta(days=1)
    emulator.append_row(spreadsheet_id, "Form Responses 1",
                        [serial, "a@school.example", "Privacy breach", "No", "No", "Staff", "At school", "Drive",
                         "Shared a list", "Admin", "Link off"])
    assert run(path, "sync", "--now", NOW).exit_code == 0
    cases = emulator.values(spreadsheet_id, "Cases")
    received = dict(zip(cases[0], cases[1], strict=False))["Received"]
    # the same instant, written back as London wall-clock (09:00 25 Nov in Auckland)
    assert abs(received - serial) < 1 / 86400
    status = run(path, "status", "--now", NOW)
    assert "DI-2026-0001" in status.output


def test_check_on_google_lists_problems_with_fixes(
        emulator: SheetsEmulator, tmp_path: Path, smtp_server: SmtpServer) -> None:
    path = school(emulator, tmp_path, smtp_server)
    ok = run(path, "check")
    assert ok.exit_code == 0, ok.output
    emulator.set_values(f"google-{tmp_path.name}", "Form Responses 1", "D1", [["Anyone in danger?"]])
    bad = CliRunner().invoke(cli, ["-c", str(path), "check"])
    assert bad.exit_code == 1
    assert "Is anyone at immediate risk of harm?" in bad.output and "[form.questions]" in bad.output


# -- issue 9: a write Google applied but did not confirm is never written twice ---------------------


def assert_each_once(emulator: SheetsEmulator, spreadsheet_id: str, smtp: SmtpServer, cases: int) -> None:
    """No duplicate case, step or notification row; every email recorded sent went out exactly once."""
    def keys(tab: str, *columns: str) -> list[tuple[object, ...]]:
        header, *rows = emulator.values(spreadsheet_id, tab)
        return [tuple(row[header.index(c)] for c in columns) for row in rows]

    case_ids = keys("Cases", "Case ID")
    assert len(case_ids) == len(set(case_ids)) == cases
    steps = keys("Checklist", "Case ID", "Step")
    assert len(steps) == len(set(steps)) == 9 * cases
    notifications = keys("Notifications", "Notification ID", "Status")
    assert len({n for n, _ in notifications}) == len(notifications)
    assert {status for _, status in notifications} == {"sent"}
    opened = [key for key in keys("Log", "Case ID", "Event") if key[1] == "case opened"]
    assert len(opened) == len(set(opened)) == cases
    message_ids = Counter(message["Message-ID"] for message in smtp.handler.messages())
    assert message_ids and max(message_ids.values()) == 1, "an email went out twice"
    assert sum(message_ids.values()) == len(notifications)


@pytest.mark.parametrize("fault", ["503 after applying", "reset after applying", "timeout after applying"])
@pytest.mark.parametrize("write", [2, 3], ids=["intake write", "marks write"])
def test_a_write_google_applied_but_did_not_confirm_is_not_repeated(
        emulator: SheetsEmulator, tmp_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch,
        fault: str, write: int) -> None:
    path = school(emulator, tmp_path, smtp_server, 3)
    # the sync's requests give up after 2 s instead of 30 s (the HTTP timeout itself is real)
    monkeypatch.setattr(RetryPolicy, "for_budget", classmethod(lambda cls, seconds: cls(budget=seconds, timeout=2.0)))
    spreadsheet_id = f"google-{tmp_path.name}"
    emulator.reset_requests()
    # request 1 is the read, 2 the intake write, 3 the one batch of marks (fewer than 20 emails)
    if fault.startswith("503"):
        emulator.before_request(write, lambda: emulator.fail_next(1, 503, after_apply=True))
    else:
        hang = 2.5 if fault.startswith("timeout") else 0.0
        emulator.before_request(write, lambda: emulator.drop_next(1, hang=hang))
    result = run(path, "sync", "--now", NOW)
    assert result.exit_code == 0, result.output
    assert "3 new case(s)" in result.output and "0 not sent" in result.output
    methods = [method for method, _ in emulator.requests]
    assert methods == ["GET"] + ["POST"] * (write - 2) + ["POST", "GET"] + ["POST"] * (3 - write), \
        "one extra read to check the uncertain write, nothing written again"
    assert_each_once(emulator, spreadsheet_id, smtp_server, 3)
    sent = len(smtp_server.handler.envelopes)
    again = run(path, "sync", "--now", NOW)
    assert again.exit_code == 0 and len(smtp_server.handler.envelopes) == sent, "nothing resent later"
    assert_each_once(emulator, spreadsheet_id, smtp_server, 3)


def test_a_503_on_the_intake_write_that_did_not_apply_is_sent_once_after_the_check(
        emulator: SheetsEmulator, tmp_path: Path, smtp_server: SmtpServer) -> None:
    path = school(emulator, tmp_path, smtp_server, 3)
    emulator.reset_requests()
    emulator.before_request(2, lambda: emulator.fail_next(1, 503))
    result = run(path, "sync", "--now", NOW)
    assert result.exit_code == 0, result.output
    assert [method for method, _ in emulator.requests] == ["GET", "POST", "GET", "POST", "POST"]
    assert_each_once(emulator, f"google-{tmp_path.name}", smtp_server, 3)


def test_a_503_on_the_read_is_simply_retried(emulator: SheetsEmulator, tmp_path: Path,
                                             smtp_server: SmtpServer) -> None:
    path = school(emulator, tmp_path, smtp_server, 2)
    emulator.reset_requests()
    emulator.fail_next(2, 503, retry_after=0.01)
    result = run(path, "sync", "--now", NOW)
    assert result.exit_code == 0, result.output
    assert [method for method, _ in emulator.requests] == ["GET", "GET", "GET", "POST", "POST"]
    assert_each_once(emulator, f"google-{tmp_path.name}", smtp_server, 2)
