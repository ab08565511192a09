"""Import stub for ``torchvision.transforms`` (tests/runtime only; see test_realtree_runtime.py)."""
from _sam3d_stub import define

define(globals(), 'Compose', 'InterpolationMode', 'Normalize', 'Resize', 'RandomResizedCrop')
