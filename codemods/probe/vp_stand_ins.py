"""Import stand-ins (``verify --stand-ins``) for packages a CPU machine cannot install.

SAM 3D imports CUDA-only builds (``spconv``, ``pytorch3d``, ``gsplat``), packages only on git
(``moge``, ``utils3d``) and heavy native wheels (``open3d``, ``pyvista``) at module level, although
no smoke check computes with them. With ``--stand-ins`` the probe appends a finder to
``sys.meta_path`` *after* the normal ones, so an installed package always wins; for a missing one
it makes up the module and every submodule. Any name taken from a stand-in is a placeholder class:
subclassing and constructing it work (module-level code does both), calling an instance raises
``RuntimeError("X is an import stand-in ...")``, which the probe reports as "skipped (needs X)",
never as a pass. Each unit reports the stand-ins it imported.

Two exceptions keep checks running that would otherwise skip for nothing:

* pytorch3d's rotation conversions (``matrix_to_rotation_6d``, ``quaternion_to_matrix``, Euler
  angles, ...) are pure tensor math that forks call inside checked code: the stand-in gives our
  own faithful implementation (``vp_pytorch3d``) instead of a placeholder;
* ``xformers`` is a stand-in too: a tree that imports it at module level (an attention backend
  chosen by configuration) keeps its checks where no xformers build for this torch is installed
  (0.0.19, the torch 2.0 build, has wheels for Python 3.8-3.10 only); where one is, it wins.
"""
import importlib.abc
import importlib.machinery
import sys
import types

DEFAULT = ("spconv", "pytorch3d", "gsplat", "moge", "utils3d", "open3d", "pyvista", "xformers")
MARK = "__sam3d_stand_in__"


class _PlaceholderMeta(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        child = placeholder("%s.%s" % (cls.__qualname__, name))
        type.__setattr__(cls, name, child)
        return child


# What code does with a value it got from a stand-in (``out = xops.memory_efficient_attention(q, k, v)``
# constructs a placeholder): each use raises the stand-in error, so the unit is a skip naming the
# package, never an unrelated TypeError counted against the tree.
_USES = ("__getitem__", "__setitem__", "__iter__", "__len__", "__add__", "__radd__", "__sub__", "__rsub__",
         "__mul__", "__rmul__", "__matmul__", "__rmatmul__", "__truediv__", "__rtruediv__", "__neg__")


def placeholder(qualname):
    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        raise RuntimeError("%s is an import stand-in (sam3d-codemod verify --stand-ins), not the real package" % qualname)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        __call__(self)

    namespace = {"__init__": __init__, "__call__": __call__, "__getattr__": __getattr__, "__qualname__": qualname,
                 "__module__": qualname.rsplit(".", 1)[0]}
    namespace.update({use: __call__ for use in _USES})
    return _PlaceholderMeta(qualname.rsplit(".", 1)[-1], (), namespace)


def _faithful(module, name):
    """Our implementation of ``module.name`` where it is pure math (``vp_pytorch3d``), else None."""
    if not module.startswith("pytorch3d.transforms"):
        return None
    import vp_pytorch3d  # torch: loaded only when such a name is looked up

    if module in vp_pytorch3d.MODULES and name in vp_pytorch3d.__all__:
        return getattr(vp_pytorch3d, name)
    return None


class _StandInModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = _faithful(self.__name__, name) or placeholder("%s.%s" % (self.__name__, name))
        setattr(self, name, value)
        return value


class StandInFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, names):
        self.names = frozenset(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] not in self.names:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        module = _StandInModule(spec.name)
        module.__path__ = []
        setattr(module, MARK, True)
        return module

    def exec_module(self, module):
        pass


def install(names=DEFAULT):
    finder = StandInFinder(names)
    sys.meta_path.append(finder)
    return finder


def is_stand_in(module) -> bool:
    """Whether ``module`` came from the finder. The mark is read from the module's own namespace:
    ``getattr`` would run a package's module ``__getattr__``, and utils3d's imports a submodule of
    the asked name (ModuleNotFoundError, not AttributeError)."""
    return getattr(module, "__dict__", {}).get(MARK) is True


def used(submodules: bool = False):
    """Packages this process imported as stand-ins: top-level ones, or every module with ``submodules``."""
    return sorted(name for name, mod in list(sys.modules.items())
                  if (submodules or "." not in name) and is_stand_in(mod))
