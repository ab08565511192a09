"""Stand-in for ``pytorch3d.vis``: every name is a placeholder (see ``plotly_vis`` for the two tuples).

The real ``pytorch3d`` is GitHub-only and needs compiled CUDA kernels, which CI (PyPI only) cannot
install. Our own code: names resolve to placeholders that raise ``RuntimeError`` when called.
"""
from .._placeholder import module_getattr
from . import plotly_vis  # noqa: F401  (a real submodule, not a placeholder)

__getattr__ = module_getattr(globals())
