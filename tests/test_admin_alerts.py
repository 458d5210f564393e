"""The admin hears once when syncs keep failing, and once when they recover — through cli.py.

A real SMTP server on loopback, an injected --now (cron every few minutes), both backends.
Three outages: the mail server down (the "failing" email can only go when mail is back, then
"recovered" follows), a broken template while mail works (the admin hears during the outage),
and a sheet nobody can write (detected by the first sync that can write).
"""

from __future__ import annotations

import os
import shutil
from email.message import EmailMessage
from pathlib import Path

import pytest
import test_delivery
from conftest import ROOT
from sheets_emulator import SheetsEmulator
from test_delivery import START, School, Smtp, at

ADMIN = "admin@school.example"
CONTACTS = f'["it@school.example"]\nadmin = ["{ADMIN}"]'   # one more line under [contacts]
SINCE = "Wed 25 Nov 2026 10:00"          # START as the emails print it

smtp = test_delivery.smtp   # the delivery tests' SMTP server that can go down and come back

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def admin_mail(smtp: Smtp) -> list[EmailMessage]:
    return [m for m in smtp.handler.messages() if m["To"] == ADMIN]


def subjects(smtp: Smtp) -> list[str]:
    return [str(m["Subject"]) for m in admin_mail(smtp)]


def body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]


def failing_since(school: School) -> object:
    return school.worker().get("Failing since")


def admin_rows(school: School) -> list[tuple[str, str]]:
    return [(r["Notification ID"], r["Status"]) for r in school.notifications() if r["Event"].startswith("admin_")]


def assert_every_email_went_once(school: School, smtp: Smtp) -> None:
    rows = school.notifications()
    ids = smtp.handler.ids()
    assert {r["Status"] for r in rows} == {"sent"}
    assert len(ids) == len(rows) and set(ids.values()) == {1}, ids


@pytest.mark.parametrize("backend", ["local", "google"])
def test_mail_down_for_longer_than_the_bound_then_up_failing_then_recovered_each_once(
        backend: str, tmp_path: Path, smtp: Smtp, emulator: SheetsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    school = School(backend, tmp_path, smtp, emulator, monkeypatch, it_lead=CONTACTS)
    school.report(2)
    for minute in range(0, 41, 4):            # nothing listening: every sync exits 75
        result = school.cli("sync", "--now", at(minute))
        assert result.exit_code == 75, result.output
        decided = admin_rows(school)
        assert decided == ([] if minute < 30 else [("-/admin_failing/2026-11-25T10:00/0/" + ADMIN, "queued")])
    assert failing_since(school) == START       # the first failed sync

    smtp.up()
    assert school.cli("sync", "--now", at(42)).exit_code == 0     # the backlog and the "failing" email
    assert subjects(smtp) == [f"Example School digital incidents: syncs failing since {SINCE}"]
    assert school.cli("sync", "--now", at(44)).exit_code == 0     # the previous sync recorded no error
    assert subjects(smtp) == [f"Example School digital incidents: syncs failing since {SINCE}",
                              "Example School digital incidents: syncs work again"]
    assert failing_since(school) in ("", None)
    for minute in (46, 48, 50):
        assert school.cli("sync", "--now", at(minute)).exit_code == 0
    assert len(admin_mail(smtp)) == 2
    assert_every_email_went_once(school, smtp)

    failing, recovered = (body(m) for m in admin_mail(smtp))
    assert f"failing since\n{SINCE}" in failing and "mail server unreachable" in failing
    assert "stay queued" in failing
    assert f"They had been failing since {SINCE}" in recovered and "Wed 25 Nov 2026 10:44" in recovered
    for text in (failing, recovered):        # about the worker: no report, no reporter, no case
        assert "Report 0" not in text and "staff0@" not in text and "Cyberbullying" not in text


def broken_template(school: School, tmp_path: Path) -> Path:
    """The school's own copy of the templates, with the new-case alert's HTML broken."""
    folder = tmp_path / "tpl"
    shutil.copytree(ROOT / "templates", folder)
    school.path.write_text('templates_dir = "tpl"\n' + school.path.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "new_case.html").write_text("{% if %}broken{% endif %}", encoding="utf-8")
    return folder


@pytest.mark.parametrize("backend", ["local", "google"])
def test_a_broken_template_the_admin_hears_during_the_outage_once_and_after_it_once(
        backend: str, tmp_path: Path, smtp: Smtp, emulator: SheetsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mail works, but every new-case alert fails to render: an outage that lets the admin's email go."""
    school = School(backend, tmp_path, smtp.up(), emulator, monkeypatch, it_lead=CONTACTS)
    folder = broken_template(school, tmp_path)
    school.report(1)
    for minute in range(0, 61, 5):
        result = school.cli("sync", "--now", at(minute))
        assert result.exit_code == 75, result.output
        assert len(admin_mail(smtp)) == (0 if minute < 30 else 1)   # at 30m, while it still fails
    assert subjects(smtp) == [f"Example School digital incidents: syncs failing since {SINCE}"]
    text = body(admin_mail(smtp)[0])
    assert "new_case.html: syntax error on line 1" in text and "Report 0" not in text

    shutil.copy(ROOT / "templates" / "new_case.html", folder / "new_case.html")   # fixed
    assert school.cli("sync", "--now", at(62)).exit_code == 0
    assert school.cli("sync", "--now", at(64)).exit_code == 0
    assert school.cli("sync", "--now", at(66)).exit_code == 0
    assert subjects(smtp)[1:] == ["Example School digital incidents: syncs work again"]
    assert_every_email_went_once(school, smtp)


@pytest.mark.parametrize("backend", ["local", "google"])
def test_a_sheet_nobody_could_write_is_reported_by_the_first_sync_that_can(
        backend: str, tmp_path: Path, smtp: Smtp, emulator: SheetsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """No failure can be recorded while the sheet refuses writes (local: read-only workbook, exit 1;
    Google: every request answered 503, exit 75); the first sync that writes sees the gap."""
    school = School(backend, tmp_path, smtp.up(), emulator, monkeypatch, it_lead=CONTACTS)
    assert school.cli("sync", "--now", at(0)).exit_code == 0       # Last successful sync: 10:00
    school.report(1)                    # so every sync during the outage has something to write
    workbook = school.config.sheet.path
    if backend == "local":
        os.chmod(workbook, 0o444)
    else:
        emulator.fail_always(503)
    try:
        for minute in (30, 60, 90):
            assert school.cli("sync", "--now", at(minute)).exit_code in (1, 75)
    finally:
        if backend == "local":
            os.chmod(workbook, 0o644)
        else:
            emulator.clear_faults()
    assert school.cli("sync", "--now", at(95)).exit_code == 0      # 95m since the last sync that wrote
    assert school.cli("sync", "--now", at(97)).exit_code == 0
    assert school.cli("sync", "--now", at(99)).exit_code == 0
    assert subjects(smtp) == [f"Example School digital incidents: syncs failing since {SINCE}",
                              "Example School digital incidents: syncs work again"]
    assert "No error could be recorded" in body(admin_mail(smtp)[0])
    assert failing_since(school) in ("", None)


def test_a_short_gap_and_an_idle_worker_tell_nobody(
        tmp_path: Path, smtp: Smtp, emulator: SheetsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """An idle worker refreshes Last successful sync hourly: a quiet 89 minutes is not an outage."""
    school = School("local", tmp_path, smtp.up(), emulator, monkeypatch, it_lead=CONTACTS)
    for minute in (0, 45, 89, 130, 175):
        assert school.cli("sync", "--now", at(minute)).exit_code == 0
    assert admin_mail(smtp) == [] and failing_since(school) is None


def test_check_says_who_hears_of_failing_syncs(
        tmp_path: Path, smtp: Smtp, emulator: SheetsEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    school = School("local", tmp_path, smtp.up(), emulator, monkeypatch, it_lead=CONTACTS)
    result = school.cli("check")
    assert "ok       contacts.admin (1 address(es)) is emailed when syncs have failed for 30m, and again " \
           "when they recover" in result.output, result.output
    school.write_config(smtp.port)
    result = school.cli("check")
    assert "ok       note: [contacts] has no admin role, so nobody is emailed when syncs keep failing" \
           in result.output, result.output

