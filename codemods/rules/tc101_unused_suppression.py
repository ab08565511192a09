"""Like Ruff's RUF100, but on by default and failing `check`: a stale comment would hide the next
real finding on its line. Reported: a code no rule has, and a selected rule (or TC100) that
reports nothing on that line; a bare `ignore` only when every code is selected.
`--ignore TC101` turns it off; `ignore[..., TC101]` keeps one comment as it is. The finding
itself comes from ``codemods/engine/suppressions.py``."""
from __future__ import annotations

from ..base import UNUSED_SUPPRESSION_CODE, Rule

RULE = Rule(
    code=UNUSED_SUPPRESSION_CODE,
    name="unused-suppression",
    summary="A `# sam3d-codemod: ignore[...]` comment that suppresses nothing (`check` only)",
    fixes=None,
    fixed_in=None,
    triggers=(),
    kind="check",
    shapes=(
        '`# sam3d-codemod: ignore[CODE]` where CODE reports nothing on that line, or is no code',
    ),
)
