"""Import stub for ``kaolin.utils.testing`` (tests/runtime only; see test_realtree_runtime.py).

FlexiCubes only asserts on ``check_tensor(...)``; the stand-in accepts everything. (The patched
tree is tested with kaolin blocked, on ``_torch_compat.check_tensor``.)
"""


def check_tensor(tensor, shape=None, dtype=None, device=None, throw=True):
    return True
