"""Stand-in for ``pytorch3d.vis.plotly_vis``: the ``AxisArgs``/``Lighting`` settings tuples; the rest placeholders.

The real ``pytorch3d`` is GitHub-only and needs compiled CUDA kernels, which CI (PyPI only) cannot
install. Our own code: ``AxisArgs`` and ``Lighting`` are the documented plain named tuples (modules
build them at import time as defaults); plotting functions are placeholders that raise when called.
"""
from typing import NamedTuple

from .._placeholder import module_getattr


class AxisArgs(NamedTuple):
    showgrid: bool = False
    zeroline: bool = False
    showline: bool = False
    ticks: str = ""
    showticklabels: bool = False
    backgroundcolor: str = "#fff"
    showaxeslabels: bool = False


class Lighting(NamedTuple):
    ambient: float = 0.8
    diffuse: float = 1.0
    fresnel: float = 0.0
    specular: float = 0.0
    roughness: float = 0.5
    facenormalsepsilon: float = 1e-6
    vertexnormalsepsilon: float = 1e-12


__getattr__ = module_getattr(globals())
