"""Import stub for ``pytorch3d.renderer.mesh`` (tests/runtime only; see test_realtree_runtime.py)."""
