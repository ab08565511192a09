"""TC005: ``tree_map(f, tree, *rests)`` with two or more trees.

Before torch 2.3 ``torch.utils._pytree.tree_map(fn, pytree)`` takes exactly one tree (and no
``is_leaf``). Multi-tree calls, through any alias, go to ``_torch_compat.tree_map``, which has the
native 2.3+ semantics (rests need only have ``tree`` as a prefix) and calls native where it can.
Single-tree calls stay as they are.
"""
from __future__ import annotations

from ..base import Rule, RuleTransformer
from ..engine.libcst_command import command_getattr

TREE_MAP = "torch.utils._pytree.tree_map"


class Transformer(RuleTransformer):
    def leave_Call(self, original, updated):
        if self.ctx.index.resolve(original.func) != TREE_MAP:
            return updated
        positional = [a for a in original.args if a.keyword is None and a.star == ""]
        starred = any(a.star == "*" for a in original.args)
        is_leaf = any(a.keyword is not None and a.keyword.value == "is_leaf" for a in original.args)
        if len(positional) < 3 and not (starred and len(positional) >= 1) and not is_leaf:
            return updated
        why = "is_leaf=" if is_leaf and len(positional) < 3 else f"{max(len(positional) - 1, 2)} trees"
        if not self.report(original, "patched", f"tree_map with {why} -> _torch_compat.tree_map"):
            return updated
        return updated.with_changes(func=self.ctx.compat_attr("tree_map"))


RULE = Rule(
    code="TC005",
    name="multi-tree-map",
    summary="Send multi-tree (and is_leaf) _pytree.tree_map calls to _torch_compat.tree_map",
    fixes="TypeError: tree_map() takes 2 positional arguments but 3 were given",
    fixed_in="2.3",
    triggers=("tree_map",),
    pattern=r"\btree_map\b",
    transformer=Transformer,
    needs_compat=True,
    helpers=("tree_map",),
    routes=(("torch.utils._pytree.tree_map(is_leaf=)", "tree_map"), ("torch.utils._pytree.tree_map(*rests=)", "tree_map")),
    shapes=(
        '_pytree.tree_map(fn, a, b, ...) with two or more trees, or *trees',
        'tree_map(fn, tree, is_leaf=...)',
        'through any alias: import torch.utils._pytree as pytree, from-import as tm',
        'left alone: one-tree calls, optree.tree_map',
    ),
)
Transformer.rule = RULE
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod
