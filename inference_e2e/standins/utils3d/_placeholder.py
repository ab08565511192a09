"""Placeholders for the parts of ``utils3d`` that this stand-in does not implement.

The real ``utils3d`` is installed from GitHub only (CI reaches only PyPI) and parts of it need
compiled rasterizers. A name this stand-in does not implement resolves to a placeholder class
(``inference_e2e/placeholders``): importing it works, calling or instantiating it raises.
"""
import functools

from inference_e2e.placeholders import make_placeholder as _make
from inference_e2e.placeholders import module_getattr as _module_getattr

_REASON = "needs the real utils3d (GitHub-only package); not available here"
make_placeholder = functools.partial(_make, reason=_REASON)
module_getattr = functools.partial(_module_getattr, reason=_REASON)
