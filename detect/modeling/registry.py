"""A name -> builder registry (one per extension point)."""


class Registry:
    def __init__(self, kind):
        self.kind, self._items = kind, {}

    def register(self, name):
        def add(fn):
            if name in self._items:
                raise KeyError(f"{self.kind} '{name}' is registered twice")
            self._items[name] = fn
            return fn
        return add

    def get(self, name):
        if name not in self._items:
            raise KeyError(f"unknown {self.kind} '{name}'; registered: {sorted(self._items)}")
        return self._items[name]
