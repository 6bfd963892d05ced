"""Files written whole or not at all."""
import contextlib
import json
import os


@contextlib.contextmanager
def atomic_open(path, mode="w"):
    """A file to write in place of path: written to a temporary beside it,
    synced and renamed over path when the block ends; removed, leaving path
    as it was, when the block raises (a crash leaves the old file or the
    new one, never half of one)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json_atomic(path, obj, **dump_kwargs):
    """obj as JSON in path, written with atomic_open."""
    with atomic_open(path) as f:
        json.dump(obj, f, **dump_kwargs)
