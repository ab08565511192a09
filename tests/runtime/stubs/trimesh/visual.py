"""Import stub for ``trimesh.visual`` (tests/runtime only; see test_realtree_runtime.py)."""
