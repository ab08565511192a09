"""Import stub for ``xatlas`` (tests/runtime only; see test_realtree_runtime.py)."""
