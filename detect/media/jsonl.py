"""JSON lines that a kill cannot corrupt: one object a line, appended and
flushed one by one; reopened, a torn last line (a process killed while
writing it) is cut off, so the file holds only whole lines."""
import json
import logging
import os

log = logging.getLogger("detect.media")


def read_lines(path, pick=None):
    """The whole lines' objects of a JSON-lines file ([] when it does not
    exist), or pick(object) of each (to keep less of big lines in memory),
    and the byte length of those lines. A last line without its newline, or
    one that does not parse, ends the read (it was being written when the
    writer died)."""
    objects, good = [], 0
    if not os.path.exists(path):
        return objects, good
    with open(path, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                break
            try:
                obj = json.loads(line)
            except ValueError:
                break
            objects.append(pick(obj) if pick else obj)
            good += len(line)
    return objects, good


class JsonLines:
    """Appends objects to a JSON-lines file.

    Args:
      path: the file.
      resume: keep the whole lines already there (``lines`` holds them, or
        pick(object) of each), cutting a torn last line off; False starts
        the file anew.
    """

    def __init__(self, path, resume=False, pick=None):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.lines = []
        if resume:
            self.lines, good = read_lines(path, pick)
            if os.path.exists(path) and os.path.getsize(path) > good:
                log.warning("%s: cut off a torn last line (%d bytes) left by an interrupted run",
                            path, os.path.getsize(path) - good)
                with open(path, "r+b") as f:
                    f.truncate(good)
        self.file = open(path, "a" if resume else "w", encoding="utf-8")

    def append(self, obj):
        self.file.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self.file.flush()  # whole lines reach the OS one by one

    def close(self):
        if not self.file.closed:
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
