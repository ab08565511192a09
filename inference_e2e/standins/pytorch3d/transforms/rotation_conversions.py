"""Stand-in for ``pytorch3d.transforms.rotation_conversions``: quaternions, axis-angle, 6D, Euler angles, matrices.

The real ``pytorch3d`` is installed from GitHub and builds compiled CUDA kernels, neither of which
CI (PyPI only) can do. The math is the probe's own implementation of the documented behaviour
(``codemods/probe/vp_pytorch3d.py``, which ``verify --stand-ins`` serves): one copy for both.
"""
from codemods.probe.vp_pytorch3d import *  # noqa: F403  (the stand-in's public names are the probe's)
from codemods.probe.vp_pytorch3d import __all__, _axis_angle_rotation  # noqa: F401  (transform3d uses the helper)
