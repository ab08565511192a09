"""Import stub for ``lightning.pytorch.utilities`` (tests/runtime only; see test_realtree_runtime.py)."""
