"""What one ``build_model`` call makes or reads once and hands to every
part that asks: a keras.applications network (the R50-C4 backbone takes
conv1..res4 of a ResNet50, its res5 box head the res5 stage of the same
one, not of a second) and a weights file's contents (the VGG16 backbone's
convolutions and its fc6/fc7 box head come from one read of
VGG_imagenet.npy).

Inside ``build_scope()`` (build.py), ``once(key, make)`` returns the value
made for that key the first time; outside a scope it makes a new one each
time. The scope ends with the build, so nothing is held after it.
"""
import contextlib

_shared = None  # {key: value} while a build_scope is open


@contextlib.contextmanager
def build_scope():
    """Shares what ``once`` makes until the outermost scope closes."""
    global _shared
    outer = _shared
    _shared = {} if outer is None else outer
    try:
        yield
    finally:
        _shared = outer


def once(key, make):
    """make(), or within a build_scope the value made first for key."""
    if _shared is None:
        return make()
    if key not in _shared:
        _shared[key] = make()
    return _shared[key]
