"""Import stub for ``torchvision.transforms.functional`` (tests/runtime only; see test_realtree_runtime.py)."""
