"""Render tabs of a workbook to PNG, the way a leader sees them, for the docs.

Runs the demo (or takes a workbook), then asks LibreOffice to print each wanted tab
landscape, one page wide, and turns the first page into a PNG with pdftoppm, cropped to
what is printed (the blank rest of the page is cut off).
Needs `soffice` and `pdftoppm` (Debian: libreoffice-calc-nogui, poppler-utils).

    python docs/render_workbook.py --demo --out docs/img/cases.png --tab Cases
    python docs/render_workbook.py --workbook demo/incidents.xlsx --out /tmp/x.png --tab Checklist

The school's time zone is used for LibreOffice (TZ), so date-times print as leaders see them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from openpyxl import load_workbook

ROOT = Path(__file__).resolve().parent.parent


def render(workbook: Path, tab: str, out: Path, timezone: str, resolution: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        book = load_workbook(workbook)
        matches = [name for name in book.sheetnames if name.casefold() == tab.casefold()]
        if not matches:
            sys.exit(f"{workbook}: no tab {tab!r} (tabs: {', '.join(book.sheetnames)})")
        sheet = book[matches[0]]
        book.active = book.sheetnames.index(matches[0])
        for other in book.worksheets:  # hidden, not deleted: rules that look at other tabs still work
            other.sheet_view.tabSelected = other is sheet
            if other is not sheet:
                other.sheet_state = "hidden"
        sheet.page_setup.orientation = "landscape"
        sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
        sheet.page_setup.fitToWidth = 1
        sheet.page_setup.fitToHeight = 0
        single = folder / "tab.xlsx"
        book.save(single)
        env = {**os.environ, "TZ": timezone, "HOME": tmp}
        subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir", tmp, str(single)],
                       check=True, env=env, capture_output=True, timeout=180)
        x, y, width, height = printed_box(folder / "tab.pdf", resolution, folder)
        subprocess.run(["pdftoppm", "-r", str(resolution), "-f", "1", "-l", "1", "-png", "-singlefile",
                        "-x", str(x), "-y", str(y), "-W", str(width), "-H", str(height),
                        str(folder / "tab.pdf"), str(folder / "page")], check=True, timeout=60)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / "page.png", out)


def printed_box(pdf: Path, resolution: int, folder: Path, margin: int = 12) -> tuple[int, int, int, int]:
    """x, y, width, height (pixels at ``resolution``) of the non-white part of the first page."""
    subprocess.run(["pdftoppm", "-r", str(resolution), "-f", "1", "-l", "1", "-gray", "-singlefile",
                    str(pdf), str(folder / "gray")], check=True, timeout=60)
    data = (folder / "gray.pgm").read_bytes()
    fields = data.split(maxsplit=4)  # P5, width, height, maxval, pixels
    width, height = int(fields[1]), int(fields[2])
    pixels = fields[4][-width * height:]
    rows = [r for r in range(height) if min(pixels[r * width:(r + 1) * width]) < 240]
    columns = [c for c in range(width) if min(pixels[c::width]) < 240]
    if not rows or not columns:
        return 0, 0, width, height
    x, y = max(columns[0] - margin, 0), max(rows[0] - margin, 0)
    return x, y, min(columns[-1] + margin, width) - x, min(rows[-1] + margin, height) - y


def run_demo(folder: Path, now: str) -> Path:
    subprocess.run([sys.executable, str(ROOT / "cli.py"), "demo", "--dir", str(folder), "--now", now],
                   check=True, capture_output=True, timeout=300)
    return folder / "incidents.xlsx"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--workbook", type=Path, help="an existing .xlsx")
    source.add_argument("--demo", action="store_true", help="run the demo in a temp folder and render it")
    parser.add_argument("--now", default="2026-11-25T10:00", help="the demo's time (default %(default)s)")
    parser.add_argument("--tab", action="append", help="tab to render (repeatable); default Cases")
    parser.add_argument("--out", type=Path, required=True,
                        help="PNG path; with several --tab, TAB is replaced by the tab name")
    parser.add_argument("--timezone", default="Pacific/Auckland")
    parser.add_argument("--resolution", type=int, default=80)
    args = parser.parse_args()
    for tool in ("soffice", "pdftoppm"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (apt-get install libreoffice-calc-nogui poppler-utils)")
    tabs = args.tab or ["Cases"]
    with tempfile.TemporaryDirectory() as tmp:
        workbook = run_demo(Path(tmp) / "demo", args.now) if args.demo else args.workbook
        for tab in tabs:
            out = Path(str(args.out).replace("TAB", tab.lower())) if len(tabs) > 1 else args.out
            render(workbook, tab, out, args.timezone, args.resolution)
            print(out)


if __name__ == "__main__":
    main()
