"""Command line and runner for sam3d-codemod."""
