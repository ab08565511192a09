"""Stand-in for ``pytorch3d.renderer.mesh.textures``: every name (``TexturesVertex``, ...) is a placeholder.

The real ``pytorch3d`` is GitHub-only and needs compiled CUDA kernels, which CI (PyPI only) cannot
install. Our own code: names resolve to placeholders that raise ``RuntimeError`` when instantiated.
"""
from ..._placeholder import module_getattr

__getattr__ = module_getattr(globals())
