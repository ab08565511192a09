"""Stand-in for ``pytorch3d.structures``: every name (``Meshes``, ``Pointclouds``, ...) is a placeholder.

The real ``pytorch3d`` is GitHub-only and its structures rely on compiled CUDA kernels, which CI
(PyPI only) cannot install. Our own code: names resolve to placeholders that import and subclass
but raise ``RuntimeError`` when instantiated.
"""
from ._placeholder import module_getattr

__getattr__ = module_getattr(globals())
