"""Email rendering: Jinja templates in, a ready-to-send EmailMessage out.

Emails about online-safety incidents carry the minimum: the caller decides what
goes into the context (``case["details"]`` is None unless the recipient's role
may see names and narrative), and the templates show details only when present.
Values from the form are only ever *data* in the context, never template source,
and are autoescaped in HTML. Subjects and headers are flattened to one line so a
hostile answer cannot inject headers.
"""

from __future__ import annotations

import email.policy
import hashlib
import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2

from .errors import TemplateError

log = logging.getLogger(__name__)

EVENTS = ("new_case", "acknowledgement", "overdue", "escalation", "digest", "priority_changed",
          "admin_failing", "admin_recovered")

SUBJECT_MAX = 200
# Python's header folder mangles a subject starting with "[" at the default 78 columns
# ("Subject:\r\n [URGENT] …"); RFC 5322 allows 998, and subjects are capped at SUBJECT_MAX.
MESSAGE_POLICY = email.policy.default.clone(max_line_length=998)
FALLBACK_DOMAIN = "digital-incidents.invalid"
_FIX = "fix the template or restore it from the product"
_DOMAIN_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def message_id_for(notification_id: str, sender: str) -> str:
    """A Message-ID derived only from the notification, so a resend after a crash
    carries the same ID and mail clients/servers can spot the duplicate."""
    digest = hashlib.sha256(notification_id.encode("utf-8")).hexdigest()[:32]
    address = parseaddr(sender)[1] or sender
    domain = address.rpartition("@")[2].strip().lower() if "@" in address else ""
    if not _DOMAIN_RE.match(domain) or ".." in domain:
        domain = FALLBACK_DOMAIN
    return f"<{digest}@{domain}>"


def clean_header(value: str, limit: int | None = None) -> str:
    """One line, no control characters: a form answer with CR/LF must not become a
    header of its own. ``limit`` caps the length (ending with an ellipsis)."""
    chars = []
    for char in str(value):
        category = unicodedata.category(char)
        if category in ("Cc", "Zl", "Zp") or char in "\u0085\u200b\ufeff":
            chars.append(" ")
        elif category == "Cf" and char not in "\u200d":
            continue  # bidi overrides and other invisible formatting
        else:
            chars.append(char)
    text = " ".join("".join(chars).split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


class Mailer:
    """Renders the per-event templates and wraps them into a multipart message."""

    def __init__(self, templates_dir: Path, sender: str) -> None:
        templates_dir = Path(templates_dir)
        if not templates_dir.is_dir():
            raise TemplateError(
                f"{templates_dir}: email templates folder not found — restore the templates/ "
                "folder from the product or fix templates_dir in config.toml"
            )
        self.templates_dir = templates_dir
        self.sender = sender
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates_dir)),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html", "htm"), disabled_extensions=(),
                default_for_string=False, default=False,
            ),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    # -- rendering ---------------------------------------------------------------

    def _where(self, name: str) -> str:
        return str(self.templates_dir / name)

    def _render_one(self, name: str, context: Mapping[str, Any]) -> str:
        try:
            template = self.env.get_template(name)
            return template.render(dict(context))
        except jinja2.TemplateNotFound as exc:
            missing = exc.name or name
            raise TemplateError(
                f"{self._where(str(missing))}: template is missing — {_FIX}"
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            where = self._where(exc.name or name)
            raise TemplateError(
                f"{where}: syntax error on line {exc.lineno}: {exc.message} — {_FIX}"
            ) from None
        except Exception as exc:  # any render failure is a template problem
            where, line = self._locate(exc.__traceback__, name)
            at = f" on line {line}" if line else ""
            what = str(exc) or type(exc).__name__
            if isinstance(exc, jinja2.UndefinedError):
                what = f"unknown variable ({what})"
            raise TemplateError(f"{where}{at}: {what} — {_FIX}") from None

    def _locate(self, tb: TracebackType | None, name: str) -> tuple[str, int | None]:
        """The innermost template file and line in a render traceback (Jinja rewrites
        frames to point at template source), so the message names the right file."""
        root = str(self.templates_dir.resolve())
        found: tuple[str, int | None] = (self._where(name), None)
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename
            try:
                resolved = str(Path(filename).resolve())
            except (OSError, ValueError):
                resolved = filename
            if resolved.startswith(root):
                found = (self._where(Path(resolved).relative_to(root).as_posix()), tb.tb_lineno)
            tb = tb.tb_next
        return found

    def render(self, event: str, context: Mapping[str, Any]) -> RenderedEmail:
        """Render ``<event>.subject.txt``, ``<event>.txt`` and ``<event>.html``."""
        if not re.fullmatch(r"[a-z][a-z0-9_]*", event or ""):
            raise TemplateError(f"unknown email event {event!r} — expected one of {EVENTS}")
        subject = clean_header(self._render_one(f"{event}.subject.txt", context), SUBJECT_MAX)
        text = self._render_one(f"{event}.txt", context)
        html = self._render_one(f"{event}.html", context)
        return RenderedEmail(subject=subject, text=text, html=html)

    # -- message -----------------------------------------------------------------

    def build(
        self,
        notification_id: str,
        to: str,
        rendered: RenderedEmail,
        *,
        date: datetime | None = None,
    ) -> EmailMessage:
        """multipart/alternative (text first, HTML preferred) with a deterministic
        Message-ID; every header value is flattened to one line."""
        message = EmailMessage(policy=MESSAGE_POLICY)
        message["From"] = clean_header(self.sender)
        message["To"] = clean_header(to)
        message["Subject"] = clean_header(rendered.subject, SUBJECT_MAX)
        message["Date"] = format_datetime(date or datetime.now(UTC))
        message["Message-ID"] = message_id_for(notification_id, self.sender)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(rendered.text, subtype="plain", charset="utf-8")
        message.add_alternative(rendered.html, subtype="html", charset="utf-8")
        return message

    # -- self-check --------------------------------------------------------------

    def check(self, samples: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """Render every event with its sample context (``workflow.samples``); one problem line
        per failure, so `check` can report every broken template at once."""
        problems: list[str] = []
        for event in EVENTS:
            context = samples[event]
            try:
                rendered = self.render(event, context)
            except TemplateError as exc:
                problems.append(str(exc))
                continue
            if not rendered.subject:
                problems.append(f"{self._where(event + '.subject.txt')}: renders an empty "
                                f"subject — {_FIX}")
            for leak in _detail_values(context):
                if leak in rendered.subject:
                    problems.append(
                        f"{self._where(event + '.subject.txt')}: the subject contains case "
                        f"details ({leak[:40]!r}); subjects must never carry names or "
                        f"narrative — {_FIX}"
                    )
                    break
        return problems


def _detail_values(context: Mapping[str, Any]) -> list[str]:
    case = context.get("case") or {}
    details = case.get("details") if isinstance(case, Mapping) else None
    if not details:
        return []
    return [str(value) for value in details.values() if value and len(str(value)) >= 8]
