"""Import stub for ``torchvision`` (tests/runtime only; see test_realtree_runtime.py)."""
