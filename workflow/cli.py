"""The ``digital-incidents`` command: a thin click layer over the workflow package.

Installed, it is the ``digital-incidents`` console command; in a checkout, ``python cli.py``
runs the same commands. Only this module turns the package's errors into messages and exit codes:
0 ok; 1 a user error (config, sheet layout) with a message; 2 usage;
75 a temporary failure (network, quota, mail server) that the next run retries.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import __version__
from .config import Config, load_config, resolve_config_path
from .errors import DigitalIncidentsError, TemporaryFailure

if TYPE_CHECKING:
    from .lock import SyncLock

log = logging.getLogger(__name__)
TEMPORARY_FAILURE = 75


class Cli(click.Group):
    """Turns the package's own errors into one clear line and the right exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DigitalIncidentsError as error:
            click.echo(f"Error: {error}", err=True)
            ctx.exit(error.exit_code)


def parse_now(value: str | None, config: Config) -> datetime:
    """--now: ISO-8601; without an offset it is in the school's time zone (SPEC §6)."""
    if not value:
        return datetime.now(config.school.timezone)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO-8601 date-time like 2026-11-27T09:00", param_hint="--now"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=config.school.timezone)


def get_config(ctx: click.Context) -> Config:
    obj = ctx.ensure_object(dict)
    if "config" not in obj:
        obj["config"] = load_config(resolve_config_path(obj.get("config_path")))
    return obj["config"]


def sync_lock(config: Config, what: str, wait: timedelta | None = None) -> SyncLock:
    """The lock that keeps two syncs of one sheet apart (workflow/lock.py); enter it with ``with``."""
    from .lock import SyncLock, lock_path

    return SyncLock(lock_path(config), config.worker.lock_wait if wait is None else wait, what=what)


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config_path", metavar="PATH",
              help="Config file (default: $DIGITAL_INCIDENTS_CONFIG, then ./config.toml).")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug). Logs carry IDs, never answers.")
@click.version_option(__version__, prog_name="digital-incidents")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, verbose: int) -> None:
    """Digital incident reports (Google Form) become triaged cases with checklists, alerts and reminders.

    \b
    Try it with no account:   digital-incidents demo
    Then:                     digital-incidents -c demo/config.toml status
    (In a checkout, `python cli.py` or `./dev cli` runs the same commands.)
    """
    _setup_logging(verbose)
    ctx.ensure_object(dict)["config_path"] = config_path


@cli.command()
@click.option("--dry-run", is_flag=True, help="Plan and report, but write nothing and send nothing.")
@click.option("--now", "now_text", metavar="ISO-8601", help="Evaluate deadlines as of this time (tests, backfills).")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@click.pass_context
def sync(ctx: click.Context, dry_run: bool, now_text: str | None, as_json: bool) -> None:
    """One full pass: intake, triage, checklist, notifications, overdue, email delivery.

    \b
    Example (cron, every 2 minutes):
      */2 * * * *  /srv/digital-incidents/.venv/bin/digital-incidents -c /etc/digital-incidents/config.toml sync
    """
    from .storage import open_storage
    from .sync import run_sync
    from .transports import make_transport

    config = get_config(ctx)
    now = parse_now(now_text, config)
    with sync_lock(config, "sync") as lock:
        if not lock.held:
            click.echo(json.dumps({"skipped": lock.busy_message()}) if as_json else lock.busy_message())
            return
        with stop_on_sigterm() as stopping:
            result = run_sync(config, open_storage(config), make_transport(config.email, config.path.parent), now,
                              dry_run=dry_run, should_stop=stopping.is_set)
    click.echo(json.dumps(result.as_dict(), sort_keys=True) if as_json else result.summary())
    for note in result.notes():
        click.echo(f"Note: {note}", err=True)
    for error in result.errors:
        click.echo(f"Warning: {error}", err=True)
    if result.exit_code:
        ctx.exit(result.exit_code)


class StopFlag:
    """Set from a signal handler, read between two emails (no lock: safe in a handler)."""

    def __init__(self) -> None:
        self.stopping = False

    def set(self, *_: object) -> None:
        self.stopping = True

    def is_set(self) -> bool:
        return self.stopping


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[StopFlag]:
    """While a sync runs, SIGTERM asks it to stop sending (between two emails), mark what went
    and leave the rest queued; the previous handler comes back afterwards."""
    stopping = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield stopping          # signals can only be handled on the main thread
        return
    previous = signal.signal(signal.SIGTERM, stopping.set)
    try:
        yield stopping
    finally:
        signal.signal(signal.SIGTERM, previous)


@cli.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Keep running: sync every worker.interval, digest at worker.digest_at; stop with Ctrl-C or SIGTERM.

    \b
    Example:
      digital-incidents -c /etc/digital-incidents/config.toml run
    """
    from .runner import Runner, local_clock_time
    from .storage import open_storage
    from .sync import run_sync
    from .transports import make_transport

    config = get_config(ctx)
    storage = open_storage(config)
    transport = make_transport(config.email, config.path.parent)

    def one_sync() -> None:
        """A tick never waits for a sync started by cron or by hand: it skips, and the next tick runs."""
        with sync_lock(config, "sync", wait=timedelta(0)) as lock:
            if not lock.held:
                log.warning("%s", lock.busy_message())
                return
            result = run_sync(config, storage, transport, datetime.now(config.school.timezone),
                              should_stop=lambda: runner.stopping)
        log.log(logging.WARNING if result.exit_code else logging.INFO, "%s", result.summary())
        for note in result.notes():
            log.warning("%s", note)

    digest_at = local_clock_time(config.worker.digest_at, config.school.timezone, datetime.now().astimezone())
    runner = Runner(one_sync, config.worker.interval, digest_at)
    runner.handle_signals()
    click.echo(f"digital-incidents {__version__}: syncing {storage.describe()} every {config.worker.interval}; "
               "Ctrl-C to stop")
    runner.run()
    click.echo(f"stopped after {runner.runs} sync(s), {runner.failures} failed")


@cli.command()
@click.pass_context
def setup(ctx: click.Context) -> None:
    """Create or repair the tabs, headers, checkboxes, date formats and highlighting. Safe to repeat.

    \b
    Example:
      digital-incidents -c config.toml setup
    """
    from .storage import open_storage

    config = get_config(ctx)
    storage = open_storage(config)
    with sync_lock(config, "setup") as lock:
        if not lock.held:  # run by hand: say so and fail, rather than report a setup that did not happen
            raise TemporaryFailure(lock.busy_message().replace("the next run does its work", "run setup again"))
        changes = storage.setup(response_headers(config))
    for line in changes:
        click.echo(f"  {line}")
    click.echo(f"{storage.describe()}: " + (f"{len(changes)} change(s)" if changes else "already set up"))


def response_headers(config: Config) -> list[str]:
    return ["Timestamp", "Email Address", *(f.question for f in config.form)]


@cli.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Validate config, templates, sheet access and headers, and the mail server login.

    \b
    Example:
      digital-incidents -c config.toml check
    """
    from .check import run_checks

    config = get_config(ctx)
    problems = 0
    for ok, line in run_checks(config):   # ok None: a warning for leaders (exit code stays 0)
        click.echo(("ok       " if ok else "WARNING  " if ok is None else "PROBLEM  ") + line)
        problems += ok is False
    if problems:
        click.echo(f"{problems} problem(s) to fix", err=True)
        ctx.exit(1)
    click.echo("all checks passed")


def parse_max_age(ctx: click.Context, param: click.Parameter, value: str | None) -> timedelta | None:
    """--max-age: a duration like the config's, with the config's range."""
    if value is None:
        return None
    from .config import DURATION_PATTERN, MIN_HEALTH_AGE, WHY_MIN_HEALTH_AGE

    match = DURATION_PATTERN.match(value)
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    age = timedelta(**{unit[match[2]]: int(match[1])}) if match and len(match[1]) < 7 else None
    if age is None or not MIN_HEALTH_AGE <= age <= timedelta(days=7):
        raise click.BadParameter(f"{value!r}: allowed: a duration like '90m' or '2h', from 61m to 7d"
                                 f"{WHY_MIN_HEALTH_AGE}")
    return age


@cli.command()
@click.option("--now", "now_text", metavar="ISO-8601", help="Show deadlines as of this time.")
@click.option("--health", is_flag=True,
              help="For monitoring: exit 1 with one line per problem when the last successful sync or a queued "
                   "email is older than --max-age, or an alert about an open Urgent case failed; else exit 0.")
@click.option("--max-age", "max_age", metavar="DURATION", callback=parse_max_age,
              help="With --health: the bound (default: [worker] health_max_age, 90m).")
@click.pass_context
def status(ctx: click.Context, now_text: str | None, health: bool, max_age: timedelta | None) -> None:
    """Open cases and overdue steps, as a table (reads only; writes nothing).

    \b
    Example:
      digital-incidents -c demo/config.toml status
      digital-incidents -c config.toml status --health    # exit 0 healthy, 1 unhealthy (one line per problem)
    """
    from .report import status_table
    from .storage import open_storage

    config = get_config(ctx)
    snapshot = open_storage(config).load()
    now = parse_now(now_text, config)
    if not health:
        click.echo(status_table(snapshot, config, now))
        return
    from .health import assess

    verdict = assess(snapshot, now, max_age or config.worker.health_max_age)
    for line in verdict.lines():
        click.echo(line)
    ctx.exit(0 if verdict.healthy else 1)


@cli.command()
@click.option("--send", is_flag=True, help="Send today's digest now (once a day; repeats send nothing).")
@click.option("--now", "now_text", metavar="ISO-8601", help="Build the digest as of this time.")
@click.pass_context
def digest(ctx: click.Context, send: bool, now_text: str | None) -> None:
    """Show (or with --send, send) the daily digest: open cases, due today, overdue.

    \b
    Example:
      digital-incidents -c config.toml digest          # preview in the terminal
      digital-incidents -c config.toml digest --send   # send it to the digest roles
    """
    from .report import digest_preview
    from .storage import open_storage
    from .sync import run_sync
    from .transports import make_transport

    config = get_config(ctx)
    now = parse_now(now_text, config)
    storage = open_storage(config)
    if not send:
        click.echo(digest_preview(storage.load(), config, now))
        return
    with sync_lock(config, "digest") as lock:
        if not lock.held:
            click.echo(lock.busy_message())
            return
        result = run_sync(config, storage, make_transport(config.email, config.path.parent), now, force_digest=True)
    click.echo(result.summary())


@cli.command()
@click.option("--dir", "folder", default="demo", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Where to put the demo config, workbook and outbox.")
@click.option("--now", "now_text", metavar="ISO-8601", help="Pretend it is this time (default: now).")
@click.pass_context
def demo(ctx: click.Context, folder: Path, now_text: str | None) -> None:
    """Try the whole flow with no account: a demo config, a workbook of fictional reports, one sync.

    \b
    Example:
      digital-incidents demo
      digital-incidents -c demo/config.toml status
    """
    from .demo_run import run_demo

    for line in run_demo(folder, now_text, command=command_name(ctx)):
        click.echo(line)


def command_name(ctx: click.Context) -> str:
    """The command as the user ran it, so the hints we print can be pasted back."""
    name = ctx.find_root().info_name or ""
    return f"python {name}" if name.endswith(".py") else "digital-incidents"


def main() -> None:
    cli(obj={})


if __name__ == "__main__":
    main()
