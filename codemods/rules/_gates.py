"""Resolving hand-written gates (``if hasattr(torch, ...)``, version comparisons) to the branch
that runs on every torch once the tree goes through ``_torch_compat``.

A subclass says, per test, whether the tool knows its value after the rewrite (``judge``). Then:
``if G: A else: B`` becomes ``A`` (or ``B``), dedented into the enclosing block (an emptied block
gets ``pass``); ``G and X`` becomes ``X``; ``A if G else B`` becomes ``A`` (or ``B``). The
statements are spliced by the enclosing block's ``leave`` (``splice`` maps the ``If`` node returned
by ``leave_If`` to its replacement), so the walker never sees a node list where it expects a node.

A fall-through gate, ``if OLD: ...; return`` (or raise, continue, break) with no ``else``, has the
rest of its block as the branch for newer torch; the enclosing block's ``leave`` judges those
statements and, when decided, drops the ``if``. Only indented blocks are judged this way: the
statement path parses a def's statements apart only where no such ``if`` is hot (see
``engine/statements.py``), so both paths see the same siblings.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Tuple

from ..base import RuleTransformer, cst, dotted_name


def _rooted_in(node, names) -> bool:
    """Whether the Name at the root of ``node``'s attribute chain is one of ``names``."""
    while isinstance(node, cst.Attribute):
        node = node.value
    return isinstance(node, cst.Name) and node.value in names


def references(index, node, rebound=()) -> List[str]:
    """Qualified names (import-rooted Name/Attribute chains, outermost only) used under ``node``.
    ``rebound``: local names now bound to ``_torch_compat`` (their import was rewritten in this run),
    which no longer reach the torch API the index still maps them to."""
    found: List[str] = []

    class _Find(cst.CSTVisitor):
        def visit_Attribute(self, n) -> bool:
            if _rooted_in(n, rebound):
                return False
            q = index.resolve(n)
            if q is not None:
                found.append(q)
            else:  # only the object is a use: ``x.is_compiling``'s attribute name is no variable
                n.value.visit(self)
            return False

        def visit_Name(self, n) -> None:
            if n.value in rebound:
                return
            q = index.resolve(n)
            if q is not None:
                found.append(q)

        def visit_ImportFrom(self, n) -> bool:
            # What it imports, from the statement itself (``torch.nn.attention.sdpa_kernel``), not
            # its module as a use of its own and not through the index: once a rule has rewritten
            # the import to the helper module, the index (built before) still maps the old names.
            module = dotted_name(n.module) if n.module is not None and not n.relative else None
            if module is None:
                return False
            if isinstance(n.names, cst.ImportStar):
                found.append(module)
            else:
                found.extend(f"{module}.{a.name.value}" for a in n.names if isinstance(a.name, cst.Name))
            return False

    node.visit(_Find())
    return found


def keyword_uses(index, node, rebound=()) -> List[str]:
    """``f(kw=)`` (and ``f.__init__(kw=)``, the API table's spelling for a class) for every keyword
    argument of a call of an import-rooted ``f`` under ``node``: a keyword can be newer than its
    function (``torch.load(mmap=)``)."""
    found: List[str] = []

    class _Find(cst.CSTVisitor):
        def visit_Call(self, n) -> None:
            q = None if _rooted_in(n.func, rebound) else index.resolve(n.func)
            if q is None:
                return
            for arg in n.args:
                if arg.keyword is not None:
                    found.extend((f"{q}({arg.keyword.value}=)", f"{q}.__init__({arg.keyword.value}=)"))

    node.visit(_Find())
    return found


def uses_under(index, nodes: Iterable, prefix: str) -> bool:
    return any(q == prefix or q.startswith(prefix + ".") for n in nodes for q in references(index, n))


def source(node) -> str:
    return cst.Module(body=[]).code_for_node(node)


class GateRule(RuleTransformer):
    def reset(self) -> None:
        self.splice: Dict[int, Tuple[cst.If, list]] = {}
        self.elifs: set = set()  # ids of If nodes that are an `elif` of another
        self.fall_through: Dict[int, cst.If] = {}  # id(updated If) -> its original: judged by the enclosing block

    def is_gate(self, test) -> bool:
        """Whether ``test`` is a gate of this rule (for the reports where it cannot be resolved)."""
        raise NotImplementedError

    def visit_If(self, node) -> None:
        if isinstance(node.orelse, cst.If):
            self.elifs.add(id(node.orelse))

    def judge(self, test, new_branch_original: list, new_branch: list, site) -> Optional[bool]:
        """True when the feature ``test`` gates is there on every torch after the rewrite (so the
        test is decided), None when unknown or not a gate of this rule (the code stays). Reports."""
        raise NotImplementedError

    def polarity(self, test) -> Optional[bool]:
        """Whether ``test`` is true where the feature exists (False for ``not hasattr(...)``)."""
        return _polarity(test)

    def settled(self, test, site) -> Optional[bool]:
        """``test``'s value where it is the same on every supported torch (reported), else None:
        then its branch is kept whatever it guards."""
        return None

    # -- statement form ----------------------------------------------------------------------
    def leave_If(self, original, updated):
        if isinstance(updated.orelse, cst.If) or id(original) in self.elifs:
            if self.is_gate(original.test):
                self.report(original, "unhandled", f"`{source(strip_not(original.test))}` gates a branch of an if/elif chain: "
                            "it cannot be resolved there, rewrite the chain by hand")
            return updated
        body_o, body_u = list(original.body.body), list(updated.body.body)
        else_o = list(original.orelse.body.body) if original.orelse is not None else []
        else_u = list(updated.orelse.body.body) if updated.orelse is not None else []
        scoped = scope_statement(body_o + else_o) if self.is_gate(original.test) else None
        if scoped is not None:
            self.report(original, "unhandled", f"`{source(strip_not(original.test))}` gates a branch holding `{scoped}`: "
                        "dropping a branch would change the function's scope or kind, resolve it by hand")
            return updated
        value = self.settled(original.test, original)
        if value is None:
            polarity = self.polarity(original.test)
            if polarity is False and original.orelse is None and ends_in_jump(body_o):
                self.fall_through[id(updated)] = original  # the branch for newer torch is the rest of the block
                return updated
            value = self._value(original, polarity, (body_o, body_u), (else_o, else_u))
        if value is None:
            return updated
        chosen = body_u if value else else_u
        self.splice[id(updated)] = (updated, chosen)
        return updated

    def _value(self, original, polarity, when_true, when_false):
        if polarity is None:
            return None
        new_o, new_u = when_true if polarity else when_false
        if self.judge(original.test, new_o, new_u, original) is not True:
            return None
        return polarity

    def _spliced(self, body: list):
        out = []
        changed = False
        for stmt in body:
            entry = self.splice.get(id(stmt))
            if entry is None or entry[0] is not stmt:
                out.append(stmt)
                continue
            changed = True
            chosen = list(entry[1])
            if chosen:
                first = chosen[0]
                chosen[0] = first.with_changes(leading_lines=list(stmt.leading_lines) + list(first.leading_lines))
            out.extend(chosen)
        return changed, out

    def _judge_fall_through(self, original_body: list, updated_body: list) -> list:
        """``updated_body`` with each decided fall-through ``if`` dropped (its comments go to the
        next statement); an undecided one stays, reported by ``judge``."""
        # by identity, not position: another gate rule may already have dropped a statement here
        where = {id(stmt): j for j, stmt in enumerate(original_body)}
        out: list = []
        carried: list = []  # leading lines of a dropped `if`, for the statement after it
        for i, stmt in enumerate(updated_body):
            gate = self.fall_through.pop(id(stmt), None)
            if gate is not None:
                j = where.get(id(gate))
                if j is not None and i + 1 < len(updated_body):
                    decided = self.judge(gate.test, original_body[j + 1:], updated_body[i + 1:], gate)
                else:  # nothing after it: the branch for newer torch is the implicit return
                    decided = self.judge(gate.test, [], [], gate)
                if decided is True:
                    carried += list(stmt.leading_lines)
                    continue
            if carried:
                moved = stmt.with_changes(leading_lines=carried + list(stmt.leading_lines))
                if id(stmt) in self.splice:  # an `if` decided on its own: its splice follows it
                    self.splice[id(moved)] = (moved, self.splice.pop(id(stmt))[1])
                stmt, carried = moved, []
            out.append(stmt)
        return out

    def leave_IndentedBlock(self, original, updated):
        body = list(updated.body)
        if self.fall_through:
            body = self._judge_fall_through(list(original.body), body)
            if len(body) != len(updated.body):
                updated = updated.with_changes(body=body)
        changed, body = self._spliced(body)
        if not changed:
            return updated
        if not body:
            body = [cst.SimpleStatementLine(body=[cst.Pass()])]
        return updated.with_changes(body=body)

    def leave_Module(self, original, updated):
        for stmt in updated.body:  # at module level a fall-through gate is not judged: reported as before
            gate = self.fall_through.pop(id(stmt), None)
            if gate is not None:
                self.judge(gate.test, [], [], gate)
        changed, body = self._spliced(list(updated.body))
        return updated.with_changes(body=body) if changed else updated

    # -- expression forms --------------------------------------------------------------------
    def leave_BooleanOperation(self, original, updated):
        if not isinstance(updated.operator, cst.And):
            return updated
        if self.settled(original.left, original) is True:
            return self._and_right(updated)
        if self.polarity(original.left) is not True:
            return updated
        if self.judge(original.left, [original.right], [updated.right], original) is not True:
            return updated
        return self._and_right(updated)

    @staticmethod
    def _and_right(updated):
        right = updated.right
        if updated.lpar:
            right = right.with_changes(lpar=updated.lpar, rpar=updated.rpar)
        return right

    def leave_IfExp(self, original, updated):
        polarity = self.settled(original.test, original)
        if polarity is None:
            polarity = self.polarity(original.test)
            if polarity is None:
                return updated
            new_o, new_u = ([original.body], [updated.body]) if polarity else ([original.orelse], [updated.orelse])
            if self.judge(original.test, new_o, new_u, original) is not True:
                return updated
        chosen = updated.body if polarity else updated.orelse
        return chosen.with_changes(lpar=updated.lpar, rpar=updated.rpar) if updated.lpar else chosen


def scope_statement(body: list) -> Optional[str]:
    """``global``, ``nonlocal`` or ``yield`` in ``body`` outside nested defs, lambdas and classes:
    dropping such a branch would change what the rest of the function means (a global assignment
    turned local, a generator turned into a function)."""
    found: List[str] = []

    class _Find(cst.CSTVisitor):
        def visit_FunctionDef(self, node) -> bool:
            return False

        def visit_Lambda(self, node) -> bool:
            return False

        def visit_ClassDef(self, node) -> bool:
            return False

        def visit_Global(self, node) -> None:
            found.append("global")

        def visit_Nonlocal(self, node) -> None:
            found.append("nonlocal")

        def visit_Yield(self, node) -> None:
            found.append("yield")

    for stmt in body:
        stmt.visit(_Find())
        if found:
            return found[0]
    return None


def ends_in_jump(body: list) -> bool:
    """Whether a block's last statement leaves it (return, raise, continue, break)."""
    last = body[-1] if body else None
    jumps = (cst.Return, cst.Raise, cst.Continue, cst.Break)  # (cst is imported lazily: not at module level)
    return isinstance(last, cst.SimpleStatementLine) and bool(last.body) and isinstance(last.body[-1], jumps)


def _polarity(test) -> bool:
    """Whether the test is true where the feature exists, as far as its own ``not`` says (the
    subclass refines it for comparisons)."""
    positive = True
    while isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        positive = not positive
        test = test.expression
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        op = test.comparisons[0].operator
        if isinstance(op, cst.Is) and _is_none(test.comparisons[0].comparator):
            positive = not positive  # getattr(torch, "x", None) is None
        elif isinstance(op, (cst.LessThan, cst.LessThanEqual)):
            positive = not positive  # version < (2, 1)
    return positive


def _is_none(node) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def strip_not(test):
    while isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        test = test.expression
    return test
