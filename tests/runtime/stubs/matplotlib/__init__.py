"""Import stub for ``matplotlib`` (tests/runtime only; see test_realtree_runtime.py)."""
