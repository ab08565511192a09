"""Stand-in for NVIDIA kaolin, put on ``sys.path`` for *unpatched* trees only (``--kaolin-stand-in``).

kaolin has no wheel on PyPI (NVIDIA hosts its own), so an unpatched checkout cannot even import
``notebook/inference.py`` here. Only ``kaolin.utils.testing.check_tensor`` is called on the
Inference path (an assertion in FlexiCubes); it is the same function the patched tree calls
(``_torch_compat.check_tensor``). The patched tree runs without kaolin, as its users do.
Every other name raises when called (``inference_e2e/environment.py`` placeholders).
"""
from inference_e2e.placeholders import module_getattr

__getattr__ = module_getattr(globals(), "needs NVIDIA kaolin; not available here")
