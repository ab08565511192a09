"""TC017: fallbacks of optional imports that do not behave like the real function.

A hand patch makes an import optional and stubs the name in the ``except`` branch, e.g.
``def check_tensor(tensor, *a, **k): return tensor``. kaolin's ``check_tensor`` returns a bool
(and raises on a mismatch with ``throw=True``); FlexiCubes does ``assert check_tensor(x, ...)``, so
the stub makes the assert evaluate a tensor: "Boolean value of Tensor with more than one value is
ambiguous". Recognised by shape: a ``try`` that imports a name this rule knows the behaviour of,
whose handler binds the same name to a function (``def`` or ``lambda``) that returns one of its
arguments or nothing. The stub is replaced by the faithful ``_torch_compat`` fallback; the rest of
the handler and its comments stay. A stub that already behaves (the compat helper, or a function
returning something else) is left as it is.
"""
from __future__ import annotations

from typing import Dict, Optional

from ..base import COMPAT_MODULE, Rule, RuleTransformer, cst, dotted_name
from ..engine.libcst_command import command_getattr

# qualified name -> _torch_compat helper that behaves like it
FAITHFUL: Dict[str, str] = {"kaolin.utils.testing.check_tensor": "check_tensor"}


def _imported(stmt) -> Dict[str, str]:
    """local name -> qualified name for the known names a try body imports."""
    out: Dict[str, str] = {}
    if not isinstance(stmt, cst.SimpleStatementLine):
        return out
    for imp in stmt.body:
        if isinstance(imp, cst.ImportFrom) and not imp.relative and imp.module is not None and not isinstance(imp.names, cst.ImportStar):
            module = dotted_name(imp.module)
            for alias in imp.names:
                q = f"{module}.{alias.name.value}"
                if q in FAITHFUL:
                    out[alias.evaluated_alias or alias.evaluated_name] = q
    return out


def _params(params) -> set:
    names = {p.name.value for p in list(params.posonly_params) + list(params.params) + list(params.kwonly_params)}
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            names.add(star.name.value)
    return names


def _returns_input(value, params: set) -> bool:
    return value is None or (isinstance(value, cst.Name) and (value.value in params or value.value == "None"))


def _stub_kind(stmt, local: str) -> Optional[str]:
    """'def'/'lambda' if ``stmt`` binds ``local`` to an identity/no-op stub."""
    if isinstance(stmt, cst.FunctionDef) and stmt.name.value == local and not stmt.decorators:
        params = _params(stmt.params)
        body = list(stmt.body.body) if isinstance(stmt.body, cst.IndentedBlock) else [stmt.body]
        simple = [s for s in body
                  if not (isinstance(s, cst.SimpleStatementLine) and all(isinstance(x, (cst.Expr, cst.Pass)) for x in s.body))]
        if not simple:
            return "def"  # only a docstring / pass: returns None
        if len(simple) == 1 and isinstance(simple[0], cst.SimpleStatementLine) and len(simple[0].body) == 1:
            ret = simple[0].body[0]
            if isinstance(ret, cst.Return) and _returns_input(ret.value, params):
                return "def"
        return None
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Assign):
        assign = stmt.body[0]
        if len(assign.targets) == 1 and isinstance(assign.targets[0].target, cst.Name) and assign.targets[0].target.value == local:
            value = assign.value
            if isinstance(value, cst.Lambda) and _returns_input(value.body, _params(value.params)):
                return "lambda"
    return None


class Transformer(RuleTransformer):
    def leave_Try(self, original, updated):
        known: Dict[str, str] = {}
        for stmt in original.body.body:
            known.update(_imported(stmt))
        if not known:
            return updated
        handlers = list(updated.handlers)
        changed = False
        for h, (handler, orig_handler) in enumerate(zip(handlers, original.handlers)):
            body = list(handler.body.body)
            for i, stmt in enumerate(body):
                for local, qualified in known.items():
                    kind = _stub_kind(orig_handler.body.body[i], local)
                    if kind is None:
                        continue
                    helper = FAITHFUL[qualified]
                    if not self.report(
                        orig_handler.body.body[i], "patched",
                        f"stub `{local}` returns its input or None where `{qualified}` returns a bool "
                        f"(`assert {local}(...)` on a tensor raises) -> _torch_compat.{helper}",
                    ):
                        continue
                    self.ctx.compat_attr(helper)
                    new = cst.parse_statement(f"{local} = {COMPAT_MODULE}.{helper}\n")
                    body[i] = new.with_changes(leading_lines=stmt.leading_lines)
                    changed = True
            if changed:
                handlers[h] = handler.with_changes(body=handler.body.with_changes(body=body))
        return updated.with_changes(handlers=handlers) if changed else updated


RULE = Rule(
    code="TC017",
    name="unfaithful-stub",
    summary="Replace optional-import stubs that return their input (kaolin check_tensor) with the faithful fallback",
    fixes="RuntimeError: Boolean value of Tensor with more than one value is ambiguous",
    fixed_in=None,
    triggers=("check_tensor",),
    pattern=r"(?s)try:.*check_tensor.*except",
    transformer=Transformer,
    needs_compat=True,
    helpers=tuple(sorted(set(FAITHFUL.values()))),
    shapes=(
        'try: from kaolin... import check_tensor / except: def check_tensor(t, *a, **k): return t',
        'the stub as a lambda, or returning nothing',
        'left alone: the compat helper already bound, a stub that returns something else',
    ),
)
Transformer.rule = RULE
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod
