"""``# sam3d-codemod: ignore[TCxxx]`` comments: which lines suppress which codes."""
from __future__ import annotations

from typing import Dict, Optional

from .base import SUPPRESS_RE


def suppressions(text: str) -> Dict[int, Optional[set]]:
    found: Dict[int, Optional[set]] = {}
    if "sam3d-codemod" not in text:
        return found
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = SUPPRESS_RE.search(line)
        if m:
            found[lineno] = {c.strip() for c in m.group(1).split(",")} if m.group(1) else None
    return found
