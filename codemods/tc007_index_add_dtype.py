"""TC007: cast the source of ``index_add_`` / ``index_add`` to the destination's dtype.

``index_add_`` requires ``source.dtype == self.dtype`` on every torch release; FlexiCubes calls it
with float16 sources on float32 buffers under autocast. ``x.index_add_(dim, index, src)`` becomes
``x.index_add_(dim, index, src.to(x.dtype))`` (a no-op when the dtypes already match). Only
receivers that can be named twice without evaluating anything (names, attribute chains) are cast;
others are reported for a human.
"""
from __future__ import annotations

from typing import Optional

from .base import Rule, RuleTransformer, cst

METHODS = ("index_add_", "index_add")
FUNCTIONS = ("torch.index_add",)


def _nameable(node) -> bool:
    while isinstance(node, cst.Attribute):
        node = node.value
    return isinstance(node, cst.Name)


def _same(a, b) -> bool:
    return a.deep_equals(b.with_changes(lpar=(), rpar=()) if hasattr(b, "lpar") else b) or b.deep_equals(
        a.with_changes(lpar=(), rpar=()) if hasattr(a, "lpar") else a
    )


def _already_cast(source, dest) -> bool:
    """``source.to(dest.dtype)``: the shape this rule writes."""
    if not (isinstance(source, cst.Call) and isinstance(source.func, cst.Attribute) and source.func.attr.value == "to"):
        return False
    if len(source.args) != 1 or not isinstance(source.args[0].value, cst.Attribute):
        return False
    dtype = source.args[0].value
    return dtype.attr.value == "dtype" and _same(dtype.value, dest)


def _atom(node):
    """Parenthesise an expression so ``.to(...)`` binds to all of it."""
    if isinstance(node, (cst.Name, cst.Attribute, cst.Call, cst.Subscript)) or getattr(node, "lpar", ()):
        return node
    return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


class Transformer(RuleTransformer):
    def leave_Call(self, original, updated):
        func = original.func
        if isinstance(func, cst.Attribute) and func.attr.value in METHODS and self.ctx.index.resolve(func) not in FUNCTIONS:
            dest = func.value
            source_pos = 2
        elif self.ctx.index.resolve(func) in FUNCTIONS:
            dest = _arg(original, 0, "input")
            source_pos = 3
        else:
            return updated
        source_index = _arg_index(original, source_pos, "source")
        if source_index is None:
            return updated
        source = updated.args[source_index].value
        if dest is None or not _nameable(dest):
            self.report(original, "unhandled", "index_add source not cast: the destination is not a plain name")
            return updated
        dest_plain = dest.with_changes(lpar=(), rpar=()) if getattr(dest, "lpar", ()) else dest
        if _already_cast(source, dest_plain):
            return updated
        if not self.report(original, "patched", "index_add source cast to the destination dtype"):
            return updated
        cast = cst.Call(
            func=cst.Attribute(value=_atom(source), attr=cst.Name("to")),
            args=[cst.Arg(cst.Attribute(value=dest_plain, attr=cst.Name("dtype")))],
        )
        args = list(updated.args)
        args[source_index] = args[source_index].with_changes(value=cast)
        return updated.with_changes(args=args)


def _arg_index(call, position: int, keyword: str) -> Optional[int]:
    count = 0
    for i, arg in enumerate(call.args):
        if arg.star:
            return None  # *args: the source position is unknowable
        if arg.keyword is not None:
            if arg.keyword.value == keyword:
                return i
            continue
        if count == position:
            return i
        count += 1
    return None


def _arg(call, position: int, keyword: str):
    i = _arg_index(call, position, keyword)
    return call.args[i].value if i is not None else None


RULE = Rule(
    code="TC007",
    name="index-add-dtype",
    summary="Cast index_add_/index_add sources to the destination dtype",
    fixes="RuntimeError: index_add_(): self (Float) and source (Half) must have the same scalar type",
    fixed_in=None,
    triggers=("index_add",),
    transformer=Transformer,
)
Transformer.rule = RULE
__getattr__ = RULE.module_getattr  # `Command`: this rule as a LibCST codemod (codemods/libcst_command.py)
