"""End to end through cli.py: a real workbook, a real SMTP server on loopback, the real CLI."""

from __future__ import annotations

import subprocess
import sys
from email import policy
from email.parser import BytesParser
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result
from conftest import ROOT, SmtpServer, config_text

from workflow.cli import cli
from workflow.config import load_config
from workflow.demo import RESPONSE_HEADERS
from workflow.storage.local import LocalWorkbookStorage

NOW = "2026-11-25T10:00"       # a Wednesday in term


def invoke(config: Path | None, *args: str) -> Result:
    base = ["-c", str(config)] if config else []
    return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)


def response(stamp: str, kind: str = "Cyberbullying or harassment", *, risk: str = "No", u18: str = "No",
             reporter: str = "t.teacher@school.example", what: str = "Names in a group chat",
             involved: str = "A.B. (Y9)") -> dict[str, object]:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    values = [datetime.fromisoformat(stamp).replace(tzinfo=ZoneInfo("Pacific/Auckland")), reporter, kind, risk, u18,
              "Students", "Outside school", "Instagram", what, involved, "Spoke with them"]
    return dict(zip(RESPONSE_HEADERS, values, strict=True))


@pytest.fixture()
def site(tmp_path: Path, smtp_server: SmtpServer) -> Path:
    """A configured school: local workbook set up, SMTP to the loopback server."""
    path = tmp_path / "config.toml"
    path.write_text(config_text(tmp_path, transport="smtp", smtp_port=smtp_server.port), encoding="utf-8")
    assert invoke(path, "setup").exit_code == 0
    return path


def add(config_path: Path, *records: dict[str, object]) -> None:
    LocalWorkbookStorage(load_config(config_path)).add_responses(list(records))


def rows(config_path: Path, tab: str) -> list[dict[str, object]]:
    workbook = openpyxl.load_workbook(load_config(config_path).sheet.path)
    sheet = workbook[tab]
    header = [c.value for c in sheet[1]]
    return [dict(zip(header, r, strict=False)) for r in sheet.iter_rows(min_row=2, values_only=True) if any(r)]


def subjects(server: SmtpServer) -> list[tuple[str, str]]:
    return [(m["To"], m["Subject"]) for m in server.handler.messages()]


def test_demo_from_nothing_then_again_duplicates_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    first = invoke(None, "demo", "--dir", str(folder), "--now", NOW)
    assert first.exit_code == 0, first.output
    emails = sorted((folder / "outbox").glob("*.eml"))
    assert len(emails) >= 13
    parsed = [BytesParser(policy=policy.default).parsebytes(p.read_bytes()) for p in emails]
    urgent_to = {m["To"] for m in parsed if m["Subject"].startswith("[URGENT]")}
    assert urgent_to == {"principal@school.example", "dean@school.example", "counsellor@school.example"}
    cases = rows(folder / "config.toml", "Cases")
    assert len(cases) == 13
    second = invoke(None, "demo", "--dir", str(folder), "--now", NOW)
    assert second.exit_code == 0
    assert len(rows(folder / "config.toml", "Cases")) == 13
    assert len(list((folder / "outbox").glob("*.eml"))) == len(emails)
    assert "0 new case(s)" in second.output and "0 email(s) decided" in second.output
    assert f"digital-incidents -c {folder / 'config.toml'} status" in second.output
    from_checkout = CliRunner().invoke(cli, ["demo", "--dir", str(folder), "--now", NOW], prog_name="cli.py")
    assert f"python cli.py -c {folder / 'config.toml'} status" in from_checkout.output
    status = invoke(folder / "config.toml", "status", "--now", NOW)
    assert "DI-2026-0001" in status.output and "open case(s)" in status.output


def test_hostile_text_stays_data(site: Path, smtp_server: SmtpServer, tmp_path: Path) -> None:
    site.write_text(site.read_text().replace('details_roles = []', 'details_roles = ["counsellor"]'))
    hostile = '=HYPERLINK("http://evil.example","x") <script>alert(1)</script> {{ 7*7 }}'
    add(site, response("2026-11-25T09:00", "Self-harm or suicide risk, Other\nBcc: victim@evil.example", what=hostile,
                       involved="+64 21 555 0000"))
    assert invoke(site, "sync", "--now", NOW).exit_code == 0
    workbook = openpyxl.load_workbook(load_config(site).sheet.path)
    cases = workbook["Cases"]
    header = [c.value for c in cases[1]]
    summary = cases.cell(2, header.index("Summary") + 1)
    assert summary.value == hostile and summary.data_type == "s"
    messages = smtp_server.handler.messages()
    assert all("victim@evil.example" not in rcpts for _, rcpts, _ in smtp_server.handler.envelopes)
    counsellor = [m for m in messages if m["To"] == "counsellor@school.example"][0]
    html = counsellor.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html and "{{ 7*7 }}" in html and "49" not in html
    for message in messages:
        assert "\n" not in message["Subject"]
        if message["To"] != "counsellor@school.example":  # only the details role sees the account
            assert "HYPERLINK" not in message.get_body(("plain",)).get_content()


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t.replace('timezone = "Pacific/Auckland"', 'timezone = "Mars/Olympus"'), "school.timezone"),
        (lambda t: t + '\n[extra]\nfoo = 1\n', "extra"),
        (lambda t: t.replace('it_lead = ["it@school.example"]', ''), "contacts.it_lead"),
        (lambda t: t.replace('principal = ["principal@school.example"]', 'principal = ["not an address"]'),
         "contacts.principal"),
        (lambda t: t.replace("\nport = ", '\nport = "twenty" #'), "email.smtp.port"),
    ],
)
def test_bad_config_is_one_clear_line_exit_1(tmp_path: Path, edit, expected: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(edit(config_text(tmp_path)), encoding="utf-8")
    result = CliRunner().invoke(cli, ["-c", str(path), "sync"])
    assert result.exit_code == 1
    assert expected in result.output and str(path) in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an uncaught error


def test_missing_responses_tab_and_renamed_question_name_the_fix(site: Path) -> None:
    path = load_config(site).sheet.path
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["Form Responses 1"]
    sheet.cell(1, 4).value = "Is anyone in danger?"
    workbook.save(path)
    renamed = invoke(site, "sync")
    assert renamed.exit_code == 1 and "Is anyone at immediate risk of harm?" in renamed.output
    assert "Is anyone in danger?" in renamed.output and "[form.questions]" in renamed.output
    sheet.title = "Responses"
    workbook.save(path)
    missing = invoke(site, "sync")
    assert missing.exit_code == 1 and "Form Responses 1" in missing.output and "'Responses'" in missing.output


def test_check_reports_ok_and_problems(site: Path, smtp_server: SmtpServer) -> None:
    ok = invoke(site, "check")
    assert ok.exit_code == 0, ok.output
    assert "all checks passed" in ok.output
    path = load_config(site).sheet.path
    workbook = openpyxl.load_workbook(path)
    del workbook["Log"]
    workbook.save(path)
    bad = invoke(site, "check")
    assert bad.exit_code == 1 and "Log" in bad.output and "setup" in bad.output


def test_digest_preview_and_send_once(site: Path, smtp_server: SmtpServer) -> None:
    add(site, response("2026-11-25T09:00"))
    assert invoke(site, "sync", "--now", "2026-11-25T07:00").exit_code == 0
    preview = invoke(site, "digest", "--now", "2026-11-25T07:10")
    assert preview.exit_code == 0 and "DI-2026-0001" in preview.output and "Subject:" in preview.output
    before = len(smtp_server.handler.envelopes)
    assert invoke(site, "digest", "--send", "--now", "2026-11-25T07:10").exit_code == 0
    digests = [s for _, s in subjects(smtp_server)[before:]]
    assert len(digests) == 2
    assert invoke(site, "digest", "--send", "--now", "2026-11-25T07:20").exit_code == 0
    assert len(smtp_server.handler.envelopes) == before + 2


def test_cli_as_a_process_usage_error_is_exit_2(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), "sync", "--bogus"], capture_output=True,
                            text=True, cwd=tmp_path)
    assert result.returncode == 2 and "No such option" in result.stderr
    missing = subprocess.run([sys.executable, str(ROOT / "cli.py"), "-c", "nope.toml", "status"],
                             capture_output=True, text=True, cwd=tmp_path)
    assert missing.returncode == 1 and "nope.toml" in missing.stderr and "Traceback" not in missing.stderr
