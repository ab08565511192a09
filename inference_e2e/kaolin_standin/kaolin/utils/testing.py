"""kaolin.utils.testing stand-in: ``check_tensor`` is the patched tree's own (see kaolin/__init__.py)."""
from codemods.runtime.torch_compat import check_tensor  # noqa: F401
