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
    new: list[Report]
    edited: list[tuple[Report, dict[str, CellValue]]]      # (report, its case record)
    unchanged: list[tuple[Report, dict[str, CellValue]]]
    moved: list[tuple[Report, dict[str, CellValue]]]       # same answers, row number changed


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


def match_reports(reports: list[Report], cases: list[dict[str, CellValue]]) -> Intake:
    by_key = {cell_text(c.get("Response key")): c for c in cases if cell_text(c.get("Response key"))}
    current_keys = {r.key for r in reports}
    orphans_by_row = {}
    for case in cases:
        key = cell_text(case.get("Response key"))
        row = case.get("Response row")
        if key and key not in current_keys and isinstance(row, (int, float)):
            orphans_by_row[int(row)] = case
    intake = Intake([], [], [], [])
    for report in reports:
        case = by_key.get(report.key)
        if case is None:
            orphan = orphans_by_row.get(report.row)
            if orphan is not None and _key_reporter(orphan) == report.reporter:
                del orphans_by_row[report.row]
                intake.edited.append((report, orphan))
            else:
                intake.new.append(report)
        elif cell_text(case.get("Response hash")) != report.digest:
            intake.edited.append((report, case))
        elif _row_number(case) != report.row:
            intake.moved.append((report, case))
        else:
            intake.unchanged.append((report, case))
    return intake


def _key_reporter(case: dict[str, CellValue]) -> str:
    """The reporter part of a case's response key: a form edit never changes the reporter."""
    parts = cell_text(case.get("Response key")).split("|")
    return parts[1] if len(parts) > 1 else ""


def _row_number(case: dict[str, CellValue]) -> int | None:
    value = case.get("Response row")
    return int(value) if isinstance(value, (int, float)) else None


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: CellValue) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    return cell_text(value) if not isinstance(value, str) else value.strip()
