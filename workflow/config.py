"""The admin's config.toml, validated into plain frozen dataclasses.

Every key is checked: an unknown key or a bad value raises ConfigError naming
the file and the key and saying what is allowed. The form mapping, triage rules
and checklist ship as data (workflow/data/*.toml) and may be overridden in the
config under [form], [triage] and [checklist].
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from email.utils import getaddresses, parseaddr
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError


@dataclass(frozen=True)
class SchoolConfig:
    name: str
    timezone: ZoneInfo
    sheet_url: str
    locale: str = "en_NZ"        # how text typed as a date is read locally (day or month first)


DEFAULT_OUTCOMES = (
    "Resolved in school",
    "Referred to police",
    "Referred to an online safety service",
    "Referred to Oranga Tamariki",
    "No further action",
)


@dataclass(frozen=True)
class BoardConfig:
    """The leaders' dropdown lists."""

    owners: tuple[str, ...] = ()             # empty: Owner is free text
    outcomes: tuple[str, ...] = DEFAULT_OUTCOMES


@dataclass(frozen=True)
class SheetConfig:
    backend: str                 # "local" | "google"
    path: Path                   # local workbook, resolved against the config's folder
    spreadsheet_id: str
    responses_tab: str
    credentials: str             # google: key file path ("" = GOOGLE_APPLICATION_CREDENTIALS)
    retry_seconds: float = 60.0  # google: how long one call keeps retrying 429/5xx before exit 75


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
    max_attempts: int = 5                 # kept for old configs; see config.example.toml
    mark_every: int = 20                  # record delivery results after at most this many emails


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
    time_budget: timedelta = timedelta(minutes=5)  # a sync stops sending after this long
    lock_wait: timedelta = timedelta(0)           # how long a sync waits for a running one, then does nothing
    lock_file: Path | None = None                 # None: next to the workbook (local) or the config (google)
    health_max_age: timedelta = timedelta(minutes=90)  # `status --health`: older last sync / queued mail = unhealthy
    alert_admin_after: timedelta = timedelta(minutes=30)  # contacts.admin is emailed once syncs fail this long
    lease: bool = False                           # two hosts on one Google sheet: a lease in the Worker tab
    lease_for: timedelta = timedelta(minutes=7)   # how long a taken lease lasts (time_budget + 2m by default)


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
    board: BoardConfig = BoardConfig()
    extra: dict[str, object] = field(default_factory=dict)

    def field_for(self, name: str) -> FormField | None:
        for form_field in self.form:
            if form_field.field == name:
                return form_field
        return None


# ---------------------------------------------------------------------------
# Loading and validation
# ---------------------------------------------------------------------------



CONFIG_ENV = "DIGITAL_INCIDENTS_CONFIG"
PRIORITY_ORDER = {"Normal": 0, "High": 1, "Urgent": 2}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ROLE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
LOCALE_PATTERN = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
EMAIL_PATTERN = re.compile(r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")
DURATION_PATTERN = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
MIN_INTERVAL = timedelta(seconds=10)
MAX_LEASE_SECONDS = 7200   # a lease longer than the longest time budget (1h) plus an hour is a typo
DUE_LIMITS = {"hours": 24 * 366.0, "school_days": 366.0}   # a deadline beyond a year is a typo
# An idle sync refreshes "Last successful sync" only hourly (phases/heartbeat.HEARTBEAT_EVERY), so a
# health bound of an hour or less would call a healthy, idle worker stale.
MIN_HEALTH_AGE = timedelta(hours=1, minutes=1)
WHY_MIN_HEALTH_AGE = " (an idle sync refreshes the Worker tab's Last successful sync only hourly)"


class _Section:
    """A config table being read: every key taken is checked; leftovers are unknown keys."""

    def __init__(self, file: Path, name: str, data: Any) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{file}: [{name}] must be a table (section), not {type(data).__name__}")
        self.file, self.name, self.data = file, name, dict(data)
        self.taken: set[str] = set()

    def key(self, key: str) -> str:
        return f"{self.name}.{key}" if self.name else key

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.file}: {self.key(key)} {problem}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., allowed: str = "") -> Any:
        self.taken.add(key)
        if key not in self.data:
            if default is ...:
                raise self.fail(key, f"is missing{': ' + allowed if allowed else ''}")
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        is_wrong_bool = isinstance(value, bool) and bool not in kinds
        if is_wrong_bool or not isinstance(value, kinds):
            names = " or ".join(k.__name__.replace("str", "text").replace("list", "list")
                                .replace("int", "whole number") for k in kinds)
            raise self.fail(key, f"must be {names}, not {value!r}{'; ' + allowed if allowed else ''}")
        return value

    def text(self, key: str, default: Any = ..., allowed: str = "") -> str:
        return self.get(key, str, default, allowed).strip()

    def choice(self, key: str, options: tuple[str, ...], default: Any = ...) -> str:
        value = self.text(key, default, allowed="one of " + ", ".join(map(repr, options)))
        if value not in options:
            raise self.fail(key, f"is {value!r}; allowed: " + ", ".join(map(repr, options)))
        return value

    def texts(self, key: str, default: Any = ...) -> tuple[str, ...]:
        value = self.get(key, list, default)
        for item in value:
            if not isinstance(item, str):
                raise self.fail(key, f"must be a list of text values; {item!r} is not text")
        return tuple(item.strip() for item in value)

    def section(self, key: str, default: Any = ...) -> _Section:
        data = self.get(key, dict, {} if default is ... else default)
        return _Section(self.file, self.key(key), data)

    def done(self, also_known: tuple[str, ...] = ()) -> None:
        unknown = sorted(set(self.data) - self.taken - set(also_known))
        if unknown:
            known = sorted(self.taken | set(also_known))
            raise self.fail(unknown[0], "is not a known key; known keys here: " + ", ".join(known))


def resolve_config_path(option: str | None) -> Path:
    """-c/--config, then $DIGITAL_INCIDENTS_CONFIG, then ./config.toml (SPEC §6)."""
    return Path(option or os.environ.get(CONFIG_ENV) or "config.toml")


def load_config(path: Path | str) -> Config:
    """Read and validate config.toml; raise ConfigError naming the file and key on any problem."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found. Copy the example ({example_config_path()}) to {path} and edit it, "
            f"or pass -c PATH (or set ${CONFIG_ENV}). To try the product first: digital-incidents demo"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the config file: {error}") from None
    return parse_config(raw, path)


def _shipped(name: str) -> dict[str, Any]:
    text = resources.files("workflow.data").joinpath(name).read_text(encoding="utf-8")
    return tomllib.loads(text)


def parse_config(raw: Mapping[str, Any], path: Path) -> Config:
    path = Path(path)
    base = path.resolve().parent
    top = _Section(path, "", raw)

    school_s = top.section("school")
    tz_name = school_s.text("timezone", allowed="an IANA time zone name such as 'Pacific/Auckland'")
    try:
        timezone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise school_s.fail(
            "timezone", f"is {tz_name!r}, which is not an IANA time zone name (e.g. 'Pacific/Auckland')"
        ) from None
    locale = school_s.text("locale", "en_NZ")
    if not LOCALE_PATTERN.match(locale):
        raise school_s.fail("locale", f"is {locale!r}; allowed: a locale such as 'en_NZ', 'en_GB' or 'en_US'")
    school = SchoolConfig(
        name=school_s.text("name"), timezone=timezone, sheet_url=school_s.text("sheet_url", ""), locale=locale
    )
    school_s.done()

    sheet_s = top.section("sheet")
    backend = sheet_s.choice("backend", ("local", "google"), "local")
    sheet = SheetConfig(
        backend=backend,
        path=_resolve(base, sheet_s.text("path", "incidents.xlsx")),
        spreadsheet_id=sheet_s.text("spreadsheet_id", ""),
        responses_tab=sheet_s.text("responses_tab", "Form Responses 1"),
        credentials=sheet_s.text("credentials", ""),
        retry_seconds=float(sheet_s.get("retry_seconds", (int, float), 60)),
    )
    if not 0 < sheet.retry_seconds <= 600:
        raise sheet_s.fail("retry_seconds", f"is {sheet.retry_seconds:g}; allowed: more than 0, at most 600")
    if backend == "google" and not sheet.spreadsheet_id:
        raise sheet_s.fail(
            "spreadsheet_id",
            "is empty but backend is \"google\": paste the id from the sheet's URL "
            "(…/spreadsheets/d/<id>/edit)",
        )
    if not sheet.responses_tab:
        raise sheet_s.fail("responses_tab", "is empty: give the form responses tab's name")
    if sheet.credentials:
        sheet = _replace(sheet, credentials=str(_resolve(base, sheet.credentials)))
    sheet_s.done()

    email = _email(top.section("email"), base)

    contacts_s = top.section("contacts")
    contacts: dict[str, tuple[str, ...]] = {}
    for role in list(contacts_s.data):
        if not ROLE_PATTERN.match(role):
            raise contacts_s.fail(role, "is not a valid role name: use lower-case letters, digits and _")
        addresses = contacts_s.texts(role)
        for address in addresses:
            _check_address(contacts_s, role, address)
        contacts[role] = addresses
    contacts_s.done()

    calendar = _calendar(top.section("calendar"))

    worker_s = top.section("worker")
    lock_file = worker_s.text("lock_file", "")
    worker = WorkerConfig(
        interval=_duration(worker_s, "interval", "2m", minimum=MIN_INTERVAL, maximum=timedelta(days=1)),
        digest_at=_clock(worker_s, "digest_at", "07:30"),
        time_budget=_duration(worker_s, "time_budget", "5m", minimum=timedelta(seconds=10),
                              maximum=timedelta(hours=1)),
        lock_wait=_duration(worker_s, "lock_wait", "0s", minimum=timedelta(0), maximum=timedelta(hours=1)),
        lock_file=_resolve(base, lock_file) if lock_file else None,
        health_max_age=_duration(worker_s, "health_max_age", "90m", minimum=MIN_HEALTH_AGE,
                                 maximum=timedelta(days=7), why_minimum=WHY_MIN_HEALTH_AGE),
        alert_admin_after=_duration(worker_s, "alert_admin_after", "30m", minimum=timedelta(minutes=5),
                                    maximum=timedelta(days=7)),
    )
    worker = _lease(worker_s, worker, backend)
    escalate_to = worker_s.texts("escalate_to", ("principal",))
    digest_to = worker_s.texts("digest_to", ("principal", "pastoral_lead"))
    worker_s.done()

    board_s = top.section("board", {})
    board = BoardConfig(
        owners=board_s.texts("owners", ()),
        outcomes=board_s.texts("outcomes", DEFAULT_OUTCOMES),
    )
    for key, values in (("owners", board.owners), ("outcomes", board.outcomes)):
        if any(not value.strip() for value in values) or len({v.casefold() for v in values}) != len(values):
            raise board_s.fail(key, "has a blank or repeated entry; list each choice once")
    board_s.done()

    form = _form(top.section("form"))
    triage_data = _shipped("triage.toml")
    triage_s = top.section("triage")
    if triage_s.data:
        triage_data = {**triage_data, **triage_s.data}
    rules, default_priority, default_notify = _triage(_Section(path, "triage", triage_data), form)
    triage_s.taken.update(triage_s.data)

    checklist_data = _shipped("checklist.toml")
    checklist_s = top.section("checklist")
    if checklist_s.data:
        checklist_data = {**checklist_data, **checklist_s.data}
    checklist = _checklist(_Section(path, "checklist", checklist_data), rules)
    checklist_s.taken.update(checklist_s.data)

    templates_dir = _resolve(base, top.text("templates_dir", "")) if "templates_dir" in raw else None
    top.done()

    if templates_dir is None:
        templates_dir = default_templates_dir()

    config = Config(
        path=path,
        school=school,
        sheet=sheet,
        email=email,
        contacts=contacts,
        calendar=calendar,
        worker=worker,
        form=form,
        triage=rules,
        default_priority=default_priority,
        default_notify=default_notify,
        checklist=checklist,
        templates_dir=templates_dir,
        escalate_to=escalate_to,
        digest_to=digest_to,
        board=board,
    )
    _check_roles(config)
    return config


def example_config_path() -> Path:
    """The example config.toml shipped in the package (the top-level copy is a test-checked twin)."""
    return Path(str(resources.files("workflow.data").joinpath("config.example.toml")))


def default_templates_dir() -> Path:
    """The shipped templates: in a checkout, the top-level templates/ that admins edit in place
    (pyproject maps it to the package workflow.templates); installed, the copy in the wheel."""
    return Path(str(resources.files("workflow.templates")))


def _replace(obj: Any, **changes: Any) -> Any:
    from dataclasses import replace

    return replace(obj, **changes)


def _resolve(base: Path, value: str) -> Path:
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else (base / candidate)


def _check_address(section: _Section, key: str, value: str) -> None:
    _, address = parseaddr(value)
    several = len(getaddresses([value])) != 1
    if several or not address or not EMAIL_PATTERN.match(address) or "\n" in value or "\r" in value:
        raise section.fail(key, f"has {value!r}, which is not a valid email address (name@school.example)")


def _email(section: _Section, base: Path) -> EmailConfig:
    transport = section.choice("transport", ("outbox", "smtp"), "outbox")
    sender = section.text("sender", "Digital incidents <incidents@school.example>")
    _check_address(section, "sender", sender)
    domains = tuple(d.lower().lstrip("@") for d in section.texts("reporter_domains", ()))
    smtp_s = section.section("smtp")
    security = smtp_s.choice("security", ("starttls", "ssl", "none"), "starttls")
    port = int(_number(smtp_s, "port", 465 if security == "ssl" else 587, 1, 65535, whole=True))
    password_env = smtp_s.text("password_env", "SMTP_PASSWORD")
    if "password" in smtp_s.data:
        raise smtp_s.fail(
            "password",
            "is not allowed: the password never lives in the config file. Put it in an environment "
            "variable and name that variable in email.smtp.password_env",
        )
    smtp = SmtpConfig(
        host=smtp_s.text("host", "localhost"),
        port=port,
        security=security,
        username=smtp_s.text("username", ""),
        password_env=password_env,
        timeout=float(_number(smtp_s, "timeout", 30, 0, 600, low_open=True)),
    )
    smtp_s.done()
    details_roles = section.texts("details_roles", ())
    max_attempts = int(_number(section, "max_attempts", 5, 1, 100, whole=True))
    mark_every = int(_number(section, "mark_every", 20, 1, 1000, whole=True))
    config = EmailConfig(
        transport=transport,
        outbox_dir=_resolve(base, section.text("outbox_dir", "outbox")),
        sender=sender,
        reporter_domains=domains,
        smtp=smtp,
        details_roles=details_roles,
        max_attempts=max_attempts,
        mark_every=mark_every,
    )
    section.done()
    return config


def _clock(section: _Section, key: str, default: str) -> time:
    value = section.text(key, default, allowed="a 24-hour time like '08:30'")
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise section.fail(key, f"is {value!r}; allowed: a 24-hour time like '08:30'")
    return time(int(match[1]), int(match[2]))


def _duration(section: _Section, key: str, default: str, *, minimum: timedelta = timedelta(seconds=1),
              maximum: timedelta = timedelta(days=1), why_minimum: str = "") -> timedelta:
    """A duration like "90s" within [minimum, maximum]; the message names the key and the range."""
    value = section.text(key, default, allowed="like '90s', '2m', '1h'")
    match = DURATION_PATTERN.match(value)
    if not match:
        raise section.fail(key, f"is {value!r}; allowed: a whole number and a unit, like '90s', '2m', '1h'")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match[2]]
    amount = int(match[1])
    duration = timedelta(**{unit: amount}) if amount <= 10**6 else maximum + timedelta(seconds=1)
    if not minimum <= duration <= maximum:
        lowest = "0s" if not minimum else _spoken(minimum)
        raise section.fail(key, f"is {value!r}; allowed: from {lowest} to {_spoken(maximum)}{why_minimum}")
    return duration


def _lease(section: _Section, worker: WorkerConfig, backend: str) -> WorkerConfig:
    """``lease`` (on/off) and ``lease_seconds``: a lease must outlast a sync's time budget (plus the
    email in flight and the last mark), or a second host could start while the first still sends."""
    lease = section.get("lease", bool, False, allowed="true or false")
    budget = int(worker.time_budget.total_seconds())
    seconds = section.get("lease_seconds", int, budget + 120, allowed="a whole number of seconds")
    if not budget + 60 <= seconds <= MAX_LEASE_SECONDS:
        raise section.fail("lease_seconds", f"is {seconds}; allowed: {budget + 60} (worker.time_budget plus a minute, "
                           f"so a lease outlasts a sync) to {MAX_LEASE_SECONDS}")
    if lease and backend != "google":
        raise section.fail("lease", "is true but sheet.backend is not \"google\": the lease is for two hosts on one "
                           "Google sheet; a local workbook is kept to one sync at a time by its lock file. "
                           "Set lease = false")
    return _replace(worker, lease=lease, lease_for=timedelta(seconds=seconds))


def _spoken(duration: timedelta) -> str:
    """A duration as config spells it: 90s, 61m, 2h, 7d."""
    seconds = int(duration.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _number(section: _Section, key: str, default: float, low: float, high: float, *,
            whole: bool = False, low_open: bool = False) -> float:
    """A finite number within its range (TOML allows nan and inf; neither is a timeout)."""
    value = section.get(key, int if whole else (int, float), default)
    too_low = value <= low if low_open else value < low
    if math.isnan(value) or too_low or value > high:
        lowest = f"more than {low:g}" if low_open else f"{low:g}"
        raise section.fail(key, f"is {value!r}; allowed: {lowest} to {high:g}")
    return value


def _date(section: _Section, key: str, text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise section.fail(
            key, f"has {text!r}; allowed: dates like '2026-12-18' or ranges like '2026-12-18..2027-02-02'"
        ) from None


def _calendar(section: _Section) -> CalendarConfig:
    days = section.texts("school_days", ("Mon", "Tue", "Wed", "Thu", "Fri"))
    school_days = set()
    names = {name.casefold(): i for i, name in enumerate(WEEKDAYS)}
    names.update({name.casefold(): i for i, name in enumerate(WEEKDAY_NAMES)})
    for day in days:
        if day.casefold() not in names:
            raise section.fail("school_days", f"has {day!r}; allowed: " + ", ".join(WEEKDAYS) + " (or full names)")
        school_days.add(names[day.casefold()])
    if not school_days:
        raise section.fail("school_days", "is empty: list at least one day, e.g. ['Mon', 'Tue']")
    starts = _clock(section, "day_starts", "08:30")
    ends = _clock(section, "day_ends", "16:30")
    if ends <= starts:
        raise section.fail("day_ends", f"({ends:%H:%M}) must be later than day_starts ({starts:%H:%M})")
    closed = []
    for item in section.texts("closed", ()):
        first, _, last = item.partition("..")
        start = _date(section, "closed", first)
        if _ and not last.strip():
            raise section.fail("closed", f"has {item!r}: a range needs an end date, like '2026-12-18..2027-02-02'")
        end = _date(section, "closed", last) if last else start
        if end < start:
            raise section.fail("closed", f"has {item!r}: the range ends before it starts")
        closed.append((start, end))
    config = CalendarConfig(frozenset(school_days), starts, ends, tuple(closed))
    section.done()
    return config


def _form(section: _Section) -> tuple[FormField, ...]:
    """Shipped form mapping, with question titles and options overridable per field."""
    shipped = _shipped("form.toml")["fields"]
    known = {item["field"]: item for item in shipped}
    questions = section.section("questions")
    options = section.section("options")
    fields = []
    for item in shipped:
        name = item["field"]
        title = questions.text(name, item["question"])
        if not title:
            raise questions.fail(name, "is empty: give the question's exact title as it appears in the form")
        opts = options.texts(name, tuple(item.get("options", ())))
        fields.append(FormField(name, title, item.get("kind", "text"), tuple(opts)))
    for where in (questions, options):
        unknown = sorted(set(where.data) - set(known))
        if unknown:
            raise where.fail(unknown[0], "is not a form field; known fields: " + ", ".join(known))
    questions.done()
    options.done()
    section.done()
    return tuple(fields)


def _triage(
    section: _Section, form: tuple[FormField, ...]
) -> tuple[tuple[TriageRule, ...], str, tuple[str, ...]]:
    priorities = tuple(PRIORITY_ORDER)
    default_priority = section.choice("default_priority", priorities, "Normal")
    default_notify = section.texts("default_notify", ("pastoral_lead",))
    fields = {f.field for f in form}
    options = {f.field: f.options for f in form}
    rules = []
    raw_rules = section.get("rules", list, [])
    for number, raw_rule in enumerate(raw_rules, start=1):
        rule_s = _Section(section.file, f"triage.rules[{number}]", raw_rule)
        name = rule_s.text("name")
        priority = rule_s.get("priority", str, None)
        if priority is not None and priority not in priorities:
            raise rule_s.fail("priority", f"is {priority!r}; allowed: " + ", ".join(priorities))
        any_of_s = rule_s.section("any_of")
        any_of = []
        for field_name in list(any_of_s.data):
            if field_name not in fields:
                raise any_of_s.fail(field_name, "is not a form field; known: " + ", ".join(sorted(fields)))
            answers = any_of_s.texts(field_name)
            for answer in answers:
                if answer != "*" and answer not in options[field_name]:
                    allowed = ", ".join(repr(o) for o in options[field_name]) or "'*' (any answer) for a text field"
                    raise any_of_s.fail(field_name, f"has {answer!r}, which is not an answer the form offers; "
                                                    f"allowed: {allowed}, or '*' for any answer")
            any_of.append((field_name, answers))
        any_of_s.done()
        patterns = rule_s.texts("text_patterns", ())
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as error:
                raise rule_s.fail(
                    "text_patterns", f"has {pattern!r}, not a valid regular expression: {error}"
                ) from None
        text_fields = rule_s.texts("text_fields", ())
        for field_name in text_fields:
            if field_name not in fields:
                raise rule_s.fail("text_fields", f"names {field_name!r}, not a form field")
        if not any_of and not patterns:
            raise rule_s.fail("any_of", "is empty and there are no text_patterns: the rule could never match")
        rules.append(
            TriageRule(
                name=name,
                priority=priority,
                notify=rule_s.texts("notify", ()),
                any_of=tuple(any_of),
                text_patterns=patterns,
                text_fields=text_fields,
                flags=rule_s.texts("flags", ()),
            )
        )
        rule_s.done()
    section.done()
    return tuple(rules), default_priority, default_notify


def _checklist(section: _Section, rules: tuple[TriageRule, ...]) -> tuple[StepTemplate, ...]:
    from .schoolclock import parse_due_rule

    flags = {flag for rule in rules for flag in rule.flags}
    steps = []
    seen: set[str] = set()
    for number, raw_step in enumerate(section.get("steps", list), start=1):
        step_s = _Section(section.file, f"checklist.steps[{number}]", raw_step)
        step_id = step_s.text("id")
        if step_id in seen:
            raise step_s.fail("id", f"{step_id!r} is used by two steps; ids must be unique")
        seen.add(step_id)
        due_s = step_s.section("due")
        due = {}
        for priority in PRIORITY_ORDER:
            rule = due_s.text(priority, allowed="like '1h', 'end of day', '2 school days'")
            try:
                kind, amount = parse_due_rule(rule)
            except ValueError as error:
                raise due_s.fail(priority, str(error)) from None
            if amount > DUE_LIMITS.get(kind, math.inf):
                limit = f"{DUE_LIMITS[kind]:g} {kind.replace('_', ' ')}"
                raise due_s.fail(priority, f"is {rule!r}; allowed: at most {limit}")
            due[priority] = rule
        due_s.done()
        when = step_s.text("when", "")
        if when and when not in flags:
            raise step_s.fail("when", f"is {when!r}, a flag no triage rule sets; flags set: {sorted(flags)}")
        steps.append(
            StepTemplate(
                id=step_id,
                title=step_s.text("title"),
                role=step_s.text("role"),
                guidance=" ".join(step_s.text("guidance", "").split()),
                due=due,
                when=when,
                required=step_s.get("required", bool, True),
            )
        )
        step_s.done()
    if not steps:
        raise section.fail("steps", "is empty: the checklist needs at least one step")
    section.done()
    return tuple(steps)


def _check_roles(config: Config) -> None:
    """Every role a rule, step or setting names must have contacts (SPEC §4)."""
    needed: dict[str, str] = {}
    for rule in config.triage:
        for role in rule.notify:
            needed.setdefault(role, f"triage rule {rule.name!r}")
    for role in config.default_notify:
        needed.setdefault(role, "triage.default_notify")
    for step in config.checklist:
        needed.setdefault(step.role, f"checklist step {step.id!r}")
    for role in config.escalate_to:
        needed.setdefault(role, "worker.escalate_to")
    for role in config.digest_to:
        needed.setdefault(role, "worker.digest_to")
    for role, used_by in needed.items():
        if not config.contacts.get(role):
            raise ConfigError(
                f"{config.path}: contacts.{role} is missing or empty, but {used_by} uses that role. "
                f"Add it under [contacts], e.g. {role} = [\"someone@school.example\"]"
            )
    for role in config.email.details_roles:
        if role not in config.contacts:
            raise ConfigError(
                f"{config.path}: email.details_roles names {role!r}, which is not a role in [contacts]"
            )
