"""The admin's config.toml, validated into plain frozen dataclasses.

Every key is checked: an unknown key or a bad value raises ConfigError naming
the file and the key and saying what is allowed. The form mapping, triage rules
and checklist ship as data (workflow/data/*.toml) and may be overridden in the
config under [form], [triage] and [checklist].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class SchoolConfig:
    name: str
    timezone: ZoneInfo
    sheet_url: str


@dataclass(frozen=True)
class SheetConfig:
    backend: str                 # "local" | "google"
    path: Path                   # local workbook, resolved against the config's folder
    spreadsheet_id: str
    responses_tab: str
    credentials: str             # google: key file path ("" = GOOGLE_APPLICATION_CREDENTIALS)


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "localhost"
    port: int = 587
    security: str = "starttls"   # "starttls" | "ssl" | "none"
    username: str = ""
    password_env: str = "SMTP_PASSWORD"
    timeout: float = 30.0


@dataclass(frozen=True)
class EmailConfig:
    transport: str               # "outbox" | "smtp"
    outbox_dir: Path
    sender: str
    reporter_domains: tuple[str, ...]
    smtp: SmtpConfig
    details_roles: tuple[str, ...] = ()   # roles whose emails may carry names and narrative
    max_attempts: int = 5                 # after this many failed sends a notification is "failed"


@dataclass(frozen=True)
class CalendarConfig:
    school_days: frozenset[int]           # 0 = Monday … 6 = Sunday
    day_starts: time
    day_ends: time
    closed: tuple[tuple[date, date], ...]  # inclusive ranges; a single date is (d, d)


@dataclass(frozen=True)
class WorkerConfig:
    interval: timedelta
    digest_at: time


@dataclass(frozen=True)
class FormField:
    """One form question the worker reads, mapped to a field name the rules use."""

    field: str                   # e.g. "incident_types"
    question: str                # the question's exact title = its column header
    kind: str = "text"           # "text" | "choice" | "checkboxes"
    options: tuple[str, ...] = ()  # known answers for choice/checkboxes


@dataclass(frozen=True)
class TriageRule:
    """If any condition matches, the case gets at least ``priority`` and these roles."""

    name: str
    priority: str | None         # "Urgent" | "High" | "Normal" | None (roles only)
    notify: tuple[str, ...]
    any_of: tuple[tuple[str, tuple[str, ...]], ...]   # (field, answers) pairs; "*" = any answer
    text_patterns: tuple[str, ...] = ()                # regexes searched in text_fields
    text_fields: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()  # e.g. "content": turns on steps that need it


@dataclass(frozen=True)
class StepTemplate:
    """One step of the response checklist, with a deadline per priority."""

    id: str
    title: str
    role: str
    guidance: str
    due: dict[str, str]          # priority -> "1h" | "4h" | "end of day" | "1 school day" | ...
    when: str = ""               # a triage flag that must be set, or "" for always
    required: bool = True


@dataclass(frozen=True)
class Config:
    path: Path
    school: SchoolConfig
    sheet: SheetConfig
    email: EmailConfig
    contacts: dict[str, tuple[str, ...]]
    calendar: CalendarConfig
    worker: WorkerConfig
    form: tuple[FormField, ...]
    triage: tuple[TriageRule, ...]
    default_priority: str
    default_notify: tuple[str, ...]
    checklist: tuple[StepTemplate, ...]
    templates_dir: Path
    escalate_to: tuple[str, ...] = ("principal",)
    digest_to: tuple[str, ...] = ("principal", "pastoral_lead")
    extra: dict[str, object] = field(default_factory=dict)

    def field_for(self, name: str) -> FormField | None:
        for form_field in self.form:
            if form_field.field == name:
                return form_field
        return None
