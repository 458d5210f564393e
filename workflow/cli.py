"""The ``digital-incidents`` command: a thin click layer over the workflow package.

Installed, it is the ``digital-incidents`` console command; in a checkout, ``python cli.py``
runs the same commands. Only this module turns the package's errors into messages and exit codes:
0 ok; 1 a user error (config, sheet layout) with a message; 2 usage;
75 a temporary failure (network, quota, mail server) that the next run retries.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from . import __version__
from .config import Config, load_config, resolve_config_path
from .errors import DigitalIncidentsError

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
    result = run_sync(config, open_storage(config), make_transport(config.email, config.path.parent), now,
                      dry_run=dry_run)
    click.echo(json.dumps(result.as_dict(), sort_keys=True) if as_json else result.summary())
    for error in result.errors:
        click.echo(f"Warning: {error}", err=True)
    if result.errors:
        ctx.exit(TEMPORARY_FAILURE)


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
        result = run_sync(config, storage, transport, datetime.now(config.school.timezone))
        log.log(logging.WARNING if result.failed else logging.INFO, "%s", result.summary())

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


@cli.command()
@click.option("--now", "now_text", metavar="ISO-8601", help="Show deadlines as of this time.")
@click.pass_context
def status(ctx: click.Context, now_text: str | None) -> None:
    """Open cases and overdue steps, as a table (reads only; writes nothing).

    \b
    Example:
      digital-incidents -c demo/config.toml status
    """
    from .report import status_table
    from .storage import open_storage

    config = get_config(ctx)
    click.echo(status_table(open_storage(config).load(), config, parse_now(now_text, config)))


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
