"""Placeholders for the parts of ``pytorch3d`` that this stand-in does not implement.

The real ``pytorch3d`` ships compiled CUDA/C++ kernels (``pytorch3d._C``) and is installed from
GitHub, which CI (PyPI only) cannot reach. This stand-in is our own code; where a name needs the
compiled kernels (meshes, point clouds, cameras, renderers) it resolves to a placeholder class:
importing it, subclassing it and reading attributes off it work, so modules that merely mention the
name still import, but creating or calling one raises a ``RuntimeError`` naming it.
"""

_REASON = "needs the real pytorch3d (compiled kernels); not available here"


def _fail(qualname):
    raise RuntimeError("stand-in: %s %s" % (qualname, _REASON))


class _PlaceholderMeta(type):
    """Class attribute lookups that miss give nested placeholders (``Cls.method`` is one too)."""

    def __getattr__(cls, name):
        if name.startswith("_"):
            raise AttributeError(name)
        child = make_placeholder("%s.%s" % (cls._standin_qualname, name))
        type.__setattr__(cls, name, child)
        return child

    def __call__(cls, *args, **kwargs):
        _fail(cls._standin_qualname)


def make_placeholder(qualname):
    """A class called ``qualname`` (dotted, module included) that raises when instantiated."""
    module, _, name = qualname.rpartition(".")
    return _PlaceholderMeta(name, (), {"_standin_qualname": qualname, "__module__": module, "__qualname__": name})


def module_getattr(namespace):
    """A module-level ``__getattr__`` for the module whose globals are ``namespace``."""

    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError("module %r has no attribute %r" % (namespace["__name__"], name))
        value = make_placeholder("%s.%s" % (namespace["__name__"], name))
        namespace[name] = value
        return value

    return __getattr__
