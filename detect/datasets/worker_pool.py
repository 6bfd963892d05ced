"""A process pool whose workers never outlive the process that started them.

``multiprocessing.Pool`` used in a with-block terminates its workers when the
block exits, normally or by an exception: KeyboardInterrupt on Ctrl-C, or the
exception that a SIGTERM handler raises (detect/cli/convert.py installs one). A parent
killed outright (SIGKILL, or SIGTERM without a handler) runs no code at all,
so each worker also watches its parent from a daemon thread and exits when
the parent is gone (the worker is then re-parented, so ``os.getppid()``
changes). Workers ignore SIGINT: Ctrl-C reaches the whole process group, and
the parent alone decides what to stop. They take SIGTERM's default action
(exit), not a handler the parent had when it forked them: Pool.terminate()
stops them with SIGTERM, and a handler that raises inside a task would only
fail that task and keep the worker alive.
"""
import multiprocessing
import os
import signal
import threading
import time

PARENT_POLL_SECONDS = 0.5


def _exit_when_orphaned(parent_pid):
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)  # no cleanup to run: the parent owns every output file


def _init_worker():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True,
                     name="exit-when-orphaned").start()


def worker_pool(processes=None):
    """A multiprocessing.Pool of ``processes`` workers (default: one per CPU)
    that die with this process; use it as ``with worker_pool(n) as pool:``."""
    return multiprocessing.Pool(processes, initializer=_init_worker)
