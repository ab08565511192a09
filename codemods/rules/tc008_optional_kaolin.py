"""TC008: make kaolin an optional import.

FlexiCubes imports ``kaolin.utils.testing.check_tensor`` only for input checks, but kaolin's native
part often fails to load (``RuntimeError: Error loading warp.so``). The import is wrapped; the
fallback ``check_tensor`` in ``_torch_compat`` behaves like kaolin's (returns a bool, raises on
mismatch with ``throw=True``); other kaolin names become ``missing`` placeholders.

Imports inside a function (or any block) are wrapped the same way. An import already in
``try/except ImportError`` gets RuntimeError and OSError added to that handler (the user's fallback
then runs); a handler that already catches them, or ``Exception``, is left alone.
"""
from __future__ import annotations

from ..base import Rule
from ..engine.libcst_command import command_getattr
from ._shared import OptionalImport


class Transformer(OptionalImport):
    PACKAGES = ("kaolin",)
    PIP_NAME = "kaolin"
    FALLBACKS = {"kaolin.utils.testing.check_tensor": "check_tensor"}
    NESTED = True  # forks import kaolin lazily, inside the function that needs it
    WIDEN = True  # and guard it by hand against ImportError only


RULE = Rule(
    code="TC008",
    name="optional-kaolin",
    summary="Guard kaolin imports; fall back to a kaolin-compatible check_tensor",
    fixes="ModuleNotFoundError: No module named 'kaolin' / RuntimeError: Error loading warp.so",
    fixed_in=None,
    triggers=("kaolin",),
    pattern=r"(?m)^\s*(import|from)\s+kaolin\b",
    shapes=(
        "import kaolin / import kaolin.x as k / from kaolin.x import name  (module level)",
        "the same inside a def, if, with or for block",
        "try: <kaolin import> except ImportError / ModuleNotFoundError / (ImportError, ...): widened",
        "from kaolin.utils.testing import check_tensor -> _torch_compat.check_tensor fallback",
        "left alone: a try whose handlers already catch RuntimeError and OSError, Exception, or bare except",
        "reported: a try that guards the import and other code with ImportError only",
    ),
    transformer=Transformer,
    needs_compat=True,
    helpers=("missing",) + tuple(sorted(set(Transformer.FALLBACKS.values()))),
)
Transformer.rule = RULE
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod
