"""Intake: form response rows → reports, each matched to exactly one case.

A response is identified by its timestamp, reporter and occurrence (the "response
key"), so sorting the responses tab changes nothing. Google Forms edits a response
in place and gives it a new timestamp: a row whose key is new, at the same row as a
case whose key has vanished, is that case's response, edited.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from .config import FormField
from .errors import SheetLayoutError
from .model import CellValue, Table, cell_text
from .records import Case
from .schema import EMAIL_ADDRESS, TIMESTAMP


@dataclass(frozen=True)
class Report:
    row: int                     # 0-based data row in the responses tab
    key: str                     # identity across syncs (see module docstring)
    digest: str                  # hash of the answers, to notice edits
    received: datetime | None    # the form's timestamp, aware
    reporter: str                # the reporter's email address, when the form collects it
    answers: dict[str, str]      # form field -> answer text


@dataclass
class Intake:
    """Each report sorted by what it means for its case; a case is named by its index."""

    new: list[Report]
    edited: list[tuple[Report, int]]      # (report, index of its case in the cases given)
    unchanged: list[tuple[Report, int]]
    moved: list[tuple[Report, int]]       # same answers, row number changed


def missing_questions(responses: Table, form: tuple[FormField, ...]) -> list[str]:
    return [f.question for f in form if not responses.has(f.question)]


def check_form_columns(responses: Table, form: tuple[FormField, ...]) -> None:
    """A renamed question must be fixed in config, not silently read as blank."""
    missing = missing_questions(responses, form)
    if not responses.has(TIMESTAMP):
        missing.insert(0, TIMESTAMP)
    if missing:
        present = ", ".join(repr(h) for h in responses.header if str(h).strip()) or "(no headers)"
        raise SheetLayoutError(
            f"tab {responses.title!r}: no column for question(s) "
            + ", ".join(repr(m) for m in missing)
            + f". Columns there: {present}. If a question was renamed in the form, put its new title "
            "under [form.questions] in config.toml."
        )


def read_reports(responses: Table, form: tuple[FormField, ...]) -> list[Report]:
    """Every non-blank response row as a Report, in sheet order."""
    seen: Counter[str] = Counter()
    reports = []
    for row, _cells in enumerate(responses.rows):
        answers = {f.field: _text(responses.value(row, f.question)) for f in form}
        stamp = responses.value(row, TIMESTAMP)
        reporter = _text(responses.value(row, EMAIL_ADDRESS)).lower()
        if not any(answers.values()) and not cell_text(stamp) and not reporter:
            continue
        received = stamp if isinstance(stamp, datetime) else None
        digest = hashlib.sha256(json.dumps(answers, sort_keys=True).encode()).hexdigest()[:16]
        if received is not None:
            base = f"{_utc_text(received)}|{reporter}"
        else:
            base = f"untimed|{reporter}|{digest}"
        seen[base] += 1
        key = f"{base}|{seen[base]}"
        reports.append(Report(row, key, digest, received, reporter, answers))
    return reports


def match_reports(reports: list[Report], cases: list[Case]) -> Intake:
    by_key = {case.response_key: at for at, case in enumerate(cases) if case.response_key}
    current_keys = {r.key for r in reports}
    orphans_by_row: dict[int, int] = {}
    for index, case in enumerate(cases):
        if case.response_key and case.response_key not in current_keys and case.response_row is not None:
            orphans_by_row[case.response_row] = index
    intake = Intake([], [], [], [])
    for report in reports:
        at = by_key.get(report.key)
        if at is None:
            orphan = orphans_by_row.get(report.row)
            if orphan is not None and _key_reporter(cases[orphan]) == report.reporter:
                del orphans_by_row[report.row]
                intake.edited.append((report, orphan))
            else:
                intake.new.append(report)
        elif cases[at].response_hash != report.digest:
            intake.edited.append((report, at))
        elif cases[at].response_row != report.row:
            intake.moved.append((report, at))
        else:
            intake.unchanged.append((report, at))
    return intake


def _key_reporter(case: Case) -> str:
    """The reporter part of a case's response key: a form edit never changes the reporter."""
    parts = case.response_key.split("|")
    return parts[1] if len(parts) > 1 else ""


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: CellValue) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    return cell_text(value) if not isinstance(value, str) else value.strip()
