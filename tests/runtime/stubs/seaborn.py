"""Import stub for ``seaborn`` (tests/runtime only; see test_realtree_runtime.py)."""
