"""Issue 21.4a and 21.5: configuration and structured files taken from the tree cannot switch the
gate off or exhaust the machine. Each case failed before its fix: upstream's own
``[tool.sam3d-codemod]`` won over the consumer's (``ignore = ["TC100"]`` made `check --lock` pass
over a float8 dtype), ``jobs = 400`` started 400 workers, deep or huge TOML and JSON ended in
RecursionError tracebacks.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .helpers import invoke

FLOAT8 = "import torch\n\nDTYPE = torch.float8_e4m3fn\n"


def consumer_with_tree(tmp_path: Path, tree_config: str, submodule: bool = False) -> Path:
    consumer = tmp_path / "consumer"
    tree = consumer / "external" / "sam-3d-objects"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "__init__.py").write_text("")
    (tree / "pkg" / "m.py").write_text(FLOAT8)
    (consumer / "pyproject.toml").write_text('[tool.sam3d-codemod]\ntarget-torch = "2.0"\n')
    (tree / "pyproject.toml").write_text(tree_config)
    if submodule:  # what `git submodule add` leaves: a .git file pointing into the superproject
        (tree / ".git").write_text("gitdir: ../../.git/modules/external/sam-3d-objects\n")
    return tree


def _lock(tmp_path: Path) -> Path:
    lock = tmp_path / "sam3d-codemod.lock"
    lock.write_text(json.dumps({"version": 1, "rules": [], "sites": {}}))
    return lock


@pytest.mark.parametrize("key", ['ignore = ["TC100"]', 'select = ["TC001"]', 'exclude = ["pkg/"]',
                                 'extend-exclude = ["pkg/m.py"]', 'target-torch = "2.13"',
                                 'target-cuda = "12.1"'])
def test_tree_config_cannot_switch_the_gate_off(tmp_path, key):
    tree = consumer_with_tree(tmp_path, f"[tool.sam3d-codemod]\n{key}\n")
    code, out = invoke("check", tree, "--lock", _lock(tmp_path), "--no-cache")
    assert code == 1, out
    assert "TC100" in out and "float8_e4m3fn" in out
    assert "ignored: the file is inside the tree being checked" in out


def test_submodule_config_below_path_is_the_trees_too(tmp_path):
    """PATH a folder inside the submodule: upstream's pyproject.toml at the submodule's top is still upstream's."""
    tree = consumer_with_tree(tmp_path, '[tool.sam3d-codemod]\nignore = ["TC100"]\n', submodule=True)
    code, out = invoke("check", tree / "pkg", "--lock", _lock(tmp_path), "--no-cache")
    assert code == 1 and "TC100" in out, out


def test_tree_config_may_add_checks(tmp_path):
    tree = consumer_with_tree(tmp_path, '[tool.sam3d-codemod]\nselect = ["TC007"]\n')
    (tree.parents[1] / "pyproject.toml").write_text('[tool.sam3d-codemod]\nselect = ["TC100"]\n')
    (tree / "pkg" / "a.py").write_text("import torch\n\ndef f(x, i, s):\n    return x.index_add_(0, i, s)\n")
    code, out = invoke("check", tree, "--no-cache", "--output-format", "json")
    found = {s["code"] for s in json.loads(out[out.index("{"):])["sites"]}
    assert {"TC007", "TC100"} <= found


def test_consumer_config_option_wins(tmp_path):
    tree = consumer_with_tree(tmp_path, '[tool.sam3d-codemod]\nignore = ["TC100"]\n')
    own = tmp_path / "own.toml"
    own.write_text('[tool.sam3d-codemod]\nselect = ["TC100"]\n')
    code, out = invoke("check", tree, "--config", own, "--no-cache")
    assert code == 1 and "TC100" in out, out


def test_jobs_from_the_tree_is_ignored_and_jobs_is_capped_at_the_cpus(tmp_path):
    tree = consumer_with_tree(tmp_path, "[tool.sam3d-codemod]\njobs = 400\n")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    code, out = invoke("check", tree, "-v", "--no-cache")
    assert f"jobs={cpus} " in out and "jobs ignored" in out, out
    code, out = invoke("check", tree, "-v", "--no-cache", "-j", "400")
    assert f"jobs={cpus} " in out, out


def _one_line(code, out):
    assert code == 2, out
    assert "Traceback" not in out and "RecursionError" not in out, out
    assert len([ln for ln in out.splitlines() if ln.startswith("sam3d-codemod: error:")]) == 1, out


@pytest.mark.parametrize("where", ["tree", "consumer"])
def test_deep_toml_at_or_above_path_is_a_one_line_error(tmp_path, where):
    tree = consumer_with_tree(tmp_path, '[project]\nname = "x"\n')
    deep = "[tool.sam3d-codemod]\nselect = " + "[" * 50_000 + "]" * 50_000 + "\n"
    (tree if where == "tree" else tree.parents[1]).joinpath("pyproject.toml").write_text(deep)
    code, out = invoke("check", tree, "--no-cache")
    _one_line(code, out)
    assert "nested deeper than" in out


def test_huge_toml_is_a_one_line_error(tmp_path):
    tree = consumer_with_tree(tmp_path, "[project]\n" + "# padding\n" * 300_000)
    code, out = invoke("check", tree, "--no-cache")
    _one_line(code, out)
    assert "limit" in out


def test_deep_lock_json_is_a_one_line_error(tmp_path):
    tree = consumer_with_tree(tmp_path, '[project]\nname = "x"\n')
    lock = tmp_path / "deep.lock"
    lock.write_text('{"version": 1, "sites": ' + "[" * 100_000 + "]" * 100_000 + "}")
    code, out = invoke("check", tree, "--lock", lock, "--no-cache")
    _one_line(code, out)


def test_result_cache_planted_in_the_tree_is_not_believed(tmp_path):
    """A results file an upstream commit carries (saying the float8 file is clean) is not read."""
    import hashlib

    tree = consumer_with_tree(tmp_path, '[project]\nname = "x"\n')
    lock = _lock(tmp_path)
    code, out = invoke("check", tree, "--lock", lock)
    assert code == 1 and "TC100" in out, out
    sha = hashlib.sha256((tree / "pkg" / "m.py").read_bytes()).hexdigest()
    for results in (tree / ".sam3d-codemod-cache").glob("results-*.json"):
        body = results.read_bytes().split(b"\n", 1)[-1] if results.read_bytes().startswith(b"sam3d") else results.read_bytes()
        entries = json.loads(body)
        entries["pkg/m.py"] = {"stat": [0, 0, 0], "sha": sha, "skip": True}
        results.write_text(json.dumps(entries))  # what a commit can carry: no key of this user's
    code, out = invoke("check", tree, "--lock", lock)
    assert code == 1 and "TC100" in out, out


def test_deep_result_cache_is_a_cold_run(tmp_path):
    tree = consumer_with_tree(tmp_path, '[project]\nname = "x"\n')
    invoke("check", tree)
    for results in (tree / ".sam3d-codemod-cache").glob("results-*.json"):
        results.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    code, out = invoke("check", tree)
    assert code == 1 and "Traceback" not in out and "TC100" in out, out


def test_worktree_under_a_folder_named_modules_is_not_a_submodule(tmp_path):
    """The consumer's own worktree (its .git file names .git/worktrees/...) keeps its config trusted."""
    from sam3d_codemod.cli.config_trust import tree_root

    wt = tmp_path / "modules" / "wt"
    (wt / "external" / "up").mkdir(parents=True)
    (wt / ".git").write_text(f"gitdir: {tmp_path}/modules/repo/.git/worktrees/wt\n")
    assert tree_root(wt / "external" / "up") == wt / "external" / "up"
    (wt / "external" / "up" / ".git").write_text("gitdir: ../../.git/modules/up\n")
    (wt / "external" / "up" / "pkg").mkdir()
    assert tree_root(wt / "external" / "up" / "pkg") == wt / "external" / "up"
