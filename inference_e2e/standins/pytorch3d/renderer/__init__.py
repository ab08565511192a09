"""Stand-in for ``pytorch3d.renderer``: the look-at helpers work; everything else is a placeholder.

The real ``pytorch3d`` is GitHub-only and its renderers need compiled CUDA kernels, which CI (PyPI
only) cannot install. Our own code of the documented behaviour of ``look_at_view_transform``,
``look_at_rotation`` and ``camera_position_from_spherical_angles`` (see ``cameras``); cameras,
rasterizers, shaders, textures, ... are placeholders that raise ``RuntimeError`` when instantiated.
"""
from .._placeholder import module_getattr
from . import camera_utils, cameras, mesh  # real submodules, not placeholders
from .cameras import camera_position_from_spherical_angles, look_at_rotation, look_at_view_transform

__all__ = ["camera_utils", "cameras", "mesh", "camera_position_from_spherical_angles", "look_at_rotation", "look_at_view_transform"]
__getattr__ = module_getattr(globals())
