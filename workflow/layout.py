"""Is the workbook laid out as the worker needs? Missing tabs or columns name the fix."""

from __future__ import annotations

from .model import Snapshot
from .schema import WORKER_TABS


def layout_problems(snapshot: Snapshot) -> list[str]:
    problems = []
    for spec in WORKER_TABS:
        table = snapshot.tabs.get(spec.logical)
        if table is None:
            problems.append(f"tab {spec.title!r} is missing")
            continue
        missing = [c.name for c in spec.columns if not table.has(c.name)]
        if missing:
            problems.append(f"tab {spec.title!r} has no column " + ", ".join(repr(m) for m in missing))
    return problems
