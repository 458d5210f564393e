"""Delivery when things go wrong, through cli.py: outages, refused logins and recipients,
kill -9 and SIGTERM while sending, a time budget, a full disk and a read-only workbook.

Every count is taken at a real SMTP server on loopback (by Message-ID), on both backends
where the backend matters. Crashes are real: a child process running the CLI is killed by
the SMTP server itself when the k-th message arrives, so no test sleeps or guesses timing.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from click.testing import CliRunner, Result
from conftest import ROOT, Recorder, config_text, free_port
from sheets_emulator import SheetsEmulator

from cli import cli
from workflow.config import Config, load_config
from workflow.demo import RESPONSE_HEADERS
from workflow.storage import local, open_storage
from workflow.storage.local import LocalWorkbookStorage
from workflow.sync import run_sync
from workflow.transports import make_transport

NZ = ZoneInfo("Pacific/Auckland")
START = datetime(2026, 11, 25, 10, 0, tzinfo=NZ)   # a Wednesday in term
MARK_EVERY = 5

# AUTH without TLS on loopback, on purpose (no certificates needed); aiosmtpd warns.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def at(minutes: int) -> str:
    return (START + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")


# -- a real SMTP server that can refuse a login, stop a client or kill it --------------------


@dataclass
class Server(Recorder):
    """The conftest Recorder, plus: signal ``pid`` with ``signum`` when the ``at``-th message
    arrives (before the client hears 250), and a clock in minutes that each message advances."""

    pid: int = 0
    at: int = 0
    signum: int = signal.SIGKILL
    minutes: int = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        while self.at and not self.pid:   # armed but the child's pid not known yet: hold it
            await asyncio.sleep(0.001)
        reply = await super().handle_DATA(server, session, envelope)
        self.minutes += 1
        if self.pid and len(self.envelopes) == self.at:
            os.kill(self.pid, self.signum)
        return reply

    def ids(self) -> Counter[str]:
        return Counter(str(m["Message-ID"]) for m in self.messages())


PASSWORD = "right-Pa55word"


def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


class Smtp:
    """Start, stop and restart a server on one port (down = nothing listening)."""

    def __init__(self, **kwargs: Any) -> None:
        self.port = free_port()
        self.handler = Server()
        self.kwargs = kwargs
        self.controller: Controller | None = None

    def up(self) -> Smtp:
        if self.controller is None:
            self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **self.kwargs)
            self.controller.start()
        return self

    def down(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture()
def smtp() -> Iterator[Smtp]:
    server = Smtp()
    try:
        yield server
    finally:
        server.down()


# -- a school, on either backend --------------------------------------------------------------


class School:
    def __init__(self, backend: str, folder: Path, smtp: Smtp, emulator: SheetsEmulator,
                 monkeypatch: pytest.MonkeyPatch, **replace: str) -> None:
        self.backend, self.folder, self.emulator = backend, folder, emulator
        self.spreadsheet_id = f"delivery-{folder.name}"
        self.env: dict[str, str] = {}
        if backend == "google":
            monkeypatch.setenv("SHEETS_EMULATOR_HOST", emulator.host)
            self.env["SHEETS_EMULATOR_HOST"] = emulator.host
            emulator.create_spreadsheet(self.spreadsheet_id, tabs={"Form Responses 1": [RESPONSE_HEADERS]})
        self.path = folder / "config.toml"
        self.write_config(smtp.port, **replace)
        assert self.cli("setup").exit_code == 0

    def write_config(self, port: int, **replace: str) -> None:
        values = {"retry_seconds": "1", "mark_every": str(MARK_EVERY), **replace}
        self.path.write_text(config_text(self.folder, backend=self.backend, transport="smtp", smtp_port=port,
                                         spreadsheet_id=self.spreadsheet_id, replace=values), encoding="utf-8")

    @property
    def config(self) -> Config:
        return load_config(self.path)

    def cli(self, *args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(cli, ["-c", str(self.path), *args], env=env, catch_exceptions=False)

    def child(self, *args: str) -> subprocess.Popen[str]:
        """The installed command as cron runs it: a separate process, killable for real."""
        return subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "-c", str(self.path), *args],
                                env={**os.environ, **self.env}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def report(self, count: int) -> None:
        """``count`` new reports, as Forms appends them."""
        rows = [[START - timedelta(minutes=60 - i), f"staff{i}@school.example", "Cyberbullying or harassment",
                 "No", "No", "Students", "At school", "Chat", f"Report {i}", "A.B.", "Talked"] for i in range(count)]
        # each: an alert to the pastoral lead and a thank-you to the reporter (+ two digests a day)
        if self.backend == "local":
            LocalWorkbookStorage(self.config).add_responses([dict(zip(RESPONSE_HEADERS, r, strict=True))
                                                            for r in rows])
        else:
            for row in rows:
                self.emulator.append_row(self.spreadsheet_id, "Form Responses 1", row)

    def rows(self, tab: str) -> list[dict[str, Any]]:
        table = open_storage(self.config).load().tab(tab)
        return [dict(zip(table.header, r + [None] * (len(table.header) - len(r)), strict=True))
                for r in table.rows if any(v not in (None, "") for v in r)]

    def notifications(self) -> list[dict[str, Any]]:
        return self.rows("notifications")

    def worker(self) -> dict[str, Any]:
        return {r["Setting"]: r["Value"] for r in self.rows("worker")}


def school_on(backend: str, tmp_path: Path, smtp: Smtp, emulator: SheetsEmulator,
              monkeypatch: pytest.MonkeyPatch, **replace: str) -> School:
    return School(backend, tmp_path, smtp, emulator, monkeypatch, **replace)


def attempts(row: dict[str, Any]) -> int:
    return int(row["Attempts"] or 0)


def assert_each_delivered_once(school: School, smtp: Smtp) -> None:
    rows = school.notifications()
    ids = smtp.handler.ids()
    assert rows and {r["Status"] for r in rows} == {"sent"}
    assert len(ids) == len(rows) and set(ids.values()) == {1}, ids
    assert {attempts(r) for r in rows} == {1}


# -- 1. transient is not permanent ------------------------------------------------------------


@pytest.mark.parametrize("backend", ["local", "google"])
def test_smtp_down_for_ten_runs_then_up_delivers_every_email_exactly_once(
        backend: str, tmp_path: Path, smtp: Smtp, emulator: SheetsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    school = school_on(backend, tmp_path, smtp, emulator, monkeypatch)
    school.report(3)
    for run in range(10):        # cron every two minutes, nothing listening on the port
        down = school.cli("sync", "--now", at(2 * run))
        assert down.exit_code == 75, down.output
        assert "stay queued" in down.output and "unreachable" in down.output
    rows = school.notifications()
    assert len(rows) == 8 and {r["Status"] for r in rows} == {"queued"}
    assert {attempts(r) for r in rows} == {0}                   # ten failed runs spent nothing
    assert all("unreachable" in r["Error"] for r in rows)
    assert "stay queued" in school.worker()["Last error"]

    smtp.up()
    up = school.cli("sync", "--now", at(20))
    assert up.exit_code == 0, up.output
    assert_each_delivered_once(school, smtp)
    assert school.worker()["Last error"] in ("", None)
    again = school.cli("sync", "--now", at(22))
    assert again.exit_code == 0 and sum(smtp.handler.ids().values()) == len(rows)


def test_a_wrong_password_for_several_runs_spends_nothing_then_all_go_once(
        tmp_path: Path, emulator: SheetsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    smtp = Smtp(authenticator=authenticator, auth_require_tls=False, auth_required=True).up()
    try:
        school = school_on("local", tmp_path, smtp, emulator, monkeypatch, username='"alerts"',
                           password_env='"DELIVERY_TEST_PW"')
        school.report(2)
        for run in range(4):   # the password expired: every login is refused (535)
            result = school.cli("sync", "--now", at(2 * run), env={"DELIVERY_TEST_PW": "expired-one"})
            assert result.exit_code == 75, result.output
            assert "rejected the login" in result.output and "expired-one" not in result.output
        rows = school.notifications()
        assert {(r["Status"], attempts(r)) for r in rows} == {("queued", 0)}
        assert all("DELIVERY_TEST_PW" in r["Error"] for r in rows)
        assert "rejected the login" in school.worker()["Last error"]
        assert smtp.handler.envelopes == []

        fixed = school.cli("sync", "--now", at(10), env={"DELIVERY_TEST_PW": PASSWORD})
        assert fixed.exit_code == 0, fixed.output
        assert_each_delivered_once(school, smtp)
    finally:
        smtp.down()


def test_one_refused_recipient_fails_alone_and_is_said_exactly(
        tmp_path: Path, smtp: Smtp, emulator: SheetsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    smtp.up().handler.refuse["staff0@school.example"] = "550 5.1.1 <staff0@school.example>: no such user"
    school = school_on("local", tmp_path, smtp, emulator, monkeypatch)
    school.report(1)
    result = school.cli("sync", "--now", at(0))
    assert result.exit_code == 1, result.output   # an address to fix, not an outage to wait out
    assert ("1 email(s) not sent and marked failed (not retried): refused permanently by the mail server: "
            "550 5.1.1 <staff0@school.example>: no such user") in result.output
    assert "stay queued" not in result.output
    rows = school.notifications()
    [refused] = [r for r in rows if r["To"] == "staff0@school.example"]
    others = [r for r in rows if r is not refused]
    assert (refused["Status"], attempts(refused)) == ("failed", 1)
    assert refused["Error"].startswith("refused permanently by the mail server: 550")
    assert others and {(r["Status"], attempts(r)) for r in others} == {("sent", 1)}
    assert sorted(smtp.handler.delivered_to) == sorted(r["To"] for r in others)
    assert "marked failed" in school.worker()["Last error"]
    assert school.cli("sync", "--now", at(2)).exit_code == 0       # not retried
    assert sorted(smtp.handler.delivered_to) == sorted(r["To"] for r in others)


def test_a_temporary_refusal_keeps_that_email_queued_until_it_goes(
        tmp_path: Path, smtp: Smtp, emulator: SheetsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    smtp.up().handler.refuse["staff0@school.example"] = "452 4.2.2 mailbox full, try later"
    school = school_on("local", tmp_path, smtp, emulator, monkeypatch)
    school.report(1)
    for run in range(6):   # more runs than max_attempts: a 4xx never spends one
        result = school.cli("sync", "--now", at(2 * run))
        assert result.exit_code == 75 and "stay queued" in result.output
    waiting = next(r for r in school.notifications() if r["To"] == "staff0@school.example")
    assert (waiting["Status"], attempts(waiting)) == ("queued", 0) and "452" in waiting["Error"]
    del smtp.handler.refuse["staff0@school.example"]
    assert school.cli("sync", "--now", at(20)).exit_code == 0
    assert_each_delivered_once(school, smtp)


def test_an_outbox_that_cannot_be_written_is_transient(
        tmp_path: Path, smtp: Smtp, emulator: SheetsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    school = school_on("local", tmp_path, smtp, emulator, monkeypatch)
    (tmp_path / "blocker").write_text("a file where the outbox folder should be", encoding="utf-8")
    outbox = {"transport": '"outbox"', "outbox_dir": '"blocker/outbox"'}
    school.write_config(smtp.port, **outbox)
    school.report(1)
    for run in range(6):
        assert school.cli("sync", "--now", at(2 * run)).exit_code == 75
    assert {(r["Status"], attempts(r)) for r in school.notifications()} == {("queued", 0)}
    school.write_config(smtp.port, **{**outbox, "outbox_dir": '"outbox"'})
    assert school.cli("sync", "--now", at(20)).exit_code == 0
    rows = school.notifications()
    assert {(r["Status"], attempts(r)) for r in rows} == {("sent", 1)}
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == len(rows)


# -- 2. mark as you go: kill -9 while sending --------------------------------------------------

KILL_POINTS = {"local": [1, 3, 5, 6, 9, 10, 12, 14], "google": [2, 5, 7, 11]}


@pytest.mark.parametrize(("backend", "kill_at"), [(b, k) for b, ks in KILL_POINTS.items() for k in ks])
def test_kill_9_while_sending_resends_at_most_one_batch_with_the_same_message_ids(
        backend: str, kill_at: int, tmp_path: Path, smtp: Smtp, emulator: SheetsEmulator,
        monkeypatch: pytest.MonkeyPatch) -> None:
    school = school_on(backend, tmp_path, smtp, emulator, monkeypatch)
    school.report(7)     # 16 emails
    smtp.up()
    smtp.handler.at = kill_at                    # the server kills the child on the k-th message
    child = school.child("sync", "--now", at(0))
    smtp.handler.pid = child.pid
    child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    before = smtp.handler.ids()
    assert sum(before.values()) == kill_at

    smtp.handler.at = smtp.handler.pid = 0
    after = school.cli("sync", "--now", at(2))
    assert after.exit_code == 0, after.output
    ids = smtp.handler.ids()
    resent = sum(ids.values()) - len(ids)
    assert resent <= MARK_EVERY, ids                           # at most one batch, ever
    assert resent == kill_at - MARK_EVERY * ((kill_at - 1) // MARK_EVERY)   # exactly the unmarked ones
    assert max(ids.values()) <= 2 and set(before) <= set(ids)  # same Message-IDs, no third copy
    rows = school.notifications()
    assert len(ids) == len(rows) and {r["Status"] for r in rows} == {"sent"}


# -- 3. SIGTERM and the time budget --------------------------------------------------------------


def test_sigterm_during_sync_stops_within_the_email_marks_it_and_leaves_the_rest(
        tmp_path: Path, smtp: Smtp, emulator: SheetsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    school = school_on("local", tmp_path, smtp, emulator, monkeypatch)
    school.report(4)
    smtp.up()
    smtp.handler.at, smtp.handler.signum = 7, signal.SIGTERM
    child = school.child("sync", "--now", at(0))
    smtp.handler.pid = child.pid
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert sum(smtp.handler.ids().values()) == 7                # the one in flight went; no more
    assert "left queued for the next run: the worker was asked to stop" in err
    rows = school.notifications()
    assert Counter(r["Status"] for r in rows) == {"sent": 7, "queued": len(rows) - 7}

    smtp.handler.at = smtp.handler.pid = 0
    assert school.cli("sync", "--now", at(2)).exit_code == 0
    assert_each_delivered_once(school, smtp)


def test_sigterm_during_run_stops_the_sync_and_the_loop(
        tmp_path: Path, smtp: Smtp, emulator: SheetsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    school = school_on("local", tmp_path, smtp, emulator, monkeypatch)
    school.report(3)
    smtp.up()
    smtp.handler.at, smtp.handler.signum = 3, signal.SIGTERM
    child = school.child("run")
    smtp.handler.pid = child.pid
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert "stopped after 1 sync(s), 0 failed" in out
    assert sum(smtp.handler.ids().values()) == 3
    assert Counter(r["Status"] for r in school.notifications())["sent"] == 3


def test_the_time_budget_stops_sending_and_the_next_runs_continue(
        tmp_path: Path, smtp: Smtp, emulator: SheetsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each message takes one minute by the server's clock (injected, never slept for)."""
    school = school_on("local", tmp_path, smtp, emulator, monkeypatch, time_budget='"5m"')
    school.report(4)
    smtp.up()
    config = school.config
    storage, transport = open_storage(config), make_transport(config.email, config.path.parent)
    runs = []
    for run in range(10):
        result = run_sync(config, storage, transport, START + timedelta(minutes=2 * run),
                          clock=lambda: smtp.handler.minutes * 60.0)
        runs.append((result.sent, result.left, result.exit_code))
        if not result.left:
            break
    total = len(school.notifications())
    assert runs[0] == (5, total - 5, 0)
    assert [sent for sent, _, _ in runs] == [5] * (total // 5) + ([total % 5] if total % 5 else [])
    assert_each_delivered_once(school, smtp)


# -- 4. a full disk and a read-only workbook -----------------------------------------------------


def full_disk(after_saves: int) -> Any:
    """The save's low-level write, failing with ENOSPC once ``after_saves`` saves went through."""
    real = local._dump
    saves = {"n": 0}

    def dump(workbook: Any, stream: Any) -> None:
        saves["n"] += 1
        if saves["n"] > after_saves:
            stream.write(b"PK\x03\x04 the start of a zip")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(workbook, stream)

    return dump


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_full_disk_sends_nothing_says_so_in_one_line_and_leaves_no_temp_file(
        tmp_path: Path, smtp: Smtp, emulator: SheetsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    school = school_on("local", tmp_path, smtp, emulator, monkeypatch)
    school.report(3)
    smtp.up()
    before = school.config.sheet.path.read_bytes()
    with monkeypatch.context() as patch:
        patch.setattr(local, "_dump", full_disk(after_saves=0))
        for run in range(3):
            result = school.cli("sync", "--now", at(2 * run))
            assert result.exit_code == 75, result.output
            lines = [line for line in result.output.splitlines() if line.strip()]
            assert len(lines) == 1 and "incidents.xlsx" in lines[0] and "No space left on device" in lines[0]
            assert temp_files(tmp_path) == []
    assert school.config.sheet.path.read_bytes() == before and smtp.handler.envelopes == []
    assert school.cli("sync", "--now", at(10)).exit_code == 0
    assert_each_delivered_once(school, smtp)


def test_a_disk_that_fills_while_sending_stops_it_and_resends_at_most_one_batch(
        tmp_path: Path, smtp: Smtp, emulator: SheetsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    school = school_on("local", tmp_path, smtp, emulator, monkeypatch)
    school.report(7)
    smtp.up()
    with monkeypatch.context() as patch:
        patch.setattr(local, "_dump", full_disk(after_saves=2))   # the plan and one batch of marks
        filling = school.cli("sync", "--now", at(0))
        assert filling.exit_code == 75, filling.output
        assert sum(smtp.handler.ids().values()) == 2 * MARK_EVERY   # stopped at the failed mark
        # a backlog and nothing new: the heartbeat written first fails, so nothing is sent again
        for run in range(1, 4):
            assert school.cli("sync", "--now", at(2 * run)).exit_code == 75
        assert sum(smtp.handler.ids().values()) == 2 * MARK_EVERY
        assert temp_files(tmp_path) == []
    assert school.cli("sync", "--now", at(10)).exit_code == 0
    ids = smtp.handler.ids()
    assert sum(ids.values()) - len(ids) == MARK_EVERY      # the one unmarked batch, once more
    assert len(ids) == len(school.notifications())


def test_a_read_only_workbook_is_refused_in_one_line_and_never_replaced(
        tmp_path: Path, smtp: Smtp, emulator: SheetsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    school = school_on("local", tmp_path, smtp, emulator, monkeypatch)
    school.report(1)
    smtp.up()
    path = school.config.sheet.path
    before = path.read_bytes()
    os.chmod(path, 0o444)    # tests run as root, which ignores permissions: the bits are honoured
    try:
        result = school.cli("sync", "--now", at(0))
        assert result.exit_code == 1, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and "is read-only" in lines[0] and str(path) in lines[0]
        assert path.read_bytes() == before and smtp.handler.envelopes == [] and temp_files(tmp_path) == []
    finally:
        os.chmod(path, 0o644)
    assert school.cli("sync", "--now", at(2)).exit_code == 0
    assert_each_delivered_once(school, smtp)
