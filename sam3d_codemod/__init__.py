"""sam3d-codemod: make SAM 3D Objects run on PyTorch 2.0 and the newest torch."""

__version__ = "0.1.0"
