"""kaolin.render.camera stand-in: import-only (see kaolin/__init__.py)."""
from scripts.inference_e2e.environment import placeholder_getattr

__getattr__ = placeholder_getattr(__name__)
