"""Import stub for ``plotly`` (tests/runtime only; see test_realtree_runtime.py)."""
