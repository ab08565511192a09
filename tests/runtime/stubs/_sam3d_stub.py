"""Placeholders for the import stubs in this folder (see tests/runtime/test_realtree_runtime.py).

A stub package only makes ``import X`` / ``from X import name`` succeed for a package that the
torch test envs do not have (CUDA-only builds, heavy wheels). Its names are placeholder classes:
constructing one works (some defaults are built at import time), ``Placeholder.attr`` gives a
further placeholder, and calling an instance raises, so no test can silently compute with a stub.
"""


class _PlaceholderMeta(type):
    def __getattr__(cls, name):
        if name.startswith("_"):
            raise AttributeError(name)
        child = placeholder("%s.%s" % (cls.__qualname__, name))
        type.__setattr__(cls, name, child)
        return child


def placeholder(qualname):
    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        raise RuntimeError("%s is a test import stub, not the real package" % qualname)

    return _PlaceholderMeta(qualname.rsplit(".", 1)[-1], (), {
        "__init__": __init__, "__call__": __call__, "__qualname__": qualname, "__module__": __name__,
    })


def define(namespace, *names):
    """Bind placeholders for ``names`` in a stub module's globals."""
    for name in names:
        namespace[name] = placeholder("%s.%s" % (namespace["__name__"], name))
