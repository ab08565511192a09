"""Sites' line numbers, cheaply where that is exact."""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Optional

from ..base import LINE_END
from .libcst_loader import load as _load_libcst

if TYPE_CHECKING:  # mypy sees the module that load() returns
    import libcst as cst
    from libcst.metadata import CodeRange
else:
    cst = _load_libcst()  # before any other libcst import: it compiles libcst's dataclasses once per machine
from libcst._nodes.internal import CodegenState  # (after load())


class SnippetLines:
    """Line numbers, cheaply where that is exact.

    LibCST is lossless, so a node's own code is a substring of the source. When that substring
    occurs once, its line is the node's line; only when it occurs again (a comment, a string, a
    repeated call) does this fall back to PositionProvider, a full extra pass over the module.
    """

    def __init__(self, text: str, module: cst.Module, offset: int = 0) -> None:
        self.text = text
        self.module = module
        self.offset = offset  # lines above ``text`` in the file (a statement parsed on its own)
        self._positions: Optional[Mapping[cst.CSTNode, CodeRange]] = None
        self._empty = cst.Module(body=[])

    def get(self, node) -> Optional[int]:
        probe = node.with_changes(leading_lines=()) if hasattr(node, "leading_lines") else node
        if isinstance(probe, (cst.FunctionDef, cst.ClassDef)) and probe.decorators:
            probe = probe.decorators[0]
        code = first_line_code(probe, self._empty).strip()
        snippet = code.splitlines()[0] if "\n" in code else code  # bodies render at another indent
        at = self.text.find(snippet) if snippet else -1
        if at >= 0 and self.text.find(snippet, at + 1) < 0:
            lines = self.text.count("\n", 0, at) if "\r" not in self.text else len(LINE_END.findall(self.text, 0, at))
            return lines + 1 + self.offset
        return self._exact(node)

    def _exact(self, node) -> Optional[int]:
        if self._positions is None:
            from libcst.metadata import MetadataWrapper, PositionProvider

            self._positions = MetadataWrapper(self.module, unsafe_skip_copy=True).resolve(PositionProvider)
        pos = self._positions.get(node)
        return pos.start.line + self.offset if pos is not None else None


class _FirstLineDone(Exception):
    pass


class _FirstLineState(CodegenState):
    def add_token(self, value: str) -> None:
        self.tokens.append(value)
        if ("\n" in value or "\r" in value) and "".join(self.tokens).strip():
            raise _FirstLineDone


def first_line_code(node, module) -> str:
    """``module.code_for_node(node)`` up to the end of its first non-blank line: a site's line
    needs no more, and rendering a whole ``if`` block for it would cost as much as the rest."""
    state = _FirstLineState(default_indent=module.default_indent, default_newline=module.default_newline)
    try:
        node._codegen(state)
    except _FirstLineDone:
        pass
    return "".join(state.tokens)
