"""Placeholders for the parts of ``pytorch3d`` that this stand-in does not implement.

The real ``pytorch3d`` ships compiled CUDA/C++ kernels (``pytorch3d._C``) and is installed from
GitHub, which CI (PyPI only) cannot reach. Where a name needs the compiled kernels (meshes, point
clouds, cameras, renderers) it resolves to a placeholder class (``inference_e2e/placeholders``):
modules that merely mention the name still import, creating or calling one raises, naming it.
"""
import functools

from inference_e2e.placeholders import make_placeholder as _make
from inference_e2e.placeholders import module_getattr as _module_getattr

_REASON = "needs the real pytorch3d (compiled kernels); not available here"
make_placeholder = functools.partial(_make, reason=_REASON)
module_getattr = functools.partial(_module_getattr, reason=_REASON)
