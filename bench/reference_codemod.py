"""A plain LibCST codemod doing what TC005 + TC002 do, written the way a typical LibCST codemod is.

It is the baseline for ``bench/bench.py``: the same two rewrites sam3d-codemod makes on the real
tree, run by LibCST's own driver, so the speed-up measures the tool's engine (pre-filter, one
combined traversal, C-parser helpers, no metadata providers) against the idiomatic approach.

* multi-tree ``torch.utils._pytree.tree_map(fn, a, b, ...)`` (through any alias) becomes
  ``_torch_compat.tree_map(...)`` and ``from sam3d_objects import _torch_compat`` is added;
* any use of ``torch._dynamo.*`` adds ``import torch._dynamo``.

Run it like any external LibCST command::

    PYTHONPATH=bench python -m libcst.tool codemod -x reference_codemod.TreeMapDynamoCommand \\
        --no-format -j 1 --hide-progress PATH
"""
from __future__ import annotations

import libcst as cst
import libcst.matchers as m
from libcst.codemod import CodemodContext, VisitorBasedCodemodCommand
from libcst.codemod.visitors import AddImportsVisitor
from libcst.metadata import QualifiedNameProvider

TREE_MAP = "torch.utils._pytree.tree_map"
DYNAMO = "torch._dynamo"
COMPAT_PACKAGE = "sam3d_objects"
COMPAT_MODULE = "_torch_compat"


class TreeMapDynamoCommand(VisitorBasedCodemodCommand):
    DESCRIPTION = "Send multi-tree tree_map calls to _torch_compat.tree_map; import torch._dynamo where used."

    METADATA_DEPENDENCIES = (QualifiedNameProvider,)

    def __init__(self, context: CodemodContext) -> None:
        super().__init__(context)

    def _qualified(self, node: cst.CSTNode) -> set:
        return {q.name for q in self.get_metadata(QualifiedNameProvider, node, set())}

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if TREE_MAP not in self._qualified(original_node.func):
            return updated_node
        positional = [a for a in original_node.args if a.keyword is None and a.star == ""]
        starred = any(a.star == "*" for a in original_node.args)
        is_leaf = any(m.matches(a, m.Arg(keyword=m.Name("is_leaf"))) for a in original_node.args)
        if len(positional) < 3 and not (starred and positional) and not is_leaf:
            return updated_node
        AddImportsVisitor.add_needed_import(self.context, COMPAT_PACKAGE, COMPAT_MODULE)
        return updated_node.with_changes(
            func=cst.Attribute(value=cst.Name(COMPAT_MODULE), attr=cst.Name("tree_map"))
        )

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if any(q == DYNAMO or q.startswith(DYNAMO + ".") for q in self._qualified(node)):
            AddImportsVisitor.add_needed_import(self.context, DYNAMO)
