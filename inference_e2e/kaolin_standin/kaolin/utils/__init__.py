"""kaolin.utils stand-in (see kaolin/__init__.py)."""
from . import testing  # noqa: F401
