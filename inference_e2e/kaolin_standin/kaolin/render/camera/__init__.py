"""kaolin.render.camera stand-in: import-only (see kaolin/__init__.py)."""
from inference_e2e.placeholders import module_getattr

__getattr__ = module_getattr(globals(), "needs NVIDIA kaolin; not available here")
