"""Two hosts on one Google sheet: an opt-in lease in the Worker tab (``[worker] lease``).

The flock (``lock.py``) keeps syncs apart on one host. For two hosts, a sync that will write
takes a lease: ``Lease holder`` (host:pid:random) and ``Lease until`` in the Worker tab. The
decision is pure (``blocker``): a lease held by another host and not yet expired stops the sync.
Otherwise the backend writes ours and reads the two cells back (``Storage.claim_lease``); the
sync goes on only if our holder still stands — the Sheets API has no conditional write, so this
read-back is what picks one of two hosts that raced. The last commit of the sync releases it
(``Lease until`` = the sync's start). See README "Running unattended" for what it cannot prevent.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from datetime import datetime

from .model import CellValue, ChangeSet, cell_text
from .records import Setting, some_cells, to_cells

HOST_ENV = "DIGITAL_INCIDENTS_HOST"   # overrides the host name in the holder id (tests, containers)
LEASE_HOLDER, LEASE_UNTIL = "Lease holder", "Lease until"


def holder_id() -> str:
    """This process as a lease holder: host:pid:random (random: a pid can be reused)."""
    host = os.environ.get(HOST_ENV, "").strip() or socket.gethostname() or "unknown-host"
    return f"{host}:{os.getpid()}:{secrets.token_hex(4)}"


def host_of(holder: str) -> str:
    parts = holder.rsplit(":", 2)
    return parts[0] if len(parts) == 3 else holder


def blocker(holder: CellValue, until: CellValue, now: datetime, me: str) -> str:
    """Why this sync may not take the lease ("" = it may): another host holds it until later.

    A lease of this same host is ours to take over (the flock already keeps this host's syncs
    apart, so its holder has ended: a crash); an empty, unreadable or expired one is free."""
    other = cell_text(holder).strip()
    if not other or not isinstance(until, datetime) or until <= now or host_of(other) == host_of(me):
        return ""
    return busy_line(other, until, now)


def busy_line(other: str, until: datetime | None, now: datetime) -> str:
    when = f"until {until.astimezone(now.tzinfo):%Y-%m-%d %H:%M:%S}" if until else "now"
    return (f"another host ({other}) holds the lease {when}; this sync did nothing and the next run does "
            "its work")


def claim(holder: str, until: datetime, present: Callable[[str], bool]) -> ChangeSet:
    """The lease write: both cells, each updated where its row is (found by key) or appended."""
    changes = ChangeSet()
    for name, value in ((LEASE_HOLDER, holder), (LEASE_UNTIL, until)):
        if present(name):
            changes.update("worker", name, -1, some_cells(Setting, value=value))
        else:
            changes.append("worker", to_cells(Setting(name, value)))
    return changes


def release(now: datetime) -> ChangeSet:
    """Ends our lease (``Lease until`` = now; the holder stays, saying who synced last). It rides
    on the sync's last commit; the row is found by its key, as the claim may have appended it."""
    changes = ChangeSet()
    changes.update("worker", LEASE_UNTIL, -1, some_cells(Setting, value=now.replace(microsecond=0)))
    return changes
