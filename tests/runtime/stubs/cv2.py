"""Import stub for ``cv2`` (tests/runtime only; see test_realtree_runtime.py)."""
