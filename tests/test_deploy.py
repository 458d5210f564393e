"""deploy/: the systemd units and the cron line run the installed command, as an unprivileged user, in time."""

from __future__ import annotations

import configparser
import re
import shlex
from datetime import timedelta
from pathlib import Path

import pytest

from workflow.config import load_config

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
COMMAND = "/opt/digital-incidents/venv/bin/digital-incidents"
STATE = "/var/lib/digital-incidents"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True, empty_lines_in_values=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    parser.read_string((DEPLOY / name).read_text(encoding="utf-8"))
    return parser


def systemd_seconds(text: str) -> float:
    """systemd time spans such as 5min, 90s, 1h 30min, 300."""
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "hr": 3600}
    total = 0.0
    for number, unit_name in re.findall(r"(\d+)\s*([a-z]*)", text):
        total += int(number) * units[unit_name]
    return total


def default_time_budget() -> timedelta:
    """The sync's budget ([worker] time_budget) as the example config sets it."""
    return load_config(ROOT / "config.example.toml").worker.time_budget


def test_the_service_runs_the_installed_command_as_an_unprivileged_user() -> None:
    service = unit("digital-incidents-sync.service")["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == COMMAND and argv[-1] == "sync" and argv[1] == "-c"
    assert service["User"] == "digital-incidents" and service["Type"] == "oneshot"
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == STATE and service["CapabilityBoundingSet"] == ""


def test_stopping_waits_at_least_the_sync_time_budget() -> None:
    service = unit("digital-incidents-sync.service")["Service"]
    budget = default_time_budget().total_seconds()
    assert systemd_seconds(service["TimeoutStopSec"]) >= budget
    assert systemd_seconds(service["TimeoutStartSec"]) > budget


def test_the_timer_starts_the_service_every_two_minutes() -> None:
    timer = unit("digital-incidents-sync.timer")
    assert timer["Timer"]["Unit"] == "digital-incidents-sync.service"
    assert timer["Timer"]["OnCalendar"] == "*:0/2"
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_the_cron_line_is_the_same_command_without_flock() -> None:
    lines = [line for line in (DEPLOY / "digital-incidents.cron").read_text(encoding="utf-8").splitlines()
             if line and not line.startswith("#") and "=" not in line.split()[0]]
    assert len(lines) == 1
    fields = lines[0].split(None, 6)
    assert fields[:6] == ["*/2", "*", "*", "*", "*", "digital-incidents"]
    exec_start = unit("digital-incidents-sync.service")["Service"]["ExecStart"]
    assert exec_start in fields[6] and "flock" not in fields[6]


@pytest.mark.parametrize("key", ["lock_file", "outbox_dir", "path"])
def test_the_readme_puts_everything_written_in_the_writable_folder(key: str) -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    match = re.search(rf'(?m)^{key} = "([^"]+)"', readme)
    assert match and match[1].startswith(STATE + "/")
