"""The job runner: one compute slot, latest request wins, latest snapshot only, clean errors."""
from __future__ import annotations

import logging
import threading
import time

import pytest

from ntk_desktop.errors import NTKInputError
from ntk_desktop.gui import runner as runner_mod
from ntk_desktop.gui.runner import JobRunner

WAIT = 10.0


class Recorder:
    """Every signal of a runner, in order."""

    def __init__(self, r: JobRunner):
        self.events = []
        r.started.connect(lambda t: self.events.append(("started", t)))
        r.snapshot.connect(lambda t, s: self.events.append(("snapshot", t, s)))
        r.finished.connect(lambda t: self.events.append(("finished", t)))
        r.cancelled.connect(lambda t: self.events.append(("cancelled", t)))
        r.failed.connect(lambda t, m: self.events.append(("failed", t, m)))

    def of(self, kind, ticket=None):
        return [e for e in self.events if e[0] == kind and (ticket is None or e[1] is ticket)]


@pytest.fixture
def runner(qtbot):
    r = JobRunner()
    yield r
    r.shutdown(10_000)
    assert not r.busy


def counting_job(request):
    for i in range(request["n"]):
        yield i


def gated_job(state):
    """Yields 0, then waits (off the GUI thread) for ``state['gate']``, then yields 1, 2."""
    try:
        state["steps"].append(0)
        yield 0
        state["resumed"].set()
        assert state["gate"].wait(WAIT)
        state["steps"].append(1)
        yield 1
        state["steps"].append(2)
        yield 2
    finally:
        state["closed"] = True


def new_state():
    return {"gate": threading.Event(), "resumed": threading.Event(), "steps": [], "closed": False}


def test_runs_to_the_end_and_delivers_the_last_snapshot(qtbot, runner):
    rec = Recorder(runner)
    with qtbot.waitSignal(runner.finished, timeout=10_000):
        ticket = runner.submit(counting_job, {"n": 50})
    assert ticket.state == "finished"
    snaps = [e[2] for e in rec.of("snapshot", ticket)]
    assert snaps and snaps[-1] == 49
    assert snaps == sorted(snaps)
    assert [e[0] for e in rec.events][0] == "started" and rec.events[-1][0] == "finished"
    qtbot.waitUntil(lambda: not runner.busy)


def test_keeps_only_the_latest_snapshot(qtbot, runner):
    """1000 yields while the GUI thread is not looking reach it as one snapshot, the newest."""
    all_yielded, gate = threading.Event(), threading.Event()

    def burst(_):
        for i in range(1000):
            yield i
        all_yielded.set()      # runs when the worker asks for item 1001: 999 is published
        assert gate.wait(WAIT)

    rec = Recorder(runner)
    ticket = runner.submit(burst, None)
    assert all_yielded.wait(WAIT)          # no event processing meanwhile
    qtbot.waitUntil(lambda: bool(rec.of("snapshot", ticket)), timeout=5000)
    qtbot.wait(50)
    assert [e[2] for e in rec.of("snapshot", ticket)] == [999]
    gate.set()
    qtbot.waitUntil(lambda: ticket.done, timeout=5000)
    assert ticket.state == "finished"


def test_latest_request_wins(qtbot, runner):
    a, b, c = new_state(), new_state(), new_state()
    c["gate"].set()
    rec = Recorder(runner)
    ta = runner.submit(gated_job, a)
    assert a["resumed"].wait(WAIT)            # A is computing between two yields
    tb = runner.submit(gated_job, b)
    tc = runner.submit(gated_job, c)          # replaces B before it ever started
    assert runner.busy and runner.current is tc
    assert tb.state == "cancelled" and b["steps"] == []
    a["gate"].set()                           # A reaches its next yield: a cancellation point
    qtbot.waitUntil(lambda: tc.done, timeout=10_000)
    assert ta.state == "cancelled" and tc.state == "finished"
    # A stopped at that yield: step 1 was computed, step 2 never was, and A was closed
    assert a["steps"] == [0, 1] and a["closed"]
    assert [e[1] for e in rec.of("started")] == [ta, tc]
    assert [e[1] for e in rec.of("cancelled")] == [tb, ta]
    assert not rec.of("snapshot", tb)
    assert [e[2] for e in rec.of("snapshot", tc)][-1] == 2
    qtbot.waitUntil(lambda: not runner.busy)


def test_snapshots_of_a_cancelled_job_are_dropped(qtbot, runner):
    a = new_state()
    rec = Recorder(runner)
    ticket = runner.submit(gated_job, a)
    assert a["resumed"].wait(WAIT)            # snapshot 0 is published, its signal still queued
    runner.cancel()
    a["gate"].set()
    qtbot.waitUntil(lambda: ticket.done, timeout=10_000)
    assert ticket.state == "cancelled"
    assert not rec.of("snapshot", ticket)
    qtbot.waitUntil(lambda: not runner.busy)


def test_input_errors_are_reported_as_they_are(qtbot, runner):
    def bad(_):
        yield 1
        raise NTKInputError("widths must be distinct (got 16, 16)")

    with qtbot.waitSignal(runner.failed, timeout=10_000) as blocker:
        ticket = runner.submit(bad, None)
    assert blocker.args[1] == "widths must be distinct (got 16, 16)"
    assert ticket.state == "failed" and ticket.error == blocker.args[1]
    qtbot.waitUntil(lambda: not runner.busy)


def test_unexpected_errors_give_one_line_and_log_the_traceback(qtbot, runner, caplog):
    def broken(_):
        yield 1
        1 / 0

    caplog.set_level(logging.ERROR, logger="ntk_desktop.gui.runner")
    with qtbot.waitSignal(runner.failed, timeout=10_000) as blocker:
        runner.submit(broken, None)
    assert blocker.args[1] == "ZeroDivisionError: division by zero"
    assert "Traceback" in caplog.text and "1 / 0" in caplog.text
    qtbot.waitUntil(lambda: not runner.busy)


def test_an_error_before_the_first_yield(qtbot, runner):
    def invalid(request):
        if request < 0:
            raise NTKInputError("depth must be at least 1 (got -1)")
        yield request

    with qtbot.waitSignal(runner.failed, timeout=10_000) as blocker:
        runner.submit(invalid, -1)
    assert blocker.args[1] == "depth must be at least 1 (got -1)"
    # the slot is free again: the next job runs
    with qtbot.waitSignal(runner.finished, timeout=10_000):
        runner.submit(invalid, 3)


def test_shutdown_cancels_and_joins(qtbot, runner):
    def forever(_):
        i = 0
        while True:
            time.sleep(0.002)
            i += 1
            yield i

    rec = Recorder(runner)
    ticket = runner.submit(forever, None)
    qtbot.waitUntil(lambda: ticket.snapshots > 0, timeout=5000)
    assert runner.shutdown(10_000)                 # blocking: no event processing needed
    assert not runner.busy and ticket.state == "cancelled"
    assert [e[1] for e in rec.of("cancelled")] == [ticket]
    assert not any(w.isRunning() for w in runner_mod._LIVE_WORKERS)
    qtbot.wait(20)        # the queued 'finished' of the joined worker changes nothing
    assert [e[0] for e in rec.events].count("cancelled") == 1


def test_one_compute_slot(qtbot, runner):
    """However fast requests come, two jobs never compute at the same time."""
    running, overlaps = [0], [0]
    lock = threading.Lock()

    def job(_):
        with lock:
            running[0] += 1
            overlaps[0] = max(overlaps[0], running[0])
        try:
            for i in range(3):
                time.sleep(0.005)
                yield i
        finally:
            with lock:
                running[0] -= 1

    tickets = []
    for _ in range(20):
        tickets.append(runner.submit(job, None))
        qtbot.wait(3)
    qtbot.waitUntil(lambda: not runner.busy, timeout=10_000)
    assert overlaps[0] == 1
    assert tickets[-1].state == "finished"
    assert all(t.state == "cancelled" for t in tickets[:-1] if t.state != "finished")
