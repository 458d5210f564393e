"""Mail transports: hand built messages to an outbox folder or an SMTP server.

Like Django's mail backends, a transport takes a batch and reports per message:
``send()`` returns a ``SendReport`` — how many were delivered, and a short
``Failure`` for each of the rest — so one bad address never blocks the other alerts.
Each outcome is also handed to ``on_result`` as soon as it is known, so the caller can
record what went while the batch is still going (a crash then resends little).

Only a permanent refusal of *this* message — a 5xx for its recipient at RCPT, or a 5xx
for it at DATA (or a message that cannot be encoded at all) — is ``permanent``. Everything
else is transient and waits for a later run: connection errors, timeouts, 4xx replies, a
refused login, a refused sender, a full disk in the outbox. Only problems with the setup
itself (a missing password variable) raise. Errors and logs carry notification IDs, codes
and counts — never message bodies or passwords.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import os
import re
import smtplib
import ssl
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol, runtime_checkable

from .config import EmailConfig, SmtpConfig
from .errors import ConfigError, TemporaryFailure
from .model import Failure

log = logging.getLogger(__name__)

ERROR_MAX = 200


@dataclass(frozen=True)
class Outgoing:
    notification_id: str
    message: EmailMessage


ResultHook = Callable[[str, "Failure | None"], None]
"""Told each message's outcome as soon as it is known: (notification ID, None = delivered)."""


@dataclass
class SendReport:
    """What one ``send`` did: how many messages went, and why each of the others did not."""

    sent: int = 0
    failures: dict[str, Failure] = field(default_factory=dict)   # notification ID -> why
    on_result: ResultHook | None = None

    def delivered(self, notification_id: str) -> None:
        self.sent += 1
        if self.on_result is not None:
            self.on_result(notification_id, None)

    def failed(self, notification_id: str, failure: Failure) -> None:
        self.failures[notification_id] = failure
        if self.on_result is not None:
            self.on_result(notification_id, failure)


@runtime_checkable
class Transport(Protocol):
    def send(self, outgoing: Iterable[Outgoing], on_result: ResultHook | None = None) -> SendReport: ...

    def check(self) -> None: ...


def _short(text: object, secret: str = "") -> str:
    """One line, bounded, with the password (if any) masked — errors end up in the
    sheet and the logs."""
    value = " ".join(str(text).split())
    if secret:
        value = value.replace(secret, "***")
    if len(value) > ERROR_MAX:
        value = value[: ERROR_MAX - 1] + "…"
    return value


# -- outbox ---------------------------------------------------------------------------


def outbox_filename(notification_id: str) -> str:
    """A filesystem-safe, stable name: the same notification always overwrites the
    same file, and IDs that slug alike still get distinct names."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", notification_id).strip(".-")[:100]
    if slug != notification_id or not slug:
        digest = hashlib.sha256(notification_id.encode("utf-8")).hexdigest()[:10]
        slug = f"{slug}-{digest}" if slug else digest
    return f"{slug}.eml"


class OutboxTransport:
    """Writes each message as an .eml file — for trying the system out, or for a
    school whose mail is sent by another tool that picks the files up."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _ensure_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def _write(self, item: Outgoing) -> Path:
        target = self.folder / outbox_filename(item.notification_id)
        data = item.message.as_bytes(policy=item.message.policy.clone(linesep="\r\n"))
        fd, temp = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return target

    def send(self, outgoing: Iterable[Outgoing], on_result: ResultHook | None = None) -> SendReport:
        """Write each message; a file-system error (full disk, permissions) is transient."""
        report = SendReport(on_result=on_result)
        items = _nonempty(outgoing)
        if items is None:
            return report
        try:
            self._ensure_folder()
        except OSError as exc:
            error = _short(f"outbox folder {self.folder} cannot be created: "
                           f"{exc.strerror or exc}")
            for item in items:
                report.failed(item.notification_id, Failure(error, permanent=False))
            log.warning("outbox: %d messages not written: folder unavailable", len(report.failures))
            return report
        for item in items:
            try:
                self._write(item)
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                log.warning("outbox: notification %s not written: %s", item.notification_id, reason)
                report.failed(item.notification_id, Failure(
                    _short(f"could not write to outbox {self.folder}: {reason}"), permanent=False))
                continue
            except (ValueError, TypeError) as exc:  # the message itself cannot be encoded
                log.warning("outbox: notification %s cannot be written: %s", item.notification_id,
                            type(exc).__name__)
                report.failed(item.notification_id, Failure(
                    _short(f"message cannot be written: {type(exc).__name__}"), permanent=True))
                continue
            report.delivered(item.notification_id)
        log.info("outbox: wrote %d of %d messages", report.sent, report.sent + len(report.failures))
        return report

    def check(self) -> None:
        """Create the folder and prove a file can be written and replaced in it."""
        try:
            self._ensure_folder()
            fd, temp = tempfile.mkstemp(dir=self.folder, prefix=".check-", suffix=".tmp")
            os.close(fd)
            Path(temp).unlink()
        except OSError as exc:
            raise ConfigError(
                f"email outbox folder {self.folder} is not writable "
                f"({exc.strerror or exc}) — fix its permissions, or set [email] outbox_dir "
                "in config.toml to a folder this user can write to"
            ) from None


# -- SMTP -----------------------------------------------------------------------------


class _Unreachable(Exception):
    """The session cannot go on (connection failed or dropped, sender refused): every
    remaining message waits for the next run."""


class _AuthFailed(Exception):
    """The server refused the login (or cannot do AUTH on this connection)."""


SECURITY = ("starttls", "ssl", "none")
AUTH_CODES = (530, 535, 538)   # "authentication required / invalid": a setup problem, never the address
AUTH_MECHANISMS = ("CRAM-MD5", "PLAIN", "LOGIN")   # best first, as smtplib orders them


class SmtpTransport:
    """Sends a batch over one SMTP connection, classifying each message's outcome."""

    def __init__(self, config: SmtpConfig, environ: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        if config.security not in SECURITY:
            raise ConfigError(
                f"config.toml [email.smtp] security = {config.security!r} is not supported — "
                'use "starttls" (usually port 587), "ssl" (usually port 465) or "none"'
            )

    @property
    def _where(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    def _password(self) -> str:
        """The SMTP password comes from the environment, never the config file."""
        if not self.config.username:
            return ""
        name = self.config.password_env
        password = self.environ.get(name, "") if name else ""
        if not password:
            raise ConfigError(
                f"the SMTP password environment variable {name or '(none)'} is not set — "
                f"set {name or 'SMTP_PASSWORD'} for the worker, or change [email.smtp] "
                "password_env in config.toml (username is set, so a password is needed)"
            )
        return password

    def _connect(self, password: str) -> smtplib.SMTP:
        """Open, secure and log in; raises _Unreachable or _AuthFailed."""
        cfg = self.config
        smtp: smtplib.SMTP | None = None
        try:
            if cfg.security == "ssl":
                smtp = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            smtp.ehlo()
            if cfg.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise _Unreachable(
                        f"mail server {self._where} does not offer STARTTLS — check [email.smtp]"
                        ' port, or use security = "ssl" (port 465)'
                    )
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if cfg.username:
                self._login(smtp, password)
            return smtp
        except (_Unreachable, _AuthFailed):
            _close(smtp)
            raise
        except smtplib.SMTPException as exc:
            _close(smtp)
            if isinstance(exc, smtplib.SMTPResponseException):
                reason = f"{exc.smtp_code} {_decode(exc.smtp_error)}"
            else:
                reason = str(exc) or type(exc).__name__
            raise _Unreachable(
                f"mail server unreachable: {self._where} ({_short(reason, password)})"
            ) from None
        except ssl.SSLError as exc:
            _close(smtp)
            raise _Unreachable(
                f"mail server unreachable: TLS with {self._where} failed ({exc.reason or exc})"
                " — check [email.smtp] security and port"
            ) from None
        except OSError as exc:
            _close(smtp)
            raise _Unreachable(
                f"mail server unreachable: {self._where} ({_os_reason(exc)})"
            ) from None

    def _login(self, smtp: smtplib.SMTP, password: str) -> None:
        """Log in; a refusal is the admin's to fix, so say which settings to check."""
        cfg = self.config
        hint = (f"check [email.smtp] username and the password in the {cfg.password_env} "
                "environment variable")
        if not smtp.has_extn("auth"):
            raise _AuthFailed(
                f"mail server {self._where} does not accept a login on this connection"
                " — check [email.smtp] security (most servers need starttls or ssl)"
            )
        advertised = smtp.esmtp_features.get("auth", "").upper().split()
        mechanism = next((m for m in AUTH_MECHANISMS if m in advertised), None)
        if mechanism is None:
            raise _AuthFailed(
                f"mail server {self._where} offers no login method this worker supports "
                f"({' '.join(advertised) or 'none'}; supported: {', '.join(AUTH_MECHANISMS)})"
            )
        # One attempt with the best mechanism (smtplib.login would retry the same wrong
        # password with every mechanism, which can lock the account).
        smtp.user, smtp.password = cfg.username, password
        method = getattr(smtp, "auth_" + mechanism.lower().replace("-", "_"))
        try:
            code, reply = smtp.auth(mechanism, method, initial_response_ok=True)
            if code not in (235, 503):
                raise smtplib.SMTPAuthenticationError(code, reply)
        except smtplib.SMTPAuthenticationError as exc:
            raise _AuthFailed(
                f"mail server {self._where} rejected the login for {cfg.username!r} "
                f"({exc.smtp_code}) — {hint}"
            ) from None
        except UnicodeEncodeError:
            raise _AuthFailed(
                f"the username or the password in {cfg.password_env} has non-ASCII characters,"
                " which SMTP login cannot send — change the password or the username"
            ) from None
        except smtplib.SMTPServerDisconnected:
            raise
        except smtplib.SMTPException as exc:
            raise _AuthFailed(
                f"mail server {self._where} login failed ({_short(exc, password)}) — {hint}"
            ) from None

    def send(self, outgoing: Iterable[Outgoing], on_result: ResultHook | None = None) -> SendReport:
        report = SendReport(on_result=on_result)
        items = _nonempty(outgoing)
        if items is None:
            return report
        password = self._password()
        try:
            smtp = self._connect(password)
        except (_Unreachable, _AuthFailed) as exc:
            # An outage or a refused login is the admin's to fix, never the alert's fault:
            # every message stays queued, and no attempt is spent.
            error = _short(exc, password)
            for item in items:
                report.failed(item.notification_id, Failure(error, permanent=False))
            log.warning("smtp: %d messages not sent: %s", len(report.failures), error)
            return report
        healthy = True
        try:
            healthy = self._send_all(smtp, items, password, report)
        finally:
            _close(smtp, polite=healthy)
        log.info("smtp: sent %d of %d messages", report.sent, report.sent + len(report.failures))
        return report

    def _send_all(self, smtp: smtplib.SMTP, items: Iterator[Outgoing], password: str, report: SendReport) -> bool:
        """Send on one session until done or the connection is lost; False when it was lost."""
        for item in items:
            try:
                failure = self._send_one(smtp, item, password)
            except _Unreachable as exc:
                error = _short(exc, password)
                before = len(report.failures)
                log.warning("smtp: session ended: %s", error)
                for rest in itertools.chain([item], items):
                    report.failed(rest.notification_id, Failure(error, permanent=False))
                log.warning("smtp: %d messages not sent", len(report.failures) - before)
                return False
            if failure is None:
                report.delivered(item.notification_id)
            else:
                log.warning("smtp: notification %s not sent (%s): %s",
                            item.notification_id,
                            "permanent" if failure.permanent else "will retry",
                            failure.error)
                report.failed(item.notification_id, failure)
        return True

    def _send_one(self, smtp: smtplib.SMTP, item: Outgoing, password: str) -> Failure | None:
        """Deliver one message on the open session; None = delivered."""
        try:
            refused = smtp.send_message(item.message)
        except smtplib.SMTPRecipientsRefused as exc:
            if not exc.recipients:
                return Failure("message has no recipients (empty To)", permanent=True)
            replies = list(exc.recipients.values())
            return self._refusal("recipient", [code for code, _ in replies],
                                 "; ".join(f"{code} {_decode(text)}" for code, text in replies[:2]), password)
        except smtplib.SMTPSenderRefused as exc:
            if exc.smtp_code == 552:  # MAIL FROM with SIZE: this message is too big, for good
                return self._refusal("message", [552], f"552 {_decode(exc.smtp_error)}", password)
            raise _Unreachable(
                f"mail server {self._where} refused the sender {exc.sender!r} "
                f"({exc.smtp_code} {_decode(exc.smtp_error)}) — check [email] sender and "
                "[email.smtp] username; the emails stay queued"
            ) from None
        except smtplib.SMTPDataError as exc:
            return self._refusal("message", [exc.smtp_code], f"{exc.smtp_code} {_decode(exc.smtp_error)}",
                                 password)
        except smtplib.SMTPResponseException as exc:
            # any other coded reply (HELO, RSET, …) is about the session, not this message
            raise _Unreachable(
                f"mail server unreachable: {self._where} answered "
                f"{exc.smtp_code} {_decode(exc.smtp_error)}"
            ) from None
        except smtplib.SMTPServerDisconnected as exc:
            raise _Unreachable(
                f"mail server unreachable: connection to {self._where} lost ({exc or 'closed'})"
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            # e.g. a non-ASCII address and a server without SMTPUTF8: a retry won't help
            return Failure(_short(f"mail server cannot take this message: {exc}", password),
                           permanent=True)
        except (OSError, smtplib.SMTPException) as exc:
            reason = _os_reason(exc) if isinstance(exc, OSError) else str(exc)
            raise _Unreachable(
                f"mail server unreachable: connection to {self._where} lost ({reason})"
            ) from None
        except (ValueError, TypeError, UnicodeError) as exc:
            # e.g. no recipients, or a header the server cannot take: resending won't help
            return Failure(_short(f"message cannot be sent, for good: {exc}", password), permanent=True)
        if refused:
            # Accepted for some recipients; a retry would duplicate it for the others.
            log.warning("smtp: notification %s accepted but %d recipients refused",
                        item.notification_id, len(refused))
        return None

    def _refusal(self, what: str, codes: list[int], details: str, password: str) -> Failure:
        """A coded refusal of this recipient or this message: 5xx is permanent (the email is
        marked failed); 4xx is temporary (it stays queued). A 421 ends the session, and a
        5xx that asks for a login (530/535/538) is the setup's fault, not the address's."""
        if 421 in codes:
            raise _Unreachable(f"mail server unreachable: {self._where} closed the session ({details})")
        if any(code in AUTH_CODES for code in codes):
            raise _Unreachable(
                f"mail server {self._where} asks for a login ({details}) — check [email.smtp] "
                "username and the password in its environment variable; the emails stay queued"
            )
        if codes and all(500 <= code < 600 for code in codes):
            return Failure(_short(f"refused permanently by the mail server: {details}", password),
                           permanent=True)
        return Failure(_short(f"{what} refused for now by the mail server: {details}", password),
                       permanent=False)

    def check(self) -> None:
        """Connect and log in once, so `check` finds bad settings before a real alert."""
        password = self._password()
        try:
            smtp = self._connect(password)
        except _AuthFailed as exc:
            raise ConfigError(_short(exc, password)) from None
        except _Unreachable as exc:
            raise TemporaryFailure(
                _short(f"{exc} — check [email.smtp] host, port and security in config.toml, "
                       "or try again later", password)
            ) from None
        _close(smtp, polite=True)


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within the timeout ({exc})" if str(exc) else "timed out"
    return str(exc.strerror or exc or type(exc).__name__)


def _decode(text: bytes | str) -> str:
    if isinstance(text, bytes):
        return text.decode("utf-8", "replace")
    return str(text)


def _close(smtp: smtplib.SMTP | None, *, polite: bool = False) -> None:
    """QUIT when the session is healthy, otherwise just drop the socket."""
    if smtp is None:
        return
    if polite:
        try:
            smtp.quit()
            return
        except (smtplib.SMTPException, OSError):
            pass
    with contextlib.suppress(OSError):
        smtp.close()


def _nonempty(outgoing: Iterable[Outgoing]) -> Iterator[Outgoing] | None:
    """The messages as an iterator, or None when there are none (then nothing connects).

    Senders pass a generator, so each message is built just before it goes out and a
    large batch never sits in memory at once.
    """
    items = iter(outgoing)
    first = next(items, None)
    return None if first is None else itertools.chain([first], items)


def make_transport(config: EmailConfig, base: Path) -> Transport:
    """Pick the transport named in config; a relative outbox is under ``base``
    (the config file's folder), so it doesn't depend on the current directory."""
    if config.transport == "outbox":
        folder = Path(config.outbox_dir)
        if not folder.is_absolute():
            folder = Path(base) / folder
        return OutboxTransport(folder)
    if config.transport == "smtp":
        return SmtpTransport(config.smtp)
    raise ConfigError(
        f"config.toml [email] transport = {config.transport!r} is not supported — "
        'use "outbox" (write .eml files) or "smtp"'
    )
