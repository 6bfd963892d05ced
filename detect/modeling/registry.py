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

    def options(self, name, cfg):
        """Keywords of the builder's own settings, read from cfg by its
        ``cfg_options(cfg)`` (e.g. the resnet backbone's RESNETS.*); {} for
        a builder without one."""
        builder = self.get(name)
        return builder.cfg_options(cfg) if hasattr(builder, "cfg_options") else {}

    def get(self, name):
        if name not in self._items:
            raise KeyError(f"unknown {self.kind} '{name}'; registered: {sorted(self._items)}")
        return self._items[name]
