"""``digital-incidents run``: a long-lived loop on the ``schedule`` library.

A sync every ``worker.interval`` and one at ``worker.digest_at``; one sync at a
time; a failing sync is logged and retried at the next tick, never killing the
loop; SIGINT/SIGTERM end it cleanly after the sync in progress. The digest itself
is decided by the sync (school days only, once a day), so the loop needs no
calendar of its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import threading
from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import schedule

from .errors import DigitalIncidentsError

log = logging.getLogger(__name__)


def local_clock_time(school_time: time, school_tz: ZoneInfo, today: datetime) -> str:
    """The machine-local "HH:MM" of a school-time wall clock today (schedule works in local time)."""
    moment = datetime.combine(today.astimezone(school_tz).date(), school_time, tzinfo=school_tz)
    return moment.astimezone().strftime("%H:%M")


class Runner:
    def __init__(
        self,
        sync: Callable[[], object],
        interval: timedelta,
        digest_at: str | None = None,
        *,
        scheduler: schedule.Scheduler | None = None,
        wait: Callable[[float], bool] | None = None,
        max_wait: float = 60.0,
    ) -> None:
        self.sync = sync
        self.scheduler = scheduler or schedule.Scheduler()
        self.stopping = False
        # A signal handler must not take a lock the interrupted code may hold (Event.set()
        # can deadlock against Event.wait() in the same thread), so a stop wakes the loop
        # through a pipe instead: writing a byte is safe anywhere.
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        self.wait = wait or self._wait_for_stop
        self.max_wait = max_wait
        self.lock = threading.Lock()
        self.runs = 0
        self.failures = 0
        self.scheduler.every(max(1, int(interval.total_seconds()))).seconds.do(self.tick)
        if digest_at:
            self.scheduler.every().day.at(digest_at).do(self.tick)

    def tick(self) -> None:
        """One sync, never two at once, never an exception out of the loop."""
        if not self.lock.acquire(blocking=False):
            log.info("previous sync still running; skipping this tick")
            return
        try:
            self.runs += 1
            self.sync()
        except DigitalIncidentsError as error:
            self.failures += 1
            log.error("sync failed (will retry at the next tick): %s", error)
        except Exception:  # a bug or an unexpected library error must not stop the alerts
            self.failures += 1
            log.exception("sync failed unexpectedly (will retry at the next tick)")
        finally:
            self.lock.release()

    def stop(self, *_: object) -> None:
        self.stopping = True
        with contextlib.suppress(OSError):  # the pipe is full: a wake-up is already pending
            os.write(self._wake_write, b"\0")

    def handle_signals(self) -> None:
        """SIGINT and SIGTERM stop the loop. The signal may land on any thread, so Python is also
        told to write to the wake-up pipe, which interrupts the main thread's wait at once."""
        signal.signal(signal.SIGINT, self.stop)
        signal.signal(signal.SIGTERM, self.stop)
        signal.set_wakeup_fd(self._wake_write)

    def _wait_for_stop(self, seconds: float) -> bool:
        readable, _, _ = select.select([self._wake_read], [], [], seconds)
        return bool(readable) or self.stopping

    def run(self) -> None:
        log.info("worker loop started")
        self.tick()
        while not self.stopping:
            self.scheduler.run_pending()
            idle = self.scheduler.idle_seconds
            pause = self.max_wait if idle is None else min(max(idle, 0.0), self.max_wait)
            if self.wait(pause) or self.stopping:
                break
        log.info("worker loop stopped after %d sync(s)", self.runs)
