"""Stopping a command cleanly: SIGTERM raised as an exception in the main
thread (as Ctrl-C raises KeyboardInterrupt), so that ``finally`` blocks
close files and remove temporaries. A process killed with SIGKILL runs no
code at all."""
import contextlib
import signal
import threading


class Stopped(Exception):
    """SIGTERM arrived; raised in the main thread so that cleanup runs."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stopped(signum, frame):
    raise Stopped(signum)


@contextlib.contextmanager
def sigterm_raises():
    """Within it, SIGTERM raises Stopped in the main thread (elsewhere:
    signals cannot be handled there, and nothing changes)."""
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_stopped) if in_main else None
    try:
        yield
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


def stop_signal(e):
    """The signal (signal.Signals) behind a Stopped or KeyboardInterrupt;
    a command exits with 128 + its number."""
    return signal.Signals(e.signum if isinstance(e, Stopped) else signal.SIGINT)


class StopRequests:
    """Ctrl-C and SIGTERM as requests, honoured where the work can stop.

    Within it, the first SIGINT or SIGTERM is only recorded, and check()
    (called between frames or images) raises Stopped for it: a signal never
    lands inside TensorFlow while it traces or runs a graph, where it would
    be swallowed or turned into another error. A second Ctrl-C raises
    KeyboardInterrupt at once. Outside the main thread nothing changes.
    """

    def __init__(self):
        self.signum = None
        self._previous = {}

    def _record(self, signum, frame):
        if self.signum == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt  # asked twice
        self.signum = self.signum or signum

    def check(self):
        if self.signum is not None:
            raise Stopped(self.signum)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._record)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
