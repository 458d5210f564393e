"""HTTP plumbing for the Google backend: the emulator seam (SHEETS_EMULATOR_HOST)."""

from __future__ import annotations

from typing import Any

import requests

GOOGLE_SHEETS_BASE = "https://sheets.googleapis.com"


class EmulatorSession(requests.Session):
    """A requests Session that sends Sheets API traffic to a local emulator over plain HTTP.

    gspread builds absolute https://sheets.googleapis.com URLs; handing gspread this
    session (``gspread.Client(auth=None, session=EmulatorSession(host))``) redirects
    them without touching gspread's internals, the same convention Google's own
    emulators use.
    """

    def __init__(self, host: str) -> None:
        super().__init__()
        self.base = "http://" + host.strip().removeprefix("http://").rstrip("/")

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any):  # type: ignore[override]
        if isinstance(url, str) and url.startswith(GOOGLE_SHEETS_BASE):
            url = self.base + url[len(GOOGLE_SHEETS_BASE):]
        return super().request(method, url, *args, **kwargs)
