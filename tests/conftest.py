"""Shared fixtures: configs in tmp folders, a real SMTP server on loopback, the Sheets emulator."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import time, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sheets_emulator import SheetsEmulator

from workflow.config import (
    BoardConfig,
    CalendarConfig,
    Config,
    EmailConfig,
    SchoolConfig,
    SheetConfig,
    SmtpConfig,
    WorkerConfig,
    load_config,
)

ROOT = Path(__file__).resolve().parent.parent
NZ = ZoneInfo("Pacific/Auckland")
EXAMPLE_CONFIG = ROOT / "config.example.toml"


def free_port() -> int:
    """aiosmtpd 1.4.6 cannot start on port 0, so borrow a free port from the OS."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Recorder:
    """aiosmtpd handler: keeps envelopes and which client connection sent them."""

    refuse: dict[str, str] = field(default_factory=dict)   # address -> reply
    drop_on: set[str] = field(default_factory=set)          # close the connection at RCPT
    envelopes: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    data_peers: list[Any] = field(default_factory=list)
    ehlo_peers: list[Any] = field(default_factory=list)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        self.ehlo_peers.append(session.peer)
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.drop_on:
            server.transport.close()
            return "250 OK"
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.data_peers.append(session.peer)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos),
                               bytes(envelope.original_content or envelope.content)))
        return "250 Message accepted for delivery"

    @property
    def delivered_to(self) -> list[str]:
        return [rcpt for _, rcpts, _ in self.envelopes for rcpt in rcpts]

    def messages(self) -> list[EmailMessage]:
        return [BytesParser(policy=policy.default).parsebytes(raw) for _, _, raw in self.envelopes]  # type: ignore[misc]


@dataclass
class SmtpServer:
    handler: Recorder
    port: int
    controller: Controller

    def stop(self) -> None:
        self.controller.stop()


def start_smtp(**smtp_kwargs: Any) -> SmtpServer:
    handler = Recorder()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **smtp_kwargs)
    controller.start()
    return SmtpServer(handler, port, controller)


@pytest.fixture(scope="module")
def emulator() -> Iterator[SheetsEmulator]:
    """The local Sheets API emulator, one per test module (tests give each school its own spreadsheet)."""
    with SheetsEmulator() as emu:
        yield emu


@pytest.fixture()
def smtp_server() -> Iterator[SmtpServer]:
    server = start_smtp()
    try:
        yield server
    finally:
        server.stop()


def config_text(
    folder: Path,
    *,
    backend: str = "local",
    transport: str = "outbox",
    smtp_port: int | None = None,
    spreadsheet_id: str = "",
    extra: str = "",
    replace: dict[str, str] | None = None,
) -> str:
    """The shipped example config, pointed at ``folder`` (so tests also prove the example is valid)."""
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    subs = {
        "backend": f'"{backend}"',
        "transport": f'"{transport}"',
        "spreadsheet_id": f'"{spreadsheet_id}"',
        "closed": '["2026-12-18..2027-02-02"]',
    }
    if smtp_port is not None:
        subs.update(host='"127.0.0.1"', port=str(smtp_port), security='"none"')
    subs.update(replace or {})
    for key, value in subs.items():
        text = re.sub(rf"(?m)^{re.escape(key)} = [^#\n]*", f"{key} = {value}  ", text, count=1)
    return text + "\n" + extra


@pytest.fixture()
def make_config(tmp_path: Path) -> Callable[..., Config]:
    """Write a config.toml into tmp_path (from the example) and load it."""

    def make(**kwargs: Any) -> Config:
        path = tmp_path / "config.toml"
        path.write_text(config_text(tmp_path, **kwargs), encoding="utf-8")
        return load_config(path)

    return make


@pytest.fixture()
def config(make_config: Callable[..., Config]) -> Config:
    return make_config()


def storage_config(folder: Path, *, backend: str = "local", workbook: Path | str = "incidents.xlsx",
                   spreadsheet_id: str = "", responses_tab: str = "Form Responses 1", credentials: str = "",
                   contacts: dict[str, tuple[str, ...]] | None = None, owners: tuple[str, ...] = (),
                   locale: str = "en_NZ") -> Config:
    """A minimal Config for backend tests: only what storage reads is filled in."""
    return Config(
        path=folder / "config.toml",
        school=SchoolConfig("Test School", NZ, "https://example.invalid/sheet", locale),
        sheet=SheetConfig(backend, Path(workbook), spreadsheet_id, responses_tab, credentials),
        email=EmailConfig("outbox", folder / "outbox", "worker@example.invalid", (), SmtpConfig()),
        contacts=contacts or {},
        calendar=CalendarConfig(frozenset(range(5)), time(8, 30), time(15, 30), ()),
        worker=WorkerConfig(timedelta(minutes=5), time(7, 30)),
        form=(),
        triage=(),
        default_priority="Normal",
        default_notify=(),
        checklist=(),
        templates_dir=folder / "templates",
        board=BoardConfig(owners=owners),
    )
