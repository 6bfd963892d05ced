"""Files written whole or not at all."""
import json
import os


def write_json_atomic(path, obj, **dump_kwargs):
    """obj as JSON, written to a temporary beside path, synced and renamed
    over it: a crash leaves the old file or the new one, never half of one."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, **dump_kwargs)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
