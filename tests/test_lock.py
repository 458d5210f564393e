"""One sync at a time (issue 9): the lock in-process, then real `cli.py` processes racing on both backends.

The race trials start two syncs as real processes, the second 0 to 2 seconds after the first
(the only place these tests let real time pass: the stagger *is* the scenario), and count what
reached the real SMTP server, so a resend under the same Message-ID or file name cannot hide.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from conftest import ROOT, SmtpServer, config_text, start_smtp
from sheets_emulator import SheetsEmulator

from cli import cli
from workflow.config import load_config
from workflow.demo import RESPONSE_HEADERS
from workflow.errors import StorageError
from workflow.lock import SyncLock, lock_path
from workflow.storage import open_storage
from workflow.storage.local import LocalWorkbookStorage

NZ = ZoneInfo("Pacific/Auckland")
NOW = "2026-11-25T10:00"
BUSY = "another sync is running"
TRIALS = 20
SITES = 4          # trials run on this many independent schools at once (2 cores in CI)


# -- the lock itself -------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_second_lock_on_the_same_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    with SyncLock(path, what="sync") as first:
        assert first.held
        with SyncLock(path) as second:
            assert not second.held
            assert f"pid {os.getpid()}, sync since" in second.busy_message()
            assert second.busy_message().startswith(BUSY)
    with SyncLock(path) as third:
        assert third.held
    assert path.exists()  # never deleted: see workflow/lock.py


def test_waiting_is_bounded_and_polls(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    clock = FakeClock()
    with SyncLock(path), SyncLock(path, timedelta(seconds=5), clock=clock, sleep=clock.sleep) as waiting:
        assert not waiting.held
        assert clock.now == pytest.approx(5.0) and max(clock.slept) <= 0.2 + 1e-9
        assert "after waiting 5s" in waiting.busy_message()


def test_waiting_takes_the_lock_when_the_running_sync_ends(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    running = SyncLock(path)
    running.acquire()
    clock = FakeClock()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if clock.now >= 1.0:
            running.release()

    with SyncLock(path, timedelta(seconds=30), clock=clock, sleep=sleep) as waiting:
        assert waiting.held and clock.now < 2


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[2]); from workflow.lock import SyncLock; "
         "from pathlib import Path; lock = SyncLock(Path(sys.argv[1])); lock.acquire(); print(lock.held, flush=True); "
         "import time; time.sleep(60)", str(path), str(ROOT)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        with SyncLock(path) as refused:
            assert not refused.held and f"pid {holder.pid}" in refused.busy_message()
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        with SyncLock(path) as taken:
            assert taken.held
    finally:
        holder.kill()


def test_a_lock_file_that_cannot_be_made_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    with pytest.raises(StorageError, match=r"cannot open the lock file .*\[worker\] lock_file"):
        SyncLock(tmp_path / "a-file" / "x.lock").acquire()
    with SyncLock(tmp_path / "new-folder" / "x.lock") as made:  # made, like the workbook's folder
        assert made.held


def test_lock_file_sits_by_the_workbook_or_the_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(config_text(tmp_path), encoding="utf-8")
    assert lock_path(load_config(path)) == tmp_path.resolve() / "incidents.xlsx.lock"
    path.write_text(config_text(tmp_path, backend="google", spreadsheet_id="abc"), encoding="utf-8")
    assert lock_path(load_config(path)) == tmp_path / "config.toml.lock"
    path.write_text(config_text(tmp_path).replace(
        '# lock_file = "/var/lib/digital-incidents/sync.lock"', 'lock_file = "run/sync.lock"'), encoding="utf-8")
    assert lock_path(load_config(path)) == tmp_path / "run" / "sync.lock"


# -- the commands, with the lock held by someone else ----------------------------------------


def local_site(folder: Path, smtp: SmtpServer, responses: int = 2, **replace: str) -> Path:
    path = folder / "config.toml"
    path.write_text(config_text(folder, transport="smtp", smtp_port=smtp.port, replace=replace), encoding="utf-8")
    assert invoke(path, "setup").exit_code == 0
    add_responses(path, None, 0, responses)
    return path


def invoke(path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-c", str(path), *args])


def response(number: int) -> list[Any]:
    start = datetime(2026, 11, 25, 8, 0, tzinfo=NZ)
    return [start + timedelta(seconds=number), f"staff{number}@school.example", "Cyberbullying or harassment", "No",
            "No", "Students", "At school", "Chat", f"Report {number}", "A.B.", "Talked"]


def add_responses(path: Path, emulator: SheetsEmulator | None, first: int, count: int) -> None:
    rows = [response(n) for n in range(first, first + count)]
    if emulator is None:
        LocalWorkbookStorage(load_config(path)).add_responses([dict(zip(RESPONSE_HEADERS, r, strict=True))
                                                                for r in rows])
    else:
        for row in rows:
            emulator.append_row(load_config(path).sheet.spreadsheet_id, "Form Responses 1", row)


def test_sync_and_digest_do_nothing_while_another_sync_runs(tmp_path: Path, smtp_server: SmtpServer) -> None:
    path = local_site(tmp_path, smtp_server)
    workbook = tmp_path / "incidents.xlsx"
    before = workbook.read_bytes()
    with SyncLock(tmp_path / "incidents.xlsx.lock", what="sync"):
        as_json = invoke(path, "sync", "--json", "--now", NOW)
        assert as_json.exit_code == 0 and json.loads(as_json.output)["skipped"].startswith(BUSY)
        for args in (("sync", "--now", NOW), ("digest", "--send", "--now", NOW)):
            result = invoke(path, *args)
            assert result.exit_code == 0, result.output
            assert result.output.count("\n") == 1 and result.output.startswith(BUSY), result.output
            assert f"pid {os.getpid()}" in result.output
        setup = invoke(path, "setup")
        assert setup.exit_code == 75 and BUSY in setup.output and "run setup again" in setup.output
        assert invoke(path, "status", "--now", NOW).exit_code == 0  # reads never wait
    assert workbook.read_bytes() == before and smtp_server.handler.envelopes == []
    result = invoke(path, "sync", "--now", NOW)
    assert result.exit_code == 0 and "2 new case(s)" in result.output


def test_lock_wait_lets_a_sync_follow_the_running_one(tmp_path: Path, smtp_server: SmtpServer) -> None:
    path = local_site(tmp_path, smtp_server, lock_wait='"30s"')
    running = SyncLock(tmp_path / "incidents.xlsx.lock")
    running.acquire()
    timer = threading.Timer(0.5, running.release)
    timer.start()
    try:
        result = invoke(path, "sync", "--now", NOW)
    finally:
        timer.cancel()
        running.release()
    assert result.exit_code == 0 and "2 new case(s)" in result.output, result.output


def test_run_skips_its_tick_while_another_sync_runs(tmp_path: Path, smtp_server: SmtpServer) -> None:
    path = local_site(tmp_path, smtp_server)
    with SyncLock(tmp_path / "incidents.xlsx.lock", what="sync"):
        process = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "-c", str(path), "run"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert process.stderr is not None
            for line in process.stderr:
                if BUSY in line:
                    break
            process.send_signal(signal.SIGTERM)
            out, _ = process.communicate(timeout=30)
        finally:
            process.kill()
    assert process.returncode == 0 and "stopped after 1 sync(s), 0 failed" in out
    assert smtp_server.handler.envelopes == []


# -- the race: two real syncs, started together or up to two seconds apart ------------------


@dataclass
class Site:
    path: Path
    smtp: SmtpServer
    emulator: SheetsEmulator | None
    responses: int = 0
    contended: int = 0
    problems: list[str] = field(default_factory=list)


def make_site(backend: str, folder: Path, emulator: SheetsEmulator) -> Site:
    folder.mkdir()
    smtp = start_smtp()
    spreadsheet_id = f"race-{folder.parent.name}-{folder.name}"
    if backend == "google":
        emulator.create_spreadsheet(spreadsheet_id, tabs={"Form Responses 1": [RESPONSE_HEADERS]})
    path = folder / "config.toml"
    path.write_text(config_text(folder, backend=backend, transport="smtp", smtp_port=smtp.port,
                                spreadsheet_id=spreadsheet_id, replace={"retry_seconds": "5"}), encoding="utf-8")
    result = invoke(path, "setup")
    assert result.exit_code == 0, result.output
    return Site(path, smtp, emulator if backend == "google" else None)


def race(site: Site, stagger: float, env: dict[str, str]) -> None:
    """One trial: a new response, then two syncs ``stagger`` seconds apart; check, record problems."""
    add_responses(site.path, site.emulator, site.responses, 1)
    site.responses += 1
    command = [sys.executable, str(ROOT / "cli.py"), "-c", str(site.path), "sync", "--now", NOW]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    threading.Event().wait(stagger)
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    outputs = [first.communicate(timeout=60)[0], second.communicate(timeout=60)[0]]
    if first.returncode or second.returncode or "Traceback" in "".join(outputs):
        site.problems.append(f"exit {first.returncode}/{second.returncode}: {outputs}")
    site.contended += any(out.startswith(BUSY) for out in outputs)
    site.problems.extend(duplicates(site))


def duplicates(site: Site) -> list[str]:
    """Cases, steps, notifications and delivered emails, each counted once; anything twice is a problem."""
    snapshot = open_storage(load_config(site.path)).load()

    def twice(tab: str, *columns: str) -> list[str]:
        table = snapshot.tab(tab)
        keys = Counter(tuple(r.get(c) for c in columns) for r in table.records(tab_spec(tab)))
        return [f"{tab} {key} x{n}" for key, n in keys.items() if n > 1]

    problems = twice("cases", "Case ID")
    problems += twice("checklist", "Case ID", "Step") + twice("notifications", "Notification ID")
    cases = snapshot.tab("cases").records(tab_spec("cases"))
    if len(cases) != site.responses:
        problems.append(f"{len(cases)} case(s) for {site.responses} response(s)")
    message_ids = Counter(m["Message-ID"] for m in site.smtp.handler.messages())
    problems += [f"email {mid} delivered x{n}" for mid, n in message_ids.items() if n > 1]
    sent = [n for n in snapshot.tab("notifications").records(tab_spec("notifications")) if n["Status"] == "sent"]
    if len(sent) != sum(message_ids.values()):
        problems.append(f"{len(sent)} marked sent, {sum(message_ids.values())} delivered")
    return problems


def tab_spec(logical: str) -> Any:
    from workflow.schema import BY_LOGICAL

    return BY_LOGICAL[logical]


@pytest.mark.parametrize("backend", ["local", "google"])
def test_two_syncs_started_together_or_staggered_never_duplicate(
        backend: str, tmp_path: Path, emulator: SheetsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHEETS_EMULATOR_HOST", emulator.host)
    env = {**os.environ}
    sites = [make_site(backend, tmp_path / f"site{i}", emulator) for i in range(SITES)]
    staggers = [2.0 * i / (TRIALS - 1) for i in range(TRIALS)]   # 0 s, 0.105 s, … 2 s

    def trials(number: int) -> None:
        for stagger in staggers[number::SITES]:
            race(sites[number], stagger, env)

    try:
        with ThreadPoolExecutor(SITES) as pool:
            list(pool.map(trials, range(SITES)))
    finally:
        for site in sites:
            site.smtp.stop()
    problems = [p for site in sites for p in site.problems]
    contended = sum(site.contended for site in sites)
    emails = sum(len(site.smtp.handler.envelopes) for site in sites)
    print(f"{backend}: {TRIALS} trials, {contended} contended, {emails} emails, {len(problems)} duplicate(s)")
    assert problems == []
    assert contended >= 2, "the trials never overlapped: they prove nothing about the lock"
    assert emails >= TRIALS
