"""Import stub for ``matplotlib.pyplot`` (tests/runtime only; see test_realtree_runtime.py)."""
