"""Import stub for ``hydra`` (tests/runtime only; see test_realtree_runtime.py)."""
