"""Import stub for ``timm`` (tests/runtime only; see test_realtree_runtime.py)."""
