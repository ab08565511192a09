"""TC009: a package ``__init__`` that imports a submodule the tree does not ship.

Upstream ``sam3d_objects/__init__.py`` does ``import sam3d_objects.init`` unless ``LIDRA_SKIP_INIT``
is set, and ``init.py`` is not in the public repo. The import is kept but tolerated when exactly
that module is missing; any other import error inside it still raises.

Forks import it indirectly too: ``importlib.import_module("pkg.init")`` (or under an alias, or
relative: ``import_module(".init", __name__)``, ``import_module(f"{__name__}.init")``) and
``__import__("pkg.init")`` (relative too: ``__import__("init", globals(), locals(), [], 1)``),
and ``from . import init``. Those statements are guarded the same way
(a from-import by asking ``importlib.util.find_spec`` whether the submodule exists at all); where the name is built from
``__name__`` the guard compares against the same expression, so a vendored copy (another package
name at run time) is tolerated for its own ``init`` only. These spellings count only under an
``if`` that reads an environment variable (the ``LIDRA_SKIP_INIT`` switch): ``from . import _C`` of
a native extension is missing from every source tree and must keep failing where it is imported.
"""
from __future__ import annotations

import os
from typing import Optional, Tuple, cast

from ..base import Rule, RuleTransformer, cst, dotted_name
from ..engine.libcst_command import command_getattr
from ._shared import argument

IMPORT_MODULE = "importlib.import_module"


def _ships(package_dir: str, sub: str) -> bool:
    base = os.path.join(package_dir, *sub.split("."))
    return os.path.exists(base + ".py") or os.path.exists(os.path.join(base, "__init__.py"))


def _is_name(node, name: str) -> bool:
    return isinstance(node, cst.Name) and node.value == name


def _string(node) -> Optional[str]:
    if isinstance(node, cst.SimpleString) and node.prefix.lower() in ("", "r", "u"):
        value = node.evaluated_value
        return value if isinstance(value, str) else None  # always a str: bytes literals have a b prefix
    return None


def _relative_dunder_import(call, level) -> Optional[Tuple[str, str]]:
    """``__import__("init", globals(), locals(), [], 1)``: the package's own submodule, relative to
    the ``globals()`` it is given (in an ``__init__`` module, ``__name__`` is the package). Deeper
    levels, or a namespace other than ``globals()``, are not followed. ``__import__("", globals(),
    fromlist=["init"], level=1)`` needs nothing: a missing name of a fromlist is skipped, not raised."""
    space = argument(call, 1, "globals")
    if not (isinstance(level, cst.Integer) and level.value == "1" and isinstance(space, cst.Call)
            and _is_name(space.func, "globals") and not space.args):
        return None
    name = _string(call.args[0].value)
    if not name or name.startswith("."):
        return None
    return name, f'__name__ + ".{name}"'


def _dunder_relative(node) -> Optional[str]:
    """``f"{__name__}.init"`` / ``__name__ + ".init"`` -> ``"init"`` (the package's own submodule:
    in an ``__init__`` module ``__name__`` is the package)."""
    if isinstance(node, cst.FormattedString) and len(node.parts) == 2:
        head, tail = node.parts
        if (isinstance(head, cst.FormattedStringExpression) and head.conversion is None and head.format_spec is None
                and (_is_name(head.expression, "__name__") or _is_name(head.expression, "__package__"))
                and isinstance(tail, cst.FormattedStringText) and tail.value.startswith(".")):
            return tail.value[1:]
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
        suffix = _string(node.right)
        if (_is_name(node.left, "__name__") or _is_name(node.left, "__package__")) and suffix and suffix.startswith("."):
            return suffix[1:]
    return None


def _reads_env(test) -> bool:
    """Whether an ``if`` test reads an environment variable (``os.environ``, ``os.getenv``)."""
    found = []

    class _Find(cst.CSTVisitor):
        def visit_Name(self, n) -> None:
            if n.value in ("environ", "getenv"):
                found.append(n)

    test.visit(_Find())
    return bool(found)


class Transformer(RuleTransformer):
    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.package_dir = os.path.dirname(os.path.abspath(ctx.path))
        self.package = os.path.basename(self.package_dir)
        self.active = os.path.basename(ctx.path) == "__init__.py"

    def reset(self) -> None:
        self.try_depth = 0
        self.env_ifs: list = []  # the enclosing `if`s, True where the test reads an environment variable

    def visit_If(self, node) -> None:
        self.env_ifs.append(_reads_env(node.test))

    def leave_If(self, original, updated):
        self.env_ifs.pop()
        return updated

    def visit_Try(self, node) -> None:
        self.try_depth += 1

    def leave_Try(self, original, updated):
        self.try_depth -= 1
        return updated

    def _dynamic(self, call) -> Optional[Tuple[str, str]]:
        """(submodule under this package, the guard's expression for its full name) that an
        ``import_module``/``__import__`` call imports, else None."""
        if not isinstance(call, cst.Call) or not call.args or call.args[0].keyword is not None:
            return None
        func = call.func
        if self.ctx.index.resolve(func) == IMPORT_MODULE:
            package = next((a.value for a in call.args[1:] if a.keyword is None or a.keyword.value == "package"), None)
        elif _is_name(func, "__import__") and "__import__" not in self.ctx.index.aliases:
            level = argument(call, 4, "level")
            if level is not None and not (isinstance(level, cst.Integer) and level.value == "0"):
                return _relative_dunder_import(call, level)
            package = None  # __import__ takes no package: a relative name needs level=
        else:
            return None
        first = call.args[0].value
        literal = _string(first)
        if literal is not None and literal.startswith("."):
            if not isinstance(package, cst.Name) or package.value not in ("__name__", "__package__"):
                return None
            if literal.startswith(".."):
                return None
            return literal[1:], f'{package.value} + "{literal}"'
        if literal is not None:
            prefix = self.package + "."
            return (literal[len(prefix):], f'"{literal}"') if literal.startswith(prefix) else None
        sub = _dunder_relative(first)
        if sub is not None and package is None:
            return sub, f'__name__ + ".{sub}"'
        return None

    def _from_import(self, small) -> Optional[Tuple[str, str, str]]:
        """``from . import init`` / ``from pkg import init`` (one name, ``as`` allowed)."""
        if isinstance(small.names, cst.ImportStar) or len(small.names) != 1:
            return None
        sub = dotted_name(small.names[0].name)
        if sub is None:
            return None
        if len(small.relative) == 1 and small.module is None:
            full = f'__name__ + ".{sub}"'
        elif not small.relative and small.module is not None and dotted_name(small.module) == self.package:
            full = f'"{self.package}.{sub}"'
        else:
            return None
        return cst.Module(body=[]).code_for_node(small), sub, full

    def _target(self, stmt) -> Optional[Tuple[str, str, str]]:
        """(shown name, submodule, guard expression) of the one import ``stmt`` makes, else None."""
        if len(stmt.body) != 1:
            return None
        small = stmt.body[0]
        if isinstance(small, cst.ImportFrom):
            return self._from_import(small)
        if isinstance(small, cst.Import):
            if len(small.names) != 1 or small.names[0].asname is not None:
                return None
            name = dotted_name(small.names[0].name)
            prefix = self.package + "."
            if name is None or not name.startswith(prefix):
                return None
            return f"import {name}", name[len(prefix):], f'"{name}"'
        value = small.value if isinstance(small, (cst.Expr, cst.Assign)) else None
        if value is None:
            return None
        found = self._dynamic(value)
        if found is None:
            return None
        sub, guard = found
        return cst.Module(body=[]).code_for_node(value), sub, guard

    def leave_SimpleStatementLine(self, original, updated):
        if not self.active or self.try_depth:
            return updated
        found = self._target(updated)
        if found is None:
            return updated
        if not isinstance(updated.body[0], cst.Import) and not any(self.env_ifs):
            # The indirect spellings only under an environment switch (`if not os.environ.get(
            # "LIDRA_SKIP_INIT")`): `from . import _C` of a native extension built at install time
            # is missing from every source tree, and tolerating it would only move the failure.
            return updated
        shown, sub, guard = found
        if not sub or _ships(self.package_dir, sub):
            return updated
        if not self.report(original, "patched", f"`{shown}` tolerated: the tree does not ship it"):
            return updated
        if isinstance(updated.body[0], cst.ImportFrom):
            # A missing submodule of a from-import surfaces as "cannot import name" (an ImportError
            # naming the package), so ask the import system whether the submodule is there at all.
            template_src = (
                "try:\n    pass\n"
                "except ImportError:  # not shipped in the public tree\n"
                "    import importlib.util as _sam3d_util\n"
                f"    if _sam3d_util.find_spec({guard}) is not None:\n"
                "        raise\n"
            )
        else:
            template_src = (
                "try:\n    pass\n"
                "except ModuleNotFoundError as _sam3d_import_error:  # not shipped in the public tree\n"
                f"    if _sam3d_import_error.name != {guard}:\n"
                "        raise\n"
            )
        template = cast(cst.Try, cst.parse_statement(template_src))
        return template.with_changes(
            body=template.body.with_changes(body=[updated.with_changes(leading_lines=[])]),
            leading_lines=updated.leading_lines,
        )


RULE = Rule(
    code="TC009",
    name="package-init",
    summary="Tolerate a package __init__ importing a submodule the public tree does not ship",
    fixes="ModuleNotFoundError: No module named 'sam3d_objects.init'",
    fixed_in=None,
    triggers=("import",),
    pattern=r"(?m)^\s*import\s+\w+\.\w+|^\s*from\s+[\w.]+\s+import\s+\w+|\bimport_module\s*\(|\b__import__\s*\(",
    filenames=("__init__.py",),
    transformer=Transformer,
    shapes=(
        "import pkg.sub  (sub not shipped beside __init__.py)",
        'importlib.import_module("pkg.sub") / an alias of import_module',
        'import_module(".sub", __name__) / import_module(".sub", package=__package__)',
        'import_module(f"{__name__}.sub") / import_module(__name__ + ".sub")',
        '__import__("pkg.sub")',
        '__import__("sub", globals(), locals(), [], 1) / level=1 by keyword',
        "x = <any of the calls above>",
        "from . import sub / from pkg import sub [as name]",
        "the spellings other than `import pkg.sub` only inside an `if` that reads an environment variable",
        "left alone: already inside try, or the submodule is shipped; __import__ with level 2 or more, "
        "without globals(), or with the name in its fromlist (a missing one is skipped, not raised)",
    ),
)
Transformer.rule = RULE
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod
