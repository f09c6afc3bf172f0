"""``RateLimiter``: a minimum spacing between request starts, on a fake clock, from one or many threads."""

from __future__ import annotations

import threading

import pytest

from orderbridge.http import RateLimiter


class FakeClock:
    """Time that moves only when someone sleeps (each thread's sleep moves its own view of now)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, "the limiter never sleeps for nothing"
        with self._lock:
            self.slept.append(seconds)


def test_no_rate_means_no_waiting():
    fake = FakeClock()
    limiter = RateLimiter(None, clock=fake.clock, sleep=fake.sleep)
    for _ in range(50):
        limiter.wait()
    assert fake.slept == []


def test_back_to_back_calls_are_spaced_by_one_interval():
    fake = FakeClock()
    limiter = RateLimiter(4, clock=fake.clock, sleep=fake.sleep)  # 0.25 s apart
    starts = []
    for _ in range(5):
        before = len(fake.slept)
        limiter.wait()
        waited = sum(fake.slept[before:])
        fake.now += waited  # the caller starts after its wait
        starts.append(fake.now)
    assert starts == pytest.approx([1000.0, 1000.25, 1000.5, 1000.75, 1001.0])


def test_calls_already_far_apart_do_not_wait():
    fake = FakeClock()
    limiter = RateLimiter(2, clock=fake.clock, sleep=fake.sleep)
    for _ in range(3):
        limiter.wait()
        fake.now += 0.6  # slower than the rate by itself
    assert fake.slept == []


def test_a_call_shortly_after_the_last_waits_only_the_rest_of_the_interval():
    fake = FakeClock()
    limiter = RateLimiter(1, clock=fake.clock, sleep=fake.sleep)
    limiter.wait()
    fake.now += 0.7
    limiter.wait()
    assert fake.slept == pytest.approx([0.3])


def test_threads_share_the_spacing_each_taking_its_own_slot():
    fake = FakeClock()  # the clock stands still: every thread asks "now" at the same instant
    limiter = RateLimiter(10, clock=fake.clock, sleep=fake.sleep)
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        limiter.wait()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    # One thread starts at once; the others wait 0.1, 0.2, ... 0.7 s: each slot taken exactly once.
    assert sorted(fake.slept) == pytest.approx([0.1 * i for i in range(1, 8)])
