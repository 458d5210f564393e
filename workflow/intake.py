"""Intake: form response rows → reports, each matched to exactly one case.

A response is who sent it (the form's timestamp and the reporter's address) and
what it says (a fingerprint of its answers): never where it sits, so sorting,
inserting or deleting rows in the responses tab changes no case's account. A case
keeps these in hidden columns: ``Response key`` (timestamp | reporter | occurrence
among identical responses), ``Response hash`` (answers fingerprint : account
fingerprint) and ``Response row`` (where it was last seen; blank once it is gone).

Matching, in this order, each response and each case used at most once:

1. *Same response*: same timestamp, reporter and answers. Identical twins (same
   second, same reporter, same answers) are indistinguishable; each still gets its own case.
2. *Corrected in the sheet*: same timestamp and reporter, answers changed (someone
   typed in the responses tab). With no reporter address, only at the same row or
   with the same account.
3. *Edited in the form*: Google Forms rewrites an edited response in place with a
   new timestamp. A response is taken as such an edit of a case only when the case's
   response vanished in this very sync, the reporter is the same (and known), the
   new timestamp is later, the case is not Closed or Withdrawn, and the response is
   at the case's row or tells word for word the same account ("What happened?").

Anything else is a new case: a duplicate case is recoverable, a swallowed report
is not. A case whose response is gone is left as it is (never matched to another
row later) and its ``Response row`` is cleared.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime

from .config import FormField
from .errors import SheetLayoutError
from .model import CellValue, Table, cell_text
from .records import Case
from .schema import EMAIL_ADDRESS, TIMESTAMP

ACCOUNT = "what_happened"       # the form field whose text identifies a response across an edit
STAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Report:
    row: int                     # 0-based data row in the responses tab
    key: str                     # timestamp | reporter | occurrence (see module docstring)
    digest: str                  # fingerprint of all the answers, to notice edits
    received: datetime | None    # the form's timestamp, aware
    reporter: str                # the reporter's email address, when the form collects it
    answers: dict[str, str]      # form field -> answer text
    account: str = ""            # fingerprint of the account alone ("" when blank)

    @property
    def fingerprint(self) -> str:
        """What ``Response hash`` holds: the answers' fingerprint, then the account's."""
        return f"{self.digest}:{self.account}" if self.account else self.digest

    @property
    def base(self) -> str:
        return key_base(self.key)


@dataclass
class Intake:
    """Each report sorted by what it means for its case; a case is named by its index."""

    new: list[Report]
    edited: list[tuple[Report, int]]      # (report, index of its case in the cases given)
    unchanged: list[tuple[Report, int]]
    moved: list[tuple[Report, int]]       # same answers, row number changed
    gone: list[int]                       # cases whose response left the tab in this sync


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
    seen: Counter[tuple[str, str]] = Counter()
    reports = []
    for row, _cells in enumerate(responses.rows):
        answers = {f.field: _text(responses.value(row, f.question)) for f in form}
        stamp = responses.value(row, TIMESTAMP)
        reporter = _text(responses.value(row, EMAIL_ADDRESS)).lower()
        if not any(answers.values()) and not cell_text(stamp) and not reporter:
            continue
        received = stamp if isinstance(stamp, datetime) else None
        digest = _hash(json.dumps(answers, sort_keys=True), 16)
        account = answers.get(ACCOUNT, "")
        if received is not None:
            base = f"{received.astimezone(UTC).strftime(STAMP_FORMAT)}|{reporter}"
        else:
            base = f"untimed|{reporter}|{digest}"
        seen[base, digest] += 1
        key = f"{base}|{seen[base, digest]}"
        reports.append(Report(row, key, digest, received, reporter, answers,
                              _hash(" ".join(account.split()), 8) if account.strip() else ""))
    return reports


def match_reports(reports: list[Report], cases: list[Case], *, finished: Callable[[Case], bool]) -> Intake:
    """Each report to at most one case and back (see the module docstring for the rule)."""
    left = {at: case for at, case in enumerate(cases) if case.response_key}
    todo = list(reports)
    intake = Intake([], [], [], [], [])

    same = _pair(todo, left, lambda r: (r.base, r.digest), lambda c: (key_base(c.response_key), stored_digest(c)))
    for report, at in same:
        (intake.unchanged if cases[at].response_row == report.row else intake.moved).append((report, at))

    corrected = _pair(todo, left, lambda r: r.base, lambda c: key_base(c.response_key),
                      fits=lambda r, c: bool(r.reporter) or _same_row(r, c) or _same_account(r, c))
    edited_in_form = _pair(todo, left, lambda r: r.reporter or None, lambda c: key_reporter(c) or None,
                           fits=lambda r, c: _plausible_form_edit(r, c, finished))
    intake.edited.extend(corrected + edited_in_form)

    intake.new = todo
    intake.gone = [at for at, case in left.items() if case.response_row is not None]
    return intake


def _plausible_form_edit(report: Report, case: Case, finished: Callable[[Case], bool]) -> bool:
    """A form edit: later timestamp, a live open case, and the same row or the same account."""
    before, after = key_time(case.response_key), key_time(report.key)
    return (before is not None and after is not None and after > before
            and case.response_row is not None and not finished(case)
            and (_same_row(report, case) or _same_account(report, case)))


def _pair(reports: list[Report], cases: dict[int, Case], report_group: Callable[[Report], Hashable],
          case_group: Callable[[Case], Hashable],
          fits: Callable[[Report, Case], bool] = lambda r, c: True) -> list[tuple[Report, int]]:
    """Pair reports with cases of the same group, same row first, then same account.

    Pairs found are removed from ``reports`` and ``cases``. A group of None pairs nothing.
    """
    groups: defaultdict[Hashable, list[int]] = defaultdict(list)
    for at, case in cases.items():
        group = case_group(case)
        if group is not None:
            groups[group].append(at)
    candidates = []
    for order, report in enumerate(reports):
        group = report_group(report)
        for at in groups.get(group, []) if group is not None else []:
            if fits(report, cases[at]):
                rank = (not _same_row(report, cases[at]), not _same_account(report, cases[at]))
                candidates.append((rank, order, at, report))
    pairs, used = [], set()
    for _rank, order, at, report in sorted(candidates, key=lambda c: c[:3]):
        if order not in used and at in cases:
            used.add(order)
            del cases[at]
            pairs.append((report, at))
    reports[:] = [r for order, r in enumerate(reports) if order not in used]
    return pairs


def _same_row(report: Report, case: Case) -> bool:
    return case.response_row is not None and int(case.response_row) == report.row


def _same_account(report: Report, case: Case) -> bool:
    return bool(report.account) and stored_account(case) == report.account


def key_base(key: str) -> str:
    """A response key without its occurrence number: timestamp | reporter (| digest when untimed)."""
    return key.rsplit("|", 1)[0]


def key_reporter(case: Case) -> str:
    """The reporter part of a case's response key: a form edit never changes the reporter."""
    parts = case.response_key.split("|")
    return parts[1] if len(parts) > 2 else ""


def key_time(key: str) -> datetime | None:
    try:
        return datetime.strptime(key.split("|", 1)[0], STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def stored_digest(case: Case) -> str:
    return case.response_hash.split(":", 1)[0]


def stored_account(case: Case) -> str:
    """The account fingerprint a case keeps; "" for cases written before it was kept."""
    return case.response_hash.partition(":")[2]


def _hash(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _text(value: CellValue) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")
    return cell_text(value) if not isinstance(value, str) else value.strip()
