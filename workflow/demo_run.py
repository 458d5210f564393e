"""Run the demo: config, workbook, fictional responses, one sync, and where to look."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from .config import example_config_path, load_config
from .demo import RESPONSE_HEADERS, demo_config_text, demo_rows
from .storage.local import LocalWorkbookStorage
from .sync import run_sync
from .transports import make_transport


def run_demo(folder: Path, now_text: str | None = None, command: str = "digital-incidents") -> Iterator[str]:
    """``command`` is how the user runs the product, for the hints printed at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "config.toml"
    if not config_path.exists():
        config_path.write_text(demo_config_text(example_config_path().read_text(encoding="utf-8")), encoding="utf-8")
        yield f"wrote {config_path}"
    config = load_config(config_path)
    tz = config.school.timezone
    now = datetime.fromisoformat(now_text) if now_text else datetime.now(tz)
    now = now if now.tzinfo else now.replace(tzinfo=tz)
    storage = LocalWorkbookStorage(config)
    fresh = not config.sheet.path.exists()
    storage.setup(RESPONSE_HEADERS)
    if fresh or not storage.load().responses.rows:
        storage.add_responses([dict(zip(RESPONSE_HEADERS, row, strict=True)) for row in demo_rows(now)])
        yield f"wrote {config.sheet.path} with {len(demo_rows(now))} fictional form responses"
    result = run_sync(config, storage, make_transport(config.email, config.path.parent), now)
    yield f"sync: {result.summary()}"
    emails = sorted(config.email.outbox_dir.glob("*.eml")) if config.email.outbox_dir.exists() else []
    yield f"outbox: {len(emails)} email file(s) in {config.email.outbox_dir}"
    yield ""
    yield "Look at:"
    yield f"  the workbook  {config.sheet.path}  (tabs Cases, Checklist, Notifications, Log, Worker)"
    yield f"  the emails    {config.email.outbox_dir}/*.eml"
    yield f"  the status    {command} -c {config_path} status"
    yield f"  two days on   {command} -c {config_path} sync --now <a time two school days later>"
