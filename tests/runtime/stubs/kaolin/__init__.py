"""Import stub for ``kaolin`` (tests/runtime only; see test_realtree_runtime.py)."""
