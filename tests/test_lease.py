"""[worker] lease: two hosts on one Google sheet, through cli.py against the emulator.

The host of each sync is set with $DIGITAL_INCIDENTS_HOST; time is injected with --now.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from conftest import SmtpServer, config_text
from sheets_emulator import SheetsEmulator

from cli import cli
from workflow.config import Config, load_config
from workflow.errors import ConfigError
from workflow.lease import HOST_ENV, blocker
from workflow.storage.google.client import RetryPolicy

NZ = ZoneInfo("Pacific/Auckland")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=NZ)
HEADERS = ["Timestamp", "Email address", "What kind of incident is it?", "Is anyone at immediate risk of harm?",
           "Does it involve a nude or sexual image of anyone under 18?", "Who is affected?",
           "Did it happen at school or outside school?", "Where online did it happen?", "What happened?",
           "Who is involved?", "What have you done so far?"]


@pytest.fixture(autouse=True)
def emulated(emulator: SheetsEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", emulator.host)
    yield
    emulator.clear_faults()


def school(emulator: SheetsEmulator, folder: Path, smtp: SmtpServer, responses: int = 2, lease: str = "true",
           ) -> Path:
    spreadsheet_id = sheet_of(folder)
    start = NOW - timedelta(hours=2)
    rows = [[start + timedelta(minutes=i), f"staff{i}@school.example", "Cyberbullying or harassment", "No", "No",
             "Students", "At school", "Chat", f"Report {i}", "A.B.", "Talked"] for i in range(responses)]
    emulator.create_spreadsheet(spreadsheet_id, tabs={"Form Responses 1": [HEADERS, *rows]})
    path = folder / "config.toml"
    path.write_text(config_text(folder, backend="google", transport="smtp", smtp_port=smtp.port,
                                spreadsheet_id=spreadsheet_id,
                                replace={"retry_seconds": "2", "lease": lease}),
                    encoding="utf-8")
    assert load_config(path).worker.lease is (lease == "true")
    setup = run(path, "setup", host="setup-host")
    assert setup.exit_code == 0, setup.output
    return path


def sheet_of(folder: Path) -> str:
    return f"lease-{folder.name}"


def run(path: Path, *args: str, host: str = "host-a", now: datetime = NOW) -> Result:
    env = {HOST_ENV: host}
    if args[0] in ("sync", "digest"):
        args = (*args, "--now", now.isoformat())
    return CliRunner().invoke(cli, ["-c", str(path), *args], env=env, catch_exceptions=False)


def writes(emulator: SheetsEmulator) -> list[tuple[str, str]]:
    return [r for r in emulator.requests if r[0] != "GET"]


def worker(emulator: SheetsEmulator, folder: Path) -> dict[str, object]:
    return {row[0]: (row[1] if len(row) > 1 else "") for row in emulator.values(sheet_of(folder), "Worker")[1:]}


def set_lease(emulator: SheetsEmulator, folder: Path, holder: str, until: datetime) -> None:
    emulator.append_row(sheet_of(folder), "Worker", ["Lease holder", holder])
    emulator.append_row(sheet_of(folder), "Worker", ["Lease until", until])


def cases(emulator: SheetsEmulator, folder: Path) -> int:
    return len(emulator.values(sheet_of(folder), "Cases")) - 1


def test_a_foreign_unexpired_lease_stops_the_sync_with_one_line_and_nothing_written_or_sent(
        emulator: SheetsEmulator, tmp_path: Path, smtp_server: SmtpServer) -> None:
    path = school(emulator, tmp_path, smtp_server)
    set_lease(emulator, tmp_path, "host-b:4242:0badf00d", NOW + timedelta(minutes=3))
    emulator.reset_requests()
    result = run(path, "sync")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "another host (host-b:4242:0badf00d) holds the lease until 2026-11-25 10:03:00; this sync did nothing "
        "and the next run does its work")
    assert len(emulator.requests) == 1 and writes(emulator) == []
    assert smtp_server.handler.envelopes == [] and cases(emulator, tmp_path) == 0
    assert '"skipped": "another host (host-b' in run(path, "sync", "--json").output


def test_an_expired_foreign_lease_is_taken_the_sync_runs_and_releases_it(
        emulator: SheetsEmulator, tmp_path: Path, smtp_server: SmtpServer) -> None:
    path = school(emulator, tmp_path, smtp_server)
    set_lease(emulator, tmp_path, "host-b:4242:0badf00d", NOW - timedelta(seconds=1))
    emulator.reset_requests()
    result = run(path, "sync")
    assert result.exit_code == 0, result.output
    assert "2 new case(s)" in result.output and cases(emulator, tmp_path) == 2
    sent = len(smtp_server.handler.envelopes)
    assert sent > 0
    # read, lease write, lease read-back, intake write, marks (+ the release, in the last marks)
    methods = [method for method, _ in emulator.requests]
    assert methods == ["GET", "POST", "GET", "POST"] + ["POST"] * math.ceil(sent / 20), emulator.requests
    settings = worker(emulator, tmp_path)
    assert str(settings["Lease holder"]).startswith("host-a:")
    assert list(settings).count("Lease holder") == 1 and list(settings).count("Lease until") == 1
    # released: another host syncs at once (no wait for the lease to expire), and an idle sync
    # neither writes nor takes the lease
    emulator.reset_requests()
    again = run(path, "sync", host="host-b", now=NOW + timedelta(seconds=30))
    assert again.exit_code == 0 and "0 new case(s)" in again.output, again.output
    assert len(emulator.requests) == 1 and writes(emulator) == []


def test_a_second_host_is_blocked_while_the_first_hosts_lease_is_unexpired(
        emulator: SheetsEmulator, tmp_path: Path, smtp_server: SmtpServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RetryPolicy, "for_budget", classmethod(lambda cls, seconds: cls(budget=seconds, timeout=2.0)))
    path = school(emulator, tmp_path, smtp_server)
    # host A takes the lease, then its intake write fails for good (exit 75): its lease stays
    emulator.reset_requests()
    emulator.before_request(4, lambda: emulator.fail_always(503))
    crashed = run(path, "sync")
    assert crashed.exit_code == 75, crashed.output
    emulator.clear_faults()
    holder = str(worker(emulator, tmp_path)["Lease holder"])
    assert holder.startswith("host-a:") and cases(emulator, tmp_path) == 0

    emulator.reset_requests()
    blocked = run(path, "sync", host="host-b", now=NOW + timedelta(minutes=6))
    assert blocked.exit_code == 0
    assert blocked.output.startswith(f"another host ({holder}) holds the lease until 2026-11-25 10:07:00;")
    assert writes(emulator) == [] and smtp_server.handler.envelopes == []

    # host A itself takes it over at once (its flock keeps its own syncs apart: the holder ended)
    emulator.reset_requests()
    same_host = run(path, "sync", host="host-a", now=NOW + timedelta(minutes=1))
    assert same_host.exit_code == 0 and "2 new case(s)" in same_host.output, same_host.output
    assert cases(emulator, tmp_path) == 2


def test_after_expiry_the_second_host_takes_the_lease(
        emulator: SheetsEmulator, tmp_path: Path, smtp_server: SmtpServer) -> None:
    path = school(emulator, tmp_path, smtp_server)
    set_lease(emulator, tmp_path, "host-a:1:aaaa", NOW + timedelta(minutes=7))
    assert run(path, "sync", host="host-b", now=NOW + timedelta(minutes=6, seconds=59)).output.startswith(
        "another host (host-a:1:aaaa)")
    taken = run(path, "sync", host="host-b", now=NOW + timedelta(minutes=7))
    assert taken.exit_code == 0 and "2 new case(s)" in taken.output, taken.output
    assert str(worker(emulator, tmp_path)["Lease holder"]).startswith("host-b:")


def test_when_another_hosts_lease_write_lands_before_the_read_back_this_sync_backs_off(
        emulator: SheetsEmulator, tmp_path: Path, smtp_server: SmtpServer) -> None:
    path = school(emulator, tmp_path, smtp_server)
    set_lease(emulator, tmp_path, "host-a:1:aaaa", NOW - timedelta(minutes=1))  # expired: free to take
    emulator.reset_requests()
    # request 2 is our lease write; host B's write lands just before our read-back (request 3)
    rows = emulator.values(sheet_of(tmp_path), "Worker")
    cell = f"B{[row[0] for row in rows].index('Lease holder') + 1}"
    emulator.before_request(3, lambda: emulator.set_values(sheet_of(tmp_path), "Worker", cell, [["host-b:2:bbbb"]]))
    result = run(path, "sync", host="host-a")
    assert result.exit_code == 0
    assert result.output.strip() == ("another host (host-b:2:bbbb) holds the lease now; this sync did nothing and "
                                     "the next run does its work")
    assert [method for method, _ in emulator.requests] == ["GET", "POST", "GET"]
    assert cases(emulator, tmp_path) == 0 and smtp_server.handler.envelopes == []


def test_lease_off_costs_nothing(emulator: SheetsEmulator, tmp_path: Path, smtp_server: SmtpServer) -> None:
    path = school(emulator, tmp_path, smtp_server, lease="false")
    set_lease(emulator, tmp_path, "host-b:4242:0badf00d", NOW + timedelta(minutes=3))  # ignored when off
    emulator.reset_requests()
    result = run(path, "sync")
    assert result.exit_code == 0 and "2 new case(s)" in result.output, result.output
    sent = len(smtp_server.handler.envelopes)
    assert len(emulator.requests) == 2 + math.ceil(sent / 20)
    assert worker(emulator, tmp_path)["Lease holder"] == "host-b:4242:0badf00d"


# -- the pure decision -------------------------------------------------------------------


@pytest.mark.parametrize(("holder", "until", "free"), [
    ("", NOW + timedelta(hours=1), True),                       # nobody
    ("host-b:1:ab", NOW + timedelta(seconds=1), False),          # another host, unexpired
    ("host-b:1:ab", NOW, True),                                   # expired at this instant
    ("host-b:1:ab", "garbled", True),                             # unreadable: free
    ("host-a:99:cd", NOW + timedelta(hours=1), True),             # this host's (a crashed sync)
    ("host-a.example:1:ab", NOW + timedelta(hours=1), False),     # another host, similar name
])
def test_who_may_take_the_lease(holder: str, until: object, free: bool) -> None:
    assert (blocker(holder, until, NOW, "host-a:7:ef") == "") is free  # type: ignore[arg-type]


# -- config ------------------------------------------------------------------------------


def load_worker(tmp_path: Path, lines: str, backend: str = "google", time_budget: str = '"5m"') -> Config:
    path = tmp_path / "config.toml"
    text = config_text(tmp_path, backend=backend, spreadsheet_id="sheet-id", replace={"time_budget": time_budget})
    text = re.sub(r"(?m)^lease = false.*\n", "", text, count=1)   # the example's line, replaced by ``lines``
    path.write_text(re.sub(r"(?m)^\[worker\]\n", "[worker]\n" + lines + "\n", text, count=1), encoding="utf-8")
    return load_config(path)


def test_lease_defaults_off_and_lasts_the_time_budget_plus_two_minutes(tmp_path: Path) -> None:
    assert load_worker(tmp_path, "").worker.lease is False
    config = load_worker(tmp_path, "lease = true")
    assert config.worker.lease and config.worker.lease_for == timedelta(minutes=7)
    assert load_worker(tmp_path, "lease = true\nlease_seconds = 360").worker.lease_for == timedelta(seconds=360)


@pytest.mark.parametrize(("lines", "expected"), [
    ("lease_seconds = 359", "worker.lease_seconds is 359; allowed: 360 (worker.time_budget plus a minute"),
    ("lease_seconds = 7201", "worker.lease_seconds is 7201; allowed: 360"),
    ("lease_seconds = 600.5", "worker.lease_seconds must be whole number"),
    ("lease_seconds = -1", "worker.lease_seconds is -1"),
    ("lease = \"yes\"", "worker.lease must be bool"),
])
def test_bad_lease_values_name_the_key_and_the_range(tmp_path: Path, lines: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_worker(tmp_path, lines)
    assert str(info.value).startswith(f"{tmp_path / 'config.toml'}: ") and expected in str(info.value)


def test_the_range_follows_the_time_budget(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"lease_seconds is 99; allowed: 100 \(worker.time_budget"):
        load_worker(tmp_path, "lease = true\nlease_seconds = 99", time_budget='"40s"')
    config = load_worker(tmp_path, "lease = true", time_budget='"40s"')
    assert config.worker.lease_for == timedelta(seconds=160)


def test_a_lease_on_a_local_workbook_is_refused_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match='lease is true but sheet.backend is not "google".*lock file'):
        load_worker(tmp_path, "lease = true", backend="local")
