"""Plan a sync: from one Snapshot and ``now``, every change and every email to send.

Pure: no I/O, no clock. The approach is "copy, change, diff": every case, step,
notification and setting row is read into a dict; the workflow changes those dicts;
the ChangeSet is their difference from what was read (new rows are appended). So a
sync that finds nothing to do produces an empty ChangeSet and makes no write.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import __version__
from .checklist import new_steps, step_applies, step_slug, template_for
from .config import PRIORITY_ORDER, Config
from .errors import SheetLayoutError
from .intake import Report, check_form_columns, match_reports, read_reports
from .layout import layout_problems
from .model import CellValue, ChangeSet, Snapshot, cell_text, row_key
from .notifications import (
    ACKNOWLEDGEMENT,
    DIGEST,
    ESCALATION,
    NEW_CASE,
    OVERDUE,
    Notice,
    acknowledgement,
    base_context,
    case_context,
    digest_notices,
    fmt_time,
    for_roles,
)
from .overdue import evaluate_step, is_ticked, overdue_for
from .schema import (
    BY_LOGICAL,
    CASE_CLOSED,
    CASE_OPEN,
    CASE_READY,
    CASE_WITHDRAWN,
    CELL_LIMIT,
    MAIL_QUEUED,
    STEP_DONE,
    STEP_NOT_NEEDED,
    STEP_OPEN,
    STEP_OVERDUE,
)
from .schoolclock import SchoolClock
from .triage import describe_types, parse_answers, triage

CASE_PREFIX = "DI"
CASE_ID_PATTERN = re.compile(rf"^{CASE_PREFIX}-(\d{{4}})-(\d+)$")
HEARTBEAT_EVERY = timedelta(hours=1)
FINISHED = (CASE_CLOSED, CASE_WITHDRAWN)
CANCEL_WHEN_FINISHED = (OVERDUE, ESCALATION)
MAIL_CANCELLED = "cancelled"
LAST_SYNC, LAST_ERROR, LAST_ERROR_AT, VERSION = "Last successful sync", "Last error", "Last error at", "Version"

Record = dict[str, CellValue]


@dataclass(frozen=True)
class Delivery:
    """A queued notification to send after the plan is committed."""

    notification_id: str
    to: str
    event: str
    context: dict[str, Any]
    attempts: int
    row: int


@dataclass
class Plan:
    changes: ChangeSet
    deliveries: list[Delivery]
    stats: dict[str, int] = field(default_factory=dict)
    worker_rows: dict[str, int] = field(default_factory=dict)  # setting -> row as read (for later marks)
    digest_context: dict[str, Any] = field(default_factory=dict)  # open cases, due today, overdue


class _Workbook:
    """The rows of every worker tab as mutable dicts, remembering what was read."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.rows: dict[str, list[Record]] = {}
        self.read: dict[str, dict[int, Record]] = {}
        for logical, spec in BY_LOGICAL.items():
            records = snapshot.tab(logical).records(spec)
            self.rows[logical] = records
            self.read[logical] = {int(r["_row"]): dict(r) for r in records}  # type: ignore[arg-type]

    def add(self, logical: str, record: Record) -> Record:
        record["_row"] = None
        self.rows[logical].append(record)
        return record

    def changes(self, tabs: tuple[str, ...] | None = None, into: ChangeSet | None = None) -> ChangeSet:
        """The difference from what was read, for ``tabs`` (default all), added to ``into``."""
        changes = into if into is not None else ChangeSet()
        for logical, records in self.rows.items():
            if tabs is not None and logical not in tabs:
                continue
            spec = BY_LOGICAL[logical]
            leader_owned = {c.name for c in spec.columns if c.owner == "leader"}
            for record in records:
                row = record.get("_row")
                clean = {k: v for k, v in record.items() if not k.startswith("_")}
                if row is None:
                    changes.append(logical, clean)
                    continue
                before = self.read[logical][int(row)]  # type: ignore[arg-type]
                changed = {k: v for k, v in clean.items() if not _same(before.get(k), v)}
                if changed.keys() & leader_owned:  # a bug, never a leader's loss
                    raise AssertionError(f"worker tried to write leader-owned {sorted(changed.keys() & leader_owned)}")
                changes.update(logical, row_key(spec, before), int(row), changed)  # type: ignore[arg-type]
        return changes


def _same(a: CellValue, b: CellValue) -> bool:
    if isinstance(a, datetime) and isinstance(b, datetime):
        return abs((a - b).total_seconds()) < 1
    if isinstance(a, datetime) or isinstance(b, datetime):
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return is_ticked(a) == is_ticked(b)
    return cell_text(a) == cell_text(b)


def truncate(text: str, note: str, limit: int = CELL_LIMIT) -> str:
    """Keep a cell under the sheet's limit, saying where the rest is (SPEC §7.5)."""
    if len(text) <= limit:
        return text
    suffix = f"\n[… truncated: {note}]"
    return text[: limit - len(suffix)] + suffix


class _Planner:
    def __init__(self, snapshot: Snapshot, config: Config, now: datetime) -> None:
        self.config = config
        self.now = now.replace(microsecond=0)
        self.clock = SchoolClock(config.calendar, config.school.timezone)
        self.book = _Workbook(snapshot)
        self.snapshot = snapshot
        self.log: list[Record] = []
        self.notices: list[Notice] = []
        self.answers: dict[str, dict[str, str]] = {}
        self.stats: dict[str, int] = defaultdict(int)
        self.known_ids = {cell_text(n["Notification ID"]) for n in self.book.rows["notifications"]}
        self.cases = {cell_text(c["Case ID"]): c for c in self.book.rows["cases"] if cell_text(c["Case ID"])}
        self.steps: dict[str, list[Record]] = defaultdict(list)
        for step in self.book.rows["checklist"]:
            self.steps[cell_text(step["Case ID"])].append(step)
        self.settings = {cell_text(s["Setting"]): s for s in self.book.rows["worker"] if cell_text(s["Setting"])}

    # -- helpers ---------------------------------------------------------
    def note(self, case_id: str, event: str, detail: str) -> None:
        self.log.append({"Time": self.now, "Case ID": case_id, "Event": event, "Detail": detail})

    def queue(self, notices: list[Notice]) -> list[Notice]:
        fresh = [n for n in notices if n.id not in self.known_ids]
        for notice in fresh:
            self.known_ids.add(notice.id)
            self.notices.append(notice)
        return fresh

    def queue_and_log(self, case_id: str, notices: list[Notice], what: str) -> None:
        fresh = self.queue(notices)
        if fresh:
            roles = ", ".join(dict.fromkeys(n.role for n in fresh))
            self.note(case_id, "emailed", f"{what} queued for {roles} ({len(fresh)} email{'s' * (len(fresh) != 1)})")

    def setting(self, name: str, value: CellValue) -> None:
        record = self.settings.get(name)
        if record is None:
            self.settings[name] = self.book.add("worker", {"Setting": name, "Value": value})
        else:
            record["Value"] = value

    # -- intake ----------------------------------------------------------
    def intake(self) -> None:
        reports = read_reports(self.snapshot.responses, self.config.form)
        result = match_reports(reports, self.book.rows["cases"])
        for report, case in result.unchanged:
            self.answers[cell_text(case["Case ID"])] = report.answers
        for report, case in result.moved:
            self.answers[cell_text(case["Case ID"])] = report.answers
            case["Response row"] = report.row
        for report, case in result.edited:
            self.edit_case(report, case)
        self.open_cases(sorted(result.new, key=lambda r: (r.received or self.now, r.row)))

    def next_case_number(self, year: int) -> int:
        name = f"Case counter {year}"
        counter = cell_text(self.settings.get(name, {}).get("Value"))
        highest = int(counter) if counter.isdigit() else 0
        for case_id in self.cases:
            match = CASE_ID_PATTERN.match(case_id)
            if match and int(match[1]) == year:
                highest = max(highest, int(match[2]))
        self.setting(name, highest + 1)
        return highest + 1

    def open_cases(self, reports: list[Report]) -> None:
        for report in reports:
            received = report.received or self.now
            year = received.astimezone(self.config.school.timezone).year
            case_id = f"{CASE_PREFIX}-{year}-{self.next_case_number(year):04d}"
            parsed = parse_answers(report.answers, self.config.form)
            result = triage(parsed, self.config)
            case = self.book.add(
                "cases",
                {
                    "Case ID": case_id,
                    "Received": received,
                    "Reported by": report.reporter,
                    "Incident type": describe_types(result, parsed, self.config),
                    "Priority": result.priority,
                    "Status": CASE_OPEN,
                    "Owner": "",
                    "Next step": "",
                    "Next due": None,
                    "Overdue steps": 0,
                    "Summary": self.summary(report),
                    "Updated": self.now,
                    "Response key": report.key,
                    "Response row": report.row,
                    "Response hash": report.digest,
                    "Seen owner": "",
                    "Seen status": CASE_OPEN,
                },
            )
            self.cases[case_id] = case
            self.answers[case_id] = report.answers
            for step in new_steps(case_id, result.priority, result.flags, received, self.config.checklist, self.clock):
                self.steps[case_id].append(self.book.add("checklist", step))
            self.stats["cases_opened"] += 1
            self.note(case_id, "case opened", f"from form response row {report.row + 2}")
            because = "; ".join(result.reasons) or "no rule matched"
            self.note(case_id, "triaged", f"{result.priority} because: {because}")
            for question in parsed.unrecognised:
                self.note(case_id, "answer not recognised",
                          f"the answer to {question!r} is not one of the known options; "
                          "check [form.options] in config.toml matches the form")
            self.queue_and_log(case_id, for_roles(case_id, NEW_CASE, result.roles, self.config), "new case alert")
            self.queue_and_log(case_id, acknowledgement(case_id, report.reporter, self.config), "acknowledgement")

    def summary(self, report: Report) -> str:
        return truncate(report.answers.get("what_happened", ""),
                        f"the full account is in the form responses, row {report.row + 2}",
                        self.snapshot.text_limit)

    def edit_case(self, report: Report, case: Record) -> None:
        case_id = cell_text(case["Case ID"])
        self.answers[case_id] = report.answers
        parsed = parse_answers(report.answers, self.config.form)
        result = triage(parsed, self.config)
        case.update({
            "Incident type": describe_types(result, parsed, self.config),
            "Reported by": report.reporter or case.get("Reported by"),
            "Summary": self.summary(report),
            "Response key": report.key,
            "Response row": report.row,
            "Response hash": report.digest,
        })
        self.stats["cases_updated"] += 1
        self.note(case_id, "response edited", f"form response row {report.row + 2} was edited; case updated")
        if cell_text(case["Status"]) in FINISHED:
            return
        old = cell_text(case["Priority"])
        raised = PRIORITY_ORDER.get(result.priority, 0) > PRIORITY_ORDER.get(old, 0)
        priority = result.priority if raised or old not in PRIORITY_ORDER else old
        if raised:
            case["Priority"] = priority
            self.note(case_id, "triaged", f"priority raised {old} → {priority} because: {'; '.join(result.reasons)}")
        start = report.received or self.now
        for step in self.steps[case_id]:
            template = template_for(cell_text(step["Step"]), self.config.checklist)
            if template is None or is_ticked(step["Done"]):
                continue
            due = self.clock.due(start, template.due[priority])
            applies = step_applies(template, result.flags)
            if cell_text(step["Status"]) == STEP_NOT_NEEDED and applies:
                step["Status"], step["Due"] = STEP_OPEN, due
                self.note(case_id, "step added", f"{template.title!r} now applies")
            elif applies and isinstance(step["Due"], datetime) and due < step["Due"]:
                step["Due"] = due
        self.queue_and_log(case_id, for_roles(case_id, NEW_CASE, result.roles, self.config), "new case alert")

    # -- follow-up -------------------------------------------------------
    def follow_up(self) -> None:
        for case_id, case in self.cases.items():
            before = {k: v for k, v in case.items()}
            step_before = [dict(s) for s in self.steps[case_id]]
            self.notice_leader_edits(case_id, case)
            if cell_text(case["Status"]) in FINISHED:
                continue
            self.follow_steps(case_id, case)
            touched = any(not _same(before.get(k), v) for k, v in case.items() if k != "Seen owner") or any(
                not _same(a.get(k), v) for a, b in zip(step_before, self.steps[case_id], strict=True)
                for k, v in b.items()
            )
            if touched:
                case["Updated"] = self.now

    def notice_leader_edits(self, case_id: str, case: Record) -> None:
        owner, seen_owner = cell_text(case["Owner"]), cell_text(case["Seen owner"])
        if owner != seen_owner:
            self.note(case_id, "owner set", f"owner is now {owner}" if owner else "owner cleared")
            case["Seen owner"] = owner
        status, seen_status = cell_text(case["Status"]), cell_text(case["Seen status"])
        if status != seen_status:
            self.note(case_id, "status changed", f"{seen_status or '(blank)'} → {status or '(blank)'} by a leader")
            case["Seen status"] = status

    def follow_steps(self, case_id: str, case: Record) -> None:
        urgent = cell_text(case["Priority"]) == "Urgent"
        open_steps: list[Record] = []
        overdue = 0
        required_open = 0
        for step in self.steps[case_id]:
            title = cell_text(step["Step"])
            ticked = is_ticked(step["Done"])
            if ticked and not isinstance(step["Done at"], datetime):
                step["Done at"] = self.now
                self.note(case_id, "step done", f"{title!r} ticked done")
            elif not ticked and step["Done at"] not in (None, "") and cell_text(step["Status"]) == STEP_DONE:
                step["Done at"] = None
                self.note(case_id, "step reopened", f"{title!r} unticked")
            state = evaluate_step(step["Due"], ticked, cell_text(step["Status"]), urgent, self.now, self.clock)
            if state.status == STEP_OVERDUE and cell_text(step["Status"]) != STEP_OVERDUE:
                self.note(case_id, "step overdue", f"{title!r} was due {fmt_time(step['Due'], self.config)}")
            step["Status"] = state.status
            template = template_for(title, self.config.checklist)
            if state.status in (STEP_OPEN, STEP_OVERDUE):
                open_steps.append(step)
                if template is None or template.required:
                    required_open += 1
            if state.status == STEP_OVERDUE:
                overdue += 1
                slug = step_slug(title, self.config.checklist)
                role = cell_text(step["Role"])
                reminders = for_roles(case_id, OVERDUE, (role,), self.config, slug, title, state.reminder_level)
                self.queue_and_log(case_id, reminders, f"overdue reminder {state.reminder_level} for {title!r}")
                if state.escalate:
                    escalations = for_roles(case_id, ESCALATION, self.config.escalate_to, self.config, slug, title, 1)
                    self.queue_and_log(case_id, escalations, f"escalation for {title!r}")
        status = cell_text(case["Status"])
        if self.steps[case_id] and required_open == 0 and status in (CASE_OPEN, ""):
            case["Status"] = case["Seen status"] = CASE_READY
            self.note(case_id, "ready to close", "every required step is done")
        elif required_open and status == CASE_READY:
            case["Status"] = case["Seen status"] = CASE_OPEN
            self.note(case_id, "reopened", "a required step is no longer done")
        dated = [s for s in open_steps if isinstance(s["Due"], datetime)]
        first = min(dated, key=lambda s: s["Due"]) if dated else (open_steps[0] if open_steps else None)  # type: ignore[arg-type, return-value]
        case["Next step"] = cell_text(first["Step"]) if first else ""
        case["Next due"] = first["Due"] if first and isinstance(first["Due"], datetime) else None
        case["Overdue steps"] = overdue
        self.stats["steps_overdue"] += overdue

    # -- digest ----------------------------------------------------------
    def digest_due(self, force: bool) -> bool:
        local = self.now.astimezone(self.config.school.timezone)
        if force:
            return True
        if not self.clock.is_school_day(local.date()):
            return False
        return local.time() >= self.config.worker.digest_at

    def digest(self, force: bool) -> None:
        if self.digest_due(force):
            day = self.now.astimezone(self.config.school.timezone).date()
            self.queue(digest_notices(day, self.config))

    def digest_context(self) -> dict[str, Any]:
        tz = self.config.school.timezone
        today = self.now.astimezone(tz).date()
        open_cases, due_today, overdue = [], [], []
        for case_id, case in sorted(self.cases.items()):
            if cell_text(case["Status"]) in FINISHED:
                continue
            open_cases.append(case_context(case, self.config, "", None))
            for step in self.steps[case_id]:
                due = step["Due"]
                if cell_text(step["Status"]) not in (STEP_OPEN, STEP_OVERDUE) or not isinstance(due, datetime):
                    continue
                item = {"case_id": case_id, "step": cell_text(step["Step"]), "due": fmt_time(due, self.config),
                        "role": cell_text(step["Role"]), "priority": cell_text(case["Priority"])}
                if cell_text(step["Status"]) == STEP_OVERDUE:
                    overdue.append(item)
                elif due.astimezone(tz).date() == today:
                    due_today.append(item)
        return {"date": today.strftime("%A %d %B %Y"), "open_cases": open_cases,
                "due_today": due_today, "overdue": overdue}

    # -- notifications ---------------------------------------------------
    def record_notices(self) -> None:
        for notice in self.notices:
            self.book.add(
                "notifications",
                {
                    "Notification ID": notice.id,
                    "Case ID": notice.case_id if not notice.case_id.startswith("digest-") else "",
                    "Event": notice.event,
                    "To": notice.to,
                    "Status": MAIL_QUEUED,
                    "Attempts": 0,
                    "Sent at": None,
                    "Error": "",
                    "Role": notice.role,
                    "Step": notice.step,
                    "Queued at": self.now,
                },
            )
        self.stats["notifications_queued"] = len(self.notices)

    def deliveries(self) -> list[Delivery]:
        out = []
        digest = None
        today = self.now.astimezone(self.config.school.timezone).date().isoformat()
        for record in self.book.rows["notifications"]:
            if cell_text(record["Status"]) != MAIL_QUEUED:
                continue
            event, case_id = cell_text(record["Event"]), cell_text(record["Case ID"])
            case = self.cases.get(case_id)
            if case is not None and cell_text(case["Status"]) in FINISHED and event in CANCEL_WHEN_FINISHED:
                record["Status"], record["Error"] = MAIL_CANCELLED, f"case {cell_text(case['Status']).lower()}"
                continue
            role = cell_text(record["Role"])
            context = base_context(self.config, event, role)
            if event == DIGEST and not cell_text(record["Notification ID"]).startswith(f"digest-{today}/"):
                record["Status"], record["Error"] = MAIL_CANCELLED, "superseded by a later digest"
                continue
            if event == DIGEST:
                digest = digest or self.digest_context()
                context["digest"] = digest
            elif case is None:
                record["Status"], record["Error"] = MAIL_CANCELLED, "case row not found"
                continue
            else:
                context["case"] = case_context(case, self.config, role, self.answers.get(case_id))
                if event == ACKNOWLEDGEMENT:
                    context["case"]["details"] = None
                if event in (OVERDUE, ESCALATION):
                    context["step"] = self.step_context(case_id, cell_text(record["Step"]),
                                                        cell_text(record["Notification ID"]))
            row = record.get("_row")
            attempts = record.get("Attempts")
            out.append(
                Delivery(
                    notification_id=cell_text(record["Notification ID"]),
                    to=cell_text(record["To"]),
                    event=event,
                    context=context,
                    attempts=int(attempts) if isinstance(attempts, (int, float)) else 0,
                    row=-1 if row is None else int(row),  # type: ignore[arg-type]
                )
            )
        return out

    def step_context(self, case_id: str, title: str, notification_id: str) -> dict[str, Any]:
        step = next((s for s in self.steps[case_id] if cell_text(s["Step"]) == title), None)
        due = step["Due"] if step else None
        level = notification_id.split("/")[3] if notification_id.count("/") >= 4 else "1"
        return {
            "title": title,
            "role": cell_text(step["Role"]) if step else "",
            "due": fmt_time(due, self.config),
            "overdue_for": overdue_for(due, self.now, self.clock) if isinstance(due, datetime) else "",
            "level": int(level) if level.isdigit() else 1,
        }

    # -- worker status ---------------------------------------------------
    def worker_status(self, changes_pending: bool) -> None:
        if cell_text(self.settings.get(VERSION, {}).get("Value")) != __version__:
            self.setting(VERSION, __version__)
            changes_pending = True
        last = self.settings.get(LAST_SYNC, {}).get("Value")
        stale = not isinstance(last, datetime) or self.now - last >= HEARTBEAT_EVERY
        if changes_pending or stale:
            self.setting(LAST_SYNC, self.now)
        if cell_text(self.settings.get(LAST_ERROR, {}).get("Value")):
            self.setting(LAST_ERROR, "")


def plan_sync(snapshot: Snapshot, config: Config, now: datetime, *, force_digest: bool = False,
              digest: bool = True) -> Plan:
    """Everything one sync will write and send, computed from what was read."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    problems = layout_problems(snapshot)
    if problems:
        raise SheetLayoutError("; ".join(problems) + ". Run `python cli.py setup` to create or repair the tabs.")
    check_form_columns(snapshot.responses, config.form)
    planner = _Planner(snapshot, config, now)
    planner.intake()
    planner.follow_up()
    if digest or force_digest:
        planner.digest(force_digest)
    planner.record_notices()
    deliveries = planner.deliveries()
    for entry in planner.log:
        planner.book.add("log", entry)
    workflow_tabs = tuple(tab for tab in BY_LOGICAL if tab != "worker")
    changes = planner.book.changes(workflow_tabs)
    planner.worker_status(not changes.is_empty())
    planner.book.changes(("worker",), into=changes)
    stats = {key: planner.stats.get(key, 0) for key in ("cases_opened", "cases_updated", "steps_overdue",
                                                         "notifications_queued")}
    stats["cases_total"] = len(planner.cases)
    worker_rows = {name: int(r["_row"]) for name, r in planner.settings.items() if r.get("_row") is not None}
    return Plan(changes, deliveries, stats, worker_rows, planner.digest_context())
