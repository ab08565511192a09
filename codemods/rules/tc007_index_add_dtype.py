"""TC007: cast the source of ``index_add_`` / ``index_add`` to the destination's dtype.

``index_add_`` requires ``source.dtype == self.dtype`` on every torch release; FlexiCubes calls it
with float16 sources on float32 buffers under autocast. ``x.index_add_(dim, index, src)`` becomes
``x.index_add_(dim, index, src.to(x.dtype))`` (a no-op when the dtypes already match). The dtype is
named through an expression that can be evaluated twice without side effects: the receiver when it
is a name chain, or the name chain under dtype-keeping calls and subscripts (``heatmap.view(-1)``
-> ``heatmap.dtype``). A source that already has the destination dtype (``.to(x.dtype)``,
``.to(dtype=x.dtype)``, ``.type_as(x)``) is left alone, and a pure dtype cast to another tensor's
dtype is retargeted, never cast twice.

Where the destination is any other expression (``torch.index_add(torch.zeros(n, 3), ...)``,
``make().index_add_(...)``) the call goes to ``_torch_compat.index_add`` / ``index_add_``, which
evaluate the destination once and cast the source to its dtype (native otherwise). The unbound
method forms (``torch.Tensor.index_add_(x, ...)``) take the destination from their first argument.
"""
from __future__ import annotations

from ..base import COMPAT_MODULE, Rule, RuleTransformer, cst, dotted_name
from ..engine.libcst_command import command_getattr
from ._shared import argument, argument_index

METHODS = ("index_add_", "index_add")
FUNCTIONS = ("torch.index_add",)
UNBOUND = ("torch.Tensor.index_add_", "torch.Tensor.index_add")  # the method called on its class


# Tensor methods whose result has the receiver's dtype: ``x.view(-1).index_add_(...)`` adds into a
# view of ``x``, so ``x.dtype`` names the destination dtype without evaluating the chain again.
SAME_DTYPE_METHODS = frozenset({
    "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "squeeze", "unsqueeze", "permute",
    "transpose", "t", "contiguous", "expand", "expand_as", "narrow", "select", "movedim", "swapaxes",
    "clone", "detach", "flip", "roll", "repeat", "unfold",
})


def _nameable(node) -> bool:
    while isinstance(node, cst.Attribute):
        node = node.value
    return isinstance(node, cst.Name)


def _dtype_owner(dest):
    """An expression naming a tensor with ``dest``'s dtype, evaluable twice without side effects:
    ``dest`` itself when it is a name chain, else the name chain under dtype-keeping method calls
    and subscripts (``heatmap.view(-1)`` -> ``heatmap``, ``self.buf[i]`` -> ``self.buf``); else None."""
    node = dest.with_changes(lpar=(), rpar=()) if getattr(dest, "lpar", ()) else dest
    while True:
        if _nameable(node):
            return node
        if isinstance(node, cst.Subscript):
            node = node.value
        elif (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
              and node.func.attr.value in SAME_DTYPE_METHODS):
            node = node.func.value
        else:
            return None
        if getattr(node, "lpar", ()):
            node = node.with_changes(lpar=(), rpar=())


def _same(a, b) -> bool:
    return a.deep_equals(b.with_changes(lpar=(), rpar=()) if hasattr(b, "lpar") else b) or b.deep_equals(
        a.with_changes(lpar=(), rpar=()) if hasattr(a, "lpar") else a
    )


TORCH_DTYPES = frozenset({
    "float16", "half", "bfloat16", "float32", "float", "float64", "double", "complex64", "complex128",
    "uint8", "int8", "int16", "short", "int32", "int", "int64", "long", "bool",
})


def _dtype_cast_arg(source, resolve=None):
    """The one argument of a pure dtype cast, else None: ``src.to(dtype=D)``, or ``src.to(D)`` where
    ``D`` is visibly a dtype (``t.dtype``, ``torch.float16``): a positional ``.to(x.device)`` or
    ``.to(other)`` is no dtype cast."""
    if not (isinstance(source, cst.Call) and isinstance(source.func, cst.Attribute) and source.func.attr.value == "to"):
        return None
    if len(source.args) != 1 or source.args[0].star:
        return None
    arg = source.args[0]
    if arg.keyword is not None:
        return arg if arg.keyword.value == "dtype" else None
    value = arg.value
    if not isinstance(value, cst.Attribute):
        return None
    if value.attr.value == "dtype":
        return arg
    qualified = resolve(value) if resolve is not None else None
    return arg if qualified is not None and qualified in {f"torch.{d}" for d in TORCH_DTYPES} else None


def _already_cast(source, owner) -> bool:
    """``source`` already has ``owner``'s dtype: ``.to(owner.dtype)``, ``.to(dtype=owner.dtype)``,
    ``.type_as(owner)`` (the shapes this rule or a human writes)."""
    if (isinstance(source, cst.Call) and isinstance(source.func, cst.Attribute) and source.func.attr.value == "type_as"
            and len(source.args) == 1 and source.args[0].keyword is None and _same(source.args[0].value, owner)):
        return True
    arg = _dtype_cast_arg(source)
    if arg is None or not isinstance(arg.value, cst.Attribute):
        return False
    return arg.value.attr.value == "dtype" and _same(arg.value.value, owner)


def _atom(node):
    """Parenthesise an expression so ``.to(...)`` binds to all of it."""
    if isinstance(node, (cst.Name, cst.Attribute, cst.Call, cst.Subscript)) or getattr(node, "lpar", None):
        return node
    return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


class Transformer(RuleTransformer):
    def leave_Call(self, original, updated):
        func = original.func
        resolved = self.ctx.index.resolve(func)
        if resolved in FUNCTIONS or resolved in UNBOUND:
            dest = argument(original, 0, "input" if resolved in FUNCTIONS else "self")
            source_pos = 3
            helper = "index_add" if resolved.endswith("index_add") else "index_add_"
            method = False
        elif isinstance(func, cst.Attribute) and func.attr.value in METHODS and not _is_compat(self.ctx, func.value):
            dest = func.value
            source_pos = 2
            helper = func.attr.value
            method = True
        else:
            return updated
        source_index = argument_index(original, source_pos, "source")
        if source_index is None or dest is None:
            return updated
        source = updated.args[source_index].value
        owner = _dtype_owner(dest)
        if owner is None:
            return self._to_helper(original, updated, helper, method)
        if _already_cast(source, owner):
            return updated
        if not self.report(original, "patched", "index_add source cast to the destination dtype"):
            return updated
        dtype = cst.Attribute(value=owner, attr=cst.Name("dtype"))
        existing = _dtype_cast_arg(source, self.ctx.index.resolve)
        if existing is not None:
            # ``src.to(dtype=x.dtype)`` into ``y``: retarget that cast instead of adding a second one.
            # Where the original ran, the two dtypes were equal (index_add_ raises otherwise).
            cast = source.with_changes(args=[existing.with_changes(value=dtype)])
        else:
            cast = cst.Call(func=cst.Attribute(value=_atom(source), attr=cst.Name("to")), args=[cst.Arg(dtype)])
        args = list(updated.args)
        args[source_index] = args[source_index].with_changes(value=cast)
        return updated.with_changes(args=args)

    def _to_helper(self, original, updated, helper: str, method: bool):
        """An expression destination: ``_torch_compat.<helper>(dest, ...)`` evaluates it once."""
        if any(a.keyword is not None and a.keyword.value in ("input", "self") for a in updated.args):
            self.report(original, "unhandled", "index_add source not cast: the destination is passed by keyword")
            return updated
        if not self.report(original, "patched", f"index_add on an expression -> _torch_compat.{helper} (source cast once)"):
            return updated
        args = list(updated.args)
        if method:  # the receiver becomes the first argument
            receiver = updated.func.value
            args = [cst.Arg(receiver.with_changes(lpar=(), rpar=()) if getattr(receiver, "lpar", ()) else receiver)] + args
        return updated.with_changes(func=self.ctx.compat_attr(helper), args=args)


def _is_compat(ctx, node) -> bool:
    """``_torch_compat`` itself (this rule's own output on a second pass), under any import."""
    name = dotted_name(node)
    return name == COMPAT_MODULE or (ctx.index.resolve(node) or "").endswith("." + COMPAT_MODULE)


RULE = Rule(
    code="TC007",
    name="index-add-dtype",
    summary="Cast index_add_/index_add sources to the destination dtype",
    fixes="RuntimeError: index_add_(): self (Float) and source (Half) must have the same scalar type",
    fixed_in=None,
    triggers=("index_add",),
    transformer=Transformer,
    needs_compat=True,
    helpers=("index_add", "index_add_"),
    shapes=(
        "x.index_add_(dim, index, src) / x.index_add(...) with x a name chain: src.to(x.dtype)",
        "x.view(-1).index_add_(...), x.buf[i].reshape(...).index_add_(...): cast to the chain's root dtype",
        "torch.index_add(x, dim, index, src) / source= keyword / an alias of torch",
        "torch.index_add(<expression>, ...), make().index_add_(...): _torch_compat.index_add / index_add_",
        "torch.Tensor.index_add_(x, ...) / torch.Tensor.index_add(x, ...): the first argument is the destination",
        "left alone: src already .to(x.dtype) / .to(dtype=x.dtype) / .type_as(x); a pure dtype cast is retargeted",
    ),
)
Transformer.rule = RULE
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod
