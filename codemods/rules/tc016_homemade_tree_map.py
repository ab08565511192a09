"""TC016: home-made multi-tree ``tree_map`` variants.

A hand patch for torch 2.0's one-tree ``_pytree.tree_map`` often defines its own
``tree_map_compat(fn, *pytrees)``: it special-cases dicts one level deep (``{k: fn(a[k], b[k])}``,
so nested dicts reach ``fn`` whole: ``{"a": {"x": 1}}`` + ``{"a": {"x": 10}}`` raises TypeError,
where native gives ``{"a": {"x": 11}}``) or zips flattened leaves without checking that the
structures match (a mismatch is silently truncated; native raises). Recognised by shape: a
module-level function taking a callable and two or more trees (``*trees`` or named) that calls the
callable on zipped leaves or dict values. Its body becomes a call of ``_torch_compat.tree_map``
(native 2.3+ semantics on every torch), so every call site gets native behaviour; the signature,
decorators and docstring stay. A variant with parameters ``tree_map`` lacks is reported instead.
"""
from __future__ import annotations

from typing import List, Optional, Union

from ..base import COMPAT_MODULE, Rule, RuleTransformer, cst, dotted_name
from ..engine.libcst_command import command_getattr


def _shape(fn_name: str, body) -> Optional[str]:
    """What the body does wrong, if it maps ``fn_name`` over zipped leaves or dict values."""
    calls_fn, flatten, zips, dict_case, delegates = [], [], [], [], []

    class _Find(cst.CSTVisitor):
        def visit_Call(self, node) -> None:
            name = dotted_name(node.func) or ""
            if name == fn_name:
                calls_fn.append(node)
            elif name.endswith("tree_flatten") or name.endswith("tree_leaves"):
                flatten.append(node)
            elif name == "zip":
                zips.append(node)
            elif name == f"{COMPAT_MODULE}.tree_map":
                delegates.append(node)
            elif name == "isinstance" and len(node.args) == 2 and (dotted_name(node.args[1].value) or "").endswith("dict"):
                dict_case.append(node)

        def visit_DictComp(self, node) -> None:
            dict_case.append(node)

    body.visit(_Find())
    if delegates or not calls_fn:
        return None
    if dict_case:
        return "matches dicts one level deep: nested dicts reach the function whole (TypeError where native recurses)"
    if flatten and zips:
        return "zips flattened leaves without checking that the trees match (native raises on a mismatch)"
    return None


class Transformer(RuleTransformer):
    def reset(self) -> None:
        # enclosing defs and classes (a skipped cold def is left, never visited)
        self.scopes: List[Union[cst.FunctionDef, cst.ClassDef]] = []

    def visit_FunctionDef(self, node) -> None:
        self.scopes.append(node)

    def visit_ClassDef(self, node) -> None:
        self.scopes.append(node)

    def leave_ClassDef(self, original, updated):
        if self.scopes and self.scopes[-1] is original:
            self.scopes.pop()
        return updated

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef):
        if not self.scopes or self.scopes[-1] is not original:
            return updated  # not visited: no rule looks inside it
        self.scopes.pop()
        if self.scopes:
            return updated  # module-level functions only (methods have a self)
        params = original.params
        positional = list(params.posonly_params) + list(params.params)
        if not positional:
            return updated
        fn = positional[0].name.value
        trees = [p.name.value for p in positional[1:]]
        star = params.star_arg.name.value if isinstance(params.star_arg, cst.Param) else None
        if len(trees) + (star is not None) < 1 or (star is None and len(trees) < 2):
            return updated
        what = _shape(fn, original.body)
        if what is None:
            return updated
        name = original.name.value
        extra = [p.name.value for p in params.kwonly_params if p.name.value != "is_leaf"]
        if params.star_kwarg is not None:
            extra.append("**" + params.star_kwarg.name.value)
        defaults = [p.name.value for p in positional[1:] if p.default is not None]
        if extra or defaults or positional[0].default is not None:
            why = f"parameter `{(extra + defaults)[0] if extra + defaults else fn}` has no tree_map counterpart"
            self.report(original, "unhandled", f"home-made tree_map `{name}` {what}; not rewritten: {why}")
            return updated
        if not self.report(original, "patched", f"home-made tree_map `{name}` {what} -> _torch_compat.tree_map"):
            return updated
        args: List[str] = [fn] + trees + ([f"*{star}"] if star else [])
        if any(p.name.value == "is_leaf" for p in params.kwonly_params):
            args.append("is_leaf=is_leaf")
        self.ctx.compat_attr("tree_map")  # asks for the compat import
        call = cst.parse_statement(f"return {COMPAT_MODULE}.tree_map({', '.join(args)})\n")
        body = list(updated.body.body)
        keep = []
        if body and _is_docstring(body[0]):
            keep.append(body[0])
        call = call.with_changes(leading_lines=[]) if keep else call
        return updated.with_changes(body=updated.body.with_changes(body=keep + [call]))


def _is_docstring(stmt) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


RULE = Rule(
    code="TC016",
    name="homemade-tree-map",
    summary="Send home-made multi-tree tree_map variants (dict-only or flatten-and-zip) to _torch_compat.tree_map",
    fixes='TypeError on nested trees: tree_map_compat(f, {"a": {"x": 1}}, {"a": {"x": 10}}) (native: {"a": {"x": 11}})',
    fixed_in=None,
    # The pre-filter looks at a def's header (a long def is otherwise entered statement by statement):
    # a callable and `*trees`, or a tree/map/zip-named def, or a callable-named first parameter.
    triggers=("def ",),
    pattern=(
        r"def\s+(?:\w+\s*\(\s*(?!self\b|cls\b)\w+\s*,\s*\*\s*\w+\s*\)"
        r"|\w*(?:tree|map|zip)\w*\s*\(\s*(?!self\b|cls\b)\w+\s*,\s*\w+\s*,"
        r"|\w+\s*\(\s*(?:fn|func|f|function|fun|mapper|map_fn|op)\s*,\s*\w+\s*,)"
    ),
    transformer=Transformer,
    needs_compat=True,
    helpers=("tree_map",),
    shapes=(
        'a module-level def taking a callable and two or more trees (*trees or named)',
        'that calls the callable on zipped flattened leaves, or on dict values one level deep',
        'reported: a variant with parameters tree_map lacks',
    ),
)
Transformer.rule = RULE
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod
