"""The run loop, driven by an injected clock: no sleeping."""

from __future__ import annotations

import datetime as real_datetime
import types
from datetime import timedelta

import pytest
import schedule

from workflow.errors import TemporaryFailure
from workflow.runner import Runner


class FakeClock:
    def __init__(self, start: real_datetime.datetime) -> None:
        self.now = start

    def module(self) -> types.SimpleNamespace:
        clock = self

        class FakeDateTime(real_datetime.datetime):
            @classmethod
            def now(cls, tz=None):  # type: ignore[override]
                return clock.now if tz is None else clock.now.replace(tzinfo=tz)

        return types.SimpleNamespace(datetime=FakeDateTime, timedelta=real_datetime.timedelta,
                                     time=real_datetime.time, date=real_datetime.date)


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock(real_datetime.datetime(2026, 11, 25, 6, 0))
    monkeypatch.setattr(schedule, "datetime", fake.module())
    return fake


def run_for(clock: FakeClock, runner_factory, duration: timedelta) -> list[real_datetime.datetime]:
    """Run the loop until the fake clock has advanced by ``duration``; return sync times."""
    end = clock.now + duration
    times: list[real_datetime.datetime] = []

    def wait(seconds: float) -> bool:
        clock.now += timedelta(seconds=max(seconds, 0.001))
        return clock.now >= end

    runner = runner_factory(times, wait)
    runner.run()
    return times


def test_syncs_every_interval_and_at_digest_time(clock: FakeClock) -> None:
    def factory(times, wait):
        return Runner(lambda: times.append(clock.now), timedelta(minutes=2), "07:30",
                      scheduler=schedule.Scheduler(), wait=wait)

    times = run_for(clock, factory, timedelta(hours=2))
    assert times[0] == real_datetime.datetime(2026, 11, 25, 6, 0)  # one at start
    gaps = {b - a for a, b in zip(times, times[1:], strict=False)}
    assert max(gaps) <= timedelta(minutes=2)
    assert len(times) >= 60
    assert real_datetime.datetime(2026, 11, 25, 7, 30) in times


def test_failing_sync_is_logged_and_retried_next_tick(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[real_datetime.datetime] = []

    def flaky() -> None:
        calls.append(clock.now)
        if len(calls) <= 2:
            raise TemporaryFailure("mail server down")
        if len(calls) == 3:
            raise RuntimeError("unexpected")

    def factory(times, wait):
        return Runner(flaky, timedelta(minutes=2), None, scheduler=schedule.Scheduler(), wait=wait)

    run_for(clock, factory, timedelta(minutes=11))
    assert len(calls) >= 5  # the loop survived three failures
    assert "mail server down" in caplog.text and "unexpectedly" in caplog.text


def test_stop_ends_the_loop_after_the_current_sync(clock: FakeClock) -> None:
    runner: Runner | None = None
    calls = []

    def sync() -> None:
        calls.append(clock.now)
        if len(calls) == 3 and runner is not None:
            runner.stop()  # what the SIGTERM handler does

    def wait(seconds: float) -> bool:
        clock.now += timedelta(seconds=seconds)
        return False

    runner = Runner(sync, timedelta(minutes=2), None, scheduler=schedule.Scheduler(), wait=wait)
    runner.run()
    assert len(calls) == 3


def test_one_sync_at_a_time(clock: FakeClock) -> None:
    nested = []
    runner = Runner(lambda: None, timedelta(minutes=2), None, scheduler=schedule.Scheduler(), wait=lambda s: True)

    def sync() -> None:
        nested.append("outer")
        runner.tick()  # a second tick while one runs is skipped

    runner.sync = sync
    runner.tick()
    assert nested == ["outer"] and runner.runs == 1
