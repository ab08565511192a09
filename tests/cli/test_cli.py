"""The command line on the bundled sample tree and on small hand-made trees."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sam3d_codemod.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "fixtures" / "sample-tree"


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def sample(tmp_path):
    dest = tmp_path / "sample-tree"
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns(".sam3d-codemod-cache"))
    return dest


def snapshot(root: Path):
    # check may keep its per-file result cache; nothing else may change
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".sam3d-codemod-cache" not in p.parts}


def test_rules_lists_every_rule_with_gate():
    code, out = invoke("rules", "--output-format", "json")
    rules = json.loads(out)
    assert code == 0
    codes = [r["code"] for r in rules]
    assert codes == sorted(set(codes)) and {f"TC{i:03d}" for i in range(1, 18)} <= set(codes)
    assert {"TC020", "TC021", "TC022"} <= set(codes)  # drift rules (issue 16)
    for r in rules:
        assert r["summary"] and (r["fixes"] or r["kind"] in ("check", "helper"))
    by = {r["code"]: r for r in rules}
    assert by["TC003"]["fixed_in"] == "2.3" and by["TC003"]["enabled"]
    code, out = invoke("rules", "--target-torch", "2.3", "--output-format", "json")
    assert not {r["code"]: r for r in json.loads(out)}["TC003"]["enabled"]


def test_check_apply_check_cycle(sample):
    before = snapshot(sample)
    code, out = invoke("check", sample, "--output-format", "json")
    data = json.loads(out)
    assert code == 1
    assert snapshot(sample) == before  # check writes nothing
    touched = {s["code"] for s in data["sites"]}
    assert {f"TC{i:03d}" for i in range(1, 14)} <= touched | {"TC010"}
    code, out = invoke("apply", sample, "-q")
    assert code == 0, out
    # TC010 leaves the yaml alone: _torch_compat.compile (TC011) decides at run time
    assert "compile_model: true  # compile the generators" in (sample / "checkpoints/hf/pipeline.yaml").read_text()
    assert [s["status"] for s in data["sites"] if s["code"] == "TC010"] == ["note"]
    assert (sample / "sam3d_objects" / "_torch_compat.py").is_file()
    code, out = invoke("check", sample)
    assert code == 0, out
    code, out = invoke("diff", sample)
    assert code == 0 and "---" not in out


def test_diff_writes_nothing_and_exits_1(sample):
    before = snapshot(sample)
    proc = subprocess.run([sys.executable, "-m", "sam3d_codemod", "diff", str(sample), "-q"], capture_output=True)
    assert proc.returncode == 1
    assert b"+++ b/sam3d_objects/model/io.py" in proc.stdout
    assert b"\x1b[" not in proc.stdout  # plain text when piped
    assert snapshot(sample) == before
    assert not (sample / ".sam3d-codemod-cache").exists()  # diff writes nothing at all


def test_select_ignore_and_target(sample):
    code, out = invoke("check", sample, "--select", "TC005", "--output-format", "json")
    # TC100: APIs that the deselected rules would have handled are now unhandled
    assert {s["code"] for s in json.loads(out)["sites"]} <= {"TC005", "TC000", "TC100"}
    code, out = invoke("check", sample, "--ignore", "TC00,TC01", "--output-format", "json")
    assert {s["code"] for s in json.loads(out)["sites"]} == {"TC100"} and code == 1  # nothing handles them now
    code, out = invoke("check", sample, "--ignore", "TC00,TC01,TC100", "--output-format", "json")
    assert json.loads(out)["sites"] == [] and code == 0
    code, out = invoke("check", sample, "--target-torch", "2.3", "--output-format", "json")
    codes = {s["code"] for s in json.loads(out)["sites"]}
    assert not codes & {"TC002", "TC003", "TC004", "TC005", "TC010", "TC011", "TC012"}
    assert "TC007" in codes


def test_bad_arguments_exit_2(tmp_path):
    code, out = invoke("check", tmp_path / "missing")
    assert code == 2 and "no such file or directory" in out
    (tmp_path / "notes.txt").write_text("x")
    code, out = invoke("check", tmp_path / "notes.txt")
    assert code == 2 and "not a directory or .py file" in out
    code, out = invoke("check", tmp_path, "--select", "TC999")
    assert code == 2 and "unknown rule code" in out


def test_pyproject_config_is_honoured(sample):
    (sample.parent / "pyproject.toml").write_text('[tool.sam3d-codemod]\nselect = ["TC007"]\n')  # the consumer's
    code, out = invoke("check", sample, "--output-format", "json")
    assert {s["code"] for s in json.loads(out)["sites"]} - {"TC100"} == {"TC007"}
    (sample / "pyproject.toml").write_text('[tool.sam3d-codemod]\nbogus = 1\n')
    code, out = invoke("check", sample)
    assert code == 2 and "bogus" in out


def test_github_annotations(sample, monkeypatch):
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    monkeypatch.chdir(sample.parent)  # no git work tree here: paths are relative to the cwd, not to PATH
    code, out = invoke("check", sample, "--output-format", "github")
    assert code == 1
    assert "::warning file=sample-tree/sam3d_objects/model/backbone/cfg.py,line=" in out
    assert "title=TC005::" in out


def test_help_and_check_never_import_torch_and_clean_tree_skips_libcst(tmp_path):
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "a.py").write_text("import os\nprint(os.getcwd())\n")
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from sam3d_codemod.cli.main import main\n"
        f"r = CliRunner().invoke(main, ['check', {str(clean)!r}, '-q', '--no-cache'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'libcst')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    proc = subprocess.run([sys.executable, "-c", code.replace(repr(str(clean)), repr(str(SAMPLE)))], capture_output=True, text=True)
    assert "torch" not in proc.stdout.split("'")  # the sample tree parses with libcst, still no torch
