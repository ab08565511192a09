"""TC002: make ``torch._dynamo`` uses work on torch 2.0.

On 2.0 ``import torch`` does not load ``torch._dynamo``, so ``torch._dynamo.config.x = ...`` and
``@torch._dynamo.disable()`` raise AttributeError. The fix adds ``import torch._dynamo``. Config
keys that arrived after the target (``accumulated_cache_size_limit``, 2.2) are written only when the
running torch has them (``hasattr``), so the other writes still take effect on every release.
"""
from __future__ import annotations

from ._shared import SubmoduleUse
from .base import Rule, cst

CONFIG = "torch._dynamo.config."


class Transformer(SubmoduleUse):
    SUBMODULES = ("torch._dynamo",)

    def reset(self) -> None:
        self.in_guard = 0

    def visit_Attribute(self, node) -> None:
        qualified = self.ctx.index.resolve(node)
        if qualified is not None and qualified.startswith("torch._dynamo.") and "torch._dynamo" not in self.ctx.index.loaded:
            # Report the outermost use once: `torch._dynamo.config.x` is one site, not three.
            if qualified.count(".") == 2 and self.report(node, "patched", f"`{qualified}` needs `import torch._dynamo`"):
                self.ctx.require_module("torch._dynamo")

    def visit_If(self, node) -> None:
        self.in_guard += _is_hasattr_guard(node.test)

    def leave_If(self, original, updated):
        self.in_guard -= _is_hasattr_guard(original.test)
        return updated

    def leave_SimpleStatementLine(self, original, updated):
        if self.in_guard or len(updated.body) != 1:
            return updated
        stmt = updated.body[0]
        if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0].target
        elif isinstance(stmt, (cst.AugAssign, cst.AnnAssign)):
            target = stmt.target
        else:
            return updated
        qualified = self.ctx.index.resolve(target) if isinstance(target, cst.Attribute) else None
        if qualified is None or not qualified.startswith(CONFIG) or qualified.count(".") != 3:
            return updated
        key = qualified[len(CONFIG):]
        if not _key_is_newer(qualified, self.ctx.target):
            return updated
        if not self.report(original, "patched", f"dynamo config key `{key}` is written only where torch has it"):
            return updated
        guard = cst.If(
            test=cst.Call(
                func=cst.Name("hasattr"),
                args=[cst.Arg(target.value), cst.Arg(cst.SimpleString(f'"{key}"'))],
            ),
            body=cst.IndentedBlock(body=[updated.with_changes(leading_lines=[])]),
            leading_lines=updated.leading_lines,
        )
        return guard


def _key_is_newer(qualified: str, target: str) -> bool:
    from .api_table import load

    return load().newer_than(qualified, target)


def _is_hasattr_guard(test) -> int:
    return int(isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value == "hasattr")


RULE = Rule(
    code="TC002",
    name="dynamo-import",
    summary="Import torch._dynamo where used; write newer dynamo config keys only where they exist",
    fixes="AttributeError: module 'torch' has no attribute '_dynamo'",
    fixed_in="2.2",  # 2.1 loads _dynamo on `import torch`; accumulated_cache_size_limit arrives in 2.2
    triggers=("_dynamo",),
    transformer=Transformer,
)
Transformer.rule = RULE
__getattr__ = RULE.module_getattr  # `Command`: this rule as a LibCST codemod (codemods/libcst_command.py)
