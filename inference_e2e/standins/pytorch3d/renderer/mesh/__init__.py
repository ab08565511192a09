"""Stand-in for ``pytorch3d.renderer.mesh``: every name is a placeholder.

The real ``pytorch3d`` is GitHub-only and its mesh rasterizer and shaders need compiled CUDA
kernels, which CI (PyPI only) cannot install. Our own code: names resolve to placeholders that
import and subclass but raise ``RuntimeError`` when instantiated.
"""
from ..._placeholder import module_getattr
from . import textures  # noqa: F401  (a real submodule, not a placeholder)

__getattr__ = module_getattr(globals())
