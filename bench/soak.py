"""Soak test: NTK Desktop in a real X window for a long live session (issue 13, item 10).

    python bench/soak.py [--minutes 30] [--dwell 4] [--size 1280x720]

Runs the application in this process under a real X server: the one in $DISPLAY, or, when
DISPLAY is unset, an ``Xvfb`` started on a free display and stopped at the end (the Qt platform
is xcb, never offscreen).  For ``--minutes`` it repeats a cycle of what a lecturer does: the
presets fig1, fig2 and fig3, each run for ``--dwell`` seconds (stopped there if still running),
then parameter changes — widths, depth and nonlinearity on the Kernel panel, a training run
stopped mid-way with the Esc key, a preset applied and run while a job runs (the job it replaces
is cancelled), Reset (Ctrl+R) and a run with the defaults.

Measured:

* resident memory (VmRSS) when the first cycle has ended (everything loaded and compiled) and at
  the end, and its growth; next to it glibc's malloc figures (memory in use, and memory freed but
  kept by the allocator, which the resident memory counts: it comes and goes by tens of MiB as
  jobs of different sizes run) and, at the very end, VmRSS after malloc_trim(0) — to tell a
  leak from memory the allocator keeps;
* when the window is idle after each job: Python threads, OS threads (/proc/self/task), QTimer
  objects and running QTimers of the application and its windows, top-level widgets and QObjects
  — compared with the same counts idle after the first cycle (the baseline); a count may take up
  to ``--settle`` seconds to come back (a cancelled worker ends at its next yield).  QObjects
  depend on what the plots show, so they are compared once, at the end, after the same job as
  the baseline (the cycle begun before ``--minutes`` have passed is finished), and may exceed
  it by at most QOBJECT_SLACK;
* whether Esc triggers Stop, and how long a stopped job takes until the window is idle (a job
  stops at its next yield);
* every Python warning, every uncaught exception (sys.excepthook, threading.excepthook,
  sys.unraisablehook, a traceback written to sys.stderr) and every Qt warning, each printed.

Prints one table and exits 1 if the memory grew by 5 % or more, an idle count did not come back
to its baseline, a job failed, Esc did not trigger Stop, or anything was warned or raised;
0 otherwise.
"""
from __future__ import annotations

import argparse
import collections
import ctypes
import gc
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings

import common  # noqa: F401  (sets sys.path)
from common import machine_lines

MAX_GROWTH = 5.0   # % of resident memory
#: counts that must be back to their baseline after every job; the number of QObjects depends on
#: what the panels show (the last job's plots), so it is compared at the end, after the same job
#: as the baseline
#: QObjects the panels' plots may hold more or fewer depending on where a stopped job was stopped
#: (seen: ±1); a leak grows past it over the cycles of a soak
QOBJECT_SLACK = 8
STRICT = ("Python threads", "OS threads", "QTimers", "running QTimers", "top-level widgets")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="how long to cycle (default 30)")
    ap.add_argument("--dwell", type=float, default=4.0,
                    help="seconds each preset and each parameter change runs (default 4)")
    ap.add_argument("--size", default="1280x720", help="window size WxH (default 1280x720)")
    ap.add_argument("--settle", type=float, default=5.0,
                    help="seconds an idle count may take to come back to its baseline (default 5)")
    args = ap.parse_args(argv)
    try:
        args.width, args.height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        ap.error(f"--size {args.size!r}: expected WxH, e.g. 1280x720")
    return args


# ------------------------------------------------------------------------------- X server
def _die_with_parent() -> None:
    """In the child: SIGTERM when this process ends, even by a crash (Linux prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)


def start_xvfb(width: int, height: int) -> subprocess.Popen:
    """An Xvfb on a free display (it picks one and writes its number to a pipe); sets DISPLAY."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0",
                             f"{width + 64}x{height + 64}x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=_die_with_parent)
    os.close(write_fd)
    with os.fdopen(read_fd) as fh:
        number = fh.readline().strip()
    if not number:
        proc.kill()
        raise SystemExit("soak: Xvfb did not start")
    os.environ["DISPLAY"] = f":{number}"
    return proc


def stop_xvfb(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ------------------------------------------------------------------------------- what went wrong
class Problems:
    """Every warning, uncaught exception and Qt warning of the process, counted and printed."""

    def __init__(self):
        self.warnings = []
        self.tracebacks = []
        self.qt = []
        self._err = sys.stderr

    def install(self):
        from PySide6.QtCore import QtMsgType, qInstallMessageHandler

        warnings.simplefilter("always")
        warnings.showwarning = self._on_warning
        sys.excepthook = lambda *exc: self._on_exception("sys.excepthook", *exc)
        threading.excepthook = lambda a: self._on_exception(
            f"thread {a.thread.name if a.thread else '?'}", a.exc_type, a.exc_value, a.exc_traceback)
        sys.unraisablehook = lambda u: self._on_exception(
            f"unraisable ({u.err_msg or ''} {u.object!r})", u.exc_type, u.exc_value, u.exc_traceback)
        sys.stderr = _TracebackSpy(self)
        quiet = (QtMsgType.QtDebugMsg, QtMsgType.QtInfoMsg)

        def on_qt(mode, context, message):
            if mode not in quiet:
                self.qt.append(message)
                self._print(f"[soak] Qt {mode.name}: {message}")
        qInstallMessageHandler(on_qt)

    def _print(self, text: str) -> None:
        print(text, file=self._err, flush=True)

    def _on_warning(self, message, category, filename, lineno, file=None, line=None):
        self.warnings.append(f"{category.__name__}: {message} ({filename}:{lineno})")
        self._print(f"[soak] warning: {self.warnings[-1]}")

    def _on_exception(self, where, exc_type, exc, tb):
        self.tracebacks.append(f"{where}: {exc_type.__name__}: {exc}")
        self._print(f"[soak] uncaught exception in {where}:\n"
                    + "".join(traceback.format_exception(exc_type, exc, tb)))

    def total(self) -> int:
        return len(self.warnings) + len(self.tracebacks) + len(self.qt)


class _TracebackSpy:
    """sys.stderr that counts tracebacks printed by anyone (e.g. an exception in a Qt slot)."""

    def __init__(self, problems: Problems):
        self._problems = problems

    def write(self, text):
        if "Traceback (most recent call last)" in text:
            self._problems.tracebacks.append("traceback written to stderr")
        return self._problems._err.write(text)

    def __getattr__(self, name):
        return getattr(self._problems._err, name)


# ------------------------------------------------------------------------------- measurements
def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]


def heap_mib():
    """(in use, free but kept) MiB of glibc's malloc over all its arenas; None without mallinfo2.

    Tells a leak (memory in use grows) from memory the allocator keeps after it was freed (the
    resident memory grows, the memory in use does not)."""
    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _MallInfo2
    m = mallinfo2()
    return (m.uordblks + m.hblkhd) / 2 ** 20, m.fordblks / 2 ** 20


def rss_after_trim():
    """VmRSS MiB once glibc has given its free memory back to the system (malloc_trim(0)); None
    without glibc.  Only at the very end: it changes what the allocator keeps."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        return None
    return rss_mib()


def memory_text() -> str:
    heap = heap_mib()
    return f"RSS {rss_mib():.1f} MiB" + ("" if heap is None else
                                          f" (malloc: {heap[0]:.1f} MiB in use, {heap[1]:.1f} MiB free but kept)")


def idle_counts(app) -> dict:
    from PySide6.QtCore import QObject, QTimer

    roots = [app] + list(app.topLevelWidgets())
    timers = [t for r in roots for t in r.findChildren(QTimer)]
    return {"Python threads": threading.active_count(),
            "OS threads": len(os.listdir("/proc/self/task")),
            "QTimers": len(timers),
            "running QTimers": sum(t.isActive() for t in timers),
            "QObjects": sum(len(r.findChildren(QObject)) for r in roots),
            "top-level widgets": len(app.topLevelWidgets())}


class Soak:
    def __init__(self, app, window, args, problems: Problems):
        self.app, self.w, self.args, self.problems = app, window, args, problems
        self.states = collections.Counter()
        self.idle = collections.defaultdict(list)     # name -> counts idle after each job (after the baseline)
        self.baseline = None
        self.not_back = []                            # (job, name, value, baseline)
        self.esc_missed = 0                           # Esc presses that did not trigger Stop
        self.stop_triggered = 0
        window.act_stop.triggered.connect(self._on_stop_triggered)
        self.stopped_at = None                        # when the running job was asked to stop
        self.stop_delays = []                         # (seconds from the stop to idle, job)
        self.job_name = ""

    def _on_stop_triggered(self, *_):
        self.stop_triggered += 1

    # ---------------------------------------------------------------- event loop
    def wait(self, seconds: float, until=None) -> bool:
        """Run the event loop for ``seconds`` or until ``until()`` holds (then True)."""
        from PySide6.QtCore import QEventLoop, QTimer

        if until is not None and until():
            return True
        loop = QEventLoop()
        poll = QTimer()
        poll.setInterval(20)
        poll.timeout.connect(lambda: until() and loop.quit())
        if until is not None:
            poll.start()
        deadline = QTimer()
        deadline.setSingleShot(True)
        deadline.timeout.connect(loop.quit)
        deadline.start(int(1000 * seconds))
        loop.exec()
        poll.stop()
        deadline.stop()
        return until is not None and until()

    def idle_now(self) -> bool:
        return not self.w.runner.busy and not self.w._pending_frames

    # ---------------------------------------------------------------- jobs
    def run(self, seconds: float):
        """Run the active panel's job; stop it after ``seconds`` if it has not finished."""
        ticket = self.w.run()
        if ticket is None:
            raise RuntimeError(f"{self.job_name}: the window refused to run: {self.w.message.text()}")
        if not self.wait(seconds, lambda: ticket.done):
            self.stopped_at = time.monotonic()
            self.w.stop()
        return ticket

    def end(self, *tickets) -> None:
        """Wait until the window is idle, count how ``tickets`` ended and compare the idle counts."""
        if not self.wait(600, lambda: all(t.done for t in tickets) and self.idle_now()):
            raise RuntimeError(f"{self.job_name}: still busy after 600 s")
        if self.stopped_at is not None:
            self.stop_delays.append((time.monotonic() - self.stopped_at, self.job_name))
            self.stopped_at = None
        for t in tickets:
            self.states[t.state] += 1
            if t.state == "failed":
                self.problems.tracebacks.append(f"job {self.job_name} failed: {t.error}")
                self.problems._print(f"[soak] job {self.job_name} failed: {t.error}")
        if self.baseline is not None:
            self.compare(STRICT)

    def settled_counts(self, names) -> dict:
        """The idle counts once ``names`` are back to the baseline, or after ``--settle`` s."""
        gc.collect()
        self.wait(0.2)                      # deferred deletions run in the event loop
        self.wait(self.args.settle, lambda: all(idle_counts(self.app)[n] == self.baseline[n] for n in names))
        return idle_counts(self.app)

    def compare(self, names) -> None:
        """Record the idle counts; those in ``names`` must be back to their baseline."""
        counts = self.settled_counts(names)
        for name, value in counts.items():
            self.idle[name].append(value)
            base = self.baseline[name]
            if name in names and (value > base + QOBJECT_SLACK if name == "QObjects" else value != base):
                self.not_back.append((self.job_name, name, value, self.baseline[name]))
                self.problems._print(f"[soak] idle after {self.job_name}: {name} {value}, "
                                     f"baseline {self.baseline[name]}")

    def cycle(self) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest
        from ntk_desktop.gui.presets import get_preset

        w, dwell, p = self.w, self.args.dwell, self.w.params
        for name in ("fig1", "fig2", "fig3"):
            self.job_name = f"preset {name}"
            w.apply_preset(get_preset(name))
            self.end(self.run(dwell))

        self.job_name = "kernel: depth 3, widths 64,256,1024, tanh, 2 initializations"
        w.set_active(w.panel("kernel"))
        p.depth.setValue(3)
        p.widths.setText("64,256,1024")
        p.nonlinearity.setCurrentText("tanh")
        p.n_init.setValue(2)
        self.end(self.run(dwell))

        self.job_name = "training: depth 2, widths 200,800, erf, Esc mid-way"
        w.set_active(w.panel("training"))
        p.depth.setValue(2)
        p.widths.setText("200,800")
        p.nonlinearity.setCurrentText("erf")
        ticket = w.run()
        self.wait(dwell / 2, lambda: ticket.done)
        if not ticket.done:
            w.activateWindow()                 # keys go to the active window: wait until X says so
            self.wait(2.0, lambda: self.app.activeWindow() is w)
            before, self.stopped_at = self.stop_triggered, time.monotonic()
            QTest.keyClick(w.panel("training").fn_widget, Qt.Key.Key_Escape)   # the plot looked at
            if self.stop_triggered == before:
                self.esc_missed += 1
                self.problems._print(f"[soak] Esc did not trigger Stop: active window "
                                     f"{self.app.activeWindow()}, focus {self.app.focusWidget()}")
                w.stop()
        self.end(ticket)

        self.job_name = "kernel width 10000 replaced by preset fig2 while running"
        w.set_active(w.panel("kernel"))
        p.widths.setText("10000")
        p.nonlinearity.setCurrentText("leaky_relu")
        first = w.run()
        self.wait(min(1.0, dwell / 2), lambda: first.done)
        w.apply_preset(get_preset("fig2"))
        self.end(first, self.run(dwell))

        self.job_name = "Reset (Ctrl+R), run the defaults"
        w.reset()
        self.end(self.run(dwell))

    # ---------------------------------------------------------------- the whole run
    def soak(self) -> dict:
        t0 = time.monotonic()
        self.cycle()
        cycles = 1
        gc.collect()
        self.wait(1.0)                      # deferred deletions run in the event loop
        self.baseline = idle_counts(self.app)
        rss_start, heap_start = rss_mib(), heap_mib()
        first_cycle_s = time.monotonic() - t0
        problems_in_first = self.problems.total()
        print(f"[soak] first cycle {first_cycle_s:.0f} s; baseline idle {self.baseline}; "
              f"{memory_text()}", flush=True)
        end = t0 + 60 * self.args.minutes
        while cycles < 2 or time.monotonic() < end:       # at least one cycle after the baseline
            self.cycle()
            cycles += 1
            print(f"[soak] cycle {cycles} done at {(time.monotonic() - t0) / 60:.1f} min, "
                  f"{memory_text()}", flush=True)
        self.job_name = "the last cycle (the same job as the baseline's)"
        self.compare(tuple(self.baseline))
        rss_end, heap_end = rss_mib(), heap_mib()
        return {"rss_start": rss_start, "rss_end": rss_end, "heap_start": heap_start, "heap_end": heap_end,
                "rss_trimmed": rss_after_trim(), "cycles": cycles,
                "minutes": (time.monotonic() - t0) / 60, "first_cycle_s": first_cycle_s,
                "problems_in_first": problems_in_first}


def stop_text(delays) -> str:
    if not delays:
        return "no job was stopped"
    longest = max(delays)
    return f"{statistics.median(d for d, _ in delays):.1f} / {longest[0]:.1f} ({longest[1]})"


def report(soak: Soak, r: dict, problems: Problems) -> int:
    growth = 100 * (r["rss_end"] - r["rss_start"]) / r["rss_start"]
    rows = [("resident memory start (after cycle 1) / end", f"{r['rss_start']:.1f} / {r['rss_end']:.1f} MiB"),
            ("growth", f"{growth:+.2f} % (limit < {MAX_GROWTH:g} %)")]
    if r["rss_trimmed"] is not None:
        rows.append(("end, after malloc_trim(0) (not gated)", f"{r['rss_trimmed']:.1f} MiB"))
    if r["heap_start"] is not None and r["heap_end"] is not None:
        rows.append(("malloc in use start / end (free but kept)",
                     f"{r['heap_start'][0]:.1f} / {r['heap_end'][0]:.1f} MiB "
                     f"({r['heap_start'][1]:.1f} / {r['heap_end'][1]:.1f} MiB)"))
    for name, base in soak.baseline.items():
        seen = soak.idle.get(name) or [base]
        rows.append((f"{name} idle min / max (baseline)", f"{min(seen)} / {max(seen)} ({base})"))
    rows += [("idle counts not back to the baseline", str(len(soak.not_back))),
             ("Python warnings", str(len(problems.warnings))),
             ("tracebacks (uncaught exceptions, failed jobs)", str(len(problems.tracebacks))),
             ("Qt warnings", str(len(problems.qt))),
             ("jobs finished / stopped / failed", f"{soak.states['finished']} / {soak.states['cancelled']} / "
                                                  f"{soak.states['failed']}"),
             ("Esc presses that did not trigger Stop", str(soak.esc_missed)),
             ("stop → idle, median / longest s (job)", stop_text(soak.stop_delays)),
             ("cycles (minutes)", f"{r['cycles']} ({r['minutes']:.1f}; cycle 1 took {r['first_cycle_s']:.0f} s)")]
    width = max(len(k) for k, _ in rows)
    print(f"| {'measure'.ljust(width)} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for k, v in rows:
        print(f"| {k.ljust(width)} | {v} |")
    for title, items in (("warnings", problems.warnings), ("tracebacks", problems.tracebacks),
                         ("Qt warnings", problems.qt)):
        for text, n in collections.Counter(items).most_common():
            print(f"  {title}: {n} × {text}")
    for job, name, value, base in soak.not_back[:20]:
        print(f"  not back after {job}: {name} {value} (baseline {base})")
    bad = (growth >= MAX_GROWTH or soak.not_back or problems.total() or soak.states["failed"]
           or soak.esc_missed)
    print("soak: FAIL" if bad else "soak: OK")
    return 1 if bad else 0


def main(argv=None) -> int:
    args = parse_args(argv)
    xvfb = start_xvfb(args.width, args.height) if not os.environ.get("DISPLAY") else None
    os.environ["QT_QPA_PLATFORM"] = "xcb"                          # a real window, never offscreen
    config = tempfile.TemporaryDirectory(prefix="ntk-soak-")
    os.environ["XDG_CONFIG_HOME"] = config.name                    # no saved settings of this user
    problems = Problems()
    try:
        from PySide6.QtWidgets import QApplication

        problems.install()
        app = QApplication(["ntk-desktop"])
        from ntk_desktop.gui import theme
        from ntk_desktop.gui.main_window import MainWindow
        from ntk_desktop.gui.runner import join_all_workers

        theme.apply(app)
        window = MainWindow(persist=False)
        window.act_auto.setChecked(False)          # every job is started here, as F5 would
        window.resize(args.width, args.height)
        window.show()
        soak = Soak(app, window, args, problems)
        soak.wait(2.0, window.isVisible)
        print("\n".join(machine_lines()))
        print(f"# python bench/soak.py --minutes {args.minutes:g} --dwell {args.dwell:g} --size {args.size}; "
              f"Qt platform {app.platformName()}, DISPLAY {os.environ['DISPLAY']}"
              f"{' (Xvfb started here)' if xvfb else ''}, window {window.width()}x{window.height()}",
              flush=True)
        result = soak.soak()
        code = report(soak, result, problems)
        window.close()
        soak.wait(30, lambda: window._closed_emitted)
        join_all_workers()
        return code
    finally:
        if xvfb is not None:
            stop_xvfb(xvfb)
        config.cleanup()


if __name__ == "__main__":
    sys.exit(main())
