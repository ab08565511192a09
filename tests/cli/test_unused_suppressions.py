"""`check` reports suppression comments that suppress nothing (TC101), like Ruff's RUF100."""
import json

import pytest
from click.testing import CliRunner

from sam3d_codemod.cli.main import main


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def tree(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "used.py").write_text(
        "import torch\n"
        "x = torch.compiler.is_compiling()  # sam3d-codemod: ignore[TC004, TC100]\n"
        "y.index_add_(0, i, s)  # sam3d-codemod: ignore\n")
    # no rule's trigger and no torch: the pre-filter alone would never look at this file
    (pkg / "cold.py").write_text("a = 1\n\f\nb = 2  # sam3d-codemod: ignore[TC003]\n"
                                 "c = '# sam3d-codemod: ignore[TC003]'\n")
    return tmp_path


def sites(out, code="TC101"):
    return [(s["path"], s["line"], s["message"]) for s in json.loads(out)["sites"] if s["code"] == code]


def test_unused_suppression_fails_check_at_its_line(tree):
    code, out = invoke("check", tree, "--output-format", "json", "--no-cache")
    assert code == 1
    assert sites(out) == [("pkg/cold.py", 3, "unused suppression: TC003 suppresses nothing here")]
    row = {r["code"]: r for r in json.loads(out)["rules"]}["TC101"]
    assert row["name"] == "unused-suppression" and row["unhandled"] == 1
    (tree / "pkg" / "cold.py").write_text("a = 1\n")
    code, out = invoke("check", tree, "--output-format", "json", "--no-cache")
    assert (code, sites(out), sites(out, "TC100")) == (0, [], [])


def test_ignore_tc101_and_per_line_opt_out(tree):
    code, out = invoke("check", tree, "--output-format", "json", "--no-cache", "--ignore", "TC101")
    assert (code, sites(out)) == (0, [])
    cold = tree / "pkg" / "cold.py"
    cold.write_text(cold.read_text().replace("ignore[TC003]", "ignore[TC003, TC101]", 1))
    code, out = invoke("check", tree, "--output-format", "json", "--no-cache")
    assert (code, sites(out)) == (0, [])


def test_codes_this_run_cannot_judge_are_left_alone(tree):
    # TC003 is not selected: whether its suppression is needed is unknown, so it is not reported
    code, out = invoke("check", tree, "--output-format", "json", "--no-cache", "--select", "TC004,TC101")
    assert sites(out) == []
    # a code no rule has is reported whatever is selected
    (tree / "pkg" / "cold.py").write_text("b = 2  # sam3d-codemod: ignore[TC03]\n")
    code, out = invoke("check", tree, "--output-format", "json", "--no-cache", "--select", "TC004,TC101")
    assert code == 1
    assert sites(out) == [("pkg/cold.py", 1, "suppression names an unknown rule code: TC03")]


def test_result_cache_replays_the_finding(tree):
    first = invoke("check", tree, "--output-format", "json")
    again = invoke("check", tree, "--output-format", "json")
    assert first[0] == again[0] == 1
    assert sites(first[1]) == sites(again[1]) == [("pkg/cold.py", 3, "unused suppression: TC003 suppresses nothing here")]
    assert json.loads(again[1])["files_parsed"] == 0  # (from the cache)


def test_apply_does_not_report_it(tree):
    code, out = invoke("apply", tree, "--output-format", "json", "--no-cache")
    assert sites(out) == [] and code == 0
