"""``digital-incidents check``: config, templates, sheet access and layout, mail login — each with its fix."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from .config import Config
from .errors import DigitalIncidentsError
from .health import spoken
from .intake import missing_questions
from .layout import layout_problems
from .mail import Mailer
from .model import Snapshot
from .notifications import ADMIN_ROLE
from .plan import plan_sync
from .samples import SAMPLE_CONTEXTS
from .schema import TIMESTAMP
from .storage import open_storage
from .transports import make_transport


def run_checks(config: Config) -> Iterator[tuple[bool | None, str]]:
    """Each check as (ok, line); ok is None for a warning that is not the admin's to fix."""
    yield True, f"config {config.path} is valid ({len(config.triage)} triage rules, {len(config.checklist)} steps)"
    yield True, admin_alerts(config)

    try:
        problems = Mailer(config.templates_dir, config.email.sender).check(SAMPLE_CONTEXTS)
    except DigitalIncidentsError as error:
        problems = [str(error)]
    if problems:
        for problem in problems:
            yield False, f"template: {problem}"
    else:
        yield True, f"templates in {config.templates_dir} render with sample data"

    storage = open_storage(config)
    try:
        snapshot = storage.load()
    except DigitalIncidentsError as error:
        yield False, f"sheet: {error}"
    else:
        yield True, f"sheet {storage.describe()} is readable"
        responses = snapshot.responses
        missing = missing_questions(responses, config.form)
        if not responses.has(TIMESTAMP):
            missing.insert(0, TIMESTAMP)
        if missing:
            present = ", ".join(repr(h) for h in responses.header if str(h).strip()) or "(none)"
            for question in missing:
                yield False, (f"tab {responses.title!r} has no column {question!r}: if the question was renamed, "
                              f"put its title under [form.questions] in {config.path}. Columns there: {present}")
        else:
            yield True, f"tab {responses.title!r} has every mapped question ({len(config.form)})"
        layout = layout_problems(snapshot)
        for problem in layout:
            yield False, f"{problem}: run `digital-incidents -c {config.path} setup`"
        if not layout:
            yield True, "worker tabs and headers are intact"
            yield from leaders_attention(snapshot, config)

    transport = make_transport(config.email, config.path.parent)
    try:
        transport.check()
    except DigitalIncidentsError as error:
        yield False, f"email: {error}"
    else:
        what = (f"SMTP login to {config.email.smtp.host}:{config.email.smtp.port} works"
                if config.email.transport == "smtp" else f"outbox folder {config.email.outbox_dir} is writable")
        yield True, what


def admin_alerts(config: Config) -> str:
    """Who hears when syncs keep failing; without an admin role nobody does (a note, not a problem)."""
    admins = config.contacts.get(ADMIN_ROLE, ())
    if not admins:
        return (f"note: [contacts] has no {ADMIN_ROLE} role, so nobody is emailed when syncs keep failing; "
                f'add {ADMIN_ROLE} = ["it@school.example"] to be told (or watch `status --health`)')
    return (f"contacts.{ADMIN_ROLE} ({len(admins)} address(es)) is emailed when syncs have failed for "
            f"{spoken(config.worker.alert_admin_after)}, and again when they recover")


def leaders_attention(snapshot: Snapshot, config: Config) -> Iterator[tuple[bool | None, str]]:
    """Entries leaders typed that the worker cannot understand: warnings for leaders, not problems."""
    try:
        items = plan_sync(snapshot, config, datetime.now(UTC), digest=False).digest_context["attention"]
    except DigitalIncidentsError:
        return    # the sheet's own problem is reported above
    for item in items:
        yield None, (f"needs a leader's attention: {item['case_id']}, {item['where']}, "
                     f"column {item['column']}: {item['problem']}")
    if not items:
        yield True, "every entry leaders typed in the sheet is understood"
