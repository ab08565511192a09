"""Import stub for ``scipy`` (tests/runtime only; see test_realtree_runtime.py)."""
