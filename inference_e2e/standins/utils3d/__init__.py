"""Stand-in for ``utils3d`` (EasternJournalist/utils3d, the 0.0.x API that MoGe and SAM 3D use).

The real ``utils3d`` is installed from GitHub only and CI reaches only PyPI, so the end-to-end test
puts this directory at the end of ``sys.path`` (a real install always wins). It is our own code of
the documented behaviour of the few camera helpers SAM 3D Objects' point-map path calls, reached
as in the real package: ``utils3d.torch.depth_to_points``, ``utils3d.numpy.image_uv`` (aliases
``utils3d.pt``/``utils3d.np``). Other names are placeholders that raise ``RuntimeError`` when called.
"""
from . import numpy, torch
from . import numpy as np
from . import torch as pt
from ._placeholder import module_getattr

__all__ = ["numpy", "torch", "np", "pt"]
__getattr__ = module_getattr(globals())
