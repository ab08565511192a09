"""Import stub for ``lightning`` (tests/runtime only; see test_realtree_runtime.py)."""
