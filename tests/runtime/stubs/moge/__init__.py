"""Import stub for ``moge`` (tests/runtime only; see test_realtree_runtime.py)."""
