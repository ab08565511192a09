"""Import stub for ``kaolin.utils`` (tests/runtime only; see test_realtree_runtime.py)."""
