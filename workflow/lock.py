"""One sync at a time: an OS file lock held for the whole of a sync.

Two syncs that overlap (cron starting while a slow sync still sends, or ``run`` beside cron)
would both open the same new cases and send every alert twice. ``flock`` on a lock file
prevents that on one host:

* the kernel releases the lock when the process ends, however it ends (kill -9, power cut
  aside), so there is no stale pid file to clean up and nothing to expire;
* the file is never deleted (deleting it would let a third sync lock a new file while the
  second still holds the old one); its text says who holds it, for the "busy" message only;
* it works for processes of different users when they can open the file (flock needs no
  write permission on Linux or macOS).

Where: next to the local workbook (``incidents.xlsx.lock``), because the workbook is what two
syncs must not both write, whichever config names it; for a Google sheet, next to the config
(``config.toml.lock``). ``[worker] lock_file`` overrides both (a unit with a read-only /etc).
Not prevented: two *hosts* syncing one Google sheet (the opt-in ``[worker] lease``, lease.py,
narrows that); a lock file on a network share whose server does not honour flock. See README
"Running unattended".
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from .errors import StorageError

if TYPE_CHECKING:
    from .config import Config

log = logging.getLogger(__name__)
POLL_SECONDS = 0.2


def lock_path(config: Config) -> Path:
    """The lock file that serialises syncs of this config's sheet."""
    if config.worker.lock_file is not None:
        return config.worker.lock_file
    if config.sheet.backend == "local":  # the real file: two configs may reach it through a symlink
        workbook = config.sheet.path.resolve()
        return workbook.with_name(workbook.name + ".lock")
    return config.path.with_name(config.path.name + ".lock")


if sys.platform == "win32":  # untested in CI: the product is run unattended on Linux or macOS
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class SyncLock:
    """``with SyncLock(path, wait) as lock:`` then ``lock.held`` says whether this process may sync.

    ``wait`` bounds how long to wait for a running sync to finish (0 = do not wait). The clock
    and sleep are injectable so the waiting is tested without sleeping.
    """

    def __init__(self, path: Path, wait: timedelta = timedelta(0), *, what: str = "sync",
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.path, self.wait, self.what = path, wait, what
        self.clock, self.sleep = clock, sleep
        self.fd: int | None = None
        self.held = False

    def _open(self) -> int:
        """Read-write, made if missing (with its folder, as setup makes the workbook's)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o664)
        except PermissionError:
            if self.path.exists():  # another user's lock file: locking needs only read access
                with contextlib.suppress(PermissionError):
                    return os.open(self.path, os.O_RDONLY)
            raise

    def acquire(self) -> bool:
        try:
            self.fd = self._open()
        except OSError as error:
            raise StorageError(
                f"{self.path}: cannot open the lock file that keeps two syncs apart ({error.strerror}); "
                "make its folder writable for the worker's user, or set [worker] lock_file to a writable path"
            ) from None
        deadline = self.clock() + self.wait.total_seconds()
        while not _try_lock(self.fd):
            if self.clock() >= deadline:
                return False
            self.sleep(min(POLL_SECONDS, max(deadline - self.clock(), 0.0)))
        self.held = True
        self._write_holder()
        log.debug("lock %s taken for %s", self.path, self.what)
        return True

    def _write_holder(self) -> None:
        """Who holds the lock, for the other sync's message. Best effort: a read-only file is fine."""
        assert self.fd is not None
        text = f"pid {os.getpid()}, {self.what} since {datetime.now().astimezone():%Y-%m-%d %H:%M:%S %z}\n"
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)
            os.lseek(self.fd, 0, os.SEEK_SET)
            os.write(self.fd, text.encode())

    def holder(self) -> str:
        """The running sync as its lock file describes it ("" if unknown)."""
        with contextlib.suppress(OSError, UnicodeDecodeError):
            return self.path.read_text(encoding="utf-8").strip()
        return ""

    def busy_message(self) -> str:
        who = self.holder()
        waited = f" after waiting {self.wait.total_seconds():g}s" if self.wait else ""
        return (f"another sync is running ({who or 'see ' + str(self.path)}); this {self.what} did nothing{waited} "
                "and the next run does its work")

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            if self.held:
                _unlock(self.fd)
        finally:
            os.close(self.fd)
            self.fd, self.held = None, False

    def __enter__(self) -> SyncLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.release()
