"""A standalone emulator for trying the worker by hand: python -m sheets_emulator."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from .server import SheetsEmulator


def main(argv: list[str] | None = None) -> int:
    """Serve one spreadsheet with an empty "Form Responses 1" tab until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Local Google Sheets API v4 emulator")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--spreadsheet-id", required=True)
    parser.add_argument("--title", default="Incidents")
    parser.add_argument("--time-zone", default="Pacific/Auckland")
    parser.add_argument("--locale", default="en_NZ")
    parser.add_argument("--headers", default="",
                        help="comma-separated form questions after Timestamp")
    parser.add_argument("--default-form", action="store_true",
                        help="the product's default form questions as the header row")
    parser.add_argument("--responses", type=int, default=0,
                        help="with --default-form: this many fictional responses (the demo's, repeated)")
    args = parser.parse_args(argv)
    header = ["Timestamp"] + [h.strip() for h in args.headers.split(",") if h.strip()]
    rows: list[list[Any]] = []
    if args.default_form:
        from datetime import datetime as _datetime
        from datetime import timedelta as _timedelta

        from workflow.demo import DEMO_REPORTS, RESPONSE_HEADERS

        header = list(RESPONSE_HEADERS)
        start = _datetime.now() - _timedelta(minutes=args.responses)
        for i in range(args.responses):
            _, reporter, *answers = DEMO_REPORTS[i % len(DEMO_REPORTS)]
            rows.append([start + _timedelta(minutes=i), reporter.replace("@", f"+{i}@"), *answers])
    emulator = SheetsEmulator(args.port)
    emulator.create_spreadsheet(args.spreadsheet_id, args.title, time_zone=args.time_zone,
                                locale=args.locale, tabs={"Form Responses 1": [header, *rows]})
    with emulator._lock:
        sheet = emulator._tab(args.spreadsheet_id, "Form Responses 1")
        sheet.grid["frozenRowCount"] = 1
    emulator.start()
    print(f"SHEETS_EMULATOR_HOST={emulator.host}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0




if __name__ == "__main__":
    sys.exit(main())
