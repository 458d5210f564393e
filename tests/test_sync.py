"""run_sync with the real local backend and a real SMTP server: the delivery guarantees."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import SmtpServer, config_text

from workflow.config import Config, load_config
from workflow.demo import RESPONSE_HEADERS
from workflow.model import ChangeSet, Snapshot
from workflow.schema import NOTIFICATIONS
from workflow.storage.local import LocalWorkbookStorage
from workflow.sync import run_sync
from workflow.transports import SmtpTransport

NZ = ZoneInfo("Pacific/Auckland")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=NZ)


class Crash(Exception):
    """The process dying at a chosen point."""


class CrashingStorage:
    """The real local backend, killed at its Nth commit (the crash being injected)."""

    def __init__(self, inner: LocalWorkbookStorage, crash_at_commit: int) -> None:
        self.inner, self.crash_at, self.commits = inner, crash_at_commit, 0

    def load(self) -> Snapshot:
        return self.inner.load()

    def commit(self, changes: ChangeSet) -> None:
        self.commits += 1
        if self.commits == self.crash_at:
            raise Crash
        self.inner.commit(changes)

    def setup(self, headers: list[str]) -> list[str]:
        return self.inner.setup(headers)

    def describe(self) -> str:
        return self.inner.describe()


@pytest.fixture()
def school(tmp_path: Path, smtp_server: SmtpServer) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(config_text(tmp_path, transport="smtp", smtp_port=smtp_server.port), encoding="utf-8")
    config = load_config(path)
    storage = LocalWorkbookStorage(config)
    storage.setup(RESPONSE_HEADERS)
    stamp = datetime(2026, 11, 25, 9, 0, tzinfo=NZ)
    storage.add_responses([dict(zip(RESPONSE_HEADERS, [stamp, "t.teacher@school.example",
                                                      "Threats of violence", "No", "No", "Students", "At school",
                                                      "Snapchat", "Threat to hurt a student", "A.B.", "None"],
                                   strict=True))])
    return config


def test_crash_between_written_and_marked_sent_resends_once_with_same_message_id(
        school: Config, smtp_server: SmtpServer) -> None:
    storage = LocalWorkbookStorage(school)
    transport = SmtpTransport(school.email.smtp)
    with pytest.raises(Crash):
        run_sync(school, CrashingStorage(storage, crash_at_commit=2), transport, NOW)
    first = smtp_server.handler.messages()
    assert first, "the emails went out before the crash"
    assert {n["Status"] for n in storage.load().tab("notifications").records(NOTIFICATIONS)} == {"queued"}

    result = run_sync(school, storage, transport, NOW)
    assert result.sent == len(first)
    second = smtp_server.handler.messages()[len(first):]
    assert sorted(m["Message-ID"] for m in second) == sorted(m["Message-ID"] for m in first)

    third = run_sync(school, storage, transport, NOW)
    assert third.sent == 0 and len(smtp_server.handler.envelopes) == 2 * len(first)


def test_crash_before_anything_written_sends_nothing_then_everything_once(
        school: Config, smtp_server: SmtpServer) -> None:
    storage = LocalWorkbookStorage(school)
    transport = SmtpTransport(school.email.smtp)
    with pytest.raises(Crash):
        run_sync(school, CrashingStorage(storage, crash_at_commit=1), transport, NOW)
    assert smtp_server.handler.envelopes == []
    result = run_sync(school, storage, transport, NOW)
    assert result.sent > 0 and len(smtp_server.handler.envelopes) == result.sent
    assert run_sync(school, storage, transport, NOW).sent == 0


def test_one_refused_recipient_does_not_stop_the_others(school: Config, smtp_server: SmtpServer) -> None:
    smtp_server.handler.refuse["counsellor@school.example"] = "550 5.1.1 mailbox unavailable"
    storage = LocalWorkbookStorage(school)
    result = run_sync(school, storage, SmtpTransport(school.email.smtp), NOW)
    assert result.failed == 1 and result.sent >= 3
    assert "counsellor@school.example" not in smtp_server.handler.delivered_to
    statuses = {r["To"]: r["Status"] for r in storage.load().tab("notifications").records(NOTIFICATIONS)}
    assert statuses["counsellor@school.example"] == "failed"
    assert statuses["principal@school.example"] == "sent"
