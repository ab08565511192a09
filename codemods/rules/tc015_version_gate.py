"""TC015: gates on the torch version string around an API or a backend choice.

Hand patches choose code by ``torch.__version__`` (split into ``TORCH_MAJOR``/``TORCH_MINOR``,
``packaging.version.parse``, string or tuple comparisons). They are wrong twice: the release in
the gate is often not the one that brought the API (the fork gates ``torch.nn.attention`` on 2.1;
it arrives in 2.3, so 2.1/2.2 take the new branch and raise), and the old branch silently drops
what the user chose (``BACKEND = "sdpa"`` instead of the requested ``torch_flash_attn``).

Where everything newer than the target that the gated branch uses goes through ``_torch_compat``
(feature detection inside, native where it exists), the gate is decided: the "new enough"
branch is kept, with the user's backend choice, on every torch; the fallback goes. A gate whose
branch uses a newer API that no rule routes, or that gates nothing the tool can name, is reported
as unhandled. The flag definitions themselves stay (other modules may import them).

Two kinds of gate are decided whatever they guard. A gate settled on every supported release
(``torch.__version__ >= "2.0"`` is true from the 2.0 target on, ``< "2.0"`` false; see
``_gate_eval``) collapses to the branch it picks. A gate on another release than anything it
guards (``>= "2.4"`` around code that uses only what torch 2.0 has, or ``_torch_compat``) keeps its
branch for newer torch, which runs on every torch. Keyword arguments count as APIs
(``torch.load(mmap=)``, routed by TC020).
"""
from __future__ import annotations

import ast
from typing import Optional

from ..base import COMPAT_MODULE, Rule, cst
from ..engine.libcst_command import command_getattr
from . import version_flags
from ._gate_eval import releases, settled
from ._gates import GateRule, keyword_uses, references, source, strip_not


def _routed(routes, q: str) -> bool:
    """Whether a rule of this run makes ``q`` work on every torch (each rule declares its
    ``Rule.routes``): the API itself, or the ``_torch_compat`` helper it is sent to."""
    if q.startswith(COMPAT_MODULE + "."):
        return q.split(".")[1] in {helper for _, helper in routes.values() if helper}
    # a keyword of a routed function (``sdpa_kernel(backends=)``) goes with the function
    names = (q, q.split("(", 1)[0]) if "(" in q else (q,)
    return any(n == r or n.startswith(r + ".") for n in names for r in routes)


def _feature(routes, table, q: str, target: str) -> Optional[str]:
    """The newer-than-target feature ``q`` uses: its routed prefix, else its first newer prefix."""
    prefixes = _prefixes(q)
    for p in prefixes:
        if _routed(routes, p):
            return p
    for p in prefixes:
        if table.newer_than(p, target):
            return p
    return None


def _compat_refs(nodes, names=None):
    """``_torch_compat.X`` for each helper used under ``nodes``: as an attribute, or through a name
    imported from the helper module (``names``: local -> helper, the index's ``compat_names``; an
    import such as TC003 writes, ``from ._torch_compat import sdpa_kernel as kern``, binds ``kern``)."""
    found = []
    names = names or {}

    class _Find(cst.CSTVisitor):
        def visit_Attribute(self, n) -> None:
            if isinstance(n.value, cst.Name) and n.value.value == COMPAT_MODULE:
                found.append(f"{COMPAT_MODULE}.{n.attr.value}")

        def visit_Name(self, n) -> None:
            if n.value in names:
                found.append(f"{COMPAT_MODULE}.{names[n.value]}")

    for node in nodes:
        node.visit(_Find())
    return found


class Transformer(GateRule):
    def _ast(self, test):
        try:
            return ast.parse(source(test).strip(), mode="eval").body
        except SyntaxError:
            return None

    def is_gate(self, test) -> bool:
        node = self._ast(test)
        return node is not None and version_flags.mentions_version(self.ctx.index, node, self.ctx.index.version_flags)

    def polarity(self, test) -> Optional[bool]:
        node = self._ast(test)
        flags = self.ctx.index.version_flags
        if node is None or not version_flags.mentions_version(self.ctx.index, node, flags):
            return None
        return version_flags.polarity(self.ctx.index, node, flags)

    def settled(self, test, site) -> Optional[bool]:
        node = self._ast(test)
        index = self.ctx.index
        if node is None or not version_flags.mentions_version(index, node, index.version_flags):
            return None
        from ..apiscan.table import load

        value = settled(index, node, index.version_flag_defs, releases(list(load().versions), self.ctx.target))
        if value is None:
            return None
        message = (f"version gate `{source(test)}` is {str(value).lower()} on every torch from {self.ctx.target} on: "
                   f"the branch it picks there is kept")
        return value if self.report(site, "patched", message) else None

    def judge(self, test, new_original, new_updated, site) -> Optional[bool]:
        node = self._ast(test)
        index = self.ctx.index
        flags = index.version_flags
        if node is None or not version_flags.mentions_version(index, node, flags):
            return None
        text = source(strip_not(test))
        direct = {q for n in new_original for q in references(index, n) + keyword_uses(index, n)}
        helpers = _compat_refs(new_original, index.compat_names)
        used = direct | set(helpers)
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and sub.id in flags:
                used |= flags[sub.id][1]
        from ..apiscan.table import load

        table = load()
        newer = sorted({f for q in used for f in [_feature(self.ctx.routes, table, q, self.ctx.target)] if f is not None})
        runs = sorted(q for q in direct if q.startswith("torch.") and q not in version_flags.VERSIONS and "(" not in q)
        if not newer and (runs or helpers):
            # A gate on another release than anything it guards: the branch for newer torch uses
            # only what the target has (or _torch_compat), so it runs on every torch.
            shown = ", ".join(f"`{q}`" for q in runs[:3]) or "_torch_compat"
            message = (f"version gate `{text}` guards nothing newer than torch {self.ctx.target} ({shown}): "
                       f"the branch for newer torch runs on every torch and is kept")
            return True if self.report(site, "patched", message) else None
        if not newer:
            self.report(
                site, "unhandled",
                f"version gate `{text}` picks code by the torch version string and gates nothing newer than "
                f"torch {self.ctx.target} that the tool knows: replace it with feature detection (hasattr, try-import)",
            )
            return None
        missing = [q for q in newer if not _routed(self.ctx.routes, q)]
        if missing:
            q = missing[0]
            self.report(
                site, "unhandled",
                f"version gate `{text}` guards `{q}` (torch {table.first_release(q)}), which has no _torch_compat "
                f"helper: a gate on another release than the API's is wrong on the releases in between",
            )
            return None
        raw = sorted({
            f for q in (q for n in new_updated for q in references(index, n, self.ctx.rebound)
                                 + keyword_uses(index, n, self.ctx.rebound))
            for f in [_feature(self.ctx.routes, table, q, self.ctx.target)]
            if f is not None and self.ctx.routes.get(f, ("", f))[1] is not None  # helper None: made importable in place
        })
        if raw:
            by = self.ctx.routes.get(raw[0], ("the rule that routes it",))[0]
            self.report(
                site, "unhandled",
                f"version gate `{text}`: `{raw[0]}` is still used directly; run it with {by} "
                f"so the gate can go",
            )
            return None
        message = (
            f"version gate `{text}` replaced by feature detection: {', '.join(f'`{q}`' for q in newer)} "
            f"works on every torch through _torch_compat, so the branch for newer torch (and the chosen backend) is kept"
        )
        return True if self.report(site, "patched", message) else None


def _prefixes(q: str):
    parts = q.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts) + 1)]  # shortest first


RULE = Rule(
    code="TC015",
    name="version-gate",
    summary="Replace torch version-string gates with the branch that works through _torch_compat (backend choice kept)",
    fixes="the flash backend silently replaced by sdpa on 2.0; No module named 'torch.nn.attention' on 2.1/2.2 behind a `>= 2.1` gate",
    fixed_in=None,
    triggers=("__version__",),
    transformer=Transformer,
    shapes=(
        'torch.__version__ compared with a string or tuple: >=, <, ... ("2.1", (2, 1))',
        "torch.version.__version__, from torch import __version__ as v",
        "packaging.version.parse(torch.__version__) / Version / LooseVersion / pkg_resources.parse_version",
        'tuple(int(p) for p in torch.__version__.split(".")[:2]) >= (2, 1)',
        "module-level flags: TORCH_MAJOR, TORCH_MINOR = map(int, ...); HAS_X = TORCH_MAJOR > 2 or ...",
        "in if/else, in `A if G else B`, and as the left of `G and X`",
        "falling through: `if OLD: ...; return` (raise, continue, break) with no else; the rest of the block is "
        "the branch for newer torch, and the `if` goes when that is decided",
        'settled on every supported release (>= "2.0", < "2.0", >= "1.13"): the branch it picks is kept',
        "guarding only APIs the target has, or _torch_compat helpers: the newer branch is kept",
        "guarding APIs a rule routes through _torch_compat (TC003, TC004, TC005, TC020 mmap=, TC021, TC022): "
        "decided once the branch uses the helper",
        "reported: a gate in an elif chain, one guarding an unrouted newer API, one guarding no torch API, "
        "one whose branches hold global, nonlocal or yield",
    ),
)
Transformer.rule = RULE
__getattr__ = command_getattr(RULE, __name__)  # `Command`: this rule as a LibCST codemod
