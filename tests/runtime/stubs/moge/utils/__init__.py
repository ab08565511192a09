"""Import stub for ``moge.utils`` (tests/runtime only; see test_realtree_runtime.py)."""
