"""Import stub for ``pyvista`` (tests/runtime only; see test_realtree_runtime.py)."""
