"""Find uses of torch APIs that the target release lacks and no rule handles (``check``'s third gate).

Runs on the source as it would be after patching. Python's own parser (C speed) and a word-set
pre-filter keep it cheap: most files share no word with the table's newer symbols.
"""
from __future__ import annotations

import ast
import re
from bisect import bisect_left
from functools import lru_cache
from typing import Dict, FrozenSet, List, Optional, Tuple

from ..base import API_SCAN_CODE, Site, SourceLines, first_line, parse_quietly
from ..engine.suppressions import suppressions
from .advice import message
from .table import load

CODE = API_SCAN_CODE
NAME = "newer-torch-api"
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Newer:
    """The table's newer-than-``target`` symbols, for the scan.

    ``required(last)``, for the pre-filter: for each symbol ending in ``last``, the words its source
    must contain. A use resolves only through this file's own imports, so every component of the
    dotted name (but ``torch``) occurs in the file as a word. ``release(symbol)``: its first
    release, or None when the target has it. Both are worked out per name on first use: the
    table has ~12,000 symbols and a file's words meet a few dozen of them.

    Class members are left out (see ``_class_member``).
    """

    def __init__(self, target: str) -> None:
        self.table = load()
        self.target = target
        self.by_last: Dict[str, List[str]] = {}
        for symbol in self.table._first:
            self.by_last.setdefault(_split_symbol(symbol)[0], []).append(symbol)
        self._required: Dict[str, Tuple[FrozenSet[str], ...]] = {}

    def release(self, symbol: str) -> Optional[str]:
        if not self.table.newer_than(symbol, self.target) or not _kept(symbol):
            return None
        return self.table.first_release(symbol)

    def required(self, last: str) -> Tuple[FrozenSet[str], ...]:
        sets = self._required.get(last)
        if sets is None:
            sets = self._required[last] = tuple({
                frozenset(_split_symbol(symbol)[1].split(".")[1:]) | {last}
                for symbol in self.by_last.get(last, ()) if self.release(symbol) is not None})
        return sets


def _split_symbol(symbol: str) -> Tuple[str, str]:
    """(last name, dotted path): ``torch.load(mmap=)`` -> ``("mmap", "torch.load")``,
    ``torch.amp.autocast.__init__(dtype=)`` -> ``("dtype", "torch.amp.autocast")``."""
    if "(" in symbol:
        func, kwarg = symbol[:-2].split("(", 1)
        return kwarg.lstrip("*"), func.replace(".__init__", "")
    return symbol[symbol.rfind(".") + 1:], symbol


@lru_cache(maxsize=8)
def _newer(target: str) -> _Newer:
    return _Newer(target)


# Keyword arguments are checked for these functions only (scripts/gen_api_table.py KWARG_FUNCS):
# the table's keyword data for the rest of torch comes from stubs and is too coarse to gate on.
KEY_KWARG_FUNCS = frozenset({
    "torch.nn.functional.scaled_dot_product_attention", "torch.load", "torch.save", "torch.compile",
    "torch.autocast.__init__", "torch.amp.autocast.__init__", "torch.cuda.amp.autocast.__init__",
    "torch.utils.checkpoint.checkpoint", "torch.utils.checkpoint.checkpoint_sequential",
    "torch.utils._pytree.tree_map", "torch.utils._pytree.tree_flatten", "torch.utils._pytree.tree_unflatten",
    "torch.utils._pytree.tree_map_only", "torch.utils._pytree.register_pytree_node", "torch.compiler.disable",
    "torch._dynamo.disable", "torch.nn.attention.sdpa_kernel", "torch.backends.cuda.sdp_kernel",
    "torch.nn.init.trunc_normal_", "torch.set_default_device", "torch.use_deterministic_algorithms", "torch.jit.script",
})
_CALL_ALIASES = {"torch.autocast": "torch.autocast.__init__", "torch.amp.autocast": "torch.amp.autocast.__init__",
                 "torch.cuda.amp.autocast": "torch.cuda.amp.autocast.__init__"}


def _kept(symbol: str) -> bool:
    if "(" in symbol:
        return symbol.split("(", 1)[0] in KEY_KWARG_FUNCS
    return not _class_member(symbol)


def _class_member(symbol: str) -> bool:
    """Members of classes (``torch.Tensor.foo``, ``torch.nn.Linear.__init__(bias=)``): their receiver
    is an instance whose type is unknown statically, so they are left out of the scan."""
    return _MEMBER.match(symbol) is not None


# A capitalised component before the last one, or __init__, in the name before any "(".
_MEMBER = re.compile(r"[^(]*?(?:\.[A-Z][^.(]*\.|__init__)")


_BLOCKS = ("body", "orelse", "finalbody", "handlers")
_COMPOUND = (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.FunctionDef,
             ast.AsyncFunctionDef, ast.ClassDef, ast.Try) + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())


def _uses(text: str, names: Tuple[str, ...]) -> List[int]:
    """Offsets of the candidate names that can be a hit: an attribute (``.name``, whitespace, a
    line break or a backslash between) or a keyword argument (``name=``). ``str.find`` per name:
    several times faster than one regex alternation over the whole text."""
    found = []
    size = len(text)
    for name in names:
        at = text.find(name)
        while at >= 0:
            end = at + len(name)
            if (at == 0 or not _ident(text[at - 1])) and (end >= size or not _ident(text[end])):
                if _after_dot(text, at) or _before_equals(text, end):
                    found.append(at)
            at = text.find(name, at + 1)
    found.sort()
    return found


def _ident(char: str) -> bool:
    return char.isalnum() or char == "_"


def _after_dot(text: str, at: int) -> bool:
    k = at - 1
    while k >= 0:
        char = text[k]
        if char == ".":
            return True
        if char in "\r\n":
            line_start = max(text.rfind("\n", 0, k), text.rfind("\r", 0, k)) + 1
            if "#" in text[line_start:k]:
                return True  # a comment may hide a dot on the line above: count it as a use
        elif char not in " \t\\\f":
            return False
        k -= 1
    return False


def _before_equals(text: str, end: int) -> bool:
    k = end
    while k < len(text) and text[k] in " \t\r\n\\":
        k += 1
    return k < len(text) and text[k] == "="


def _candidates(text: str, tree: ast.Module, names: Tuple[str, ...]):
    """Imports (with their depth and position, to replay ``ast.walk``'s breadth-first order), the
    Attribute/Call/Assign nodes of statements whose text can hold a hit (``_uses``), and
    the statements under a ``hasattr`` guard. Expressions of other statements are never walked."""
    uses = _uses(text, names)
    lines = SourceLines(text)

    def matches(first: int, last: int) -> bool:
        i = bisect_left(uses, lines.start(first))
        return i < len(uses) and uses[i] < lines.end(last)

    imports: list = []
    interesting: list = []
    guarded: set = set()

    def collect(node) -> None:
        for sub in ast.walk(node):
            kind = type(sub)
            if kind is ast.Attribute or kind is ast.Call or kind is ast.Assign:
                interesting.append(sub)

    def statements(body, depth: int) -> None:
        for stmt in body:
            kind = type(stmt)
            if kind is ast.Import or kind is ast.ImportFrom:
                imports.append((depth, stmt.lineno, stmt.col_offset, stmt))
            elif isinstance(stmt, _COMPOUND):
                if matches(first_line(stmt), stmt.body[0].lineno):
                    for name, value in ast.iter_fields(stmt):
                        if name not in _BLOCKS:
                            for part in value if isinstance(value, list) else (value,):
                                if isinstance(part, ast.AST):
                                    collect(part)
                if kind is ast.If:
                    test = stmt.test
                    if isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == "hasattr":
                        guarded.update(id(s) for s in stmt.body)  # TC002's guarded config writes
                statements(stmt.body, depth + 1)
                statements(getattr(stmt, "orelse", ()), depth + 1)
                for handler in getattr(stmt, "handlers", ()):
                    if handler.type is not None and matches(handler.lineno, handler.body[0].lineno):
                        collect(handler.type)
                    statements(handler.body, depth + 2)
                statements(getattr(stmt, "finalbody", ()), depth + 1)
            elif hasattr(ast, "Match") and kind is ast.Match:
                if matches(stmt.lineno, stmt.end_lineno):
                    collect(stmt.subject)
                    for case in stmt.cases:
                        collect(case.pattern)
                        if case.guard is not None:
                            collect(case.guard)
                for case in stmt.cases:
                    statements(case.body, depth + 2)
            elif matches(stmt.lineno, stmt.end_lineno):
                collect(stmt)

    statements(tree.body, 1)
    return imports, interesting, guarded


_IMPORT_LINE = re.compile(r"(?m)^.*\bimport\b.*$")


def _might_hit(text: str, names: Tuple[str, ...]) -> bool:
    """Whether parsing can find anything: an attribute or keyword use of a candidate name, or a
    candidate name in an import line that mentions torch."""
    if _uses(text, names):
        return True
    word = _names_pattern(names)
    for m in _IMPORT_LINE.finditer(text):
        start, end = m.start(), _import_end(text, m.start(), m.end())
        segment = text[start:end]
        if "torch" in segment and word.search(segment):
            return True
    return False


def _import_end(text: str, start: int, end: int) -> int:
    """Where the import line at ``start:end`` ends, with a parenthesised or backslash-continued
    import carried on. Linear in the text: an unclosed ``(`` goes straight to the next ``)``, and
    only the last line is looked at for a backslash."""
    unclosed = "(" in text[start:end] and ")" not in text[start:end]
    while True:
        if unclosed:
            close = text.find(")", end)
            if close < 0:
                return len(text)
            line_end = text.find("\n", close)
            end = len(text) if line_end < 0 else line_end
            unclosed = False
        last_line = text.rfind("\n", start, end) + 1
        if not text[last_line:end].rstrip().endswith("\\"):
            return end
        more = text.find("\n", end + 1)
        more = len(text) if more < 0 else more
        if more <= end:
            return end
        added, end = text[end:more], more
        unclosed = "(" in added and ")" not in added


@lru_cache(maxsize=256)
def _names_pattern(names: Tuple[str, ...]) -> "re.Pattern[str]":
    return re.compile(r"\b(?:%s)\b" % "|".join(map(re.escape, names)))


_LAST_CANDIDATES: List[tuple] = []  # (text, target, names): the runner asks ``needs_tree``, then scans


def _candidate_names(text: str, target: str) -> Tuple[str, ...]:
    """The newer-than-``target`` names ``text`` may use (a text search; the tree decides)."""
    if "torch" not in text:
        return ()
    if _LAST_CANDIDATES and _LAST_CANDIDATES[0][0] is text and _LAST_CANDIDATES[0][1] == target:
        return _LAST_CANDIDATES[0][2]
    newer = _newer(target)
    words = set(_WORD.findall(text))
    # The set intersection runs in C: a file has thousands of words, a few dozen of them in the table.
    names = tuple(sorted(w for w in words.intersection(newer.by_last)
                         if any(need <= words for need in newer.required(w))))
    found = names if names and _might_hit(text, names) else ()
    _LAST_CANDIDATES[:] = [(text, target, found)]
    return found


def needs_tree(text: str, target: str = "2.0") -> bool:
    """Whether ``scan`` would parse ``text``: most files that mention torch use nothing newer than
    the target, and the caller can check their syntax with ``compile`` (2.5x faster than ``ast.parse``)."""
    return bool(_candidate_names(text, target))


def scan(text: str, path: str, target: str = "2.0", tree: Optional[ast.Module] = None,
         hits: Optional[set] = None) -> List[Site]:
    """Sites for every newer-than-``target`` torch API use in ``text`` (suppressible per line).
    ``tree``: ``ast.parse(text)`` when the caller already has it. ``hits`` collects the
    (line, code) of each use a comment suppressed."""
    names = _candidate_names(text, target)
    if not names:
        return []
    newer = _newer(target)
    if tree is None:
        try:
            tree = parse_quietly(text)
        except (SyntaxError, ValueError):
            return []  # the runner reports unparsable files itself
    imports, interesting, guarded = _candidates(text, tree, names)
    aliases: Dict[str, str] = {}
    for _depth, _line, _col, node in sorted(imports, key=lambda item: item[:3]):
        if type(node) is ast.Import:
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
                else:
                    aliases.setdefault(a.name.split(".")[0], a.name.split(".")[0])
        elif node.module and not node.level:
            for a in node.names:
                if a.name != "*":
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    interesting += [item[3] for item in imports]

    def resolve(node) -> Optional[str]:
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in aliases:
            return None
        parts.append(aliases[node.id])
        return ".".join(reversed(parts))

    suppressed = suppressions(text)
    found: Dict[Tuple[int, str], Site] = {}

    def hit(node, symbol: str) -> None:
        first = newer.release(symbol)
        if first is None:
            return
        line = getattr(node, "lineno", 0)
        if line in suppressed and ((codes := suppressed[line]) is None or CODE in codes):
            if hits is not None:
                hits.add((line, CODE))
            return
        found.setdefault((line, symbol), Site(
            CODE, path, line, "unhandled", message(symbol, first, target),
        ))

    for node in interesting:
        if isinstance(node, ast.Attribute):
            if not isinstance(node.ctx, ast.Store):
                qualified = resolve(node)
                if qualified and qualified.startswith("torch."):
                    hit(node, qualified)
        elif isinstance(node, ast.ImportFrom):
            if node.module and not node.level and node.module.startswith("torch"):
                hit(node, node.module)
                for a in node.names:
                    hit(node, f"{node.module}.{a.name}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("torch."):
                    hit(node, a.name)
        elif isinstance(node, ast.Call):
            func = resolve(node.func)
            func = _CALL_ALIASES.get(func, func) if func else func
            if func and func.startswith("torch"):
                for kw in node.keywords:
                    if kw.arg:
                        hit(node, f"{func}({kw.arg}=)")
        elif id(node) not in guarded:  # Assign: a config write is a use too, unless guarded
            for t in node.targets:
                qualified = resolve(t) if isinstance(t, ast.Attribute) else None
                if qualified and qualified.startswith("torch._dynamo.config."):
                    hit(t, qualified)
    # report `torch.nn.attention.sdpa_kernel`, not also its module on the same line
    keys = set(found)
    kept = [site for (line, symbol), site in found.items()
            if not any(at == line and other.startswith(symbol + ".") for at, other in keys)]
    return sorted(kept, key=lambda s: (s.line, s.message))


