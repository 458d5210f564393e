"""Benchmark: how many emails each person gets per sync (alert fatigue), on the local backend.

Not a test. Runs the real CLI in child processes and counts the .eml files each sync adds to the
outbox, per recipient (the To header). Scenarios:

* **demo day**: the demo's thirteen reports, first sync at 2026-11-25 10:00;
* **two school days later**: a sync at 2026-11-27 10:00 with nothing new reported;
* **backlog 300**: a sheet adopted with 300 responses, first sync.

Run:  .venv/bin/python bench/bench_emails.py            (about a minute)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections import Counter
from email import policy
from email.parser import BytesParser
from pathlib import Path

from bench_sync import NOW, ROOT, responses

from workflow.config import load_config
from workflow.demo import RESPONSE_HEADERS
from workflow.storage.local import LocalWorkbookStorage

CLI = [sys.executable, str(ROOT / "cli.py")]


def recipients(outbox: Path, skip: set[str]) -> Counter[str]:
    """Emails per recipient among the outbox files not in ``skip``."""
    counts: Counter[str] = Counter()
    for path in sorted(outbox.glob("*.eml")):
        if path.name in skip:
            continue
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        counts[str(message["To"]).lower()] += 1
    return counts


def per_person(counts: Counter[str]) -> str:
    """Leaders by name; the many people who got one email each (reporters' acknowledgements) as a count."""
    named = [f"{who.split('@')[0]} {n}" for who, n in counts.most_common() if n > 1]
    ones = sum(1 for n in counts.values() if n == 1)
    return ", ".join(named + ([f"{ones} others 1 each"] if ones else []))


def row(scenario: str, counts: Counter[str]) -> dict[str, object]:
    busiest = counts.most_common(1)[0] if counts else ("-", 0)
    return {
        "scenario": scenario,
        "emails": sum(counts.values()),
        "people": len(counts),
        "most to one person": busiest[1],
        "who": busiest[0],
        "per person": per_person(counts),
    }


def sync(config: Path, now: str) -> None:
    subprocess.run([*CLI, "-c", str(config), "sync", "--now", now], check=True, capture_output=True)


def demo_day(folder: Path) -> list[dict[str, object]]:
    subprocess.run([*CLI, "demo", "--dir", str(folder), "--now", "2026-11-25T10:00"], check=True,
                   capture_output=True)
    outbox = folder / "outbox"
    first = recipients(outbox, set())
    seen = {p.name for p in outbox.glob("*.eml")}
    sync(folder / "config.toml", "2026-11-27T10:00")
    later = recipients(outbox, seen)
    return [row("demo day (13 reports)", first), row("two school days later, nothing new", later)]


def backlog(folder: Path, count: int) -> dict[str, object]:
    subprocess.run([*CLI, "demo", "--dir", str(folder), "--now", "2026-11-25T10:00"], check=True,
                   capture_output=True)
    workbook, outbox = folder / "incidents.xlsx", folder / "outbox"
    workbook.unlink()
    for path in outbox.glob("*.eml"):
        path.unlink()
    storage = LocalWorkbookStorage(load_config(folder / "config.toml"))
    storage.setup(RESPONSE_HEADERS)
    storage.add_responses([dict(zip(RESPONSE_HEADERS, r, strict=True)) for r in responses(count)])
    sync(folder / "config.toml", NOW.isoformat())
    return row(f"backlog of {count} responses, first sync", recipients(outbox, set()))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results = demo_day(Path(tmp) / "day") + [backlog(Path(tmp) / "backlog", 300)]
    headers = list(results[0])
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for result in results:
        print("| " + " | ".join(str(result[h]) for h in headers) + " |")


if __name__ == "__main__":
    main()
