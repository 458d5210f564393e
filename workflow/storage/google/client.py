"""The connection to one spreadsheet: credentials, the emulator seam (SHEETS_EMULATOR_HOST), bounded
retries, and Google's refusals turned into messages that say what to fix.

Retries (README "Budgets"). A read is simply retried on 408/429/5xx and on any connection
error or timeout. A write (POST) is retried here only when it certainly did not land: a 429
or 408 (refused before any work) or a connection that was never made. A 5xx, or a connection
that broke or timed out after the request went out, may have been applied by Google: it is
raised as ``UncertainWrite``, never re-sent blindly; ``store.commit`` reads what landed and
sends only the rest.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import google.auth.exceptions
import gspread
import requests
import tenacity
import urllib3
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient
from gspread.urls import SPREADSHEET_BATCH_UPDATE_URL, SPREADSHEET_URL

from ...errors import StorageError, TemporaryFailure

if TYPE_CHECKING:
    from ...config import Config

GOOGLE_SHEETS_BASE = "https://sheets.googleapis.com"
SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]  # no Drive access
EMULATOR_ENV = "SHEETS_EMULATOR_HOST"
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"


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

    def request(  # type: ignore[override]
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if isinstance(url, str) and url.startswith(GOOGLE_SHEETS_BASE):
            url = self.base + url[len(GOOGLE_SHEETS_BASE):]
        verb = method.decode() if isinstance(method, bytes) else method
        return super().request(verb, url, *args, **kwargs)


# ---------------------------------------------------------------------------
# Bounded retries (SPEC): a few quick attempts, then give up and let the next sync retry.
# ---------------------------------------------------------------------------

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# A write answered with one of these may have been applied (Google answers 500/503 after some
# batchUpdates that landed); 408 and 429 are refusals before any work, safe to re-send.
UNCERTAIN_STATUSES = frozenset({500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one Sheets call tries before the sync gives up (exit 75, the next run retries).

    Both limits apply: at most ``max_attempts`` tries, and no sleep that would end past
    ``budget`` seconds after the first try. Tests shrink every number so they run fast.
    """

    max_attempts: int = 6
    budget: float = 60.0          # seconds for all attempts and sleeps of one call
    base_delay: float = 1.0       # first backoff ceiling; doubles per attempt (full jitter)
    max_delay: float = 20.0       # ceiling of one backoff sleep
    max_retry_after: float = 30.0  # a server's Retry-After is honoured up to this
    timeout: float = 30.0         # HTTP timeout of every request

    @classmethod
    def for_budget(cls, seconds: float) -> RetryPolicy:
        """The policy for ``sheet.retry_seconds`` (a test seam: tests shorten the timeout here)."""
        return cls(budget=seconds)

    def pause(self, attempt: int) -> float:
        """A full-jitter backoff before try ``attempt + 1``."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def status_of(error: BaseException) -> int | None:
    """The HTTP status of a gspread APIError (its ``code`` is -1 when the body is not JSON)."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        return status
    code = getattr(error, "code", None)
    return code if isinstance(code, int) and code > 0 else None


def _never_sent(error: BaseException) -> bool:
    """True when a connection error happened before the request reached Google.

    Only then is re-sending a write safe: a batchUpdate that timed out while Google was
    answering may have been applied, and sending it again would append rows twice.
    """
    if isinstance(error, requests.ConnectTimeout):
        return True
    seen: set[int] = set()
    stack: list[Any] = [error]
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError):
            return True
        if isinstance(item, urllib3.exceptions.MaxRetryError):
            stack.append(item.reason)
        if isinstance(item, BaseException):
            stack.extend([item.__cause__, item.__context__, *item.args])
    return False


def maybe_applied(error: BaseException, method: str) -> bool:
    """True when a write failed in a way that Google may nevertheless have applied it."""
    if method.lower() == "get":
        return False
    if isinstance(error, APIError):
        return status_of(error) in UNCERTAIN_STATUSES
    if isinstance(error, requests.ConnectionError | requests.Timeout):
        return not _never_sent(error)
    return False


def _retryable(error: BaseException, method: str) -> bool:
    if maybe_applied(error, method):
        return False  # see UncertainWrite: checked by the caller, never re-sent blindly
    if isinstance(error, APIError):
        return status_of(error) in RETRY_STATUSES
    return isinstance(error, requests.ConnectionError | requests.Timeout)


class UncertainWrite(TemporaryFailure):
    """A write Google may or may not have applied (a 5xx, or no answer after it was sent).

    ``store.commit`` catches it, reads what landed and sends only the rest; anywhere else it
    is a temporary failure (exit 75) and the next run reads the sheet before writing again.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"Google Sheets did not confirm a write ({reason}); it may or may not have been applied; "
            "the next run reads the sheet again and carries on from what is there"
        )
        self.reason = reason


def _reason(error: BaseException) -> str:
    if isinstance(error, APIError):
        return f"HTTP {status_of(error)}"
    return type(error).__name__


def retry_after_seconds(error: BaseException | None) -> float | None:
    """The server's Retry-After (seconds or an HTTP date), if it sent one."""
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class RetryingHTTPClient(HTTPClient):
    """gspread's HTTP client with a bounded retry on throttling and transient server errors.

    gspread's own BackOffHTTPClient (6.2.1) never gives up, which would hang a scheduled
    sync for ever; this one stops after ``policy.max_attempts`` tries or ``policy.budget``
    seconds and raises TemporaryFailure (exit 75) saying nothing was written.
    """

    policy: RetryPolicy = RetryPolicy()

    def __init__(self, auth: Any, session: requests.Session | None = None) -> None:
        super().__init__(auth, session)
        self.set_timeout(self.policy.timeout)

    def configure(self, policy: RetryPolicy) -> None:
        """Use ``policy`` for this client only (tests use tiny delays)."""
        self.policy = policy
        self.set_timeout(policy.timeout)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        policy = self.policy
        error = state.outcome.exception() if state.outcome else None
        hinted = retry_after_seconds(error)
        if hinted is not None:
            return min(hinted, policy.max_retry_after)
        return policy.pause(state.attempt_number)

    def request(  # type: ignore[override]
        self,
        method: str,
        endpoint: str,
        params: Any = None,
        data: bytes | None = None,
        json: Mapping[str, Any] | None = None,
        files: Any = None,
        headers: MutableMapping[str, str] | None = None,
    ) -> requests.Response:
        policy = self.policy
        started = time.monotonic()
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(max(1, policy.max_attempts))
            | tenacity.stop_before_delay(policy.budget),
            wait=self._wait,
            retry=tenacity.retry_if_exception(lambda error: _retryable(error, method)),
            sleep=self.sleep,
            reraise=False,
        )
        try:
            return retrying(
                super().request, method, endpoint, params=params, data=data, json=json, files=files, headers=headers
            )
        except tenacity.RetryError as exhausted:
            attempts = exhausted.last_attempt.attempt_number
            error = exhausted.last_attempt.exception()
            raise TemporaryFailure(
                _give_up_message(error, attempts, time.monotonic() - started)
            ) from error
        except (APIError, requests.ConnectionError, requests.Timeout) as error:
            if maybe_applied(error, method):
                raise UncertainWrite(_reason(error)) from error
            raise


def _give_up_message(error: BaseException | None, attempts: int, elapsed: float) -> str:
    tries = f"after {attempts} attempt{'s' if attempts != 1 else ''} over {elapsed:.1f} s"
    tail = "nothing was written; the next sync will retry"
    if error is not None and isinstance(error, APIError):
        status = status_of(error)
        if status == 429:
            return (
                f"Google Sheets quota exhausted (HTTP 429: too many requests) {tries}; {tail}. "
                "If this keeps happening, sync less often (worker.interval)"
            )
        return f"Google Sheets is unavailable (HTTP {status}) {tries}; {tail}"
    return f"Google Sheets could not be reached ({type(error).__name__}) {tries}; {tail}"


# ---------------------------------------------------------------------------
# One spreadsheet's connection
# ---------------------------------------------------------------------------


class BadRequest(StorageError):
    """HTTP 400 from Google; load() looks inside for 'Unable to parse range'."""


class SheetsConnection:
    """gspread's HTTP client for one spreadsheet: ``get`` and ``batch``, nothing else.

    The client is made on first use, so a config with no credentials fails only when the
    sheet is really needed (and ``check`` can report it).
    """

    def __init__(self, config: Config, policy: RetryPolicy, emulator_host: str | None = None) -> None:
        self.config = config
        self.spreadsheet_id = config.sheet.spreadsheet_id
        self.policy = policy
        self.emulator_host = (os.environ.get(EMULATOR_ENV, "") if emulator_host is None else emulator_host).strip()
        self.account = ""  # service-account email, for 403 advice
        self._client: gspread.Client | None = None

    def describe(self) -> str:
        where = f"Google Sheet {self.spreadsheet_id}"
        return f"{where} via emulator at {self.emulator_host}" if self.emulator_host else where

    @property
    def client(self) -> gspread.Client:
        if self._client is None:
            if self.emulator_host:
                # No credentials for the emulator: gspread sends whatever the session sends.
                client = gspread.Client(
                    auth=None,  # type: ignore[arg-type]
                    session=EmulatorSession(self.emulator_host),
                    http_client=RetryingHTTPClient,
                )
            else:
                client = gspread.Client(auth=self._credentials(), http_client=RetryingHTTPClient)
            http = client.http_client
            assert isinstance(http, RetryingHTTPClient)
            http.configure(self.policy)
            self._client = client
        return self._client

    def get(self, params: dict[str, Any]) -> dict[str, Any]:
        """spreadsheets.get with these query parameters."""
        return self._request("get", SPREADSHEET_URL % self.spreadsheet_id, params=params)

    def batch(self, body: dict[str, Any], reply_fields: str | None = None) -> dict[str, Any]:
        """spreadsheets.batchUpdate: atomic on Google, all or nothing. Raises UncertainWrite when
        Google may have applied it without saying so (never re-sent here)."""
        params = {"fields": reply_fields} if reply_fields else None
        return self._request("post", SPREADSHEET_BATCH_UPDATE_URL % self.spreadsheet_id, params=params, json=body)

    def sleep(self, seconds: float) -> None:
        """Wait between tries, through the HTTP client (so a test's client can skip it)."""
        http = self.client.http_client
        if isinstance(http, RetryingHTTPClient):
            http.sleep(seconds)
        else:
            time.sleep(seconds)

    def _credentials(self) -> Any:
        """Google credentials from sheet.credentials or $GOOGLE_APPLICATION_CREDENTIALS (never printed)."""
        setting = self.config.sheet.credentials or os.environ.get(CREDENTIALS_ENV, "")
        if not setting:
            raise StorageError(
                "no Google credentials: set sheet.credentials in the config to the service account's key "
                f"file (or set ${CREDENTIALS_ENV})"
            )
        path = Path(setting).expanduser()
        if not path.is_absolute():
            path = self.config.path.parent / path
        info = _read_key(path)
        kind = info.get("type") if isinstance(info, dict) else None
        where = f"{path} (sheet.credentials)"
        try:
            if kind == "service_account":
                from google.oauth2.service_account import Credentials as ServiceAccount

                credentials = ServiceAccount.from_service_account_file(str(path), scopes=SCOPES)
                self.account = str(info.get("client_email", ""))
                return credentials
            if kind == "authorized_user":
                from google.oauth2.credentials import Credentials as UserCredentials

                return UserCredentials.from_authorized_user_file(str(path), scopes=SCOPES)
        except (ValueError, KeyError, OSError) as error:
            # The message of google-auth names the missing field, never a secret.
            raise StorageError(f"credentials file {where} is not a valid key: {error}") from None
        raise StorageError(
            f"credentials file {where} is neither a service-account key nor an authorised-user file "
            f'(its "type" is {kind!r})'
        )

    def _request(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        """One Sheets call; Google's refusals become messages that say what to fix."""
        try:
            response = self.client.http_client.request(method, url, **kwargs)
        except APIError as error:
            raise self._refusal(error) from None
        except google.auth.exceptions.RefreshError as error:
            reason = str(error.args[0]) if error.args else "refused"
            raise StorageError(
                f"Google would not issue a token for the credentials in sheet.credentials ({reason}): "
                "the key may be deleted or disabled; download a new one"
            ) from None
        except google.auth.exceptions.TransportError as error:
            raise TemporaryFailure(
                f"Google's sign-in service could not be reached ({type(error).__name__}); nothing was written; "
                "the next sync will retry"
            ) from None
        try:
            reply = response.json()
        except ValueError:
            raise StorageError(f"Google Sheets sent a reply that is not JSON for {self.describe()}") from None
        return reply if isinstance(reply, dict) else {}

    def _refusal(self, error: APIError) -> StorageError:
        status = status_of(error)
        message = str((error.error or {}).get("message", "")) if isinstance(error.error, dict) else ""
        if status == 403:
            who = self.account or "the service account's email (client_email in the key file)"
            return StorageError(
                f"Google refused access to spreadsheet {self.spreadsheet_id} (HTTP 403): share the sheet "
                f"with {who} as an Editor{': ' + message if message else ''}"
            )
        if status == 404:
            return StorageError(f"spreadsheet {self.spreadsheet_id} not found: check sheet.spreadsheet_id")
        if status == 401:
            return StorageError(
                "Google rejected the credentials (HTTP 401): check sheet.credentials (the key may have been "
                "deleted or revoked)"
            )
        if status == 400:
            return BadRequest(f"Google Sheets rejected a request for {self.describe()} (HTTP 400): {message}")
        return StorageError(f"Google Sheets error for {self.describe()} (HTTP {status}): {message}")


def _read_key(path: Path) -> Any:
    where = f"{path} (sheet.credentials)"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StorageError(f"credentials file {where} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise StorageError(f"cannot read credentials file {where}: {error.__class__.__name__}") from None
    except json.JSONDecodeError:
        raise StorageError(f"credentials file {where} is not JSON: download the key again") from None
