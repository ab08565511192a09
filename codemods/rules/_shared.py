"""Handler building blocks that several rules share (one place for each pattern)."""
from __future__ import annotations

from typing import Dict, Optional, Tuple, Union, cast

from ..base import COMPAT_MODULE, RuleTransformer, cst, dotted_name
from ._widen import widen_try


def argument_index(call: "cst.Call", position: int, keyword: str) -> Optional[int]:
    """Index in ``call.args`` of the argument passed for the parameter ``keyword`` (by name, or
    ``position``-th positional); None where it is not passed, or a ``*args``/``**kwargs`` before
    it makes its place unknowable."""
    count = 0
    for i, arg in enumerate(call.args):
        if arg.star:
            return None
        if arg.keyword is not None:
            if arg.keyword.value == keyword:
                return i
            continue
        if count == position:
            return i
        count += 1
    return None


def argument(call: "cst.Call", position: int, keyword: str) -> Optional["cst.BaseExpression"]:
    """The expression passed for the parameter ``keyword`` (see ``argument_index``), else None."""
    i = argument_index(call, position, keyword)
    return call.args[i].value if i is not None else None


def compat_from_import(ctx, original: "cst.ImportFrom") -> "cst.ImportFrom":
    """``original`` with its module replaced by ``<host>._torch_compat`` (names, parentheses and
    trailing commas kept)."""
    line = cst.parse_statement(ctx.compat_import + "\n")
    # HostFinder.import_statement writes a from-import: ``from <host> import _torch_compat`` or ``from .. import _torch_compat``.
    stmt = line.body[0] if isinstance(line, cst.SimpleStatementLine) else None
    if not isinstance(stmt, cst.ImportFrom):
        raise ValueError(f"the _torch_compat import is not a from-import: {ctx.compat_import!r}")
    module: Union[cst.Name, cst.Attribute]
    if stmt.module is None:  # from ... import _torch_compat
        module = cst.Name(COMPAT_MODULE)
    else:
        module = cst.Attribute(value=stmt.module, attr=cst.Name(COMPAT_MODULE))
    if not isinstance(original.names, cst.ImportStar):
        for alias in original.names:
            if isinstance(alias.name, cst.Name):
                local = alias.asname.name.value if alias.asname is not None and isinstance(alias.asname.name, cst.Name) \
                    else alias.name.value
                ctx.rebound[local] = alias.name.value
    return original.with_changes(module=module, relative=stmt.relative)


class SubmoduleUse(RuleTransformer):
    """Adds ``import <submodule>`` to a module that reaches the submodule by attribute access only."""

    SUBMODULES: Tuple[str, ...] = ()

    def visit_Attribute(self, node) -> None:
        qualified = self.ctx.index.resolve(node)
        if qualified in self.SUBMODULES and qualified not in self.ctx.index.loaded:
            if self.report(node, "patched", f"`{qualified}` is used without `import {qualified}`"):
                self.ctx.require_module(qualified)


class Redirect(RuleTransformer):
    """Points uses of newer-than-target torch names at the same-named ``_torch_compat`` helpers.

    ``MODULE`` is the torch module; ``NAMES`` the names the helper module provides.
    Other names from ``MODULE`` are reported as unhandled.
    """

    MODULE: str = ""
    NAMES: Tuple[str, ...] = ()

    def leave_ImportFrom(self, original, updated):
        if updated.relative or updated.module is None:
            return updated
        module = dotted_name(updated.module)
        if module is not None and module.startswith(self.MODULE + "."):
            self.report(original, "unhandled", f"`{module}` has no compat helper")
            return updated
        if self.ctx.index.resolve(updated.module) != self.MODULE and module != self.MODULE:
            return updated
        if isinstance(updated.names, cst.ImportStar):
            self.report(original, "unhandled", f"`from {self.MODULE} import *` cannot be redirected")
            return updated
        unknown = [a.name.value for a in updated.names if a.name.value not in self.NAMES]
        if unknown:
            self.report(original, "unhandled", f"`{self.MODULE}.{unknown[0]}` has no compat helper")
            return updated
        if self.ctx.compat_import is None:
            self.report(original, "unhandled", f"`from {self.MODULE} import ...` needs a package to host _torch_compat")
            return updated
        if not self.report(original, "patched", f"`from {self.MODULE} import` -> _torch_compat"):
            return updated  # a suppression comment: the import stays as it is
        return compat_from_import(self.ctx, updated)

    def leave_Attribute(self, original, updated):
        qualified = self.ctx.index.resolve(original)
        if qualified is None or not qualified.startswith(self.MODULE + "."):
            return updated
        name = qualified[len(self.MODULE) + 1 :]
        if "." in name:
            return updated  # the inner Attribute is rewritten instead
        if name not in self.NAMES:
            self.report(original, "unhandled", f"`{qualified}` has no compat helper")
            return updated
        if not self.report(original, "patched", f"`{qualified}` -> _torch_compat.{name}"):
            return updated
        return self.ctx.compat_attr(name).with_changes(lpar=updated.lpar, rpar=updated.rpar)


class OptionalImport(RuleTransformer):
    """Wraps module-level imports of an optional package in try/except with a fallback.

    A broken install raises more than ImportError (a torchvision mismatch gives RuntimeError,
    a missing native library OSError), so all three are caught. The fallback binds each name to
    ``_torch_compat.missing(...)``: a placeholder class that is safe in annotations and
    ``isinstance`` and raises a RuntimeError naming the package when used; ``FALLBACKS`` maps a
    qualified name to a real compat helper instead.
    """

    PACKAGES: Tuple[str, ...] = ()
    PIP_NAME: str = ""
    PIP_NAMES: Dict[str, str] = {}  # root package -> its pip name, where it differs from PIP_NAME
    FALLBACKS: Dict[str, str] = {}
    # Also wrap imports inside blocks (a def, an ``if``, a ``with``), not only at module level.
    NESTED: bool = False
    # A hand-written ``try: import pkg / except ImportError:`` misses the package's real failure
    # (RuntimeError, OSError): widen that handler's exception tuple instead of wrapping again.
    WIDEN: bool = False

    def reset(self) -> None:
        self.try_bodies: set = set()  # ids of the blocks that are a ``try``'s body

    def visit_Try(self, node) -> None:
        self.try_bodies.add(id(node.body))

    def leave_IndentedBlock(self, original, updated):
        if not self.NESTED or id(original) in self.try_bodies:
            return updated
        return self._wrap_body(original, updated)

    def leave_Try(self, original, updated):
        if not self.WIDEN:
            return updated
        return widen_try(self, original, updated)

    def imports_package(self, stmt) -> bool:
        """Whether ``stmt`` is a simple statement importing one of ``PACKAGES``."""
        if not isinstance(stmt, cst.SimpleStatementLine):
            return False
        for small in stmt.body:
            if isinstance(small, cst.Import) and any(self._package_of(dotted_name(a.name)) for a in small.names):
                return True
            if (isinstance(small, cst.ImportFrom) and not small.relative and small.module is not None
                    and self._package_of(dotted_name(small.module))):
                return True
        return False

    def _package_of(self, module: Optional[str]) -> Optional[str]:
        if module is None:
            return None
        root = module.split(".")[0]
        return root if root in self.PACKAGES else None

    def leave_Module(self, original, updated):
        return self._wrap_body(original, updated)

    def _wrap_body(self, original, updated):
        body = list(updated.body)
        changed = False
        for i, stmt in enumerate(body):
            wrapped = self._wrap(original.body[i] if i < len(original.body) else stmt, stmt)
            if wrapped is not None:
                body[i] = wrapped
                changed = True
        return updated.with_changes(body=body) if changed else updated

    def _wrap(self, original_stmt, stmt):
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            return None
        imp = stmt.body[0]
        bindings = []  # (local name, qualified name)
        if isinstance(imp, cst.Import):
            for alias in imp.names:
                name = dotted_name(alias.name)
                if name is None or self._package_of(name) is None:
                    return None
                local = alias.evaluated_alias  # ``import a.b as c``: the name after ``as``
                if local is not None:
                    bindings.append((local, name))
                else:
                    bindings.append((name.split(".")[0], name.split(".")[0]))
        elif isinstance(imp, cst.ImportFrom) and not imp.relative and imp.module is not None:
            module = dotted_name(imp.module)
            if self._package_of(module) is None or isinstance(imp.names, cst.ImportStar):
                return None
            for alias in imp.names:
                imported = alias.evaluated_name  # a Name in a from-import
                local = alias.evaluated_alias or imported
                bindings.append((local, f"{module}.{imported}"))
        else:
            return None
        if not self.report(original_stmt, "patched", f"optional import of {', '.join(q for _, q in bindings)}"):
            return None
        compat = self.ctx.compat_attr("missing")  # also requests the compat import
        del compat
        lines = []
        for local, qualified in bindings:
            helper = self.FALLBACKS.get(qualified)
            if helper:
                lines.append(f"{local} = {COMPAT_MODULE}.{helper}")
            else:
                pip_name = self.PIP_NAMES.get(qualified.split(".")[0], self.PIP_NAME)
                lines.append(f'{local} = {COMPAT_MODULE}.missing("{pip_name}", "{qualified}", _sam3d_import_error)')
        handler_src = (
            "try:\n    pass\n"
            "except (ImportError, RuntimeError, OSError) as _sam3d_import_error:  # optional dependency\n"
            + "".join(f"    {line}\n" for line in lines)
        )
        template = cast(cst.Try, cst.parse_statement(handler_src))
        return template.with_changes(
            body=template.body.with_changes(body=[stmt.with_changes(leading_lines=[])]),
            leading_lines=stmt.leading_lines,
        )
