"""TC002: make ``torch._dynamo`` uses work on torch 2.0.

On 2.0 ``import torch`` does not load ``torch._dynamo``, so ``torch._dynamo.config.x = ...`` and
``@torch._dynamo.disable()`` raise AttributeError. The fix adds ``import torch._dynamo``. Config
keys that arrived after the target (``accumulated_cache_size_limit``, 2.2) are written only when the
running torch has them (``hasattr``), so the other writes still take effect on every release.

Only a guard that tests the key itself (``hasattr(torch._dynamo.config, "key")``, or ``getattr`` of
it) makes the write safe. Any other guard around it (``hasattr(torch, '_dynamo')``, ``getattr(torch,
'_dynamo', None)``, ``try/except AttributeError``, a version comparison) does not: once
``import torch._dynamo`` is added such a guard is true on 2.0 and the write raises, so the key is
still guarded.
"""
from __future__ import annotations

from typing import List

from ..base import Rule, cst
from ..engine.libcst_command import command_getattr
from ._shared import SubmoduleUse

CONFIG = "torch._dynamo.config."


class Transformer(SubmoduleUse):
    SUBMODULES = ("torch._dynamo",)

    def reset(self) -> None:
        self.guards: List[cst.BaseExpression] = []  # tests of the enclosing ifs (and while loops), innermost last

    def visit_Attribute(self, node) -> None:
        qualified = self.ctx.index.resolve(node)
        if qualified is not None and qualified.startswith("torch._dynamo.") and "torch._dynamo" not in self.ctx.index.loaded:
            # Report the outermost use once: `torch._dynamo.config.x` is one site, not three.
            if qualified.count(".") == 2 and self.report(node, "patched", f"`{qualified}` needs `import torch._dynamo`"):
                self.ctx.require_module("torch._dynamo")

    def visit_If(self, node) -> None:
        self.guards.append(node.test)

    def leave_If(self, original, updated):
        self.guards.pop()
        return updated

    def leave_SimpleStatementLine(self, original, updated):
        if len(updated.body) != 1:
            return updated
        stmt = updated.body[0]
        if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1:
            target = stmt.targets[0].target
        elif isinstance(stmt, (cst.AugAssign, cst.AnnAssign)):
            target = stmt.target
        else:
            return updated
        if not isinstance(target, cst.Attribute):
            return updated
        qualified = self.ctx.index.resolve(target)
        if qualified is None or not qualified.startswith(CONFIG) or qualified.count(".") != 3:
            return updated
        key = qualified[len(CONFIG):]
        if not _key_is_newer(qualified, self.ctx.target):
            return updated
        if any(_tests_key(self.ctx.index, test, key) for test in self.guards):
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
    from ..apiscan.table import load

    return load().newer_than(qualified, target)


def _tests_key(index, test, key: str) -> bool:
    """Whether ``test`` contains ``hasattr(<torch._dynamo.config>, "key")`` or ``getattr(...)`` of it."""
    found = []

    class _Find(cst.CSTVisitor):
        def visit_Call(self, node) -> None:
            if not (isinstance(node.func, cst.Name) and node.func.value in ("hasattr", "getattr")) or len(node.args) < 2:
                return
            obj, name = node.args[0].value, node.args[1].value
            if (
                isinstance(name, cst.SimpleString)
                and name.evaluated_value == key
                and index.resolve(obj) == CONFIG[:-1]
            ):
                found.append(node)

    test.visit(_Find())
    return bool(found)


RULE = Rule(
    code="TC002",
    name="dynamo-import",
    summary="Import torch._dynamo where used; write newer dynamo config keys only where they exist",
    fixes="AttributeError: module 'torch' has no attribute '_dynamo'",
    fixed_in="2.2",  # 2.1 loads _dynamo on `import torch`; accumulated_cache_size_limit arrives in 2.2
    triggers=("_dynamo",),
    transformer=Transformer,
    routes=(("torch._dynamo", None),),
    shapes=(
        'torch._dynamo.config.key = value / @torch._dynamo.disable() after a bare `import torch`',
        'an alias of torch; config keys newer than the target written under hasattr',
        "guards that do not make the write safe (hasattr(torch, '_dynamo'), getattr, try/except AttributeError, a version test)",
        'left alone: `import torch._dynamo` already there, a guard testing the key itself',
    ),
)
Transformer.rule = RULE
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod
