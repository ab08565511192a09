"""The Rule type, the per-file context rules write to, and the registry.

Importing this module (and any rule module) must not import libcst or torch:
the runner reads rule metadata and pre-filters files before anything heavy
loads. Rules reach libcst through the lazy ``cst`` proxy below.
"""
from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Callable, Dict, Iterable, List, Optional, Protocol, Tuple


class _LazyLibCST:
    """Imports libcst on first attribute access, so rule modules stay cheap to import."""

    def __init__(self) -> None:
        self._module: Optional[ModuleType] = None

    def __getattr__(self, attr: str):
        module = self._module
        if module is None:
            from .engine.libcst_loader import load

            module = self._module = load()
        return getattr(module, attr)


if TYPE_CHECKING:  # mypy checks rules against libcst itself
    import libcst as cst
else:
    cst = _LazyLibCST()

COMPAT_MODULE = "_torch_compat"
API_SCAN_CODE = "TC100"  # `check`'s finding for a newer-than-target torch API that no rule handles
UNUSED_SUPPRESSION_CODE = "TC101"  # `check`'s finding for a suppression comment that suppresses nothing
CHECK_CODES = (API_SCAN_CODE, UNUSED_SUPPRESSION_CODE)  # `check`-only findings, selected like rules
SUPPRESS_RE = re.compile(r"#\s*sam3d-codemod:\s*ignore(?:\[([A-Z0-9, ]+)\])?")


LINE_END = re.compile(r"\r\n|\r|\n")  # what Python's tokenizer counts as a line end (not \f, \v, ...)


class SourceLines:
    """A text's lines as Python numbers them (1-based; a lone CR ends a line too)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [m.end() for m in LINE_END.finditer(text)] + [len(text)]

    def start(self, lineno: int) -> int:
        return self.starts[lineno - 1]

    def end(self, lineno: int) -> int:
        """Offset just past line ``lineno`` and its line break."""
        return self.starts[min(lineno, len(self.starts) - 1)]

    def span(self, first: int, last: int) -> str:
        return self.text[self.start(first):self.end(last)]


def first_line(node: ast.stmt) -> int:
    """An ``ast`` statement's first line, its decorators included."""
    decorators = getattr(node, "decorator_list", None)
    return min([node.lineno] + [d.lineno for d in decorators]) if decorators else node.lineno


def parse_quietly(text: str) -> ast.Module:
    """``ast.parse`` without the warnings (invalid escapes) the input's own code raises: not ours
    to report. Raises SyntaxError or ValueError."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(text)


def dotted_name(node) -> Optional[str]:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts: List[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


@dataclass(frozen=True)
class Site:
    """One place a rule looked at: patched, left unhandled (needs a human), or a note."""

    code: str
    path: str
    line: int
    status: str  # "patched" | "unhandled" | "note" | "error"
    message: str

    def to_json(self) -> dict:
        return {"code": self.code, "path": self.path, "line": self.line, "status": self.status, "message": self.message}


@dataclass
class ImportIndex:
    """What a module's own imports bind: local name -> dotted qualified name.

    A lean replacement for QualifiedNameProvider (about 9x a parse): aliases are
    resolved from import statements only, which is what these rules need.
    """

    aliases: Dict[str, str] = field(default_factory=dict)
    # Modules imported explicitly at module level (``import torch._dynamo``, ``from torch import _dynamo``).
    loaded: set = field(default_factory=set)
    has_compat_import: bool = False
    # Names imported from the helper module (``from ._torch_compat import sdpa_kernel as kern``): local -> helper.
    compat_names: Dict[str, str] = field(default_factory=dict)
    # Module-level names computed from torch.__version__: name -> (polarity, names gated on it).
    version_flags: Dict[str, tuple] = field(default_factory=dict)
    # The module-level assignments that define them, in order (``ast.Assign``): TC015 evaluates them.
    version_flag_defs: list = field(default_factory=list)

    def resolve(self, node) -> Optional[str]:
        """Dotted qualified name of a Name/Attribute chain, or None if it is not rooted in an import."""
        name = dotted_name(node)
        if name is None:
            return None
        root, _, rest = name.partition(".")
        base = self.aliases.get(root)
        if base is None:
            return None
        return f"{base}.{rest}" if rest else base


class NodeLines(Protocol):
    """A node's line in the file (engine.positions.SnippetLines), None when it cannot be told."""

    def get(self, node) -> Optional[int]: ...


@dataclass
class FileContext:
    """Per-file state shared by the rules of one run over one module."""

    path: str
    compat_import: Optional[str]  # the statement (source) that binds ``_torch_compat``; None if no host
    index: ImportIndex
    positions: Optional[NodeLines] = None  # engine.positions.SnippetLines; None when not computed
    sites: List[Site] = field(default_factory=list)
    needed_modules: List[str] = field(default_factory=list)
    # Local names whose import a rule of this run rewrote to ``_torch_compat`` (local -> helper): the
    # index, built before the rewrite, still maps them to the torch API.
    rebound: Dict[str, str] = field(default_factory=dict)
    needs_compat: bool = False
    suppressed: Dict[int, Optional[set]] = field(default_factory=dict)
    suppression_hits: set = field(default_factory=set)  # (line, code) of sites a comment suppressed
    target: str = "2.0"
    # torch API -> (code of the rule that routes it, its helper or None), over the rules of this run
    routes: Dict[str, Tuple[str, Optional[str]]] = field(default_factory=dict)
    _seen: Dict[tuple, bool] = field(default_factory=dict)

    def line(self, node) -> int:
        if self.positions is None:
            return 0
        return self.positions.get(node) or 0

    def is_suppressed(self, code: str, line: int) -> bool:
        if line not in self.suppressed:
            return False
        codes = self.suppressed[line]
        return codes is None or code in codes

    def report(self, rule: "Rule", node, status: str, message: str) -> bool:
        """Record a site; returns False when a suppression comment says to leave it alone."""
        key = (rule.code, id(node), message)
        if key in self._seen:  # the second pass reports the same nodes again
            return self._seen[key]
        line = self.line(node)
        keep = not self.is_suppressed(rule.code, line)
        if keep:
            self.sites.append(Site(rule.code, self.path, line, status, message))
        else:
            self.suppression_hits.add((line, rule.code))
        self._seen[key] = keep
        return keep

    def require_module(self, module: str) -> None:
        """Ask for ``import <module>`` at module level (inserted once, after ``import torch``)."""
        if module not in self.index.loaded and module not in self.needed_modules:
            self.needed_modules.append(module)

    def compat_attr(self, name: str):
        """``_torch_compat.<name>`` as an expression, and ask for the compat import."""
        self.needs_compat = True
        return cst.Attribute(value=cst.Name(COMPAT_MODULE), attr=cst.Name(name))


class RuleTransformer:
    """Base class for a rule's node handlers.

    Handlers are named like LibCST's (``visit_Call(node)``, ``leave_Call(original, updated)``);
    one combined transformer dispatches to every enabled rule in a single traversal, so
    ``original`` is always a node of the parsed module and has a position.
    """

    rule: "Rule"

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self.reset()

    def reset(self) -> None:
        """Clear traversal state (nesting counters); called before each pass over the module."""

    def report(self, node, status: str, message: str) -> bool:
        return self.ctx.report(self.rule, node, status, message)


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    summary: str
    fixes: Optional[str]  # the exact error message the rule fixes (None: a check-only finding)
    fixed_in: Optional[str]  # first torch release that no longer needs the rule; None = every release needs it
    triggers: Tuple[str, ...]  # literal substrings; a file without any is never parsed for this rule
    transformer: Optional[Callable[[FileContext], RuleTransformer]] = None
    pattern: Optional[str] = None  # precise regex, second stage of the pre-filter
    needs_compat: bool = False
    kind: str = "python"  # "python" | "config" (rewrite files) | "check" (`check`-only finding) | "helper" (TC000)
    filenames: Optional[Tuple[str, ...]] = None  # only files with these base names
    # (torch API, the ``_torch_compat`` helper its uses are sent to): the newer-than-target APIs this
    # rule makes work on every torch. A helper of None: the rule makes the API importable itself
    # (``import torch._dynamo``). TC015 decides version gates around exactly these.
    routes: Tuple[Tuple[str, Optional[str]], ...] = ()
    helpers: Tuple[str, ...] = ()  # every ``_torch_compat`` name the rule's rewrites may reference
    doc: str = ""  # extra text for `rules CODE` where the rule has no module docstring of its own
    # One line per source shape the rule recognises (`rules CODE` lists them): what a user can check
    # their code against before asking why a site was not touched.
    shapes: Tuple[str, ...] = ()

    @property
    def applies(self) -> bool:
        """Whether the engine runs this rule over files (check-only and helper codes it does not)."""
        return self.kind in ("python", "config")

    def enabled_for(self, target: Tuple[int, int]) -> bool:
        return self.fixed_in is None or parse_version(self.fixed_in) > target

    def matches_text(self, text: str, filename: Optional[str] = None) -> bool:
        """The two-stage pre-filter: literal triggers, then the precise pattern."""
        if filename is not None and self.filenames is not None and filename not in self.filenames:
            return False
        if not any(t in text for t in self.triggers):
            return False
        return self.pattern is None or re.search(self.pattern, text) is not None

    def matches_bytes(self, data: bytes, filename: Optional[str] = None) -> bool:
        if filename is not None and self.filenames is not None and filename not in self.filenames:
            return False
        for trigger in _bytes_triggers(self.triggers):
            if trigger in data:
                return self.pattern is None or _bytes_pattern(self.pattern).search(data) is not None
        return False


_BYTES_PATTERNS: Dict[str, "re.Pattern[bytes]"] = {}
_BYTES_TRIGGERS: Dict[Tuple[str, ...], Tuple[bytes, ...]] = {}


def _bytes_triggers(triggers: Tuple[str, ...]) -> Tuple[bytes, ...]:
    encoded = _BYTES_TRIGGERS.get(triggers)
    if encoded is None:
        encoded = _BYTES_TRIGGERS[triggers] = tuple(t.encode() for t in triggers)
    return encoded


def _bytes_pattern(pattern: str) -> "re.Pattern[bytes]":
    compiled = _BYTES_PATTERNS.get(pattern)
    if compiled is None:
        compiled = _BYTES_PATTERNS[pattern] = re.compile(pattern.encode())
    return compiled


_ROUTES: Dict[Tuple[Rule, ...], Dict[str, Tuple[str, Optional[str]]]] = {}


def routes_of(rules: Iterable[Rule]) -> Dict[str, Tuple[str, Optional[str]]]:
    """Torch API -> (the rule that routes it, its ``_torch_compat`` helper or None), over ``rules``
    (what each rule declares in ``Rule.routes``); one dict per rule set."""
    key = tuple(rules)
    found = _ROUTES.get(key)
    if found is None:
        found = _ROUTES[key] = {api: (rule.code, helper) for rule in key for api, helper in rule.routes}
    return found


def api_scan_enabled(select: Iterable[str] = (), ignore: Iterable[str] = ()) -> bool:
    """Whether ``--select/--ignore`` keep the TC100 scan on (same prefix matching as rules)."""
    return check_enabled(API_SCAN_CODE, select, ignore)


def check_enabled(code: str, select: Iterable[str] = (), ignore: Iterable[str] = ()) -> bool:
    """Whether ``--select/--ignore`` keep the check-only finding ``code`` on (prefix matching as rules)."""
    select = [s.strip().upper() for s in select if s.strip()]
    ignore = [s.strip().upper() for s in ignore if s.strip()]
    if any(code.startswith(i) for i in ignore):
        return False
    return not select or "ALL" in select or any(code.startswith(s) for s in select)


def parse_version(text: str) -> Tuple[int, int]:
    """'2.0' -> (2, 0). Only for the tool's own --target-torch option, never for runtime gates."""
    parts = text.strip().split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        raise ValueError(f"not a torch release: {text!r} (expected e.g. 2.0)") from None
