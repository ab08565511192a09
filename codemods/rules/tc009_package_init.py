"""TC009: a package ``__init__`` that imports a submodule the tree does not ship.

Upstream ``sam3d_objects/__init__.py`` does ``import sam3d_objects.init`` unless ``LIDRA_SKIP_INIT``
is set, and ``init.py`` is not in the public repo. The import is kept but tolerated when exactly
that module is missing; any other import error inside it still raises.
"""
from __future__ import annotations

import os

from ..base import Rule, RuleTransformer, cst, dotted_name
from ..engine.libcst_command import command_getattr


def _ships(package_dir: str, sub: str) -> bool:
    base = os.path.join(package_dir, *sub.split("."))
    return os.path.exists(base + ".py") or os.path.exists(os.path.join(base, "__init__.py"))


class Transformer(RuleTransformer):
    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.package_dir = os.path.dirname(os.path.abspath(ctx.path))
        self.package = os.path.basename(self.package_dir)
        self.active = os.path.basename(ctx.path) == "__init__.py"

    def reset(self) -> None:
        self.try_depth = 0

    def visit_Try(self, node) -> None:
        self.try_depth += 1

    def leave_Try(self, original, updated):
        self.try_depth -= 1
        return updated

    def leave_SimpleStatementLine(self, original, updated):
        if not self.active or self.try_depth or len(updated.body) != 1 or not isinstance(updated.body[0], cst.Import):
            return updated
        imp = updated.body[0]
        if len(imp.names) != 1 or imp.names[0].asname is not None:
            return updated
        name = dotted_name(imp.names[0].name)
        prefix = self.package + "."
        if name is None or not name.startswith(prefix) or _ships(self.package_dir, name[len(prefix):]):
            return updated
        if not self.report(original, "patched", f"`import {name}` tolerated: the tree does not ship it"):
            return updated
        template = cst.parse_statement(
            "try:\n    pass\n"
            "except ModuleNotFoundError as _sam3d_import_error:  # not shipped in the public tree\n"
            f'    if _sam3d_import_error.name != "{name}":\n'
            "        raise\n"
        )
        return template.with_changes(
            body=template.body.with_changes(body=[updated.with_changes(leading_lines=[])]),
            leading_lines=updated.leading_lines,
        )


RULE = Rule(
    code="TC009",
    name="package-init",
    summary="Tolerate a package __init__ importing a submodule the public tree does not ship",
    fixes="ModuleNotFoundError: No module named 'sam3d_objects.init'",
    fixed_in=None,
    triggers=("import",),
    pattern=r"(?m)^\s*import\s+\w+\.\w+",
    filenames=("__init__.py",),
    transformer=Transformer,
)
Transformer.rule = RULE
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod
