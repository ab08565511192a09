"""The users' workflow on a full checkout kept as a git submodule (issue 12): lock -> apply -> check ->
upstream bump (a patched file and an unpatched one change) -> update -> check --lock -> revert, with
the state asserted at each step. The upstream is a local bare repo we build (tests/checkout.py)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sam3d_codemod.cli import applied

from .checkout import bare_upstream, consumer, git

pytestmark = pytest.mark.realtree

SUB = "external/sam-3d-objects"
CFG = "sam3d_objects/model/backbone/generator/classifier_free_guidance.py"
PLAIN = "sam3d_objects/model/backbone/generator/flow_matching/solver.py"  # no rule touches it
ENV = dict(os.environ, SAM3D_CODEMOD_NO_REPLAY="1")


def tool(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "sam3d_codemod", *map(str, args)], capture_output=True, text=True,
                          env=ENV, cwd=cwd, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def status(path: Path) -> list:
    return sorted(line[3:] for line in git(path, "status", "--porcelain", "--untracked-files=all").splitlines())


def head_bytes(path: Path) -> dict:
    files = git(path, "ls-files", "-z").split("\0")
    return {f: (path / f).read_bytes() for f in files if f}


@pytest.fixture
def cycle(tmp_path):
    upstream = bare_upstream(tmp_path)
    repo = consumer(tmp_path, upstream)
    return tmp_path, repo, repo / SUB


def bump(tmp_path: Path, edit) -> str:
    work = tmp_path / "upstream-work"
    edit(work)
    git(work, "commit", "-qam", "upstream v2")
    git(work, "push", "-q", "origin", "HEAD:main")
    return git(work, "rev-parse", "HEAD").strip()


def test_apply_update_check_revert_cycle(cycle):
    tmp_path, repo, sub = cycle
    lock = repo / "sam3d-codemod.lock"
    pristine = head_bytes(sub)

    # A full checkout goes green with no flags: the script outside any package uses the package's helper.
    assert tool("lock", sub, "--lock", lock, "--no-cache")[0] == 0
    code, out = tool("apply", sub, "--no-cache")
    assert code == 0, out
    assert "unhandled" not in out and "error" not in out and out.splitlines()[-1] == "19 files changed (61 sites)", out
    inference = (sub / "notebook" / "inference.py").read_text()
    assert "from sam3d_objects import _torch_compat" in inference
    assert "IpyTurntableVisualizer = _torch_compat.missing(" in inference
    assert (sub / "sam3d_objects" / "_torch_compat.py").is_file()
    changed = status(sub)
    assert CFG in changed and "notebook/inference.py" in changed and "sam3d_objects/_torch_compat.py" in changed
    assert not (sub / ".sam3d-codemod-applied.json").exists()  # the record is in .git/modules/..., not the tree
    assert (repo / ".git" / "modules").is_dir() and str(applied.location(sub)).startswith(str(repo / ".git" / "modules"))
    assert tool("check", sub, "--no-cache")[0] == 0

    # Locks do not depend on the state: either lock gates either tree with 0 drift.
    code, out = tool("check", sub, "--lock", lock, "--no-cache")
    assert code == 0, out
    assert "All clean: 109 files, as the lock expects" in out
    patched_lock = repo / "patched.lock"
    assert tool("lock", sub, "--lock", patched_lock, "--no-cache")[0] == 0
    assert json.loads(patched_lock.read_text())["sites"] == json.loads(lock.read_text())["sites"]

    # Upstream moves: a patched file and an unpatched one change.
    def edit(work):
        cfg = work / CFG
        cfg.write_text("# upstream v2\n" + cfg.read_text())
        plain = work / PLAIN
        plain.write_text(plain.read_text() + "\n# upstream v2\n")

    new_head = bump(tmp_path, edit)
    code, out = tool("update", sub, "--lock", lock, "--no-cache")
    assert code == 0, out
    assert git(sub, "rev-parse", "HEAD").strip() == new_head
    assert (sub / PLAIN).read_bytes() == git(sub, "show", f"HEAD:{PLAIN}").encode()
    cfg = (sub / CFG).read_text()
    assert cfg.startswith("# upstream v2\n") and "_torch_compat.tree_map(" in cfg
    assert status(sub) == changed  # the same files patched, nothing else
    assert tool("check", sub, "--lock", lock, "--no-cache")[0] == 0
    assert f"+Subproject commit {new_head}" in git(repo, "diff", "--", SUB)  # the bump, for the user to commit

    # A user's own edit: update refuses and names it, changing nothing; revert keeps it.
    before = {p: (sub / p).read_bytes() for p in changed}
    (sub / CFG).write_text((sub / CFG).read_text() + "\n# my own note\n")
    before[CFG] = (sub / CFG).read_bytes()
    code, out = tool("update", sub)
    assert code == 2 and CFG in out and "your own edits" in out
    assert {p: (sub / p).read_bytes() for p in changed} == before

    code, out = tool("revert", sub)
    assert code == 0, out
    assert "your own edits kept" in out
    assert (sub / CFG).read_text() == git(sub, "show", f"HEAD:{CFG}") + "\n# my own note\n"
    git(sub, "checkout", "--", CFG)

    # Fully reverted: git status clean, every byte as upstream's, helper and manifest gone.
    assert status(sub) == []
    assert not (sub / "sam3d_objects" / "_torch_compat.py").exists()
    assert not (sub / ".sam3d-codemod-applied.json").exists()
    current = head_bytes(sub)
    assert current[PLAIN] != pristine[PLAIN]  # the bump is there ...
    assert all((sub / f).read_bytes() == git(sub, "show", f"HEAD:{f}").encode("utf-8", "surrogateescape")
               for f in (CFG, PLAIN, "notebook/inference.py"))  # ... and nothing of ours


def test_drift_is_counted_and_says_how_to_accept(cycle):
    tmp_path, repo, sub = cycle
    lock = repo / "sam3d-codemod.lock"
    assert tool("lock", sub, "--lock", lock, "--no-cache")[0] == 0
    assert tool("apply", sub, "--no-cache")[0] == 0
    v1 = git(sub, "rev-parse", "HEAD").strip()

    def edit(work):
        cfg = work / CFG
        text = cfg.read_text()
        old = "_pytree.tree_map(self._cfg_step_tensor, y_cond, y_uncond, strength)"
        assert old in text
        cfg.write_text(text.replace(old, "self._cfg_step_tensor(y_cond, y_uncond, strength)"))

    bump(tmp_path, edit)
    code, out = tool("update", sub, "--lock", lock, "--no-cache")
    assert code == 1, out
    assert f"drift: TC005 {CFG}: 5 in the lock, 4 now; run `sam3d-codemod lock` to accept" in out
    assert "1 drifted from the lock; review, then run `sam3d-codemod lock`" in out
    # Accepting it: a lock taken on the patched tree gates it.
    assert tool("lock", sub, "--lock", lock, "--no-cache")[0] == 0
    assert tool("check", sub, "--lock", lock, "--no-cache")[0] == 0
    # --rev moves to any commit: back to v1, where the new lock now drifts the other way.
    code, out = tool("update", sub, "--rev", v1, "--lock", lock, "--no-cache")
    assert code == 1 and f"drift: TC005 {CFG}: 4 in the lock, 5 now" in out
    assert git(sub, "rev-parse", "HEAD").strip() == v1
    code, out = tool("update", sub, "--rev", "no-such-rev")
    assert code == 2 and "no commit 'no-such-rev'" in out
    assert (sub / "sam3d_objects" / "_torch_compat.py").is_file()  # still patched: nothing was reverted
    assert "_torch_compat.tree_map(" in (sub / CFG).read_text()


def test_update_refuses_outside_git(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    code, out = tool("update", tmp_path)
    assert code == 2 and "not a git checkout" in out


def test_conflict_markers_are_named(tmp_path):
    (tmp_path / "m.py").write_text("import torch\nx = 1\n<<<<<<< Updated upstream\ny = torch.compile(f)\n=======\n"
                                   "y = 3\n>>>>>>> Stashed changes\n")
    code, out = tool("check", tmp_path, "--no-cache")
    assert code == 2
    assert "m.py: unresolved merge conflict marker at line 3" in out


def test_revert_without_an_apply_record_says_so(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    code, out = tool("revert", tmp_path)
    assert code == 0 and "nothing to revert: no apply record" in out
    assert (tmp_path / "a.py").read_text() == "x = 1\n"


def test_a_script_outside_any_package_uses_the_package_it_imports(tmp_path):
    # Hermetic (no PyPI tree): a self-importing package and a notebook script that imports it.
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "core.py").write_text("import mypkg.util\n")
    (pkg / "util.py").write_text("")
    (tmp_path / "notebook").mkdir()
    script = tmp_path / "notebook" / "run.py"
    script.write_text("import torch\nfrom kaolin.render.camera import Camera\n\nimport mypkg\n")
    other = tmp_path / "tools"
    other.mkdir()
    (other / "lone.py").write_text("from kaolin.render.camera import Camera\n")  # imports no package of the tree
    code, out = tool("apply", tmp_path, "--no-cache", "-j1")
    assert code == 1, out  # tools/lone.py has no host: still unhandled, and named
    assert "tools/lone.py:1: TC008 unhandled" in out
    text = script.read_text()
    assert "from mypkg import _torch_compat" in text and "Camera = _torch_compat.missing(" in text
    assert (pkg / "_torch_compat.py").is_file()
    assert (other / "lone.py").read_text() == "from kaolin.render.camera import Camera\n"


SMALL = ("import torch\nfrom torch.utils import _pytree\n\n\ndef f(a, b):\n    return _pytree.tree_map(torch.add, a, b)\n"
         "\n\ndef g(x):\n    return x\n")


def small_tree(tmp_path: Path) -> Path:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "m.py").write_bytes(SMALL.replace("\n", "\r\n").encode())  # CRLF kept byte for byte
    return pkg / "m.py"


def test_edit_then_apply_again_then_revert_keeps_the_edit(tmp_path):
    m = small_tree(tmp_path)
    assert tool("apply", tmp_path, "--no-cache", "-j1")[0] == 0
    patched = m.read_bytes()
    assert b"_torch_compat.tree_map" in patched
    mine = "    return _pytree.tree_map(torch.mul, x, x)  # mine\r\n"
    m.write_bytes(patched.replace(b"    return x\r\n", mine.encode()))
    assert tool("apply", tmp_path, "--no-cache", "-j1")[0] == 0  # patches the new site too
    assert m.read_bytes().count(b"_torch_compat.tree_map(") == 2
    code, out = tool("revert", tmp_path)
    assert code == 0, out
    assert m.read_bytes() == SMALL.replace("\n", "\r\n").replace("    return x\r\n", mine).encode()
    assert not (tmp_path / "pkg" / "_torch_compat.py").exists()


def test_revert_refuses_overlapping_edits_and_changes_nothing(tmp_path):
    m = small_tree(tmp_path)
    assert tool("apply", tmp_path, "--no-cache", "-j1")[0] == 0
    edited = m.read_bytes().replace(b"_torch_compat.tree_map(torch.add, a, b)", b"_torch_compat.tree_map(torch.sub, a, b)")
    m.write_bytes(edited)
    helper = (tmp_path / "pkg" / "_torch_compat.py").read_bytes()
    code, out = tool("revert", tmp_path)
    assert code == 2 and "your edits overlap the patch in pkg/m.py" in out
    assert m.read_bytes() == edited and (tmp_path / "pkg" / "_torch_compat.py").read_bytes() == helper


def test_update_follows_the_branch_gitmodules_names(cycle):
    tmp_path, repo, sub = cycle
    work = tmp_path / "upstream-work"
    git(work, "checkout", "-q", "-b", "dev")
    (work / PLAIN).write_text((work / PLAIN).read_text() + "# dev\n")
    git(work, "commit", "-qam", "dev work")
    git(work, "push", "-q", "origin", "dev")
    dev = git(work, "rev-parse", "HEAD").strip()
    main = git(sub, "rev-parse", "HEAD").strip()
    assert dev != main
    git(repo, "config", "-f", ".gitmodules", f"submodule.{SUB}.branch", "dev")
    code, out = tool("update", sub, "--no-cache", "--select", "TC005")
    assert code == 0, out
    assert git(sub, "rev-parse", "HEAD").strip() == dev
    assert status(sub) == sorted(["sam3d_objects/_torch_compat.py", CFG,
                                  "sam3d_objects/model/backbone/tdfy_dit/modules/attention/modules.py",
                                  "sam3d_objects/model/backbone/tdfy_dit/modules/transformer/modulated.py"])
