"""Import stub for ``safetensors`` (tests/runtime only; see test_realtree_runtime.py)."""
