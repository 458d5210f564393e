"""Benchmark: one sync of N new form responses, through the Sheets API emulator and locally.

Not a test. For each size it runs the real CLI (``cli.py sync --json``) in a child process
and reports: Sheets requests per sync (Google backend, counted by the emulator), wall time,
CPU time and peak memory of the child, a repeat (idle) sync's requests, and — for
comparison — how many requests the straightforward per-row approach would need for the
same changes (one metadata read, one read per tab, one append per new row, one update per
changed cell). Run:  .venv/bin/python bench/bench_sync.py [100 1000 5000]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sheets_emulator import SheetsEmulator

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the tests' config helper (conftest.config_text)

from conftest import config_text  # noqa: E402

from workflow.config import load_config  # noqa: E402
from workflow.demo import DEMO_REPORTS, RESPONSE_HEADERS  # noqa: E402
from workflow.plan import plan_sync  # noqa: E402
from workflow.storage import open_storage  # noqa: E402
from workflow.storage.local import LocalWorkbookStorage  # noqa: E402

NZ = ZoneInfo("Pacific/Auckland")
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=NZ)
EPOCH = datetime(1899, 12, 30)
TABS = 6  # responses + five worker tabs
# Runs cli.py, then prints the process's own peak RSS (VmHWM is per address space, so unlike
# ru_maxrss it does not count the bench process's pages the child had before exec).
PEAK_REPORTER = """
import atexit, runpy, sys
def report():
    with open("/proc/self/status") as status:
        print(next(line for line in status if line.startswith("VmHWM")), end="", file=sys.stderr)
atexit.register(report)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def responses(count: int) -> list[list[object]]:
    """``count`` fictional responses arriving over the last two hours (the demo's, repeated)."""
    rows = []
    for i in range(count):
        _, reporter, kind, risk, u18, who, where, online, what, involved, done = DEMO_REPORTS[i % len(DEMO_REPORTS)]
        stamp = NOW - timedelta(minutes=120) * (count - i) / count
        rows.append([stamp, reporter.replace("@", f"+{i}@"), kind, risk, u18, who, where, online, what, involved,
                     done])
    return rows


def serial(moment: datetime) -> float:
    return (moment.astimezone(NZ).replace(tzinfo=None) - EPOCH) / timedelta(days=1)


def run_child(config: Path, env: dict[str, str]) -> dict[str, object]:
    """cli.py sync in a child; its own wall time, CPU time and peak RSS (from os.wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", PEAK_REPORTER, str(ROOT / "cli.py"), "-c", str(config),
                                  "sync", "--json", "--now", NOW.isoformat()], env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        errors = err.read().decode()
        if child.returncode != 0:
            raise SystemExit(f"sync failed ({child.returncode}): {errors[-2000:]}")
        peak = [line.split()[1] for line in errors.splitlines() if line.startswith("VmHWM")]
        return {"wall": wall, "summary": json.loads(out.read()), "usage": usage, "peak_kib": int(peak[-1])}


def naive_requests(config_path: Path) -> int:
    """Requests the per-row approach would make for the same plan (first commit + marks)."""
    config = load_config(config_path)
    plan = plan_sync(open_storage(config).load(), config, NOW)
    counts = plan.changes.counts()
    marks = 4 * len(plan.deliveries)  # Status, Attempts, Sent at, Error per email
    return 1 + TABS + counts["appended_rows"] + counts["updated_cells"] + marks


def measure(backend: str, count: int, emulator: SheetsEmulator, folder: Path) -> dict[str, object]:
    spreadsheet_id = f"bench-{backend}-{count}"
    env = dict(os.environ, SHEETS_EMULATOR_HOST=emulator.host)
    path = folder / f"{backend}-{count}.toml"
    (folder / f"{backend}-{count}").mkdir()
    path.write_text(config_text(folder / f"{backend}-{count}", backend=backend, spreadsheet_id=spreadsheet_id,
                                replace={"path": f'"{backend}-{count}/incidents.xlsx"',
                                         "outbox_dir": f'"{backend}-{count}/outbox"'}), encoding="utf-8")
    rows = responses(count)
    if backend == "google":
        emulator.create_spreadsheet(spreadsheet_id, tabs={"Form Responses 1": [RESPONSE_HEADERS] + [
            [serial(r[0]), *r[1:]] for r in rows]})
    config = load_config(path)
    storage = open_storage(config) if backend == "google" else LocalWorkbookStorage(config)
    storage.setup(RESPONSE_HEADERS)
    if backend == "local":
        storage.add_responses([dict(zip(RESPONSE_HEADERS, r, strict=True)) for r in rows])
    naive = naive_requests(path)
    emulator.reset_requests()
    first = run_child(path, env)
    first_requests = len(emulator.requests)
    emulator.reset_requests()
    idle = run_child(path, env)
    idle_requests = len(emulator.requests)
    usage: Any = first["usage"]
    return {
        "backend": backend,
        "responses": count,
        "cases": first["summary"]["cases_opened"],
        "emails": first["summary"]["emails_sent"],
        "requests": first_requests if backend == "google" else "-",
        "idle requests": idle_requests if backend == "google" else "-",
        "per-row requests": naive if backend == "google" else "-",
        "wall s": round(first["wall"], 2),
        "idle wall s": round(idle["wall"], 2),
        "cpu s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak MiB": round(first["peak_kib"] / 1024, 1),
    }


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100, 1000, 5000]
    results = []
    with SheetsEmulator() as emulator, tempfile.TemporaryDirectory() as tmp:
        os.environ["SHEETS_EMULATOR_HOST"] = emulator.host
        for backend in ("google", "local"):
            for count in sizes:
                results.append(measure(backend, count, emulator, Path(tmp)))
                print(json.dumps(results[-1]), file=sys.stderr)
    headers = list(results[0])
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in results:
        print("| " + " | ".join(str(row[h]) for h in headers) + " |")


if __name__ == "__main__":
    main()
