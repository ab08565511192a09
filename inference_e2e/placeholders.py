"""Placeholder classes: importable, subclassable, raising ``StandInCalled`` when created or called.

For the names the functional stand-ins (``standins/``, ``kaolin_standin/``) do not implement, so a run
that reaches a missing part of pytorch3d, utils3d or kaolin fails loudly and names it. Stricter than
the import stand-ins of ``codemods/probe/vp_stand_ins.py`` (the one placeholder *finder*, which
``environment.prepare`` installs for whole missing packages): those may be constructed, because
module-level code of the tree builds defaults from them; these are only ever looked up by name.
"""
from __future__ import annotations


class StandInCalled(RuntimeError):
    pass


class _PlaceholderMeta(type):
    """Class attribute lookups that miss give nested placeholders (``Cls.method`` is one too)."""

    def __getattr__(cls, name):
        if name.startswith("_"):
            raise AttributeError(name)
        child = make_placeholder("%s.%s" % (cls._standin_qualname, name), cls._standin_reason)
        type.__setattr__(cls, name, child)
        return child

    def __call__(cls, *args, **kwargs):
        raise StandInCalled("stand-in: %s %s" % (cls._standin_qualname, cls._standin_reason))


def make_placeholder(qualname, reason="needs the real package; not available here"):
    """A class called ``qualname`` (dotted, module included) that raises when instantiated or called."""
    module, _, name = qualname.rpartition(".")
    return _PlaceholderMeta(name, (), {"_standin_qualname": qualname, "_standin_reason": reason,
                                       "__module__": module, "__qualname__": name})


def module_getattr(namespace, reason="needs the real package; not available here"):
    """A module-level ``__getattr__`` binding placeholders in ``namespace`` (a module's globals) on first use."""

    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError("module %r has no attribute %r" % (namespace["__name__"], name))
        value = make_placeholder("%s.%s" % (namespace["__name__"], name), reason)
        namespace[name] = value
        return value

    return __getattr__
