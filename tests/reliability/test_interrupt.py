"""SIGTERM/SIGINT in the middle of `apply`: every file is either its old or its new bytes, no temp
files, no lock file, and a second `apply` finishes the job. (SIGKILL can leave a ``.*.sam3d-tmp``
file next to its target, never a damaged target; see test_sigkill_leaves_targets_whole.)"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sam3d_codemod.cli import applied

from .helpers import SAMPLE, snapshot

LOCK = ".sam3d-codemod-apply.lock"


def make_tree(dest: Path, copies: int) -> Path:
    """``copies`` sample packages (12 .py files each, every rule triggered) side by side."""
    dest.mkdir(parents=True)
    for i in range(copies):
        shutil.copytree(SAMPLE / "sam3d_objects", dest / f"c{i:03d}" / "sam3d_objects")
    shutil.copytree(SAMPLE / "checkpoints", dest / "checkpoints")
    return dest


def start_apply(tree: Path, *extra, group: bool = False) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sam3d_codemod.cli.main", "apply", str(tree), "-q", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=group)


def leftovers(tree: Path):
    return [p for p in tree.rglob("*") if p.name.endswith(".sam3d-tmp") or p.name == LOCK]


class Reference:
    """The original tree and what one uninterrupted `apply` makes of it (on a copy)."""

    def __init__(self, tmp_path: Path, copies: int) -> None:
        self.original = make_tree(tmp_path / "original", copies)
        self.before = snapshot(self.original)
        done = tmp_path / "reference"
        shutil.copytree(self.original, done)
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "sam3d_codemod.cli.main", "apply", str(done), "-q"], capture_output=True)
        self.seconds = time.monotonic() - t0
        self.rc = r.returncode
        assert r.returncode in (0, 1), r.stderr.decode()
        self.after = {k: v for k, v in snapshot(done).items()}
        self.cache = done / ".sam3d-codemod-cache"
        self.changed = sorted(k for k in self.after if self.before.get(k) != self.after[k])
        assert len(self.changed) > copies * 5
        mtimes = [(done / k).stat().st_mtime for k in self.changed]
        self.write_window = max(mtimes) - min(mtimes)

    def fresh(self, dest: Path, warm_cache: bool) -> Path:
        shutil.copytree(self.original, dest)
        if warm_cache and self.cache.is_dir():  # skip the transform phase: the kill lands among the writes
            shutil.copytree(self.cache, dest / ".sam3d-codemod-cache")
        return dest

    def check(self, tree: Path) -> str:
        """Every file old or new; tree-level: a written file's _torch_compat host exists. Returns old/new/mixed."""
        now = {k: v for k, v in snapshot(tree).items() if not (k.endswith(".sam3d-tmp") or k == LOCK)}
        states = set()
        for rel, data in now.items():
            if rel in self.before and data == self.before[rel]:
                if rel in self.changed:
                    states.add("old")
            elif rel in self.after and data == self.after[rel]:
                states.add("new")
            else:
                raise AssertionError(f"{rel}: neither the original nor the patched bytes ({len(data)} bytes)")
        for rel in self.before:
            assert rel in now, f"{rel}: lost"
        record = applied.location(tree)  # apply's record (cli/applied.py, outside the tree), written before any file
        manifest = record.read_bytes() if record.exists() else None
        if any(rel in self.after and data == self.after[rel] and data != self.before.get(rel) for rel, data in now.items()):
            assert manifest is not None, "files were patched before the apply record was written"
            recorded = json.loads(manifest)["files"]
            for rel, data in now.items():
                if data != self.before.get(rel) and rel in self.after:
                    assert rel in recorded, f"{rel} was patched but is not in the apply record"
        for rel, data in now.items():
            if b"_torch_compat" in data and data != self.before.get(rel):
                host = Path(rel).parts[0] + "/sam3d_objects/_torch_compat.py"
                assert host in now, f"{rel} imports _torch_compat but {host} was not written yet"
        return "mixed" if states == {"old", "new"} else states.pop()


def first_write_marker(ref: Reference, tree: Path):
    """Inodes of the changed files: the first one to change means the write phase began."""
    return {k: (tree / k).stat().st_ino for k in ref.changed if (tree / k).exists()}


def wait_for_writes(proc, tree: Path, inodes, timeout: float) -> bool:
    """True once a changed file has a new inode (its atomic write landed), also when the whole
    write phase fell between two looks and the process has already finished."""
    def changed() -> bool:
        for rel, ino in inodes.items():
            try:
                if os.stat(tree / rel).st_ino != ino:
                    return True
            except FileNotFoundError:
                return True
        return False

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if changed():
            return True
        if proc.poll() is not None:
            return changed()
        time.sleep(0.002)
    return False


def interrupt_iterations(tmp_path, copies: int, plan, seed: int):
    rng = random.Random(seed)
    ref = Reference(tmp_path, copies)
    outcomes = []
    for n, (sig, mode) in enumerate(plan):
        tree = ref.fresh(tmp_path / f"run{n}", warm_cache=(mode == "writes"))
        inodes = first_write_marker(ref, tree)
        proc = start_apply(tree, "-j", "2", group=(mode == "group"))
        if mode == "writes":
            assert wait_for_writes(proc, tree, inodes, timeout=120), "the write phase never began"
            time.sleep(rng.uniform(0, max(ref.write_window, 0.01) * 0.8))
        else:  # anywhere: start-up, discovery, transform pool, writes
            time.sleep(rng.uniform(0.2, ref.seconds))
        if mode == "group":  # Ctrl-C in a terminal: the pool's workers get SIGINT too
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode in (0, 1, 130, -signal.SIGINT, -signal.SIGTERM), (proc.returncode, err.decode())
        if proc.returncode == 130:
            assert b"interrupted" in err, err.decode()
        assert b"Traceback" not in err, err.decode()
        state = ref.check(tree)
        assert not leftovers(tree), leftovers(tree)
        # A second apply finishes the job from whatever state the first one left.
        r = subprocess.run([sys.executable, "-m", "sam3d_codemod.cli.main", "apply", str(tree), "-q"], capture_output=True)
        assert r.returncode == ref.rc, r.stderr.decode()
        assert snapshot(tree) == ref.after
        outcomes.append((sig, mode, proc.returncode, state))
        shutil.rmtree(tree)
    return outcomes


def test_interrupt_small_tree(tmp_path):
    """Fast variant (runs every time): 5 sample packages (60 files), a SIGTERM and a SIGINT among the
    writes, and a terminal-style SIGINT to the whole process group (pool workers included)."""
    outcomes = interrupt_iterations(tmp_path, 5, [(signal.SIGTERM, "writes"), (signal.SIGINT, "writes"),
                                                  (signal.SIGINT, "group")], seed=1)
    extra = 0
    while not any(state == "mixed" for *_, state in outcomes) and extra < 4:  # a fast disk has a short write window
        extra += 1
        outcomes += interrupt_iterations(tmp_path / f"again{extra}", 5, [(signal.SIGTERM, "writes")], seed=1 + extra)
    print(outcomes)
    assert any(state == "mixed" for *_, state in outcomes), outcomes


@pytest.mark.slow
def test_interrupt_large_tree_random_moments(tmp_path):
    """34 sample packages (408 files); kills at seeded random moments, SIGTERM and SIGINT, in the writes and anywhere."""
    plan = [(signal.SIGTERM, "writes"), (signal.SIGINT, "writes"), (signal.SIGTERM, "writes"),
            (signal.SIGINT, "anywhere"), (signal.SIGTERM, "anywhere"), (signal.SIGINT, "writes"),
            (signal.SIGINT, "group"), (signal.SIGTERM, "group")]
    outcomes = interrupt_iterations(tmp_path, 34, plan, seed=20240601)
    print(outcomes)
    assert sum(state == "mixed" for *_, state in outcomes) >= 2, outcomes


def test_sigkill_leaves_targets_whole(tmp_path):
    """SIGKILL cannot be caught: targets are still old or new (rename is atomic), but a temp file may remain."""
    ref = Reference(tmp_path, 3)
    tree = ref.fresh(tmp_path / "killed", warm_cache=True)
    inodes = first_write_marker(ref, tree)
    proc = start_apply(tree)
    assert wait_for_writes(proc, tree, inodes, timeout=120)
    proc.kill()
    proc.communicate(timeout=60)
    ref.check(tree)
    assert (tree / LOCK).exists()  # left by the killed run; no flock holds it any more
    for temp in [p for p in tree.rglob("*.sam3d-tmp")]:
        temp.unlink()  # documented clean-up: find . -name '*.sam3d-tmp' -delete
    r = subprocess.run([sys.executable, "-m", "sam3d_codemod.cli.main", "apply", str(tree), "-q"], capture_output=True)
    assert r.returncode == ref.rc, r.stderr.decode()  # the stale lock of the killed run is taken over
    assert snapshot(tree) == ref.after


def test_helper_module_written_before_the_files_that_import_it(tmp_path, monkeypatch):
    """An interrupted run must not leave a file importing _torch_compat without the module itself."""
    from sam3d_codemod.cli import runner
    from sam3d_codemod.cli.runner import Options, run

    pkg = tmp_path / "t" / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    # Upper-case and dunder names sort before "_torch_compat.py".
    (pkg / "Attn.py").write_text("import torch\nfrom torch.nn.attention import sdpa_kernel\n")
    (pkg / "__main__.py").write_text("import torch\nfrom torch.utils._pytree import tree_map\ny = tree_map(f, a, b)\n")
    order = []
    real = runner.atomic_write

    def record(path, data, *a, **kw):
        order.append(Path(path).name)
        return real(path, data, *a, **kw)

    monkeypatch.setattr(runner, "atomic_write", record)
    report = run([str(tmp_path / "t")], Options(jobs=1, cache=False), write=True)
    assert not report.errors, [o.error for o in report.errors]
    assert set(order) >= {"_torch_compat.py", "Attn.py", "__main__.py"}, order
    assert order[0] == "_torch_compat.py", order
