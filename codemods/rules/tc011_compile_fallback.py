"""TC011: ``torch.compile`` falls back to eager where this torch cannot compile.

torch 2.0 on Python 3.11 raises ``RuntimeError: Python 3.11+ not yet supported for torch.compile``
at the ``torch.compile`` call. ``_torch_compat.compile`` calls native and, only on that
unsupported-platform error, warns once and returns the function unchanged.
"""
from __future__ import annotations

from ..base import Rule, RuleTransformer
from ..engine.libcst_command import command_getattr

COMPILE = "torch.compile"


class Transformer(RuleTransformer):
    def leave_Attribute(self, original, updated):
        if self.ctx.index.resolve(original) != COMPILE:
            return updated
        if not self.report(original, "patched", "torch.compile -> _torch_compat.compile (eager fallback)"):
            return updated
        return self.ctx.compat_attr("compile").with_changes(lpar=updated.lpar, rpar=updated.rpar)


RULE = Rule(
    code="TC011",
    name="compile-fallback",
    summary="Route torch.compile through _torch_compat.compile, eager where compile is unsupported",
    fixes="RuntimeError: Python 3.11+ not yet supported for torch.compile",
    fixed_in="2.1",
    triggers=("compile",),
    pattern=r"(?<!\bre)\.compile\b",
    transformer=Transformer,
    needs_compat=True,
    helpers=("compile",),
    shapes=(
        'torch.compile(...) / @torch.compile / torch.compile as a value, through any alias',
    ),
)
Transformer.rule = RULE
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod
