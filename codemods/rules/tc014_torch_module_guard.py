"""TC014: hand-written ``hasattr``/``getattr`` guards on torch modules.

A hand patch for torch 2.0 often hides newer code behind ``hasattr(torch, "_dynamo")`` or
``getattr(torch, "compiler", None) and torch.compiler.is_compiling()``. Both are wrong:
``torch._dynamo`` is not an attribute of ``torch`` on 2.0 until it is imported, so the guarded
code (the dynamo config) silently never runs; ``torch.compiler`` exists from 2.1 but
``is_compiling`` only from 2.3, so the guard passes on 2.1/2.2 and the call raises.

Once the other rules make the guarded thing work on every torch (``import torch._dynamo`` or a
lazily loaded submodule added; ``torch.compiler``/``torch.nn.attention`` uses sent to
``_torch_compat``), the guard is dropped and the guarded code kept (the ``else`` fallback goes).
A guard the rules cannot make true is reported as unhandled with the reason; a guard that tests
exactly what it protects is correct feature detection and stays as it is.
"""
from __future__ import annotations

from typing import Optional

from ..base import COMPAT_MODULE, Rule, cst
from ..engine.libcst_command import command_getattr
from ._gates import GateRule, references, source, strip_not
from .tc001_submodule_import import LAZY_SUBMODULES

IMPORTED = LAZY_SUBMODULES + ("torch._dynamo",)  # attributes of torch only once imported
# What the other rules send to _torch_compat, by the torch module a guard would test.
COMPAT_FOR = {
    "torch.compiler": ("is_compiling",),
    "torch.compiler.is_compiling": ("is_compiling",),
    "torch.nn.attention": ("sdpa_kernel", "SDPBackend"),
}


def _compat_uses(nodes, names) -> bool:
    found = []

    class _Find(cst.CSTVisitor):
        def visit_Attribute(self, n) -> None:
            if isinstance(n.value, cst.Name) and n.value.value == COMPAT_MODULE and n.attr.value in names:
                found.append(n)

    for node in nodes:
        node.visit(_Find())
    return bool(found)


def guarded_name(index, test) -> Optional[str]:
    """``torch.x`` for ``hasattr(torch, "x")`` / ``getattr(torch, "x"[, d])`` (``is [not] None``,
    ``not`` around it), where the object resolves to a torch module."""
    test = strip_not(test)
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        comp = test.comparisons[0]
        if isinstance(comp.operator, (cst.Is, cst.IsNot)) and isinstance(comp.comparator, cst.Name) and comp.comparator.value == "None":
            test = test.left
    if not (isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value in ("hasattr", "getattr")):
        return None
    if len(test.args) < 2 or not isinstance(test.args[1].value, cst.SimpleString):
        return None
    owner = index.resolve(test.args[0].value)
    name = test.args[1].value.evaluated_value
    if owner is None or not (owner == "torch" or owner.startswith("torch.")) or not isinstance(name, str):
        return None
    return f"{owner}.{name}"


class Transformer(GateRule):
    def is_gate(self, test) -> bool:
        name = guarded_name(self.ctx.index, test)
        return name is not None and (name in IMPORTED or name in COMPAT_FOR)

    def judge(self, test, new_original, new_updated, site) -> Optional[bool]:
        guarded = guarded_name(self.ctx.index, test)
        if guarded is None:
            return None
        text = source(strip_not(test))
        used = [q for n in new_original for q in references(self.ctx.index, n) if q == guarded or q.startswith(guarded + ".")]
        if guarded in IMPORTED:
            if guarded in self.ctx.index.loaded or guarded in self.ctx.needed_modules:
                why = f"`import {guarded}` makes it true on every torch"
                return True if self.report(site, "patched", f"`{text}` guard dropped: {why}") else None
            if used:
                self.report(
                    site, "unhandled",
                    f"`{text}` is False on torch 2.0 until `import {guarded}`: the guarded code silently never runs",
                )
            return None
        if not used and not _compat_uses(new_original, COMPAT_FOR.get(guarded, ())):
            return None  # guards something else: not ours to judge
        left = [q for n in new_updated for q in references(self.ctx.index, n, self.ctx.rebound)
                if q == guarded or q.startswith(guarded + ".")]
        if not left:
            why = "the guarded code now goes through _torch_compat, which works on every torch"
            return True if self.report(site, "patched", f"`{text}` guard dropped: {why}") else None
        from ..apiscan.table import load

        table = load()
        since = table.first_release(guarded) or "2.0"
        for q in left:
            first = table.first_release(q)
            if first is not None and table.newer_than(q, since):
                self.report(
                    site, "unhandled",
                    f"`{text}` tests `{guarded}` ({since}) but the code uses `{q}` ({first}): "
                    f"AttributeError on the releases in between",
                )
                break
        return None


RULE = Rule(
    code="TC014",
    name="torch-module-guard",
    summary="Drop hasattr/getattr guards on torch modules once the guarded code works on every torch",
    fixes=("guarded dynamo config silently skipped on 2.0; "
           "AttributeError: module 'torch.compiler' has no attribute 'is_compiling' (2.1, 2.2)"),
    fixed_in=None,  # hand patches do not go away with a newer torch
    triggers=("hasattr", "getattr"),
    # ``hasattr(self, "x")`` is never a guard on a torch module: the commonest hasattr, not pre-filtered
    pattern=r"\b(?:has|get)attr\(\s*torch\b|\b(?:has|get)attr\(\s*(?!self\b|cls\b)\w+\s*,\s*['\"]",
    transformer=Transformer,
    shapes=(
        'hasattr(torch, "_dynamo") / getattr(torch, "_dynamo", None) [is None], with not',
        'getattr(torch, "compiler", None) and torch.compiler.is_compiling()',
        'guards on torch.nn.attention',
        'in if/else, `A if G else B`, `G and X`',
        'falling through: `if not hasattr(...): return ...` with no else, the rest of the block guarded',
        'left alone: a guard testing exactly what it protects; reported: one the rules cannot make true',
    ),
)
Transformer.rule = RULE
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod
