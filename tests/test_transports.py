"""Transports against real parts: files on disk and a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from conftest import Recorder, free_port, start_smtp

from workflow.config import EmailConfig, SmtpConfig
from workflow.errors import ConfigError, TemporaryFailure
from workflow.mail import Mailer, message_id_for
from workflow.samples import SAMPLE_CONTEXTS
from workflow.transports import (
    Failure,
    OutboxTransport,
    Outgoing,
    SmtpTransport,
    Transport,
    make_transport,
    outbox_filename,
)

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
SENDER = "Digital incidents <incidents@kowhai.school.nz>"
USERNAME = "alerts"
PASSWORD = "s3cret-Pa55word"
BODY_MARKER = "photo of them is being passed around"  # from the new_case sample details

# The AUTH tests run without TLS on purpose (no certificates needed); aiosmtpd warns.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def make_outgoing(notification_id: str, to: str, event: str = "new_case") -> Outgoing:
    mailer = Mailer(TEMPLATES, SENDER)
    rendered = mailer.render(event, SAMPLE_CONTEXTS[event])
    return Outgoing(notification_id, mailer.build(notification_id, to, rendered))


def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USERNAME.encode()
        and auth_data.password == PASSWORD.encode()
    )
    # handled=False: let aiosmtpd send its "535 credentials invalid" reply on failure
    return AuthResult(success=ok, handled=False)


@dataclass
class Server:
    handler: Recorder
    port: int

    def config(self, **overrides: Any) -> SmtpConfig:
        base = SmtpConfig(host="127.0.0.1", port=self.port, security="none", timeout=5.0)
        return replace(base, **overrides)


def start(**smtp_kwargs: Any) -> tuple[Controller, Server]:
    running = start_smtp(**smtp_kwargs)
    return running.controller, Server(running.handler, running.port)


@pytest.fixture()
def server() -> Iterator[Server]:
    controller, srv = start()
    try:
        yield srv
    finally:
        controller.stop()


@pytest.fixture()
def auth_server() -> Iterator[Server]:
    controller, srv = start(authenticator=authenticator, auth_require_tls=False,
                            auth_required=True)
    try:
        yield srv
    finally:
        controller.stop()


# -- SMTP ------------------------------------------------------------------------------


def test_smtp_delivers_batch_over_one_connection(server: Server) -> None:
    transport = SmtpTransport(server.config(), environ={})
    batch = [make_outgoing(f"n-{i}", f"leader{i}@kowhai.school.nz") for i in range(3)]
    report = transport.send(batch)
    assert report.sent == 3
    assert report.failures == {}
    assert server.handler.delivered_to == [f"leader{i}@kowhai.school.nz" for i in range(3)]
    assert len(set(server.handler.data_peers)) == 1      # all three on one connection
    assert len(set(server.handler.ehlo_peers)) == 1
    raw = server.handler.envelopes[0][2]
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed["Message-ID"] == message_id_for("n-0", SENDER)
    assert server.handler.envelopes[0][0] == "incidents@kowhai.school.nz"


def test_smtp_each_send_opens_its_own_connection(server: Server) -> None:
    transport = SmtpTransport(server.config(), environ={})
    report = transport.send([make_outgoing("a", "a@kowhai.school.nz")])
    assert report.sent == 1
    report = transport.send([make_outgoing("b", "b@kowhai.school.nz")])
    assert report.sent == 1
    assert len(set(server.handler.data_peers)) == 2


def test_smtp_empty_batch_does_not_connect(server: Server) -> None:
    transport = SmtpTransport(server.config(), environ={})
    report = transport.send([])
    assert report.sent == 0
    assert server.handler.ehlo_peers == []


def test_smtp_refused_recipient_is_permanent_and_others_continue(server: Server) -> None:
    server.handler.refuse["gone@kowhai.school.nz"] = "550 5.1.1 No such user here"
    transport = SmtpTransport(server.config(), environ={})
    batch = [
        make_outgoing("n-1", "one@kowhai.school.nz"),
        make_outgoing("n-2", "gone@kowhai.school.nz"),
        make_outgoing("n-3", "three@kowhai.school.nz"),
    ]
    report = transport.send(batch)
    assert report.sent == 2
    assert server.handler.delivered_to == ["one@kowhai.school.nz", "three@kowhai.school.nz"]
    assert set(report.failures) == {"n-2"}
    failure = report.failures["n-2"]
    assert failure.permanent is True
    assert "550" in failure.error and "No such user" in failure.error
    assert BODY_MARKER not in failure.error
    assert len(set(server.handler.data_peers)) == 1


def test_smtp_4xx_is_temporary_and_others_continue(server: Server) -> None:
    server.handler.refuse["busy@kowhai.school.nz"] = "451 4.3.0 Mailbox busy, try later"
    transport = SmtpTransport(server.config(), environ={})
    batch = [make_outgoing("n-1", "busy@kowhai.school.nz"),
             make_outgoing("n-2", "ok@kowhai.school.nz")]
    report = transport.send(batch)
    assert report.sent == 1
    assert report.failures == {
        "n-1": Failure(report.failures["n-1"].error, permanent=False)
    }
    assert "451" in report.failures["n-1"].error
    assert server.handler.delivered_to == ["ok@kowhai.school.nz"]


@dataclass
class Judging(Recorder):
    """Refuses at DATA (the message itself) or at MAIL FROM (the sender), by marker."""

    data_reply: dict[str, str] = field(default_factory=dict)    # recipient -> reply at DATA
    mail_reply: str = ""                                         # reply at MAIL FROM

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        for rcpt in envelope.rcpt_tos:
            if rcpt in self.data_reply:
                return self.data_reply[rcpt]
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture()
def judging() -> Iterator[Server]:
    handler = Judging()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Server(handler, port)
    finally:
        controller.stop()


def test_smtp_5xx_at_data_fails_that_message_for_good_and_4xx_waits(judging: Server) -> None:
    handler = judging.handler
    assert isinstance(handler, Judging)
    handler.data_reply.update({"spam@kowhai.school.nz": "554 5.7.1 content rejected",
                               "later@kowhai.school.nz": "451 4.3.0 try again later"})
    outcomes: list[tuple[str, Failure | None]] = []
    report = SmtpTransport(judging.config(), environ={}).send(
        [make_outgoing("n-1", "spam@kowhai.school.nz"), make_outgoing("n-2", "later@kowhai.school.nz"),
         make_outgoing("n-3", "ok@kowhai.school.nz")], lambda nid, failure: outcomes.append((nid, failure)))
    assert report.sent == 1 and handler.delivered_to == ["ok@kowhai.school.nz"]
    assert report.failures["n-1"] == Failure(
        "refused permanently by the mail server: 554 5.7.1 content rejected", permanent=True)
    assert report.failures["n-2"].permanent is False and "451" in report.failures["n-2"].error
    # each outcome was told as it happened, in order
    assert outcomes == [("n-1", report.failures["n-1"]), ("n-2", report.failures["n-2"]), ("n-3", None)]


@pytest.mark.parametrize("reply", ["550 5.7.1 sender not allowed", "530 5.7.0 authentication required",
                                   "451 4.7.1 sender greylisted"])
def test_smtp_a_refused_sender_is_the_setups_fault_everything_waits(judging: Server, reply: str) -> None:
    handler = judging.handler
    assert isinstance(handler, Judging)
    handler.mail_reply = reply
    report = SmtpTransport(judging.config(), environ={}).send(
        [make_outgoing("n-1", "a@kowhai.school.nz"), make_outgoing("n-2", "b@kowhai.school.nz")])
    assert report.sent == 0 and set(report.failures) == {"n-1", "n-2"}
    assert {f.permanent for f in report.failures.values()} == {False}
    assert reply.split()[0] in report.failures["n-2"].error and "sender" in report.failures["n-2"].error


def test_smtp_login_required_at_rcpt_is_not_the_addresss_fault(server: Server) -> None:
    server.handler.refuse["a@kowhai.school.nz"] = "530 5.7.0 Authentication required"
    report = SmtpTransport(server.config(), environ={}).send(
        [make_outgoing("n-1", "a@kowhai.school.nz"), make_outgoing("n-2", "b@kowhai.school.nz")])
    assert report.sent == 0 and {f.permanent for f in report.failures.values()} == {False}
    assert "asks for a login" in report.failures["n-1"].error


def test_smtp_each_send_reports_only_its_own_failures(server: Server) -> None:
    server.handler.refuse["gone@kowhai.school.nz"] = "550 No such user"
    transport = SmtpTransport(server.config(), environ={})
    first = transport.send([make_outgoing("n-1", "gone@kowhai.school.nz")])
    assert set(first.failures) == {"n-1"} and first.sent == 0
    second = transport.send([make_outgoing("n-2", "ok@kowhai.school.nz")])
    assert second.failures == {} and second.sent == 1
    assert set(first.failures) == {"n-1"}   # an earlier report is not changed by a later send


def test_smtp_connection_lost_fails_this_and_remaining(server: Server) -> None:
    server.handler.drop_on.add("drop@kowhai.school.nz")
    transport = SmtpTransport(server.config(), environ={})
    batch = [
        make_outgoing("n-1", "one@kowhai.school.nz"),
        make_outgoing("n-2", "drop@kowhai.school.nz"),
        make_outgoing("n-3", "three@kowhai.school.nz"),
    ]
    report = transport.send(batch)
    assert report.sent == 1
    assert set(report.failures) == {"n-2", "n-3"}
    for failure in report.failures.values():
        assert failure.permanent is False
        assert failure.error.startswith("mail server unreachable")
    assert server.handler.delivered_to == ["one@kowhai.school.nz"]


def test_smtp_server_down_fails_everything_temporarily() -> None:
    transport = SmtpTransport(SmtpConfig(host="127.0.0.1", port=free_port(), security="none",
                                         timeout=2.0), environ={})
    batch = [make_outgoing("n-1", "a@kowhai.school.nz"), make_outgoing("n-2", "b@x.nz")]
    report = transport.send(batch)
    assert report.sent == 0
    assert set(report.failures) == {"n-1", "n-2"}
    for failure in report.failures.values():
        assert failure.permanent is False
        assert failure.error.startswith("mail server unreachable: 127.0.0.1:")
    with pytest.raises(TemporaryFailure, match="check \\[email.smtp\\] host, port"):
        transport.check()


def test_smtp_timeout_fails_everything_temporarily() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)  # accepts TCP but never says hello
        port = silent.getsockname()[1]
        transport = SmtpTransport(SmtpConfig(host="127.0.0.1", port=port, security="none",
                                             timeout=0.3), environ={})
        report = transport.send([make_outgoing("n-1", "a@kowhai.school.nz"),
                                 make_outgoing("n-2", "b@kowhai.school.nz")])
        assert report.sent == 0
    assert {f.permanent for f in report.failures.values()} == {False}
    assert "unreachable" in report.failures["n-2"].error


def test_smtp_starttls_not_offered_is_temporary_with_hint(server: Server) -> None:
    transport = SmtpTransport(server.config(security="starttls"), environ={})
    report = transport.send([make_outgoing("n-1", "a@kowhai.school.nz")])
    assert report.sent == 0
    failure = report.failures["n-1"]
    assert failure.permanent is False and "STARTTLS" in failure.error
    assert server.handler.envelopes == []


def test_smtp_ssl_against_plain_server_fails_temporarily(server: Server) -> None:
    transport = SmtpTransport(server.config(security="ssl"), environ={})
    report = transport.send([make_outgoing("n-1", "a@kowhai.school.nz")])
    assert report.sent == 0
    failure = report.failures["n-1"]
    assert failure.permanent is False and "TLS" in failure.error


def test_smtp_auth_with_correct_password(auth_server: Server) -> None:
    transport = SmtpTransport(auth_server.config(username=USERNAME, password_env="MAIL_PW"),
                              environ={"MAIL_PW": PASSWORD})
    transport.check()
    report = transport.send([make_outgoing("n-1", "a@kowhai.school.nz"),
                             make_outgoing("n-2", "b@kowhai.school.nz")])
    assert report.sent == 2
    assert report.failures == {}
    assert auth_server.handler.delivered_to == ["a@kowhai.school.nz", "b@kowhai.school.nz"]


def test_smtp_auth_wrong_password_is_temporary_and_secret(
    auth_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-Secret-42"
    transport = SmtpTransport(auth_server.config(username=USERNAME, password_env="MAIL_PW"),
                              environ={"MAIL_PW": wrong})
    with caplog.at_level(logging.DEBUG, logger="workflow.transports"):
        report = transport.send([make_outgoing("n-1", "a@kowhai.school.nz"),
                                 make_outgoing("n-2", "b@kowhai.school.nz")])
        assert report.sent == 0
    assert set(report.failures) == {"n-1", "n-2"}
    for failure in report.failures.values():
        assert failure.permanent is False
        assert "MAIL_PW" in failure.error and "username" in failure.error
        assert wrong not in failure.error
    assert wrong not in caplog.text and "a@kowhai.school.nz" not in caplog.text
    assert auth_server.handler.envelopes == []
    with pytest.raises(ConfigError) as caught:
        transport.check()
    assert "MAIL_PW" in str(caught.value) and wrong not in str(caught.value)


def test_smtp_missing_password_env_is_config_error(auth_server: Server) -> None:
    transport = SmtpTransport(auth_server.config(username=USERNAME, password_env="MAIL_PW"),
                              environ={"OTHER": "x"})
    with pytest.raises(ConfigError, match="MAIL_PW"):
        transport.send([make_outgoing("n-1", "a@kowhai.school.nz")])
    with pytest.raises(ConfigError, match="MAIL_PW"):
        transport.check()
    assert auth_server.handler.ehlo_peers == []


def test_smtp_check_against_plain_server(server: Server) -> None:
    SmtpTransport(server.config(), environ={}).check()
    assert server.handler.envelopes == []


def test_smtp_unknown_security_is_config_error() -> None:
    with pytest.raises(ConfigError, match="security"):
        SmtpTransport(SmtpConfig(security="tls"), environ={})


# -- outbox ----------------------------------------------------------------------------


def test_outbox_writes_parseable_eml_files(tmp_path: Path) -> None:
    folder = tmp_path / "deep" / "outbox"
    transport = OutboxTransport(folder)
    batch = [make_outgoing("n-1", "a@kowhai.school.nz"),
             make_outgoing("n-2", "b@kowhai.school.nz", event="digest")]
    report = transport.send(batch)
    assert report.sent == 2
    assert report.failures == {}
    files = sorted(path.name for path in folder.iterdir())
    assert files == ["n-1.eml", "n-2.eml"]                    # no temp files left behind
    with (folder / "n-1.eml").open("rb") as handle:
        parsed = BytesParser(policy=policy.default).parse(handle)
    assert parsed["Message-ID"] == message_id_for("n-1", SENDER)
    assert parsed["To"] == "a@kowhai.school.nz"
    assert parsed.get_content_type() == "multipart/alternative"
    text = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert text is not None and "DI-2025-015" in text.get_content()
    assert html is not None and "<!DOCTYPE html>" in html.get_content()


def test_outbox_resend_overwrites_same_file(tmp_path: Path) -> None:
    transport = OutboxTransport(tmp_path)
    transport.send([make_outgoing("n-1", "a@kowhai.school.nz")])
    transport.send([make_outgoing("n-1", "a@kowhai.school.nz")])
    assert [path.name for path in tmp_path.iterdir()] == ["n-1.eml"]


def test_outbox_filenames_are_safe_and_distinct() -> None:
    names = {outbox_filename(nid) for nid in ("DI-1/new:lead", "DI-1 new lead", "../../etc")}
    assert len(names) == 3
    for name in names:
        assert name.endswith(".eml") and "/" not in name and not name.startswith(".")
    assert outbox_filename("DI-2025-014.new_case.principal") == "DI-2025-014.new_case.principal.eml"


def test_outbox_unwritable_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    transport = OutboxTransport(blocker / "outbox")
    report = transport.send([make_outgoing("n-1", "a@kowhai.school.nz")])
    assert report.sent == 0
    assert report.failures["n-1"].permanent is False
    with pytest.raises(ConfigError, match="outbox_dir"):
        transport.check()


def test_outbox_check_creates_folder(tmp_path: Path) -> None:
    OutboxTransport(tmp_path / "new").check()
    assert (tmp_path / "new").is_dir() and list((tmp_path / "new").iterdir()) == []


# -- factory -----------------------------------------------------------------------------


def email_config(**overrides: Any) -> EmailConfig:
    base = EmailConfig(transport="outbox", outbox_dir=Path("outbox"), sender=SENDER,
                       reporter_domains=("kowhai.school.nz",), smtp=SmtpConfig())
    return replace(base, **overrides)


def test_make_transport(tmp_path: Path) -> None:
    outbox = make_transport(email_config(), tmp_path)
    assert isinstance(outbox, OutboxTransport) and outbox.folder == tmp_path / "outbox"
    assert isinstance(outbox, Transport)
    absolute = make_transport(email_config(outbox_dir=tmp_path / "abs"), Path("/elsewhere"))
    assert isinstance(absolute, OutboxTransport) and absolute.folder == tmp_path / "abs"
    smtp = make_transport(email_config(transport="smtp"), tmp_path)
    assert isinstance(smtp, SmtpTransport) and isinstance(smtp, Transport)
    with pytest.raises(ConfigError, match="transport"):
        make_transport(email_config(transport="carrier-pigeon"), tmp_path)
