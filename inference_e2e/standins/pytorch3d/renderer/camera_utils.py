"""Stand-in for ``pytorch3d.renderer.camera_utils``: every name is a placeholder.

The real ``pytorch3d`` is GitHub-only and needs compiled CUDA kernels, which CI (PyPI only) cannot
install; its camera utilities work on camera objects, which this stand-in does not provide. Our
own code: names resolve to placeholders that raise ``RuntimeError`` when called.
"""
from .._placeholder import module_getattr

__getattr__ = module_getattr(globals())
