"""Stand-in for ``pytorch3d`` (only what SAM 3D Objects' CPU inference path computes with).

The real ``pytorch3d`` is installed from GitHub and builds compiled CUDA/C++ kernels; CI reaches
only PyPI, so the end-to-end test puts this directory at the end of ``sys.path`` (a real install
always wins). It is our own code of the documented behaviour: ``pytorch3d.transforms`` (rotation
conversions, ``Transform3d``) and ``pytorch3d.renderer``'s look-at helpers work; meshes, point
clouds, cameras and renderers are placeholders that raise when used (see ``_placeholder``).
"""
__version__ = "0.7.8"
