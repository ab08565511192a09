"""The patched source is scanned for torch symbols, keyword arguments and dynamo config keys that
arrive after --target-torch (from codemods/data/torch_api.json, built from the real wheels).
Each use fails `check` with the release that introduced it; `# sam3d-codemod: ignore[TC100]`
on the line accepts it. The scan itself is ``codemods/apiscan``."""
from __future__ import annotations

from ..base import API_SCAN_CODE, Rule

RULE = Rule(
    code=API_SCAN_CODE,
    name="newer-torch-api",
    summary="A torch API the target lacks and no rule handles (`check` only)",
    fixes=None,
    fixed_in=None,
    triggers=(),
    kind="check",
    shapes=(
        'a torch name, keyword argument or dynamo config key newer than --target-torch (the API table)',
        'left alone: names the target exposes at run time, `# sam3d-codemod: ignore[TC100]`',
    ),
)
