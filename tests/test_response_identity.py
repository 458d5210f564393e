"""Response identity end to end (issue 9, item 3), through cli.py on both backends.

A leader deleting, inserting or sorting rows in the responses tab, and same-second twins,
never move an account to another case, never merge two responses into one case, and never
let a new report be swallowed by an old case.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import SmtpServer
from sheets_emulator import SheetsEmulator
from test_contract import BACKENDS, NOW, Site, log_rows, response, sent

RESPONSES = "Form Responses 1"
WHAT = "What happened?"


@pytest.fixture(params=BACKENDS)
def site(request: pytest.FixtureRequest, tmp_path: Path, smtp_server: SmtpServer, emulator: SheetsEmulator,
         monkeypatch: pytest.MonkeyPatch) -> Site:
    return Site(request.param, tmp_path, smtp_server.port, emulator, monkeypatch)


# -- a leader's hands on the responses tab ---------------------------------------------------


def delete_response(site: Site, row: int) -> None:
    """A leader deleting response ``row`` (0-based): the rows below move up."""
    if site.backend == "google":
        site.emulator.delete_rows(site.spreadsheet_id, RESPONSES, row + 2)
    else:
        site.edit_local(RESPONSES, lambda sheet: sheet.delete_rows(row + 2))


def insert_blank_response_row(site: Site, row: int) -> None:
    """A leader inserting an empty row above response ``row`` (0-based)."""
    if site.backend == "google":
        site.emulator.insert_rows(site.spreadsheet_id, RESPONSES, row + 2)
    else:
        site.edit_local(RESPONSES, lambda sheet: sheet.insert_rows(row + 2))


def sort_responses_by(site: Site, column: str) -> None:
    """A leader sorting the responses tab by one column, Z→A."""
    header = list(site.rows("responses")[0])
    position = header.index(column)
    if site.backend == "google":
        site.emulator.sort_tab(site.spreadsheet_id, RESPONSES, position + 1, reverse=True)
        return

    def sort(sheet: Any) -> None:
        data = [list(r) for r in sheet.iter_rows(min_row=2, values_only=True) if any(v is not None for v in r)]
        data.sort(key=lambda r: str(r[position] or ""), reverse=True)
        for i, values in enumerate(data, start=2):
            for j, value in enumerate(values, start=1):
                sheet.cell(i, j).value = value      # cell(i, j, None) would keep the old value
    site.edit_local(RESPONSES, sort)


def cases(site: Site) -> dict[str, dict[str, Any]]:
    return {c["Case ID"]: c for c in site.rows("cases")}


def sync(site: Site, now: str) -> None:
    result = site.cli("sync", "--now", now)
    assert result.exit_code == 0, result.output


# -- the scenario ---------------------------------------------------------------------


def test_a_withdrawn_case_whose_row_was_deleted_does_not_swallow_the_next_report(
        site: Site, smtp_server: SmtpServer) -> None:
    """Withdraw a case, delete its response row; the same reporter's next report lands on that
    row before the next sync: it is a new case, and its urgent alert reaches the SMTP server."""
    site.add(response("2026-11-25T09:00", reporter="m.lee@school.example", what="Names in a group chat"),
             response("2026-11-25T09:05", what="A rumour, it turned out"))
    sync(site, NOW)
    site.set_cell("Cases", lambda r: r["Case ID"] == "DI-2026-0002", "Status", "Withdrawn")
    delete_response(site, 1)
    site.add(response("2026-11-25T10:30", "Self-harm or suicide risk", risk="Yes",
                      what="A student posted that she wants to end her life"))
    assert [r[WHAT] for r in site.rows("responses")] == [
        "Names in a group chat", "A student posted that she wants to end her life"]
    count = len(smtp_server.handler.envelopes)

    sync(site, "2026-11-25T10:32")

    now = cases(site)
    assert list(now) == ["DI-2026-0001", "DI-2026-0002", "DI-2026-0003"]
    new = now["DI-2026-0003"]
    assert (new["Priority"], new["Status"], new["Reported by"]) == ("Urgent", "Open", "t.teacher@school.example")
    assert new["Summary"] == "A student posted that she wants to end her life"
    withdrawn = now["DI-2026-0002"]
    assert (withdrawn["Status"], withdrawn["Summary"]) == ("Withdrawn", "A rumour, it turned out")
    assert withdrawn["Response row"] in (None, "")
    urgent = sorted(to for to, subject in sent(smtp_server)[count:]
                    if subject.startswith("[URGENT] New digital incident DI-2026-0003"))
    assert urgent == ["counsellor@school.example", "dean@school.example", "principal@school.example"]
    assert [r["Case ID"] for r in log_rows(site, "response gone")] == ["DI-2026-0002"]
    assert log_rows(site, "response edited") == []

    sync(site, "2026-11-25T10:40")                                     # the deletion is noted once
    assert [r["Case ID"] for r in log_rows(site, "response gone")] == ["DI-2026-0002"]
    assert len(cases(site)) == 3


def test_an_open_case_whose_row_was_deleted_is_never_matched_to_a_later_report(
        site: Site, smtp_server: SmtpServer) -> None:
    """The deletion is seen by a sync first: nothing that lands on that row later is its edit."""
    site.add(response("2026-11-25T09:00", reporter="m.lee@school.example"),
             response("2026-11-25T09:05", what="Names in a group chat"))
    sync(site, NOW)
    delete_response(site, 1)
    sync(site, "2026-11-25T10:10")
    assert cases(site)["DI-2026-0002"]["Response row"] in (None, "")
    site.add(response("2026-11-25T10:30", "Self-harm or suicide risk", risk="Yes", what="Names in a group chat"))
    count = len(smtp_server.handler.envelopes)

    sync(site, "2026-11-25T10:32")

    now = cases(site)
    assert list(now) == ["DI-2026-0001", "DI-2026-0002", "DI-2026-0003"]
    assert now["DI-2026-0002"]["Priority"] == "Normal" and now["DI-2026-0003"]["Priority"] == "Urgent"
    assert ("principal@school.example", "[URGENT] New digital incident DI-2026-0003 (Self-harm or suicide risk)") \
        in sent(smtp_server)[count:]


# -- twins, sorting, inserting ---------------------------------------------------------------


@pytest.mark.parametrize("reporter", ["", "t.teacher@school.example"])
def test_same_second_twins_keep_their_accounts_when_the_tab_is_sorted(
        site: Site, smtp_server: SmtpServer, reporter: str) -> None:
    site.add(response("2026-11-25T09:00", reporter=reporter, what="Alpha: a threat in a chat"),
             response("2026-11-25T09:00", "Privacy breach", reporter=reporter, what="Zulu: a list of addresses"),
             response("2026-11-25T09:03", reporter="m.lee@school.example", what="Mike: names called"))
    sync(site, NOW)
    before = {case_id: (c["Summary"], c["Incident type"]) for case_id, c in cases(site).items()}
    assert [summary for summary, _ in before.values()] == [
        "Alpha: a threat in a chat", "Zulu: a list of addresses", "Mike: names called"]
    count = len(smtp_server.handler.envelopes)

    sort_responses_by(site, WHAT)                                       # Zulu, Mike, Alpha
    assert [r[WHAT][0] for r in site.rows("responses")] == ["Z", "M", "A"]
    sync(site, "2026-11-25T10:05")

    after = cases(site)
    assert {case_id: (c["Summary"], c["Incident type"]) for case_id, c in after.items()} == before
    assert [after[c]["Response row"] for c in before] == [2, 0, 1]
    assert len(smtp_server.handler.envelopes) == count
    assert log_rows(site, "response edited") == [] and log_rows(site, "case opened")[-1]["Case ID"] == "DI-2026-0003"


def test_identical_twins_are_two_cases_whatever_the_order(site: Site, smtp_server: SmtpServer) -> None:
    twin = response("2026-11-25T09:00", reporter="", what="Same words, sent twice")
    site.add(twin, dict(twin), response("2026-11-25T08:00", reporter="m.lee@school.example", what="Earlier"))
    sync(site, NOW)
    assert len(cases(site)) == 3
    sort_responses_by(site, "Timestamp")
    sync(site, "2026-11-25T10:05")
    now = cases(site)
    assert len(now) == 3 and sorted(c["Response row"] for c in now.values()) == [0, 1, 2]
    assert log_rows(site, "response edited") == [] and log_rows(site, "response gone") == []


def test_rows_deleted_and_inserted_in_the_middle_move_nothing(site: Site, smtp_server: SmtpServer) -> None:
    site.add(*(response(f"2026-11-25T09:0{i}", reporter=f"r{i}@school.example", what=f"Account {i}")
               for i in range(4)))
    sync(site, NOW)
    count = len(smtp_server.handler.envelopes)
    delete_response(site, 1)
    insert_blank_response_row(site, 0)

    sync(site, "2026-11-25T10:05")

    now = cases(site)
    assert {case_id: c["Summary"] for case_id, c in now.items()} == {
        f"DI-2026-000{i + 1}": f"Account {i}" for i in range(4)}
    assert [now[f"DI-2026-000{i}"]["Response row"] for i in (1, 3, 4)] == [1, 2, 3]
    assert now["DI-2026-0002"]["Response row"] in (None, "") and now["DI-2026-0002"]["Status"] == "Open"
    assert len(smtp_server.handler.envelopes) == count
    assert [r["Case ID"] for r in log_rows(site, "response gone")] == ["DI-2026-0002"]


# -- edits -------------------------------------------------------------------------------------


def test_an_edited_response_updates_its_case_and_opens_none(site: Site, smtp_server: SmtpServer) -> None:
    site.add(response("2026-11-25T09:00", reporter="m.lee@school.example", what="Other"),
             response("2026-11-25T09:05", what="Names in a group chat"))
    sync(site, NOW)
    site.edit_response(1, response("2026-11-25T10:20", "Self-harm or suicide risk", risk="Yes",
                                   what="He now says he wants to hurt himself"))
    count = len(smtp_server.handler.envelopes)

    sync(site, "2026-11-25T10:25")

    now = cases(site)
    assert list(now) == ["DI-2026-0001", "DI-2026-0002"]
    assert (now["DI-2026-0002"]["Priority"], now["DI-2026-0002"]["Summary"]) == (
        "Urgent", "He now says he wants to hurt himself")
    assert now["DI-2026-0002"]["Response row"] == 1
    assert [r["Case ID"] for r in log_rows(site, "response edited")] == ["DI-2026-0002"]
    assert log_rows(site, "response gone") == []
    assert ("principal@school.example", "[URGENT] New digital incident DI-2026-0002 (Self-harm or suicide risk)") \
        in sent(smtp_server)[count:]


def test_an_edit_to_a_closed_cases_response_opens_a_new_case(site: Site, smtp_server: SmtpServer) -> None:
    """It may be news: a duplicate case is recoverable, a report nobody reads is not."""
    site.add(response("2026-11-25T09:05", what="Names in a group chat"))
    sync(site, NOW)
    site.set_cell("Cases", lambda r: r["Case ID"] == "DI-2026-0001", "Status", "Closed")
    site.edit_response(0, response("2026-11-25T10:20", risk="Yes", what="It started again, with threats"))

    sync(site, "2026-11-25T10:25")

    now = cases(site)
    assert list(now) == ["DI-2026-0001", "DI-2026-0002"]
    assert (now["DI-2026-0001"]["Status"], now["DI-2026-0001"]["Summary"]) == ("Closed", "Names in a group chat")
    assert (now["DI-2026-0002"]["Status"], now["DI-2026-0002"]["Priority"]) == ("Open", "Urgent")
    assert any(subject.startswith("[URGENT] New digital incident DI-2026-0002") for _, subject in sent(smtp_server))
