"""The heartbeat phase and the marks after sending, on records and plain failures."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from workflow import __version__
from workflow.book import Book, Tab
from workflow.config import Config
from workflow.model import CellValue, ChangeSet, Failure
from workflow.phases import Context, Decisions
from workflow.phases.heartbeat import (
    FAILING_SINCE,
    LAST_ERROR,
    LAST_ERROR_AT,
    LAST_SYNC,
    VERSION,
    failure_message,
    heartbeat,
    marks_for,
    outage_context,
    watch_syncs,
)
from workflow.phases.outbox import Delivery
from workflow.records import Notification, Setting
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


# -- the admin hears of an outage once, and of its end once -----------------------------------

ADMIN = '["it@school.example"]\nadmin = ["Admin@School.example", "deputy@school.example"]'
START = NOW - timedelta(minutes=40)          # when the outage began (Failing since)
KEY = "2026-11-23T08:20"                     # START in school time, to the minute


def watch(config: Config, settings: dict[str, CellValue], known: frozenset[str] | set[str] = frozenset(),
          now: datetime = NOW) -> tuple[Book, Decisions]:
    book = existing({VERSION: __version__, **settings})
    decisions = Decisions(now, set(known))
    watch_syncs(book, Context.make(config, now, CELL_LIMIT), decisions)
    return book, decisions


def ids(decisions: Decisions) -> list[str]:
    return [n.id for n in decisions.notices]


def test_a_healthy_worker_decides_nothing_and_writes_nothing(make_config: Callable[..., Config]) -> None:
    config = make_config(replace={"it_lead": ADMIN})
    book, decisions = watch(config, {LAST_SYNC: NOW - timedelta(minutes=89), LAST_ERROR: ""})
    assert settings_written(book) == {} and ids(decisions) == []


def test_failing_longer_than_the_bound_tells_each_admin_once(make_config: Callable[..., Config]) -> None:
    config = make_config(replace={"it_lead": ADMIN})
    failing = {LAST_SYNC: START, LAST_ERROR: "1 email(s) not sent (they stay queued and are retried): 421",
               FAILING_SINCE: START}
    book, decisions = watch(config, failing, now=START + timedelta(minutes=29))
    assert ids(decisions) == [] and settings_written(book) == {}            # not yet 30m
    book, decisions = watch(config, failing)
    assert ids(decisions) == [f"-/admin_failing/{KEY}/0/admin@school.example",
                              f"-/admin_failing/{KEY}/0/deputy@school.example"]
    assert {n.role for n in decisions.notices} == {"admin"} and {n.case_id for n in decisions.notices} == {""}
    assert settings_written(book) == {}
    _, again = watch(config, failing, set(ids(decisions)), now=NOW + timedelta(hours=5))
    assert ids(again) == []                                                  # once per outage


def test_the_first_sync_after_one_that_recorded_no_error_is_the_recovery(make_config: Callable[..., Config]) -> None:
    config = make_config(replace={"it_lead": ADMIN})
    told = {f"-/admin_failing/{KEY}/0/admin@school.example"}
    book, decisions = watch(config, {LAST_SYNC: NOW, LAST_ERROR: "", FAILING_SINCE: START}, told)
    assert settings_written(book) == {FAILING_SINCE: ""}
    assert ids(decisions) == [f"-/admin_recovered/{KEY}/0/admin@school.example",
                              f"-/admin_recovered/{KEY}/0/deputy@school.example"]
    # a short outage nobody was told about ends quietly
    book, decisions = watch(config, {LAST_SYNC: NOW, LAST_ERROR: "", FAILING_SINCE: START})
    assert settings_written(book) == {FAILING_SINCE: ""} and ids(decisions) == []


def test_a_sheet_nobody_could_write_for_long_is_an_outage_from_the_last_sync(
        make_config: Callable[..., Config]) -> None:
    config = make_config(replace={"it_lead": ADMIN})
    # an idle worker refreshes Last successful sync hourly: up to 1h + 30m is not evidence
    book, decisions = watch(config, {LAST_SYNC: NOW - timedelta(minutes=90), LAST_ERROR: ""})
    assert settings_written(book) == {} and ids(decisions) == []
    last = NOW - timedelta(minutes=91)
    book, decisions = watch(config, {LAST_SYNC: last, LAST_ERROR: ""})
    assert settings_written(book) == {FAILING_SINCE: last}
    assert ids(decisions)[0] == "-/admin_failing/2026-11-23T07:29/0/admin@school.example"


def test_an_error_recorded_without_failing_since_dates_the_outage(make_config: Callable[..., Config]) -> None:
    config = make_config(replace={"it_lead": ADMIN})
    book, decisions = watch(config, {LAST_SYNC: NOW, LAST_ERROR: "mail server unreachable", LAST_ERROR_AT: START})
    assert settings_written(book) == {FAILING_SINCE: START} and len(ids(decisions)) == 2


def test_without_an_admin_the_outage_is_remembered_but_nobody_is_emailed(config: Config) -> None:
    book, decisions = watch(config, {LAST_SYNC: NOW, LAST_ERROR: "", FAILING_SINCE: START},
                            {f"-/admin_failing/{KEY}/0/admin@school.example"})
    assert settings_written(book) == {FAILING_SINCE: ""} and ids(decisions) == []
    book, decisions = watch(config, {LAST_SYNC: NOW - timedelta(hours=3), LAST_ERROR: ""})
    assert FAILING_SINCE in settings_written(book) and ids(decisions) == []


def test_the_first_failure_starts_failing_since_in_the_same_marks() -> None:
    gone = Delivery("n-1", "a@school.example", "new_case", {}, 0, 4)
    failures = {"n-1": Failure("mail server unreachable", permanent=False)}
    first = marks_for([gone], failures, NOW, {LAST_ERROR: 7}, "1 email(s) not sent", failing=False)
    assert first.appends == {"worker": [{"Setting": LAST_ERROR_AT, "Value": NOW},
                                        {"Setting": FAILING_SINCE, "Value": NOW}]}
    later = marks_for([gone], failures, NOW, {LAST_ERROR: 7, LAST_ERROR_AT: 8, FAILING_SINCE: 9},
                      "1 email(s) not sent", failing=True)
    assert {u.key for u in later.updates} == {"n-1", LAST_ERROR, LAST_ERROR_AT}


def test_the_admin_email_says_since_when_and_the_error_without_addresses(
        make_config: Callable[..., Config]) -> None:
    config = make_config(replace={"it_lead": ADMIN})
    error = "1 email(s) not sent and marked failed (not retried): 550 5.1.1 <Kid.Name@school.example>: no such user"
    book = existing({LAST_ERROR: error, LAST_ERROR_AT: NOW})
    record = Notification(f"-/admin_failing/{KEY}/0/admin@school.example", event="admin_failing",
                          queued_at=NOW)
    outage = outage_context(record, book, Context.make(config, NOW, CELL_LIMIT))
    assert outage["since"] == "Mon 23 Nov 2026 08:20" and outage["decided_at"] == "Mon 23 Nov 2026 09:00"
    assert outage["last_error"] == error.replace("Kid.Name@school.example", "[address]")
    assert outage["last_error_at"] == "Mon 23 Nov 2026 09:00"
