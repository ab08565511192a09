"""Every rule module's ``Command`` is a LibCST codemod command with the rewrite of ``apply --select CODE``."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sam3d_codemod.cli.main import main
from sam3d_codemod.codemods import rules as registry

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CASES = sorted(FIXTURES.glob("tc*/**/*.in.py"))
MODULES = {r.code: registry.module_of(r) for r in registry.all_rules()}


def _tree(tmp_path: Path, case: Path, name: str) -> Path:
    """The fixture as a file of a package, as `apply` needs to host _torch_compat."""
    rel = case.relative_to(FIXTURES)
    parts = rel.parts[1:-1] or ("pkg",)
    target = tmp_path / name / Path(*parts) / case.name.replace(".in.py", ".py")
    target.parent.mkdir(parents=True)
    for d in [target.parent, *target.parent.parents]:
        if d == tmp_path / name:
            break
        (d / "__init__.py").touch()
    shutil.copyfile(case, target)
    # plain files beside the case are part of its tree (TC009's `shipped` case ships init.py)
    for sibling in case.parent.iterdir():
        if sibling.is_file() and not sibling.name.endswith((".in.py", ".out.py", ".sites")):
            shutil.copyfile(sibling, target.parent / sibling.name)
    return target


def _command(code: str):
    import importlib

    return importlib.import_module(MODULES[code]).Command


@pytest.mark.parametrize("case", CASES, ids=[str(p.relative_to(FIXTURES)) for p in CASES])
def test_command_equals_apply_select(tmp_path, case):
    from libcst.codemod import CodemodContext, exec_transform_with_prettyprint

    code = "TC" + case.relative_to(FIXTURES).parts[0][2:5]
    applied = _tree(tmp_path, case, "a")
    result = CliRunner().invoke(main, ["apply", str(tmp_path / "a"), "--select", code, "-q", "--no-cache"])
    assert result.exit_code in (0, 1), result.output
    original = case.read_text()
    path = _tree(tmp_path, case, "c")
    command = _command(code)(CodemodContext(filename=str(path)), root=str(tmp_path / "c"))
    out = exec_transform_with_prettyprint(command, original, format_code=False)
    assert out == applied.read_text()
    # and both are the fixture's expectation (which differs from the input unless nothing is to be done)
    assert out == case.with_name(case.name.replace(".in.py", ".out.py")).read_text()


def test_every_rule_module_has_a_command_with_a_description():
    import libcst.codemod

    for code, module in MODULES.items():
        cls = _command(code)
        assert issubclass(cls, libcst.codemod.CodemodCommand), code
        assert cls.DESCRIPTION.startswith(f"{code} (") and f"--select {code}" in cls.DESCRIPTION
        assert cls.__module__ == module and cls.__name__ == "Command"
    assert "config files" in _command("TC010").DESCRIPTION


def test_config_rule_command_leaves_python_alone():
    from libcst.codemod import CodemodContext, exec_transform_with_prettyprint

    text = "compile_model = True\n"
    out = exec_transform_with_prettyprint(_command("TC010")(CodemodContext(filename="x.py")), text, format_code=False)
    assert out == text


def test_target_torch_turns_a_fixed_rule_off(tmp_path):
    from libcst.codemod import CodemodContext, exec_transform_with_prettyprint

    case = FIXTURES / "tc003_nn_attention" / "attribute_use.in.py"
    path = _tree(tmp_path, case, "c")
    text = case.read_text()
    cmd = _command("TC003")
    on = exec_transform_with_prettyprint(cmd(CodemodContext(filename=str(path)), root=str(tmp_path / "c")), text,
                                         format_code=False)
    off = exec_transform_with_prettyprint(cmd(CodemodContext(filename=str(path)), target_torch="2.3",
                                              root=str(tmp_path / "c")), text, format_code=False)
    assert on != text and off == text


def test_importing_rule_modules_does_not_import_libcst():
    code = ("import sys\nfrom sam3d_codemod.codemods import rules\nrules.all_rules()\n"
            "assert 'libcst' not in sys.modules\n"
            "from sam3d_codemod.codemods.rules import tc005_multi_tree_map as m\nm.Command\n"
            "assert 'libcst' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("code, case", [("TC003", "tc003_nn_attention/attribute_use.in.py"),
                                        ("TC009", "tc009_package_init/sam3d_objects/__init__.in.py")])
def test_libcst_tool_runs_it(tmp_path, code, case):
    """The command line from the README, as a user runs it (from the directory above the tree)."""
    applied = _tree(tmp_path, FIXTURES / case, "a")
    CliRunner().invoke(main, ["apply", str(tmp_path / "a"), "--select", code, "-q", "--no-cache"])
    target = _tree(tmp_path, FIXTURES / case, "T")
    proc = subprocess.run([sys.executable, "-m", "libcst.tool", "codemod", "-x", f"{MODULES[code]}.Command",
                           "--no-format", "-j1", "--hide-progress", "T"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert target.read_text() == applied.read_text() != (FIXTURES / case).read_text()
    assert not (target.parent / "_torch_compat.py").exists()  # the helper module is `apply`'s (TC000)
