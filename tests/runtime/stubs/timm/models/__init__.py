"""Import stub for ``timm.models`` (tests/runtime only; see test_realtree_runtime.py)."""
