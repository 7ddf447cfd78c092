"""Run generator jobs in a worker thread: one compute slot, the latest request wins.

In the spirit of superqt's ``thread_worker`` / napari's ``GeneratorWorker``, simplified to what
NTK Desktop needs:

* a *job* is a function ``job(request) -> iterator`` (see :mod:`ntk_desktop.experiments`); each
  item it yields is a snapshot, and each yield is a cancellation point: once cancelled, the
  generator is not resumed but closed;
* :meth:`JobRunner.submit` asks the running job to stop and starts the new one when it has
  stopped; a request submitted while another waits replaces it (latest request wins), so at most
  one job computes at any time (the numerical backends are not safe to run twice at once);
* the worker keeps only the latest snapshot and notifies the GUI thread through a queued signal
  that is not re-emitted until the GUI has taken it, so a fast job never floods the event queue;
  snapshots of a job that was cancelled or replaced are dropped;
* errors become :attr:`JobRunner.failed` with a one-line message: an
  :class:`~ntk_desktop.errors.NTKInputError` (memory budget included) as it is, anything else as
  ``TypeName: message`` with the traceback in the log;
* workers are referenced until their thread has finished, and :meth:`JobRunner.shutdown` (also
  run when the application is about to quit) cancels and joins them — never "QThread: Destroyed
  while thread is still running".

All public methods and signals belong to the GUI thread; the only code that runs in the worker
thread is the job itself and :meth:`_Worker.run`.
"""
from __future__ import annotations

import functools
import itertools
import logging
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal

from ..errors import Cancelled, NTKInputError

log = logging.getLogger(__name__)

Job = Callable[[Any], Iterator[Any]]

#: every worker thread that has been started and not yet joined, whatever became of its runner
_LIVE_WORKERS: "set[_Worker]" = set()
_ids = itertools.count(1)


@dataclass(eq=False)
class Ticket:
    """One submitted job: what to run, for whom, and how it ended.

    ``state`` goes ``pending`` → ``running`` → ``finished`` | ``cancelled`` | ``failed``
    (a pending ticket replaced by a newer request goes straight to ``cancelled``).
    """

    job: Job
    request: Any
    owner: Any = None
    id: int = field(default_factory=lambda: next(_ids))
    state: str = "pending"
    error: str = ""
    snapshots: int = 0           # snapshots delivered to the GUI thread

    @property
    def done(self) -> bool:
        return self.state in ("finished", "cancelled", "failed")


class _Worker(QThread):
    """Runs one ticket's generator; lives (as a QObject) in the GUI thread."""

    produced = Signal()   # a new latest snapshot is waiting in take() (coalesced)

    def __init__(self, ticket: Ticket):
        super().__init__()
        self.ticket = ticket
        self.outcome = "cancelled"
        self.message = ""
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._latest: Any = None
        self._has_latest = False
        self._notified = False

    # --- GUI thread
    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def take(self):
        """(True, latest snapshot) once per published snapshot, else (False, None)."""
        with self._lock:
            self._notified = False
            if not self._has_latest:
                return False, None
            item, self._latest, self._has_latest = self._latest, None, False
            return True, item

    # --- worker thread
    def _publish(self, item) -> None:
        with self._lock:
            self._latest, self._has_latest = item, True
            notify = not self._notified
            self._notified = True
        if notify:
            self.produced.emit()

    def run(self) -> None:  # noqa: D401 (QThread API)
        t = self.ticket
        try:
            iterator = iter(t.job(t.request))
            try:
                while not self._cancel.is_set():
                    try:
                        item = next(iterator)
                    except StopIteration:
                        self.outcome = "finished"
                        return
                    self._publish(item)
                self.outcome = "cancelled"
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
        except Cancelled:
            self.outcome = "cancelled"
        except NTKInputError as exc:
            self.outcome, self.message = "failed", str(exc)
        except MemoryError:
            log.error("job %s ran out of memory:\n%s", t.id, traceback.format_exc())
            self.outcome, self.message = "failed", "out of memory: use smaller widths, fewer angles or a lower memory budget"
        except Exception as exc:  # noqa: BLE001 — reported to the user, traceback to the log
            log.error("job %s failed:\n%s", t.id, traceback.format_exc())
            text = str(exc).strip().splitlines()
            self.outcome = "failed"
            self.message = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class JobRunner(QObject):
    """One compute slot for generator jobs; see the module docstring.

    Signals (GUI thread): ``started(ticket)``; ``snapshot(ticket, item)`` for the latest item of
    the current job (never for a cancelled or replaced one); then exactly one of
    ``finished(ticket)``, ``cancelled(ticket)``, ``failed(ticket, message)``; and
    ``busyChanged(bool)`` when the slot becomes busy or idle.
    """

    started = Signal(object)
    snapshot = Signal(object, object)
    finished = Signal(object)
    cancelled = Signal(object)
    failed = Signal(object, str)
    busyChanged = Signal(bool)

    def __init__(self, parent: Optional[QObject] = None):
        super().__init__(parent)
        self._worker: Optional[_Worker] = None       # the running one (maybe cancelling)
        self._pending: Optional[Ticket] = None       # waits for the slot
        self._workers: "set[_Worker]" = set()        # referenced until joined
        self._busy = False
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # ------------------------------------------------------------------ public API
    @property
    def busy(self) -> bool:
        """True from a submit until no job runs and none waits."""
        return self._busy

    @property
    def current(self) -> Optional[Ticket]:
        """The ticket that runs (or will run next), None when idle or only cancelling."""
        if self._pending is not None:
            return self._pending
        if self._worker is not None and not self._worker.cancel_requested:
            return self._worker.ticket
        return None

    def submit(self, job: Job, request: Any, owner: Any = None) -> Ticket:
        """Run ``job(request)`` as soon as the slot is free; cancels the running job and replaces
        a waiting one.  Returns the ticket (its ``state`` tells what became of it)."""
        ticket = Ticket(job, request, owner)
        if self._pending is not None:
            self._drop_pending()
        if self._worker is not None:
            self._worker.cancel()
            self._pending = ticket
            self._set_busy(True)
        else:
            self._start(ticket)
        return ticket

    def cancel(self) -> None:
        """Stop the running job at its next yield and forget a waiting one."""
        if self._pending is not None:
            self._drop_pending()
        if self._worker is not None:
            self._worker.cancel()
        else:
            self._set_busy(False)

    def shutdown(self, timeout_ms: Optional[int] = None) -> bool:
        """Cancel everything and join the worker threads (blocking).  True when all have ended.

        Without a timeout this waits for the running job's next yield, however long that is:
        a thread cannot be stopped safely in the middle of a NumPy call.
        """
        if self._pending is not None:
            self._drop_pending()
        ok = True
        for worker in list(self._workers):
            worker.cancel()
            ended = worker.wait() if timeout_ms is None else worker.wait(int(timeout_ms))
            ok = ok and ended
            if ended:
                self._reap(worker, deliver_last=False)
        if ok:
            self._set_busy(False)
        return ok

    # ------------------------------------------------------------------ internals
    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busyChanged.emit(busy)

    def _drop_pending(self) -> None:
        ticket, self._pending = self._pending, None
        ticket.state = "cancelled"
        self.cancelled.emit(ticket)

    def _start(self, ticket: Ticket) -> None:
        worker = _Worker(ticket)
        # bound methods: disconnected by Qt if this runner is destroyed first; the module-level
        # registry then still keeps the worker alive until its thread has ended
        worker.produced.connect(self._on_produced_signal)
        worker.finished.connect(self._on_worker_finished_signal)
        worker.finished.connect(functools.partial(_release, worker))
        self._workers.add(worker)
        _LIVE_WORKERS.add(worker)
        self._worker = worker
        ticket.state = "running"
        self._set_busy(True)
        self.started.emit(ticket)
        worker.start()

    def _on_produced_signal(self) -> None:
        worker = self.sender()
        if isinstance(worker, _Worker):
            self._on_produced(worker)

    def _on_worker_finished_signal(self) -> None:
        worker = self.sender()
        if isinstance(worker, _Worker):
            self._on_worker_finished(worker)

    def _on_produced(self, worker: _Worker) -> None:
        ok, item = worker.take()
        if ok and worker is self._worker and not worker.cancel_requested:
            worker.ticket.snapshots += 1
            self.snapshot.emit(worker.ticket, item)

    def _reap(self, worker: _Worker, deliver_last: bool = True) -> None:
        """The worker's thread has ended: release it and report how its job ended (after its
        last snapshot, unless ``deliver_last`` is False: shutting down)."""
        if worker not in self._workers:
            return
        worker.wait()        # returns at once: run() has returned
        ticket = worker.ticket
        outcome = worker.outcome
        if worker.cancel_requested:
            if outcome == "failed":   # an error while stopping: log it, do not show it
                log.info("job %s failed while being cancelled: %s", ticket.id, worker.message)
            outcome = "cancelled"
        if outcome == "finished" and deliver_last:
            self._on_produced(worker)     # the last snapshot, if the GUI has not taken it yet
        self._workers.discard(worker)
        _LIVE_WORKERS.discard(worker)
        if worker is self._worker:
            self._worker = None
        ticket.state = outcome
        ticket.error = worker.message if outcome == "failed" else ""
        if outcome == "finished":
            self.finished.emit(ticket)
        elif outcome == "failed":
            self.failed.emit(ticket, ticket.error)
        else:
            self.cancelled.emit(ticket)

    def _on_worker_finished(self, worker: _Worker) -> None:
        self._reap(worker)
        if self._worker is None:
            if self._pending is not None:
                ticket, self._pending = self._pending, None
                self._start(ticket)
            else:
                self._set_busy(False)


def _release(worker: _Worker) -> None:
    """Runs in the GUI thread when a worker's thread has ended, whether or not its runner lives."""
    worker.wait()
    _LIVE_WORKERS.discard(worker)
    worker.deleteLater()


def join_all_workers(timeout_ms: Optional[int] = None) -> bool:
    """Cancel and join every worker thread still alive (a last resort at exit)."""
    ok = True
    for worker in list(_LIVE_WORKERS):
        worker.cancel()
        ok = (worker.wait() if timeout_ms is None else worker.wait(int(timeout_ms))) and ok
    return ok
