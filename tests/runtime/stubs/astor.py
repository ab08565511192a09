"""Import stub for ``astor`` (tests/runtime only; see test_realtree_runtime.py)."""
