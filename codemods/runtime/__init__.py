"""The helper template (``torch_compat.py``) that ``apply`` writes into the tree as ``_torch_compat.py``."""
