"""Tests for workflow.intake: response rows → reports, matched to cases across syncs.

Tables are built directly (workflow.model.Table); timestamps are aware datetimes
in Pacific/Auckland (NZDT, UTC+13, in early March 2026).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from workflow.config import Config, FormField
from workflow.errors import SheetLayoutError
from workflow.intake import Intake, Report, check_form_columns, match_reports, missing_questions, read_reports
from workflow.model import CellValue, Table
from workflow.phases import finished
from workflow.records import Case, from_cells

NZ = ZoneInfo("Pacific/Auckland")
TAB = "Form Responses 1"


def nz(day: int, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(2026, 3, day, hh, mm, ss, tzinfo=NZ)


def header(form: tuple[FormField, ...]) -> list[str]:
    return ["Timestamp", "Email Address", *(f.question for f in form)]


def row(form: tuple[FormField, ...], stamp: CellValue, reporter: str = "", **answers: str) -> list[CellValue]:
    return [stamp, reporter, *(answers.get(f.field, "") for f in form)]


def table(form: tuple[FormField, ...], rows: list[list[CellValue]]) -> Table:
    return Table(TAB, header(form), rows)


def case_for(report: Report, case_id: str, row: int | float | None = None) -> Case:
    """A case as read back from the Cases cells the planner wrote for a report."""
    return from_cells(Case, {
        "Case ID": case_id,
        "Response key": report.key,
        "Response row": report.row if row is None else row,
        "Response hash": report.fingerprint,
    })


def match(reports: list[Report], cases: list[Case]) -> Intake:
    """Matching as the intake phase does it: a Closed or Withdrawn case is read from its Status."""
    return match_reports(reports, cases, finished=finished)


@pytest.fixture
def form(config: Config) -> tuple[FormField, ...]:
    return config.form


@pytest.fixture
def three(form: tuple[FormField, ...]) -> list[list[CellValue]]:
    return [
        row(form, nz(2, 9), "a@school.example", incident_types="Privacy breach", what_happened="First"),
        row(form, nz(2, 10), "b@school.example", immediate_risk="Yes", what_happened="Second"),
        row(form, nz(3, 11), "c@school.example", affected="Staff", what_happened="Third"),
    ]


# -- read_reports ---------------------------------------------------------------------------


def test_read_reports_builds_keys_answers_and_times(form: tuple[FormField, ...], three: list) -> None:
    reports = read_reports(table(form, three), form)
    assert [r.row for r in reports] == [0, 1, 2]
    assert [r.key for r in reports] == [
        "2026-03-01T20:00:00Z|a@school.example|1",
        "2026-03-01T21:00:00Z|b@school.example|1",
        "2026-03-02T22:00:00Z|c@school.example|1",
    ]
    first = reports[0]
    assert first.received == nz(2, 9)
    assert first.reporter == "a@school.example"
    assert first.answers["incident_types"] == "Privacy breach"
    assert first.answers["what_happened"] == "First"
    assert first.answers["involved"] == ""
    assert set(first.answers) == {f.field for f in form}
    assert len(first.digest) == 16
    assert len({r.digest for r in reports}) == 3


def test_read_reports_skips_blank_rows_but_keeps_row_numbers(form: tuple[FormField, ...], three: list) -> None:
    blank = [None] * len(header(form))
    rows = [blank, three[0], ["", "", "   "], [], three[1]]
    reports = read_reports(table(form, rows), form)
    assert [r.row for r in reports] == [1, 4]
    assert [r.answers["what_happened"] for r in reports] == ["First", "Second"]


def test_reporter_is_lowercased_and_trimmed(form: tuple[FormField, ...]) -> None:
    reports = read_reports(table(form, [row(form, nz(2, 9), "  Teacher@School.Example ", what_happened="x")]), form)
    assert reports[0].reporter == "teacher@school.example"
    assert reports[0].key == "2026-03-01T20:00:00Z|teacher@school.example|1"


def test_identical_timestamp_and_reporter_twice_gives_two_reports(form: tuple[FormField, ...]) -> None:
    rows = [
        row(form, nz(2, 9), "a@school.example", what_happened="Same"),
        row(form, nz(2, 9), "a@school.example", what_happened="Same"),
    ]
    reports = read_reports(table(form, rows), form)
    assert [r.key for r in reports] == [
        "2026-03-01T20:00:00Z|a@school.example|1",
        "2026-03-01T20:00:00Z|a@school.example|2",
    ]
    assert reports[0].digest == reports[1].digest


def test_same_timestamp_different_reporters_are_distinct(form: tuple[FormField, ...]) -> None:
    rows = [row(form, nz(2, 9), "a@school.example"), row(form, nz(2, 9), "b@school.example")]
    reports = read_reports(table(form, rows), form)
    assert [r.key for r in reports] == [
        "2026-03-01T20:00:00Z|a@school.example|1",
        "2026-03-01T20:00:00Z|b@school.example|1",
    ]


def test_key_is_the_same_instant_whatever_the_offset(form: tuple[FormField, ...]) -> None:
    utc = datetime(2026, 3, 1, 20, 0, tzinfo=ZoneInfo("UTC"))
    reports = read_reports(table(form, [row(form, utc, "a@school.example", what_happened="x")]), form)
    assert reports[0].key == "2026-03-01T20:00:00Z|a@school.example|1"


def test_row_without_a_datetime_stamp_is_untimed(form: tuple[FormField, ...]) -> None:
    reports = read_reports(table(form, [row(form, None, "", what_happened="No timestamp")]), form)
    assert len(reports) == 1
    report = reports[0]
    assert report.received is None
    assert report.key == f"untimed||{report.digest}|1"


def test_digest_changes_only_with_answers(form: tuple[FormField, ...]) -> None:
    rows = [
        row(form, nz(2, 9), "a@school.example", what_happened="Story"),
        row(form, nz(4, 9), "z@school.example", what_happened="Story"),
        row(form, nz(2, 9), "a@school.example", what_happened="Story, edited"),
    ]
    digests = [r.digest for r in read_reports(table(form, rows), form)]
    assert digests[0] == digests[1]
    assert digests[0] != digests[2]


def test_short_rows_read_as_blank_answers(form: tuple[FormField, ...]) -> None:
    reports = read_reports(table(form, [[nz(2, 9), "a@school.example", "Privacy breach"]]), form)
    assert reports[0].answers["incident_types"] == "Privacy breach"
    assert reports[0].answers["what_happened"] == ""


def test_columns_found_by_header_whatever_the_order_case_and_spacing(form: tuple[FormField, ...]) -> None:
    messy = ["  what KIND of incident  is it? ", "TIMESTAMP", "email address", "What happened?"]
    responses = Table(TAB, messy, [["Threats of violence", nz(2, 9), "a@school.example", "Threat in chat"]])
    reports = read_reports(responses, form)
    assert reports[0].answers["incident_types"] == "Threats of violence"
    assert reports[0].answers["what_happened"] == "Threat in chat"
    assert reports[0].received == nz(2, 9)
    assert reports[0].reporter == "a@school.example"


# -- match ---------------------------------------------------------------------------


def reports_and_cases(form: tuple[FormField, ...], rows: list) -> tuple[list[Report], list[Case]]:
    reports = read_reports(table(form, rows), form)
    return reports, [case_for(r, f"DI-2026-{n:04d}") for n, r in enumerate(reports, start=1)]


def case_ids(cases: list[Case], pairs: list[tuple[Report, int]]) -> list[str]:
    return [cases[at].case_id for _, at in pairs]


def test_unchanged(form: tuple[FormField, ...], three: list) -> None:
    reports, cases = reports_and_cases(form, three)
    result = match(read_reports(table(form, three), form), cases)
    assert case_ids(cases, result.unchanged) == ["DI-2026-0001", "DI-2026-0002", "DI-2026-0003"]
    assert (result.new, result.edited, result.moved) == ([], [], [])
    assert [r.key for r, _ in result.unchanged] == [r.key for r in reports]


def test_float_row_numbers_from_the_sheet_match(form: tuple[FormField, ...], three: list) -> None:
    reports = read_reports(table(form, three), form)
    cases = [case_for(r, f"C{r.row}", row=float(r.row)) for r in reports]
    result = match(reports, cases)
    assert len(result.unchanged) == 3 and not result.moved


def test_sorted_responses_tab_is_moved_not_new(form: tuple[FormField, ...], three: list) -> None:
    _, cases = reports_and_cases(form, three)
    sorted_rows = [three[2], three[0], three[1]]
    result = match(read_reports(table(form, sorted_rows), form), cases)
    assert result.new == []
    assert result.edited == []
    assert sorted(case_ids(cases, result.moved)) == ["DI-2026-0001", "DI-2026-0002", "DI-2026-0003"]
    assert {cases[at].case_id: report.row for report, at in result.moved} == {
        "DI-2026-0003": 0, "DI-2026-0001": 1, "DI-2026-0002": 2,
    }


def test_partly_sorted_tab_gives_moved_and_unchanged(form: tuple[FormField, ...], three: list) -> None:
    _, cases = reports_and_cases(form, three)
    result = match(read_reports(table(form, [three[1], three[0], three[2]]), form), cases)
    assert sorted(case_ids(cases, result.moved)) == ["DI-2026-0001", "DI-2026-0002"]
    assert case_ids(cases, result.unchanged) == ["DI-2026-0003"]
    assert result.new == [] and result.edited == []


def test_sorted_tab_with_identical_duplicate_responses(form: tuple[FormField, ...]) -> None:
    twin = row(form, nz(2, 9), "a@school.example", what_happened="Same")
    other = row(form, nz(2, 8), "b@school.example", what_happened="Other")
    _, cases = reports_and_cases(form, [twin, list(twin), other])
    result = match(read_reports(table(form, [other, twin, list(twin)]), form), cases)
    assert result.new == [] and result.edited == [] and result.gone == []
    assert case_ids(cases, result.unchanged) == ["DI-2026-0002"]       # the twin still at its row stays put
    assert sorted(case_ids(cases, result.moved)) == ["DI-2026-0001", "DI-2026-0003"]


def test_edited_response_with_new_timestamp_at_same_row_is_edited(form: tuple[FormField, ...], three: list) -> None:
    _, cases = reports_and_cases(form, three)
    edited = list(three)
    edited[1] = row(form, nz(4, 15), "b@school.example", immediate_risk="No", what_happened="Second, corrected")
    result = match(read_reports(table(form, edited), form), cases)
    assert result.new == []
    assert case_ids(cases, result.edited) == ["DI-2026-0002"]
    report, _ = result.edited[0]
    assert report.answers["what_happened"] == "Second, corrected"
    assert report.key == "2026-03-04T02:00:00Z|b@school.example|1"
    assert case_ids(cases, result.unchanged) == ["DI-2026-0001", "DI-2026-0003"]


def test_changed_answers_with_same_key_are_edited(form: tuple[FormField, ...], three: list) -> None:
    _, cases = reports_and_cases(form, three)
    changed = list(three)
    changed[2] = row(form, nz(3, 11), "c@school.example", affected="Students", what_happened="Third")
    result = match(read_reports(table(form, changed), form), cases)
    assert case_ids(cases, result.edited) == ["DI-2026-0003"]
    assert result.new == [] and result.moved == []
    assert len(result.unchanged) == 2


def test_changed_answers_and_moved_row_is_edited(form: tuple[FormField, ...], three: list) -> None:
    _, cases = reports_and_cases(form, three)
    changed = row(form, nz(3, 11), "c@school.example", affected="Students", what_happened="Third")
    result = match(read_reports(table(form, [changed, three[0], three[1]]), form), cases)
    assert case_ids(cases, result.edited) == ["DI-2026-0003"]
    assert result.new == []


def test_genuinely_new_row_is_new(form: tuple[FormField, ...], three: list) -> None:
    _, cases = reports_and_cases(form, three[:2])
    result = match(read_reports(table(form, three), form), cases)
    assert [r.row for r in result.new] == [2]
    assert result.new[0].answers["what_happened"] == "Third"
    assert case_ids(cases, result.unchanged) == ["DI-2026-0001", "DI-2026-0002"]
    assert result.edited == [] and result.moved == []


def test_new_row_after_sorting_is_new_and_others_move(form: tuple[FormField, ...], three: list) -> None:
    _, cases = reports_and_cases(form, three[:2])
    result = match(read_reports(table(form, [three[2], three[1], three[0]]), form), cases)
    assert [r.answers["what_happened"] for r in result.new] == ["Third"]
    assert case_ids(cases, result.moved) == ["DI-2026-0001"]
    assert case_ids(cases, result.unchanged) == ["DI-2026-0002"]
    assert result.edited == []


def test_second_identical_submission_is_new(form: tuple[FormField, ...]) -> None:
    first = row(form, nz(2, 9), "a@school.example", what_happened="Same")
    _, cases = reports_and_cases(form, [first])
    result = match(read_reports(table(form, [first, list(first)]), form), cases)
    assert [r.key for r in result.new] == ["2026-03-01T20:00:00Z|a@school.example|2"]
    assert case_ids(cases, result.unchanged) == ["DI-2026-0001"]


def test_no_cases_means_everything_is_new(form: tuple[FormField, ...], three: list) -> None:
    result = match(read_reports(table(form, three), form), [])
    assert [r.row for r in result.new] == [0, 1, 2]


def test_new_response_from_another_reporter_on_a_deleted_row_is_new(form: tuple[FormField, ...], three: list) -> None:
    _, cases = reports_and_cases(form, three)
    replaced = [three[0], three[1], row(form, nz(5, 9), "d@school.example", what_happened="Fourth incident")]
    result = match(read_reports(table(form, replaced), form), cases)
    assert [r.answers["what_happened"] for r in result.new] == ["Fourth incident"]
    assert result.edited == []


# -- identity: deleted, inserted and sorted rows, twins, edits (issue 9) -----------------------


def closed(case: Case, status: str = "Withdrawn") -> Case:
    return replace(case, status=status)


def accounts(cases: list[Case], pairs: list[tuple[Report, int]]) -> dict[str, str]:
    return {cases[at].case_id: report.answers["what_happened"] for report, at in pairs}


@pytest.mark.parametrize("reporter", ["", "a@school.example"])
def test_same_second_twins_keep_their_accounts_when_sorted(form: tuple[FormField, ...], reporter: str) -> None:
    rows = [row(form, nz(2, 9), reporter, what_happened="Threat in chat"),
            row(form, nz(2, 9), reporter, what_happened="Photo shared")]
    _, cases = reports_and_cases(form, rows)
    result = match(read_reports(table(form, rows[::-1]), form), cases)
    assert result.new == [] and result.edited == [] and result.gone == []
    assert accounts(cases, result.moved) == {"DI-2026-0001": "Threat in chat", "DI-2026-0002": "Photo shared"}


def test_twins_keys_count_only_identical_responses(form: tuple[FormField, ...]) -> None:
    rows = [row(form, nz(2, 9), "", what_happened="One"), row(form, nz(2, 9), "", what_happened="Two"),
            row(form, nz(2, 9), "", what_happened="One")]
    assert [r.key for r in read_reports(table(form, rows), form)] == [
        "2026-03-01T20:00:00Z||1", "2026-03-01T20:00:00Z||1", "2026-03-01T20:00:00Z||2"]


def test_identical_twins_are_never_merged(form: tuple[FormField, ...]) -> None:
    twin = row(form, nz(2, 9), "", what_happened="Same")
    _, cases = reports_and_cases(form, [twin])
    result = match(read_reports(table(form, [twin, list(twin), list(twin)]), form), cases)
    assert case_ids(cases, result.unchanged) == ["DI-2026-0001"]
    assert [r.row for r in result.new] == [1, 2]


def test_withdrawn_case_with_deleted_row_does_not_swallow_the_next_report(form: tuple[FormField, ...],
                                                                          three: list) -> None:
    """The issue's scenario: the row is deleted and the same reporter's next report lands on it."""
    _, cases = reports_and_cases(form, three)
    cases[2] = closed(cases[2])
    risk = row(form, nz(4, 8), "c@school.example", immediate_risk="Yes", what_happened="Talked of suicide")
    result = match(read_reports(table(form, [three[0], three[1], risk]), form), cases)
    assert [r.answers["what_happened"] for r in result.new] == ["Talked of suicide"]
    assert result.edited == [] and case_ids(cases, result.unchanged) == ["DI-2026-0001", "DI-2026-0002"]
    assert [cases[at].case_id for at in result.gone] == ["DI-2026-0003"]


def test_closed_case_edited_in_the_form_opens_a_new_case(form: tuple[FormField, ...], three: list) -> None:
    _, cases = reports_and_cases(form, three)
    cases[1] = closed(cases[1], "closed")
    edited = [three[0], row(form, nz(4, 15), "b@school.example", what_happened="Second"), three[2]]
    result = match(read_reports(table(form, edited), form), cases)
    assert [r.row for r in result.new] == [1] and result.edited == []
    assert [cases[at].case_id for at in result.gone] == ["DI-2026-0002"]


def test_an_open_case_takes_a_form_edit_at_its_row(form: tuple[FormField, ...], three: list) -> None:
    """Forms rewrites the row with a new timestamp: the whole story may change."""
    _, cases = reports_and_cases(form, three)
    edited = [three[0], row(form, nz(4, 15), "b@school.example", what_happened="Something else"), three[2]]
    result = match(read_reports(table(form, edited), form), cases)
    assert case_ids(cases, result.edited) == ["DI-2026-0002"] and result.new == [] and result.gone == []


def test_a_form_edit_on_a_sorted_tab_is_recognised_by_its_account(form: tuple[FormField, ...], three: list) -> None:
    _, cases = reports_and_cases(form, three)
    same_story = row(form, nz(4, 15), "b@school.example", immediate_risk="No", what_happened="  Second ")
    result = match(read_reports(table(form, [same_story, three[2], three[0]]), form), cases)
    assert case_ids(cases, result.edited) == ["DI-2026-0002"] and result.new == []
    new_story = row(form, nz(4, 15), "b@school.example", immediate_risk="Yes", what_happened="Second, now worse")
    result = match(read_reports(table(form, [new_story, three[2], three[0]]), form), cases)
    assert [r.row for r in result.new] == [0] and result.edited == []
    assert [cases[at].case_id for at in result.gone] == ["DI-2026-0002"]


@pytest.mark.parametrize("reporter, stamp", [("", nz(4, 15)), ("b@school.example", nz(1, 15))])
def test_a_form_edit_needs_a_known_reporter_and_a_later_timestamp(form: tuple[FormField, ...],
                                                                  reporter: str, stamp: datetime) -> None:
    rows = [row(form, nz(2, 9), "a@school.example", what_happened="First"),
            row(form, nz(2, 10), reporter, what_happened="Second")]
    _, cases = reports_and_cases(form, rows)
    rows[1] = row(form, stamp, reporter, what_happened="Second")
    result = match(read_reports(table(form, rows), form), cases)
    assert [r.row for r in result.new] == [1] and result.edited == []


def test_another_reporter_on_the_same_row_is_new(form: tuple[FormField, ...], three: list) -> None:
    _, cases = reports_and_cases(form, three)
    other = row(form, nz(4, 15), "z@school.example", what_happened="Second")
    result = match(read_reports(table(form, [three[0], other, three[2]]), form), cases)
    assert [r.row for r in result.new] == [1] and result.edited == []


def test_deleted_row_leaves_its_case_alone_and_is_never_matched_again(form: tuple[FormField, ...],
                                                                     three: list) -> None:
    _, cases = reports_and_cases(form, three)
    result = match(read_reports(table(form, [three[0], three[2]]), form), cases)
    assert [cases[at].case_id for at in result.gone] == ["DI-2026-0002"]
    assert case_ids(cases, result.moved) == ["DI-2026-0003"] and result.new == [] and result.edited == []
    cases[1] = replace(cases[1], response_row=None)                 # what the intake phase writes
    cases[2] = replace(cases[2], response_row=1)
    later = row(form, nz(4, 15), "b@school.example", what_happened="Second")   # same reporter, same story
    result = match(read_reports(table(form, [three[0], later, three[2]]), form), cases)
    assert [r.row for r in result.new] == [1] and result.edited == [] and result.gone == []


def test_a_deleted_row_put_back_is_its_case_again(form: tuple[FormField, ...], three: list) -> None:
    _, cases = reports_and_cases(form, three)
    cases[1] = replace(cases[1], response_row=None)
    result = match(read_reports(table(form, three), form), cases)
    assert case_ids(cases, result.moved) == ["DI-2026-0002"] and result.new == []


def test_inserted_rows_move_the_others_and_are_new(form: tuple[FormField, ...], three: list) -> None:
    _, cases = reports_and_cases(form, three)
    typed = row(form, nz(3, 12), "", what_happened="Typed in by a leader")
    rows = [three[0], [None] * len(header(form)), typed, three[1], three[2]]
    result = match(read_reports(table(form, rows), form), cases)
    assert [r.row for r in result.new] == [2]
    assert {cases[at].case_id: r.row for r, at in result.moved} == {"DI-2026-0002": 3, "DI-2026-0003": 4}
    assert result.edited == [] and result.gone == []


def test_corrected_in_the_sheet_is_an_edit_even_of_a_closed_case(form: tuple[FormField, ...], three: list) -> None:
    _, cases = reports_and_cases(form, three)
    cases[0] = closed(cases[0], "Closed")
    fixed = row(form, nz(2, 9), "a@school.example", incident_types="Privacy breach", what_happened="First, fixed")
    result = match(read_reports(table(form, [three[2], three[1], fixed]), form), cases)
    assert case_ids(cases, result.edited) == ["DI-2026-0001"] and result.new == []


def test_blank_reporter_corrected_elsewhere_is_new(form: tuple[FormField, ...]) -> None:
    rows = [row(form, nz(2, 9), "", what_happened="One"), row(form, nz(2, 9), "", what_happened="Two")]
    _, cases = reports_and_cases(form, rows)
    fixed = row(form, nz(2, 9), "", what_happened="Two, fixed")
    at_its_row = match(read_reports(table(form, [rows[0], fixed]), form), cases)
    assert case_ids(cases, at_its_row.edited) == ["DI-2026-0002"]
    elsewhere = match(read_reports(table(form, [fixed, rows[0]]), form), cases)
    assert [r.row for r in elsewhere.new] == [0] and elsewhere.edited == []


def test_cases_from_before_the_account_fingerprint_still_match(form: tuple[FormField, ...], three: list) -> None:
    reports, cases = reports_and_cases(form, three)
    cases = [replace(c, response_hash=r.digest) for r, c in zip(reports, cases, strict=True)]
    result = match(read_reports(table(form, three[::-1]), form), cases)
    assert len(result.moved) + len(result.unchanged) == 3 and result.new == [] and result.edited == []


def test_a_case_without_a_response_key_is_left_alone(form: tuple[FormField, ...], three: list) -> None:
    _, cases = reports_and_cases(form, three[:1])
    cases.append(from_cells(Case, {"Case ID": "DI-2026-0009", "Response row": 1}))
    result = match(read_reports(table(form, three[:2]), form), cases)
    assert [r.row for r in result.new] == [1] and result.gone == []


# -- check_form_columns ---------------------------------------------------------------------


def test_check_form_columns_accepts_the_form_header(form: tuple[FormField, ...]) -> None:
    check_form_columns(table(form, []), form)
    assert missing_questions(table(form, []), form) == []


def test_check_form_columns_is_case_and_space_insensitive(form: tuple[FormField, ...]) -> None:
    messy = ["TIMESTAMP", *("  " + f.question.upper().replace(" ", "  ") + " " for f in form)]
    check_form_columns(Table(TAB, messy, []), form)
    assert missing_questions(Table(TAB, messy, []), form) == []


def test_check_form_columns_names_the_missing_question_and_lists_columns(form: tuple[FormField, ...]) -> None:
    cols = ["Timestamp", "Email Address", *(f.question for f in form if f.field != "what_happened"),
            "Describe what happened"]
    with pytest.raises(SheetLayoutError) as info:
        check_form_columns(Table(TAB, cols, []), form)
    message = str(info.value)
    assert message.startswith(f"tab {TAB!r}: no column for question(s) 'What happened?'.")
    assert "'Describe what happened'" in message
    assert "'Timestamp', 'Email Address', 'What kind of incident is it?'" in message
    assert "[form.questions]" in message


def test_check_form_columns_missing_timestamp_comes_first(form: tuple[FormField, ...]) -> None:
    cols = [f.question for f in form if f.field not in ("involved",)]
    with pytest.raises(SheetLayoutError) as info:
        check_form_columns(Table(TAB, cols, []), form)
    assert "no column for question(s) 'Timestamp', 'Who is involved?'." in str(info.value)


def test_check_form_columns_with_no_headers(form: tuple[FormField, ...]) -> None:
    with pytest.raises(SheetLayoutError) as info:
        check_form_columns(Table(TAB, ["", "  "], []), form)
    assert "Columns there: (no headers)." in str(info.value)


def test_renamed_question_in_config_is_found(make_config: Callable[..., Config]) -> None:
    config = make_config(replace={"what_happened": '"Tell us what happened"'})
    cols = ["Timestamp", *(f.question for f in config.form)]
    assert "Tell us what happened" in cols and "What happened?" not in cols
    check_form_columns(Table(TAB, cols, []), config.form)
    with pytest.raises(SheetLayoutError, match="'Tell us what happened'"):
        check_form_columns(Table(TAB, header(config.form)[:-3], []), config.form)
