"""Written by `apply` where some rewrite calls `_torch_compat`; it carries the tool version and a
content hash, and a later `apply` refreshes it. Each helper behaves exactly like the native torch
API where that exists (feature-detected, never by version string)."""
from __future__ import annotations

from ..base import Rule

RULE = Rule(
    code="TC000",
    name="runtime-helpers",
    summary="The generated helper module `<host package>/_torch_compat.py`",
    fixes=None,
    fixed_in=None,
    triggers=(),
    kind="helper",
    shapes=(
        'written, not recognised: `<host package>/_torch_compat.py` where some rewrite calls it',
    ),
)
