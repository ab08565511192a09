"""``sam3d-codemod rules CODE``: one rule explained (like ``ruff rule F401``).

What it fixes, the torch releases that need it, the rule module's own documentation, and a
before/after example. The examples come from the rule's fixtures (``fixtures/tcNNN_*``, only in the
repository); ``scripts/gen_rule_examples.py`` copies one per rule into
``codemods/data/rule_examples.json`` so an installed package has them too, and a test keeps the two
in step.
"""
from __future__ import annotations

import difflib
import importlib
import json
from pathlib import Path
from typing import Dict, Optional, Tuple

EXAMPLES = "rule_examples.json"
_NOT_EXAMPLES = ("patched", "suppressed", "unhandled")  # fixtures of edge cases, not of what a rule does

class UnknownCode(Exception):
    pass


def describe(code: str, target: str = "2.0") -> dict:
    """Everything ``rules CODE`` prints, as data (the JSON output)."""
    from ..codemods.base import parse_version
    from ..codemods.rules import by_code, module_of

    rule = by_code(code)
    if rule is not None and rule.kind == "pins":  # requirement pins (codemods/pins): the table's entries are the doc
        from ..codemods.pins.explain import rule_doc

        return {"code": rule.code, "name": rule.name, "summary": rule.summary, "fixes": rule.fixes,
                "fixed_in": None, "enabled": True, "needs_compat": False, "kind": "pins",
                "doc": rule_doc(rule.code), "example": None, "libcst_command": None,
                "shapes": list(rule.shapes)}
    if rule is None:
        raise UnknownCode(f"unknown rule code: {code.strip().upper()} (see `sam3d-codemod rules`)")
    module = module_of(rule)
    return {
        "code": rule.code, "name": rule.name, "summary": rule.summary, "fixes": rule.fixes,
        "fixed_in": rule.fixed_in, "enabled": rule.enabled_for(parse_version(target)) if rule.applies else True,
        "needs_compat": rule.needs_compat, "kind": rule.kind, "doc": _doc(module),
        "example": load_examples().get(rule.code),
        "libcst_command": f"{module}.Command" if rule.kind == "python" else None,
        "helpers": list(rule.helpers), "routes": [api for api, _ in rule.routes],
        "shapes": list(rule.shapes),
    }


def render_text(info: dict, target: str) -> str:
    out = [f"{info['code']} ({info['name']})", "", info["summary"], ""]
    if info["fixes"]:
        out.append(f"Fixes:   {info['fixes']}")
    if info["kind"] in ("python", "config"):
        if info["fixed_in"]:
            torch = f"needed before {info['fixed_in']}, not needed from {info['fixed_in']}"
        else:
            torch = "needed on every release (no torch fixes it)"
        out.append(f"Torch:   {torch}; {'on' if info['enabled'] else 'off'} for --target-torch {target}")
        if info["needs_compat"]:
            out.append("Helpers: uses the generated _torch_compat module")
        if info["libcst_command"]:
            out.append(f"LibCST:  python -m libcst.tool codemod -x {info['libcst_command']} --no-format PATH")
    if info["doc"]:
        out += ([] if out[-1] == "" else [""]) + [info["doc"]]
    if info.get("shapes"):
        out += ["", "Recognises:"] + [f"  - {shape}" for shape in info["shapes"]]
    example = info["example"]
    if example:
        out += ["", f"Example ({example['source']}):", ""]
        diff = difflib.unified_diff(example["before"].splitlines(keepends=True),
                                    example["after"].splitlines(keepends=True), "before", "after", n=99)
        out += [line.rstrip("\n") for line in diff]
    return "\n".join(out).rstrip("\n") + "\n"


def explain(code: str, target: str, output_format: str) -> Tuple[str, int]:
    """(output, exit code): 0, or 2 with a one-line error for an unknown code."""
    try:
        info = describe(code, target)
    except (UnknownCode, ValueError) as exc:  # (ValueError: a bad --target-torch)
        return f"sam3d-codemod: error: {exc}\n", 2
    if output_format == "json":
        return json.dumps(info, indent=2, sort_keys=True) + "\n", 0
    return render_text(info, target), 0


def _doc(module: str) -> Optional[str]:
    import inspect

    doc = inspect.getdoc(importlib.import_module(module))
    if not doc:
        return None
    first, _, rest = doc.partition("\n")
    # A rule module's docstring starts with "TCnnn: <title>": the header above already says it.
    return (rest.strip() if first.startswith("TC") and ":" in first[:7] else doc) or None


def load_examples() -> Dict[str, dict]:
    from ..codemods import data

    path = Path(data.__file__).with_name(EXAMPLES)
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def examples_from(fixtures: Path) -> Dict[str, dict]:
    """One example per rule from its fixtures: the shortest input that the rule changes and whose
    sites are all patched (no unhandled or suppressed case, no already-patched one)."""
    from ..codemods.rules import all_rules, module_of

    out: Dict[str, dict] = {}
    for rule in all_rules():
        dirs = sorted(fixtures.glob(rule.code.lower() + "_*"))
        candidates = []
        for d in dirs:
            for before_path in sorted(d.rglob("*.in.*")):
                before = before_path.read_text(encoding="utf-8")
                after_path = before_path.with_name(before_path.name.replace(".in.", ".out."))
                if after_path.is_file():
                    after = after_path.read_text(encoding="utf-8")
                elif rule.kind == "config":
                    after = importlib.import_module(module_of(rule)).transform_text(before)[0]
                else:
                    continue
                sites = before_path.with_name(before_path.name.split(".in.")[0] + ".sites")
                statuses = sites.read_text().split()[1::2] if sites.is_file() else []
                stem = before_path.name.split(".in.")[0]
                if before == after or any(s != "patched" for s in statuses) or stem in _NOT_EXAMPLES:
                    continue
                candidates.append((before.count("\n"), before_path.relative_to(fixtures.parent).as_posix(), before, after))
        if candidates:
            _, source, before, after = min(candidates)
            out[rule.code] = {"source": source, "before": before, "after": after}
    return out
