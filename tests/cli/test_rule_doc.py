"""`sam3d-codemod rules CODE` explains one rule, like `ruff rule F401`."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sam3d_codemod.cli import rule_doc
from sam3d_codemod.cli.main import main
from sam3d_codemod.codemods.rules import all_rules, every_rule

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
ROOT = FIXTURES.parent


def invoke(*args):
    import inspect

    # click < 8.2 (the release Python 3.9 gets) mixes stderr into stdout unless told not to
    separate = {"mix_stderr": False} if "mix_stderr" in inspect.signature(CliRunner).parameters else {}
    result = CliRunner(**separate).invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_text_says_what_it_fixes_the_versions_and_shows_the_fixture():
    code, out, err = invoke("rules", "TC003")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "TC003 (nn-attention)"
    assert "Fixes:   ModuleNotFoundError: No module named 'torch.nn.attention'" in lines
    assert "Torch:   needed before 2.3, not needed from 2.3; on for --target-torch 2.0" in lines
    assert "LibCST:  python -m libcst.tool codemod -x sam3d_codemod.codemods.rules.tc003_nn_attention.Command --no-format PATH" in lines
    example = json.loads(invoke("rules", "TC003", "--output-format", "json")[1])["example"]
    before = (ROOT / example["source"]).read_text()
    after = (ROOT / example["source"].replace(".in.py", ".out.py")).read_text()
    assert (example["before"], example["after"]) == (before, after) and before != after
    for line in before.splitlines():
        assert (" " + line in lines) or ("-" + line in lines)
    for line in after.splitlines():
        assert (" " + line in lines) or ("+" + line in lines)


def test_target_and_never_fixed():
    assert "off for --target-torch 2.3" in invoke("rules", "TC003", "--target-torch", "2.3")[1]
    assert "Torch:   needed on every release (no torch fixes it); on" in invoke("rules", "tc007")[1]


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_every_rule_has_an_entry_with_an_example(rule):
    code, out, _ = invoke("rules", rule.code, "--output-format", "json")
    info = json.loads(out)
    assert code == 0
    assert (info["code"], info["summary"], info["fixes"], info["fixed_in"]) == (rule.code, rule.summary, rule.fixes, rule.fixed_in)
    assert info["doc"] and not info["doc"].startswith(rule.code)
    if rule.code == "TC010":  # rewrites nothing since issue 16 (compile_model is decided at run time)
        assert not info.get("example") and "at run time" in rule.summary and "_torch_compat.compile" in info["doc"]
        return
    assert info["example"] and info["example"]["before"] != info["example"]["after"]
    assert not Path(info["example"]["source"]).name.startswith(("patched", "suppressed", "unhandled"))


def test_check_only_codes_are_explained():
    for code in ("TC000", "TC100", "TC101"):
        status, out, _ = invoke("rules", code)
        assert status == 0 and out.startswith(code + " (") and "\n\n" in out


def test_unknown_code_is_a_one_line_error_exit_2():
    code, out, err = invoke("rules", "TC999")
    assert (code, out) == (2, "")
    assert err == "sam3d-codemod: error: unknown rule code: TC999 (see `sam3d-codemod rules`)\n"
    code, out, err = invoke("rules", "TC003", "--target-torch", "two")
    assert code == 2 and out == "" and err.count("\n") == 1


def test_packaged_examples_match_the_fixtures():
    # scripts/gen_rule_examples.py writes them; an installed package has no fixtures/ to read
    assert rule_doc.load_examples() == rule_doc.examples_from(FIXTURES)


def test_listing_is_unchanged_without_code():
    code, out, _ = invoke("rules", "--output-format", "json")
    assert code == 0 and [r["code"] for r in json.loads(out)] == [r.code for r in every_rule()]


@pytest.mark.parametrize("rule", every_rule(), ids=lambda r: r.code)
def test_every_code_lists_the_shapes_it_recognises(rule):
    assert rule.shapes, f"{rule.code} declares no shapes"
    code, out, _ = invoke("rules", rule.code)
    lines = out.splitlines()
    start = lines.index("Recognises:")
    assert lines[start + 1:start + 1 + len(rule.shapes)] == [f"  - {shape}" for shape in rule.shapes]
    data = json.loads(invoke("rules", rule.code, "--output-format", "json")[1])
    assert data["shapes"] == list(rule.shapes)
