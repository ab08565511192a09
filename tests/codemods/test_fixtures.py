"""Every ``fixtures/tcNNN_*/**/NAME.in.py`` goes through its rule and must equal ``NAME.out.py``.

Each case also checks the reported sites (``NAME.sites``: ``line status``), that the output parses,
and that a second pass changes nothing. ``SAM3D_UPDATE_FIXTURES=1`` rewrites the expectations
(review the diff before committing).
"""
import ast
import os
from pathlib import Path

import pytest

from sam3d_codemod.codemods.engine.transform import transform_source
from sam3d_codemod.codemods.rules import all_rules

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
RULES = {r.code: r for r in all_rules()}
UPDATE = os.environ.get("SAM3D_UPDATE_FIXTURES") == "1"
CASES = sorted(p for p in FIXTURES.glob("tc*/**/*.in.py"))


def _rule_for(path: Path):
    code = "TC" + path.relative_to(FIXTURES).parts[0][2:5]
    return RULES[code]


def _run(text: str, path: Path, rule):
    target = str(path.with_name(path.name.replace(".in.py", ".py")))
    return transform_source(text, [rule], path=target, compat_import="from . import _torch_compat")


def test_every_rule_has_fixtures():
    covered = {_rule_for(p).code for p in CASES}
    python_rules = {code for code, r in RULES.items() if r.kind == "python"}
    assert python_rules <= covered, f"rules without fixtures: {sorted(python_rules - covered)}"


@pytest.mark.parametrize("case", CASES, ids=[str(p.relative_to(FIXTURES)) for p in CASES])
def test_fixture(case: Path):
    rule = _rule_for(case)
    text = case.read_text()
    result = _run(text, case, rule)
    out = result.code if result.code is not None else text
    expected_path = case.with_name(case.name.replace(".in.py", ".out.py"))
    sites_path = case.with_name(case.name.replace(".in.py", ".sites"))
    sites = "".join(f"{s.line} {s.status}\n" for s in result.sites)
    if UPDATE:
        expected_path.write_text(out)
        sites_path.write_text(sites)
    assert out == expected_path.read_text()
    assert sites == sites_path.read_text()
    ast.parse(out)
    again = _run(out, case, rule)
    assert again.code is None, "second pass changed the output (not idempotent)"
    assert not [s for s in again.sites if s.status == "patched"]


@pytest.mark.parametrize("case", [p for p in CASES if p.name.startswith("patched")], ids=lambda p: str(p.relative_to(FIXTURES)))
def test_already_patched_input_is_unchanged(case: Path):
    text = case.read_text()
    assert _run(text, case, _rule_for(case)).code is None
