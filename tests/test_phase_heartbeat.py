"""The heartbeat phase and the marks after sending, on records and plain failures."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from workflow import __version__
from workflow.book import Book, Tab
from workflow.config import Config
from workflow.model import CellValue, ChangeSet, Failure
from workflow.phases import Context
from workflow.phases.heartbeat import (
    LAST_ERROR,
    LAST_ERROR_AT,
    LAST_SYNC,
    VERSION,
    failure_message,
    heartbeat,
    marks_for,
)
from workflow.phases.outbox import Delivery
from workflow.records import Setting
from workflow.schema import CELL_LIMIT

NZ = ZoneInfo("Pacific/Auckland")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=NZ)


def settings_written(book: Book) -> dict[str, CellValue]:
    changes = book.settings.changes(ChangeSet())
    written: dict[str, CellValue] = {u.key: u.cells["Value"] for u in changes.updates}
    written.update({str(r["Setting"]): r["Value"] for r in changes.appends.get("worker", [])})
    return written


def existing(settings: dict[str, CellValue]) -> Book:
    """A book whose Worker rows were read from the sheet (so only changes are written)."""
    book = Book()
    book.settings = Tab.of(Setting, [Setting(name, value) for name, value in settings.items()])
    return book


def test_an_idle_sync_within_the_hour_writes_nothing(config: Config) -> None:
    book = existing({VERSION: __version__, LAST_SYNC: NOW - timedelta(minutes=30), LAST_ERROR: ""})
    heartbeat(book, Context.make(config, NOW, CELL_LIMIT), changes_pending=False)
    assert settings_written(book) == {}


def test_last_sync_is_written_after_changes_or_hourly(config: Config) -> None:
    ctx = Context.make(config, NOW, CELL_LIMIT)
    recent: dict[str, CellValue] = {VERSION: __version__, LAST_SYNC: NOW - timedelta(minutes=30)}
    book = existing(recent)
    heartbeat(book, ctx, changes_pending=True)
    assert settings_written(book) == {LAST_SYNC: NOW}
    book = existing({**recent, LAST_SYNC: NOW - timedelta(hours=1)})
    heartbeat(book, ctx, changes_pending=False)
    assert settings_written(book) == {LAST_SYNC: NOW}


def test_a_new_version_and_an_old_error_are_written(config: Config) -> None:
    book = existing({VERSION: "0.0.1", LAST_SYNC: NOW - timedelta(minutes=10), LAST_ERROR: "2 email(s) not sent"})
    heartbeat(book, Context.make(config, NOW, CELL_LIMIT), changes_pending=False)
    assert settings_written(book) == {VERSION: __version__, LAST_SYNC: NOW, LAST_ERROR: ""}


def test_marks_for_a_clean_send() -> None:
    sent = Delivery("n-1", "a@school.example", "new_case", {}, 0, 4)
    marks = marks_for([sent], {}, NOW.replace(microsecond=5))
    assert [(u.tab, u.key, u.row, u.cells) for u in marks.updates] == [
        ("notifications", "n-1", 4, {"Status": "sent", "Attempts": 1, "Sent at": NOW, "Error": ""})]
    assert marks.appends == {}


def test_a_transient_failure_never_spends_an_attempt_however_often(config: Config) -> None:
    retry = Delivery("n-1", "a@school.example", "new_case", {}, 0, 4)
    many = Delivery("n-2", "b@school.example", "new_case", {}, config.email.max_attempts + 3, -1)
    failures = {"n-1": Failure("451 busy", permanent=False), "n-2": Failure("451 busy", permanent=False)}
    error = failure_message(failures)
    marks = marks_for([retry, many], failures, NOW, {LAST_ERROR: 7}, error)
    cells = {u.key: u.cells for u in marks.updates}
    assert cells["n-1"] == {"Status": "queued", "Error": "451 busy"}
    assert cells["n-2"] == {"Status": "queued", "Error": "451 busy"}   # Attempts untouched
    assert cells[LAST_ERROR] == {"Value": "2 email(s) not sent (they stay queued and are retried): 451 busy"}
    assert marks.appends == {"worker": [{"Setting": LAST_ERROR_AT, "Value": NOW}]}


def test_a_permanent_failure_is_failed_at_once_and_said_so() -> None:
    gone = Delivery("n-1", "gone@school.example", "new_case", {}, 0, 0)
    failures = {"n-1": Failure("refused permanently by the mail server: 550 no such user", permanent=True),
                "n-2": Failure("mail server unreachable", permanent=False)}
    marks = marks_for([gone], failures, NOW)
    assert marks.updates[0].cells == {"Status": "failed", "Attempts": 1,
                                      "Error": "refused permanently by the mail server: 550 no such user"}
    assert failure_message(failures) == (
        "1 email(s) not sent (they stay queued and are retried): mail server unreachable; "
        "1 email(s) not sent and marked failed (not retried): "
        "refused permanently by the mail server: 550 no such user")


def test_only_the_deliveries_given_are_marked_and_no_error_without_one() -> None:
    one = Delivery("n-1", "a@school.example", "new_case", {}, 0, 4)
    marks = marks_for([one], {"n-1": None, "n-9": None}, NOW, {LAST_ERROR: 7})
    assert [u.key for u in marks.updates] == ["n-1"] and marks.appends == {}
