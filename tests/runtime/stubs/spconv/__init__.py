"""Import stub for ``spconv`` (tests/runtime only; see test_realtree_runtime.py)."""
