"""Tests for workflow.config: loading config.toml and rejecting every bad key or value.

Every failure must be a ConfigError whose message starts with the config file's
path and names the offending key; nothing may escape as a raw traceback.
Configs are the shipped config.example.toml, edited line by line in a tmp folder.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from datetime import date, time, timedelta
from pathlib import Path

import pytest

from workflow.config import CONFIG_ENV, Config, example_config_path, load_config, resolve_config_path
from workflow.errors import ConfigError
from workflow.triage import parse_answers, triage

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = (ROOT / "config.example.toml").read_text(encoding="utf-8")
SHIPPED_FORM = tomllib.loads((ROOT / "workflow" / "data" / "form.toml").read_text(encoding="utf-8"))["fields"]
SHIPPED_TITLES = {item["field"]: item["question"] for item in SHIPPED_FORM}

MakeConfig = Callable[..., Config]


# -- helpers ------------------------------------------------------------------------


def edit(old: str, new: str, text: str = EXAMPLE) -> str:
    """Replace one exact, unique piece of the example (so a stale edit fails loudly)."""
    assert text.count(old) == 1, f"expected exactly one {old!r} in the example config"
    return text.replace(old, new)


def add_to(header: str, lines: str, text: str = EXAMPLE) -> str:
    """Insert lines right after a section header line such as ``[email.smtp]``."""
    pattern = re.compile(rf"(?m)^{re.escape(header)}[^\n]*\n")
    new, count = pattern.subn(lambda m: m.group(0) + lines + "\n", text, count=1)
    assert count == 1, f"no {header} line in the example config"
    return new


def load_text(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def error_for(tmp_path: Path, text: str) -> str:
    """Load the text, expect a ConfigError, check it names the file; return its message."""
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'config.toml'}: "), message
    return message


def make_error(tmp_path: Path, make_config: MakeConfig, **kwargs: object) -> str:
    with pytest.raises(ConfigError) as info:
        make_config(**kwargs)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'config.toml'}: "), message
    return message


VALID_RULE = """
[triage]
[[triage.rules]]
name = "custom rule"
priority = "High"
notify = ["principal"]
any_of = { affected = ["Staff"] }
flags = ["content"]
"""

VALID_STEP = """
[checklist]
[[checklist.steps]]
id = "only"
title = "The only step"
role = "principal"
due = { Urgent = "1h", High = "end of day", Normal = "2 school days" }
"""


# -- the example config ---------------------------------------------------------------


def test_example_config_loads_with_documented_values(tmp_path: Path, config: Config) -> None:
    assert config.path == tmp_path / "config.toml"
    assert config.school.name == "Example School"
    assert config.school.timezone.key == "Pacific/Auckland"
    assert config.school.sheet_url.startswith("https://docs.google.com/spreadsheets/d/")
    assert config.sheet.backend == "local"
    assert config.sheet.path == tmp_path / "incidents.xlsx"
    assert config.sheet.responses_tab == "Form Responses 1"
    assert config.email.transport == "outbox"
    assert config.email.outbox_dir == tmp_path / "outbox"
    assert config.email.sender == "Digital incidents <incidents@school.example>"
    assert config.email.reporter_domains == ("school.example",)
    assert config.email.details_roles == ()
    assert config.email.max_attempts == 5
    smtp = config.email.smtp
    assert (smtp.host, smtp.port, smtp.security, smtp.username, smtp.password_env, smtp.timeout) == (
        "localhost", 587, "starttls", "", "SMTP_PASSWORD", 30.0,
    )
    assert config.contacts == {
        "principal": ("principal@school.example",),
        "pastoral_lead": ("dean@school.example",),
        "counsellor": ("counsellor@school.example",),
        "it_lead": ("it@school.example",),
    }
    assert config.calendar.school_days == frozenset({0, 1, 2, 3, 4})
    assert config.calendar.day_starts == time(8, 30)
    assert config.calendar.day_ends == time(16, 30)
    assert config.calendar.closed == ((date(2026, 12, 18), date(2027, 2, 2)),)
    assert config.worker.interval == timedelta(minutes=2)
    assert config.worker.digest_at == time(7, 30)
    assert config.escalate_to == ("principal",)
    assert config.digest_to == ("principal", "pastoral_lead")
    assert [f.field for f in config.form] == list(SHIPPED_TITLES)
    assert {f.field: f.question for f in config.form} == SHIPPED_TITLES
    assert config.default_priority == "Normal"
    assert config.default_notify == ("pastoral_lead",)
    assert len(config.triage) == 12
    assert [s.id for s in config.checklist] == [
        "safety", "facts", "support", "record", "legality", "must-dos", "contact", "communicate", "review",
    ]
    assert config.templates_dir == ROOT / "templates"


def test_the_example_config_ships_inside_the_package_unchanged() -> None:
    """The top-level config.example.toml (SPEC) has a twin in workflow/data that travels in the wheel."""
    shipped = example_config_path()
    assert shipped == ROOT / "workflow" / "data" / "config.example.toml"
    assert shipped.read_text(encoding="utf-8") == EXAMPLE, (
        f"{ROOT / 'config.example.toml'} and {shipped} differ: edit one, then copy it over the other"
    )


def test_missing_file_is_a_config_error_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: config file not found")
    assert "config.example.toml" in message


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    message = error_for(tmp_path, "[school\nname = 1\n")
    assert "not valid TOML" in message


def test_resolve_config_path_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, "/etc/from-env.toml")
    assert resolve_config_path("given.toml") == Path("given.toml")
    assert resolve_config_path(None) == Path("/etc/from-env.toml")
    monkeypatch.delenv(CONFIG_ENV)
    assert resolve_config_path(None) == Path("config.toml")


# -- unknown keys, in every section ------------------------------------------------------

UNKNOWN_KEY_CASES = {
    "top level": ('colour = "blue"\n' + EXAMPLE, "colour"),
    "school": (add_to("[school]", 'colour = "blue"'), "school.colour"),
    "sheet": (add_to("[sheet]", 'colour = "blue"'), "sheet.colour"),
    "email": (add_to("[email]", 'colour = "blue"'), "email.colour"),
    "email.smtp": (add_to("[email.smtp]", 'colour = "blue"'), "email.smtp.colour"),
    "calendar": (add_to("[calendar]", 'colour = "blue"'), "calendar.colour"),
    "worker": (add_to("[worker]", 'colour = "blue"'), "worker.colour"),
    "form": (edit("\n[form.questions]\n", '\n[form]\ncolour = "blue"\n\n[form.questions]\n'), "form.colour"),
    "triage": (EXAMPLE + '\n[triage]\ncolour = "blue"\n', "triage.colour"),
    "triage rule": (EXAMPLE + VALID_RULE + 'colour = "blue"\n', "triage.rules[1].colour"),
    "checklist": (EXAMPLE + '\n[checklist]\ncolour = "blue"\n', "checklist.colour"),
    "checklist step": (EXAMPLE + VALID_STEP + 'colour = "blue"\n', "checklist.steps[1].colour"),
    "checklist step due": (
        EXAMPLE + edit('Normal = "2 school days" }', 'Normal = "2 school days", Critical = "1h" }', VALID_STEP),
        "checklist.steps[1].due.Critical",
    ),
}


@pytest.mark.parametrize("text, key", list(UNKNOWN_KEY_CASES.values()), ids=list(UNKNOWN_KEY_CASES))
def test_unknown_key_names_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    message = error_for(tmp_path, text)
    assert f"{tmp_path / 'config.toml'}: {key} is not a known key" in message
    assert "known keys here:" in message


def test_unknown_key_message_lists_the_known_keys(tmp_path: Path) -> None:
    message = error_for(tmp_path, add_to("[school]", 'colour = "blue"'))
    assert message.endswith("known keys here: locale, name, sheet_url, timezone")


def test_invalid_role_name_in_contacts(tmp_path: Path) -> None:
    message = error_for(tmp_path, add_to("[contacts]", 'It_Lead = ["it@school.example"]'))
    assert "contacts.It_Lead is not a valid role name" in message


def test_section_that_is_not_a_table(tmp_path: Path) -> None:
    text = edit("[school]\n", "school = 5\n[school_x]\n")
    message = error_for(tmp_path, text)
    assert "school must be" in message and "not 5" in message


# -- wrong types -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("port", '"25"', "email.smtp.port must be whole number, not '25'"),
        ("port", "25.0", "email.smtp.port must be whole number, not 25.0"),
        ("port", "true", "email.smtp.port must be whole number, not True"),
        ("port", "70000", "email.smtp.port is 70000; allowed: 1 to 65535"),
        ("port", "0", "email.smtp.port is 0; allowed: 1 to 65535"),
        ("timeout", '"30"', "email.smtp.timeout must be"),
        ("max_attempts", "0", "email.max_attempts is 0; allowed: 1 to 100"),
        ("max_attempts", '"5"', "email.max_attempts must be whole number"),
        ("reporter_domains", '"school.example"', "email.reporter_domains must be list"),
        ("principal", '"principal@school.example"', "contacts.principal must be list"),
        ("principal", "[5]", "contacts.principal must be a list of text values; 5 is not text"),
        ("name", "5", "school.name must be text, not 5"),
        ("school_days", '"Mon"', "calendar.school_days must be list"),
        ("interval", "120", "worker.interval must be text, not 120"),
    ],
)
def test_wrong_types(tmp_path: Path, make_config: MakeConfig, key: str, value: str, expected: str) -> None:
    message = make_error(tmp_path, make_config, replace={key: value})
    assert expected in message


def test_ssl_defaults_to_port_465(tmp_path: Path) -> None:
    text = edit("port = 587\n", "")
    text = edit('security = "starttls"', 'security = "ssl"', text)
    config = load_text(tmp_path, text)
    assert (config.email.smtp.security, config.email.smtp.port) == ("ssl", 465)


# -- choices: timezone, backend, transport, security -------------------------------------


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd", "/etc/localtime"])
def test_bad_timezone(tmp_path: Path, make_config: MakeConfig, zone: str) -> None:
    message = make_error(tmp_path, make_config, replace={"timezone": f'"{zone}"'})
    assert f"school.timezone is {zone!r}, which is not an IANA time zone name" in message


def test_timezone_naming_a_tz_folder_is_a_config_error(tmp_path: Path, make_config: MakeConfig) -> None:
    message = make_error(tmp_path, make_config, replace={"timezone": '"Pacific"'})
    assert "school.timezone is 'Pacific'" in message


def test_bad_backend(tmp_path: Path, make_config: MakeConfig) -> None:
    message = make_error(tmp_path, make_config, backend="excel")
    assert "sheet.backend is 'excel'; allowed: 'local', 'google'" in message


def test_bad_transport(tmp_path: Path, make_config: MakeConfig) -> None:
    message = make_error(tmp_path, make_config, transport="pigeon")
    assert "email.transport is 'pigeon'; allowed: 'outbox', 'smtp'" in message


def test_bad_security(tmp_path: Path, make_config: MakeConfig) -> None:
    message = make_error(tmp_path, make_config, replace={"security": '"tls"'})
    assert "email.smtp.security is 'tls'; allowed: 'starttls', 'ssl', 'none'" in message


def test_smtp_transport_loads(make_config: MakeConfig) -> None:
    config = make_config(transport="smtp", smtp_port=2525)
    assert config.email.transport == "smtp"
    assert (config.email.smtp.host, config.email.smtp.port, config.email.smtp.security) == ("127.0.0.1", 2525, "none")


def test_google_backend_needs_spreadsheet_id(tmp_path: Path, make_config: MakeConfig) -> None:
    message = make_error(tmp_path, make_config, backend="google")
    assert "sheet.spreadsheet_id is empty but backend is \"google\"" in message


def test_google_backend_with_id_resolves_credentials(tmp_path: Path, make_config: MakeConfig) -> None:
    config = make_config(backend="google", spreadsheet_id="abc123", replace={"credentials": '"key.json"'})
    assert config.sheet.backend == "google"
    assert config.sheet.spreadsheet_id == "abc123"
    assert config.sheet.credentials == str(tmp_path / "key.json")


def test_empty_responses_tab(tmp_path: Path, make_config: MakeConfig) -> None:
    message = make_error(tmp_path, make_config, replace={"responses_tab": '"  "'})
    assert "sheet.responses_tab is empty" in message


# -- email addresses ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["not-an-email", "someone@school", "two@@school.example", "a b@school.example", ""]
)
def test_bad_contact_address(tmp_path: Path, make_config: MakeConfig, value: str) -> None:
    message = make_error(tmp_path, make_config, replace={"counsellor": f'["{value}"]'})
    assert f"contacts.counsellor has {value!r}, which is not a valid email address" in message


def test_contact_address_with_newline_is_rejected(tmp_path: Path) -> None:
    text = edit('counsellor = ["counsellor@school.example"]',
                r'counsellor = ["counsellor@school.example\nBcc: x@evil.example"]')
    message = error_for(tmp_path, text)
    assert "contacts.counsellor has" in message and "not a valid email address" in message


def test_contact_with_display_name_is_accepted(make_config: MakeConfig) -> None:
    config = make_config(replace={"counsellor": '["Ms Counsellor <counsellor@school.example>", "b@school.example"]'})
    assert config.contacts["counsellor"] == ("Ms Counsellor <counsellor@school.example>", "b@school.example")


def test_two_addresses_in_one_contact_entry_are_rejected(tmp_path: Path, make_config: MakeConfig) -> None:
    message = make_error(
        tmp_path, make_config, replace={"counsellor": '["counsellor@school.example, other@evil.example"]'}
    )
    assert "contacts.counsellor has" in message


@pytest.mark.parametrize("value", ["not an address", "Digital incidents <incidents@school>", "@school.example"])
def test_bad_sender(tmp_path: Path, make_config: MakeConfig, value: str) -> None:
    message = make_error(tmp_path, make_config, replace={"sender": f'"{value}"'})
    assert f"email.sender has {value!r}, which is not a valid email address" in message


def test_password_in_config_is_refused_without_echoing_it(tmp_path: Path) -> None:
    message = error_for(tmp_path, add_to("[email.smtp]", 'password = "hunter2-secret"'))
    assert "email.smtp.password is not allowed" in message
    assert "email.smtp.password_env" in message
    assert "hunter2-secret" not in message


# -- roles ------------------------------------------------------------------------------


def test_role_used_by_a_rule_must_have_contacts(tmp_path: Path) -> None:
    message = error_for(tmp_path, edit('it_lead = ["it@school.example"]\n', ""))
    assert "contacts.it_lead is missing or empty" in message
    assert "triage rule 'privacy breach'" in message


def test_role_with_empty_list_counts_as_missing(tmp_path: Path, make_config: MakeConfig) -> None:
    message = make_error(tmp_path, make_config, replace={"counsellor": "[]"})
    assert "contacts.counsellor is missing or empty" in message


def test_escalate_to_role_must_have_contacts(tmp_path: Path, make_config: MakeConfig) -> None:
    message = make_error(tmp_path, make_config, replace={"escalate_to": '["board"]'})
    assert "contacts.board is missing or empty, but worker.escalate_to uses that role" in message


def test_details_roles_must_be_contacts(tmp_path: Path, make_config: MakeConfig) -> None:
    message = make_error(tmp_path, make_config, replace={"details_roles": '["board"]'})
    assert "email.details_roles names 'board', which is not a role in [contacts]" in message


def test_details_roles_loads(make_config: MakeConfig) -> None:
    assert make_config(replace={"details_roles": '["counsellor"]'}).email.details_roles == ("counsellor",)


# -- calendar ---------------------------------------------------------------------------


def test_unknown_school_day(tmp_path: Path, make_config: MakeConfig) -> None:
    message = make_error(tmp_path, make_config, replace={"school_days": '["Mon", "Funday"]'})
    assert "calendar.school_days has 'Funday'; allowed: Mon, Tue, Wed, Thu, Fri, Sat, Sun" in message


def test_no_school_days(tmp_path: Path, make_config: MakeConfig) -> None:
    message = make_error(tmp_path, make_config, replace={"school_days": "[]"})
    assert "calendar.school_days is empty" in message


def test_school_day_spellings(make_config: MakeConfig) -> None:
    config = make_config(replace={"school_days": '["Monday", "tue", "WEDNESDAY", "Sat"]'})
    assert config.calendar.school_days == frozenset({0, 1, 2, 5})


def test_school_day_word_that_only_starts_like_a_day_is_rejected(tmp_path: Path, make_config: MakeConfig) -> None:
    message = make_error(tmp_path, make_config, replace={"school_days": '["Monkey"]'})
    assert "calendar.school_days has 'Monkey'" in message


@pytest.mark.parametrize("ends", ["08:00", "08:30"])
def test_day_ends_must_be_after_day_starts(tmp_path: Path, make_config: MakeConfig, ends: str) -> None:
    message = make_error(tmp_path, make_config, replace={"day_ends": f'"{ends}"'})
    assert f"calendar.day_ends ({ends}) must be later than day_starts (08:30)" in message


@pytest.mark.parametrize("value", ["8.30", "24:00", "08:60", "noon"])
def test_bad_clock_time(tmp_path: Path, make_config: MakeConfig, value: str) -> None:
    message = make_error(tmp_path, make_config, replace={"day_starts": f'"{value}"'})
    assert f"calendar.day_starts is {value!r}; allowed: a 24-hour time" in message


def test_bad_closed_date(tmp_path: Path, make_config: MakeConfig) -> None:
    message = make_error(tmp_path, make_config, replace={"closed": '["2026-13-01"]'})
    assert "calendar.closed has '2026-13-01'" in message


def test_bad_date_inside_closed_range(tmp_path: Path, make_config: MakeConfig) -> None:
    message = make_error(tmp_path, make_config, replace={"closed": '["2026-12-18..2027-02-30"]'})
    assert "calendar.closed has '2027-02-30'" in message


def test_reversed_closed_range(tmp_path: Path, make_config: MakeConfig) -> None:
    message = make_error(tmp_path, make_config, replace={"closed": '["2027-02-02..2026-12-18"]'})
    assert "calendar.closed has '2027-02-02..2026-12-18': the range ends before it starts" in message


def test_closed_dates_and_ranges(make_config: MakeConfig) -> None:
    config = make_config(replace={"closed": '["2026-04-03", "2026-04-06..2026-04-17"]'})
    assert config.calendar.closed == (
        (date(2026, 4, 3), date(2026, 4, 3)),
        (date(2026, 4, 6), date(2026, 4, 17)),
    )


# -- worker ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["2 minutes", "often", "-5m", "1.5h"])
def test_bad_interval(tmp_path: Path, make_config: MakeConfig, value: str) -> None:
    message = make_error(tmp_path, make_config, replace={"interval": f'"{value}"'})
    assert f"worker.interval is {value!r}; allowed: a whole number and a unit" in message


@pytest.mark.parametrize(
    "value, expected",
    [("90s", timedelta(seconds=90)), ("5m", timedelta(minutes=5)), ("1h", timedelta(hours=1)),
     (" 2 m ", timedelta(minutes=2))],
)
def test_good_interval(make_config: MakeConfig, value: str, expected: timedelta) -> None:
    assert make_config(replace={"interval": f'"{value}"'}).worker.interval == expected


# -- ranges: every number and duration, with the key and the range in the message ----------


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("timeout", "0", "email.smtp.timeout is 0; allowed: more than 0 to 600"),
        ("timeout", "-1", "email.smtp.timeout is -1; allowed: more than 0 to 600"),
        ("timeout", "nan", "email.smtp.timeout is nan; allowed: more than 0 to 600"),
        ("timeout", "inf", "email.smtp.timeout is inf; allowed: more than 0 to 600"),
        ("timeout", "-inf", "email.smtp.timeout is -inf; allowed"),
        ("timeout", "601", "email.smtp.timeout is 601; allowed: more than 0 to 600"),
        ("port", "-25", "email.smtp.port is -25; allowed: 1 to 65535"),
        ("max_attempts", "-3", "email.max_attempts is -3; allowed: 1 to 100"),
        ("max_attempts", "1000", "email.max_attempts is 1000; allowed: 1 to 100"),
        ("max_attempts", "nan", "email.max_attempts must be whole number, not nan"),
        ("retry_seconds", "nan", "sheet.retry_seconds is nan; allowed: more than 0, at most 600"),
        ("retry_seconds", "inf", "sheet.retry_seconds is inf; allowed: more than 0, at most 600"),
        ("retry_seconds", "0", "sheet.retry_seconds is 0; allowed: more than 0, at most 600"),
        ("interval", '"0m"', "worker.interval is '0m'; allowed: from 10s to 1d"),
        ("interval", '"5s"', "worker.interval is '5s'; allowed: from 10s to 1d"),
        ("interval", '"2d"', "worker.interval is '2d'; allowed: from 10s to 1d"),
        ("interval", '"99999999999999999999d"', "worker.interval is '99999999999999999999d'; allowed"),
        ("lock_wait", '"2h"', "worker.lock_wait is '2h'; allowed: from 0s to 1h"),
        ("lock_wait", '"-1s"', "worker.lock_wait is '-1s'; allowed: a whole number and a unit"),
        ("health_max_age", '"15m"', "worker.health_max_age is '15m'; allowed: from 61m to 7d (an idle sync"),
        ("health_max_age", '"8d"', "worker.health_max_age is '8d'; allowed: from 61m to 7d"),
        ("alert_admin_after", '"4m"', "worker.alert_admin_after is '4m'; allowed: from 5m to 7d"),
        ("alert_admin_after", '"8d"', "worker.alert_admin_after is '8d'; allowed: from 5m to 7d"),
        ("alert_admin_after", '"-5m"', "worker.alert_admin_after is '-5m'; allowed: a whole number and a unit"),
        ("Urgent", '"99999 hours"', "checklist.steps[1].due.Urgent is '99999 hours'; allowed: at most 8784 hours"),
    ],
)
def test_numbers_out_of_range(tmp_path: Path, make_config: MakeConfig, key: str, value: str, expected: str) -> None:
    text = config_for_range(tmp_path, key, value)
    message = error_for(tmp_path, text)
    assert expected in message, message


def config_for_range(tmp_path: Path, key: str, value: str) -> str:
    if key == "Urgent":   # a checklist override: the first step's Urgent deadline
        steps = tomllib.loads((ROOT / "workflow" / "data" / "checklist.toml").read_text(encoding="utf-8"))["steps"]
        first = steps[0]
        due = ", ".join(f'{p} = "{r}"' for p, r in first["due"].items() if p != "Urgent")
        return EXAMPLE + (f'\n[[checklist.steps]]\nid = "{first["id"]}"\ntitle = "t"\nrole = "{first["role"]}"\n'
                          f"due = {{ Urgent = {value}, {due} }}\n")
    return re.sub(rf"(?m)^{key} = [^#\n]*", f"{key} = {value}  ", EXAMPLE, count=1)


@pytest.mark.parametrize(
    "key, value, attribute, expected",
    [
        ("timeout", "0.5", ("email", "smtp", "timeout"), 0.5),
        ("port", "65535", ("email", "smtp", "port"), 65535),
        ("max_attempts", "1", ("email", "max_attempts"), 1),
        ("interval", '"10s"', ("worker", "interval"), timedelta(seconds=10)),
        ("lock_wait", '"0s"', ("worker", "lock_wait"), timedelta(0)),
        ("lock_wait", '"90s"', ("worker", "lock_wait"), timedelta(seconds=90)),
        ("health_max_age", '"2h"', ("worker", "health_max_age"), timedelta(hours=2)),
        ("alert_admin_after", '"5m"', ("worker", "alert_admin_after"), timedelta(minutes=5)),
        ("alert_admin_after", '"7d"', ("worker", "alert_admin_after"), timedelta(days=7)),
    ],
)
def test_numbers_at_the_edges_of_their_range(tmp_path: Path, key: str, value: str,
                                             attribute: tuple[str, ...], expected: object) -> None:
    found: object = load_text(tmp_path, config_for_range(tmp_path, key, value))
    for name in attribute:
        found = getattr(found, name)
    assert found == expected


def test_health_bound_outlasts_the_idle_heartbeat() -> None:
    from workflow.config import MIN_HEALTH_AGE
    from workflow.phases.heartbeat import HEARTBEAT_EVERY

    assert MIN_HEALTH_AGE > HEARTBEAT_EVERY


@pytest.mark.parametrize("command", ["sync", "check", "status"])
def test_a_bad_timeout_stops_every_command_with_one_line(tmp_path: Path, command: str) -> None:
    from click.testing import CliRunner

    from cli import cli

    path = tmp_path / "config.toml"
    path.write_text(config_for_range(tmp_path, "timeout", "nan"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["-c", str(path), command])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "email.smtp.timeout is nan" in result.output and "Traceback" not in result.output


def test_bad_digest_at(tmp_path: Path, make_config: MakeConfig) -> None:
    message = make_error(tmp_path, make_config, replace={"digest_at": '"25:00"'})
    assert "worker.digest_at is '25:00'" in message


# -- form -----------------------------------------------------------------------------


def test_renaming_one_question_changes_only_that_field(make_config: MakeConfig) -> None:
    config = make_config(replace={"what_happened": '"Tell us what happened"'})
    titles = {f.field: f.question for f in config.form}
    assert titles["what_happened"] == "Tell us what happened"
    assert {k: v for k, v in titles.items() if k != "what_happened"} == {
        k: v for k, v in SHIPPED_TITLES.items() if k != "what_happened"
    }
    renamed = config.field_for("what_happened")
    assert renamed is not None and renamed.kind == "text"
    incident_types = config.field_for("incident_types")
    assert incident_types is not None and incident_types.kind == "checkboxes"
    assert "Adult contact, grooming or sextortion" in incident_types.options


def test_field_left_out_of_form_questions_keeps_shipped_title(tmp_path: Path) -> None:
    config = load_text(tmp_path, edit('what_happened = "What happened?"\n', ""))
    field = config.field_for("what_happened")
    assert field is not None and field.question == "What happened?"


def test_unknown_form_field(tmp_path: Path, make_config: MakeConfig) -> None:
    message = make_error(tmp_path, make_config, extra='favourite_colour = "What is your favourite colour?"\n')
    assert "form.questions.favourite_colour is not a form field; known fields: incident_types" in message


def test_empty_question_title(tmp_path: Path, make_config: MakeConfig) -> None:
    message = make_error(tmp_path, make_config, replace={"involved": '"  "'})
    assert "form.questions.involved is empty" in message


def test_form_options_override(make_config: MakeConfig) -> None:
    config = make_config(extra='[form.options]\nlocation = ["On site", "Off site"]\n')
    location = config.field_for("location")
    assert location is not None and location.options == ("On site", "Off site")
    affected = config.field_for("affected")
    assert affected is not None and affected.options == ("Students", "Staff", "Students and staff")


def test_unknown_field_in_form_options(tmp_path: Path, make_config: MakeConfig) -> None:
    message = make_error(tmp_path, make_config, extra='[form.options]\nmood = ["Happy"]\n')
    assert "form.options.mood is not a form field" in message


# -- triage overrides --------------------------------------------------------------------


def test_triage_override_replaces_the_shipped_rules(tmp_path: Path) -> None:
    config = load_text(tmp_path, EXAMPLE + VALID_RULE)
    assert [rule.name for rule in config.triage] == ["custom rule"]
    assert config.default_priority == "Normal"
    assert config.default_notify == ("pastoral_lead",)
    staff = triage(parse_answers({"affected": "Staff"}, config.form), config)
    assert (staff.priority, staff.roles, staff.flags) == ("High", ("principal",), frozenset({"content"}))
    risk = triage(parse_answers({"immediate_risk": "Yes"}, config.form), config)
    assert risk.priority == "Normal"


def test_triage_rule_with_bad_regex(tmp_path: Path) -> None:
    rule = edit('any_of = { affected = ["Staff"] }',
                'text_fields = ["what_happened"]\ntext_patterns = ["(unclosed"]', VALID_RULE)
    message = error_for(tmp_path, EXAMPLE + rule)
    assert "triage.rules[1].text_patterns has '(unclosed', not a valid regular expression" in message


def test_triage_rule_with_unknown_priority(tmp_path: Path) -> None:
    message = error_for(tmp_path, EXAMPLE + edit('priority = "High"', 'priority = "Critical"', VALID_RULE))
    assert "triage.rules[1].priority is 'Critical'; allowed: Normal, High, Urgent" in message


def test_triage_rule_with_unknown_field(tmp_path: Path) -> None:
    message = error_for(tmp_path, EXAMPLE + edit("{ affected =", "{ mood =", VALID_RULE))
    assert "triage.rules[1].any_of.mood is not a form field" in message


def test_triage_rule_with_unknown_text_field(tmp_path: Path) -> None:
    rule = edit('any_of = { affected = ["Staff"] }', 'text_fields = ["diary"]\ntext_patterns = ["x"]', VALID_RULE)
    message = error_for(tmp_path, EXAMPLE + rule)
    assert "triage.rules[1].text_fields names 'diary', not a form field" in message


def test_triage_rule_that_could_never_match(tmp_path: Path) -> None:
    message = error_for(tmp_path, EXAMPLE + edit('any_of = { affected = ["Staff"] }\n', "", VALID_RULE))
    assert "triage.rules[1].any_of is empty and there are no text_patterns" in message


def test_triage_rule_without_name(tmp_path: Path) -> None:
    message = error_for(tmp_path, EXAMPLE + edit('name = "custom rule"\n', "", VALID_RULE))
    assert "triage.rules[1].name is missing" in message


def test_triage_bad_default_priority(tmp_path: Path) -> None:
    message = error_for(tmp_path, EXAMPLE + '\n[triage]\ndefault_priority = "Low"\n')
    assert "triage.default_priority is 'Low'; allowed: 'Normal', 'High', 'Urgent'" in message


def test_triage_rule_notifying_unknown_role(tmp_path: Path) -> None:
    message = error_for(tmp_path, EXAMPLE + edit('notify = ["principal"]', 'notify = ["board"]', VALID_RULE))
    assert "contacts.board is missing or empty, but triage rule 'custom rule' uses that role" in message


def test_triage_rule_answer_must_be_an_option_of_the_field(tmp_path: Path) -> None:
    rule = edit('any_of = { affected = ["Staff"] }', 'any_of = { immediate_risk = ["Not Sure"] }', VALID_RULE)
    message = error_for(tmp_path, EXAMPLE + rule)
    assert "triage.rules[1].any_of.immediate_risk" in message


def test_example_commented_triage_sample_loads_when_uncommented(tmp_path: Path) -> None:
    start, end = EXAMPLE.index("# [triage]\n"), EXAMPLE.index("# templates_dir")
    block = EXAMPLE[start:end]
    uncommented = "\n".join(line[2:] if line.startswith("# ") else line for line in block.splitlines())
    config = load_text(tmp_path, EXAMPLE[:start] + uncommented + "\n" + EXAMPLE[end:])
    assert [rule.name for rule in config.triage] == ["nude or intimate images shared"]


# -- checklist overrides ---------------------------------------------------------------------


def test_checklist_override_replaces_the_steps(tmp_path: Path) -> None:
    config = load_text(tmp_path, EXAMPLE + VALID_STEP)
    assert len(config.checklist) == 1
    step = config.checklist[0]
    assert (step.id, step.title, step.role, step.when, step.required) == (
        "only", "The only step", "principal", "", True,
    )
    assert step.due == {"Normal": "2 school days", "High": "end of day", "Urgent": "1h"}


@pytest.mark.parametrize("rule", ["soon", "0h", "1 week", ""])
def test_checklist_due_rule_invalid(tmp_path: Path, rule: str) -> None:
    message = error_for(tmp_path, EXAMPLE + edit('High = "end of day"', f'High = "{rule}"', VALID_STEP))
    assert "checklist.steps[1].due.High" in message
    assert "due rule" in message and "allowed:" in message


def test_checklist_due_missing_a_priority(tmp_path: Path) -> None:
    message = error_for(tmp_path, EXAMPLE + edit(', Normal = "2 school days"', "", VALID_STEP))
    assert "checklist.steps[1].due.Normal is missing" in message


def test_checklist_duplicate_step_ids(tmp_path: Path) -> None:
    second = VALID_STEP.replace("[checklist]\n", "")
    message = error_for(tmp_path, EXAMPLE + VALID_STEP + second)
    assert "checklist.steps[2].id 'only' is used by two steps" in message


def test_checklist_when_flag_no_rule_sets(tmp_path: Path) -> None:
    message = error_for(tmp_path, EXAMPLE + VALID_STEP + 'when = "images"\n')
    assert "checklist.steps[1].when is 'images', a flag no triage rule sets" in message


def test_checklist_step_role_needs_contacts(tmp_path: Path) -> None:
    message = error_for(tmp_path, EXAMPLE + edit('role = "principal"', 'role = "board"', VALID_STEP))
    assert "contacts.board is missing or empty, but checklist step 'only' uses that role" in message


def test_checklist_required_must_be_a_boolean(tmp_path: Path) -> None:
    message = error_for(tmp_path, EXAMPLE + VALID_STEP + 'required = "yes"\n')
    assert "checklist.steps[1].required must be bool, not 'yes'" in message


def test_checklist_with_no_steps(tmp_path: Path) -> None:
    message = error_for(tmp_path, EXAMPLE + "\n[checklist]\nsteps = []\n")
    assert "checklist.steps is empty" in message


def test_delivery_keys_default_and_range(tmp_path: Path, make_config: MakeConfig) -> None:
    config = make_config()
    assert config.email.mark_every == 20 and config.worker.time_budget == timedelta(minutes=5)
    tuned = make_config(replace={"mark_every": "5", "time_budget": '"90s"'})
    assert tuned.email.mark_every == 5 and tuned.worker.time_budget == timedelta(seconds=90)
    for value, expected in [("0", "email.mark_every is 0; allowed: 1 to 1000"),
                            ("1001", "email.mark_every is 1001; allowed: 1 to 1000"),
                            ('"20"', "email.mark_every must be whole number")]:
        assert expected in make_error(tmp_path, make_config, replace={"mark_every": value})
    assert "worker.time_budget" in make_error(tmp_path, make_config, replace={"time_budget": '"0m"'})


def test_board_lists_default_and_reject_blank_or_repeated_choices(tmp_path: Path) -> None:
    config = load_text(tmp_path, EXAMPLE)
    assert config.board.owners == ()
    assert "No further action" in config.board.outcomes
    custom = edit("owners = []", 'owners = ["Ms Tane", "Mr Singh"]')
    assert load_text(tmp_path, custom).board.owners == ("Ms Tane", "Mr Singh")
    message = error_for(tmp_path, edit("owners = []", 'owners = ["Ms Tane", "ms tane"]'))
    assert "board.owners" in message and "repeated" in message


def test_locale_must_look_like_a_locale(tmp_path: Path) -> None:
    assert load_text(tmp_path, edit('locale = "en_NZ"', 'locale = "en_US"')).school.locale == "en_US"
    message = error_for(tmp_path, edit('locale = "en_NZ"', 'locale = "New Zealand"'))
    assert "school.locale" in message and "en_GB" in message
