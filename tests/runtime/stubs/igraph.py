"""Import stub for ``igraph`` (tests/runtime only; see test_realtree_runtime.py)."""
