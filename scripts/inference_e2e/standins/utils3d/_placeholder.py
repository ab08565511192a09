"""Placeholders for the parts of ``utils3d`` that this stand-in does not implement.

The real ``utils3d`` is installed from GitHub only (CI reaches only PyPI) and parts of it need
compiled rasterizers. This stand-in is our own code; a name it does not implement resolves to a
placeholder class: importing it, subclassing it and reading attributes off it work, but calling
or instantiating it raises a ``RuntimeError`` naming it.
"""

_REASON = "needs the real utils3d (GitHub-only package); not available here"


class _PlaceholderMeta(type):
    def __getattr__(cls, name):
        if name.startswith("_"):
            raise AttributeError(name)
        child = make_placeholder("%s.%s" % (cls._standin_qualname, name))
        type.__setattr__(cls, name, child)
        return child

    def __call__(cls, *args, **kwargs):
        raise RuntimeError("stand-in: %s %s" % (cls._standin_qualname, _REASON))


def make_placeholder(qualname):
    module, _, name = qualname.rpartition(".")
    return _PlaceholderMeta(name, (), {"_standin_qualname": qualname, "__module__": module, "__qualname__": name})


def module_getattr(namespace):
    """A module-level ``__getattr__`` binding placeholders in ``namespace`` on first use."""

    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError("module %r has no attribute %r" % (namespace["__name__"], name))
        value = make_placeholder("%s.%s" % (namespace["__name__"], name))
        namespace[name] = value
        return value

    return __getattr__
