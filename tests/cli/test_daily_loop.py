"""The daily loop (issue 22): named paths, nothing-to-check, concise output, stale processes,
status, progress. Each test runs the CLI as a user does (a subprocess) unless noted."""
from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "fixtures" / "sample-tree"
PATCHABLE = "import torch\n\ndef f(x, i, s):\n    return x.index_add_(0, i, s)\n"


def cli(*args, cwd=None, env=None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sam3d_codemod.cli.main", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, **kw)


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture
def consumer(tmp_path):
    """A consumer repo whose .gitignore and info/exclude cover its vendored upstream checkout."""
    repo = tmp_path / "consumer"
    tree = repo / "external" / "sam-3d-objects"
    shutil.copytree(SAMPLE, tree, ignore=shutil.ignore_patterns(".sam3d-codemod-cache"))
    git(repo, "init", "-q") if repo.is_dir() else None
    (repo / ".gitignore").write_text("external/\n")
    (repo / ".git" / "info" / "exclude").write_text("external/sam-3d-objects/\n")
    return repo, tree


def test_a_named_path_that_is_ignored_is_still_processed(consumer):
    repo, tree = consumer
    proc = cli("check", "external/sam-3d-objects", "--no-cache", cwd=repo)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "would change" in proc.stdout.splitlines()[-1]
    applied = cli("apply", "external/sam-3d-objects", "--no-cache", cwd=repo)
    assert applied.returncode == 0 and (tree / "sam3d_objects" / "_torch_compat.py").is_file(), applied.stderr
    # a single named file too (pre-commit passes files by name)
    one = cli("check", "external/sam-3d-objects/sam3d_objects/model/io.py", "--no-cache", "--output-format", "json",
              cwd=repo)
    assert json.loads(one.stdout)["files_seen"] == 1


def test_force_exclude_applies_ignore_files_to_named_paths(consumer):
    repo, tree = consumer
    named = "external/sam-3d-objects/sam3d_objects/model/io.py"
    skipped = cli("check", "--force-exclude", named, "external/sam-3d-objects", "--no-cache",
                  "--output-format", "json", cwd=repo)
    assert skipped.returncode == 0 and json.loads(skipped.stdout)["files_seen"] == 0, skipped.stdout + skipped.stderr
    # --exclude is applied to a named file too
    (repo / ".gitignore").write_text("")
    (repo / ".git" / "info" / "exclude").write_text("")
    excluded = cli("check", "--force-exclude", "--exclude", "external/", named, "--no-cache", "--output-format", "json",
                   cwd=repo)
    assert json.loads(excluded.stdout)["files_seen"] == 0, excluded.stdout + excluded.stderr
    kept = cli("check", "--force-exclude", named, "--no-cache", "--output-format", "json", cwd=repo)
    assert json.loads(kept.stdout)["files_seen"] == 1


@pytest.mark.parametrize("command", ["check", "apply", "lock"])
def test_a_path_without_python_files_is_an_error(tmp_path, command):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "README.md").write_text("no code here\n")
    proc = cli(command, tmp_path / "docs", "--no-cache", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [f"sam3d-codemod: error: {tmp_path / 'docs'}: no Python or requirement file found here"]
    assert not (tmp_path / "sam3d-codemod.lock").exists()


def test_output_is_the_findings_then_one_summary_line(tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(SAMPLE, tree, ignore=shutil.ignore_patterns(".sam3d-codemod-cache"))
    pending = cli("check", tree, "--no-cache")
    lines = pending.stdout.splitlines()
    assert pending.returncode == 1
    assert lines[-1] == "9 files would change (27 sites); run `sam3d-codemod apply`"
    assert all(":" in line for line in lines[:-1]) and "┃" not in pending.stdout  # findings only, no table
    applied = cli("apply", tree, "--no-cache")
    note = "checkpoints/hf/pipeline.yaml:3: TC010 note: compile_model: true kept"  # a finding, in every command
    assert applied.stdout.splitlines()[-1] == "9 files changed (27 sites)"
    assert len(applied.stdout.splitlines()) == 2 and applied.stdout.startswith(note), applied.stdout
    clean = cli("check", tree, "--no-cache")
    assert clean.returncode == 0 and clean.stdout.splitlines()[1:] == ["All clean: 13 files"], clean.stdout
    # the per-rule table behind -v, its column named for the command; --statistics: counts only
    table = cli("check", tree, "--no-cache", "-v").stdout
    assert "┃ rule  ┃ name" in table and "┃ pending ┃" in table and table.splitlines()[-1].startswith("All clean: 13 files in ")
    (tree / "extra.py").write_text(PATCHABLE)
    assert "┃ patched ┃" in cli("apply", tree, "--no-cache", "-v").stdout
    (tree / "extra.py").write_text(PATCHABLE)
    stats = cli("check", tree, "--no-cache", "--statistics").stdout
    assert stats.splitlines() == ["1\tTC007\tindex-add-dtype\t(pending 1, unhandled 0, 1 file(s))",
                                  "1\tTC010\tpipeline-yaml\t(pending 0, unhandled 0, 1 file(s))"]


# ------------------------------------------------------------------ stale processes

def _start(args, cwd, env=None) -> subprocess.Popen:
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    assert line.strip() == "ready", line + proc.stdout.read()
    return proc


def _package_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    (tree / "app").mkdir(parents=True)
    (tree / "app" / "__init__.py").write_text("")
    (tree / "app" / "model.py").write_text(PATCHABLE + "\ndef fast(fn):\n    return torch.compile(fn)\n")
    (tree / "web_app.py").write_text("import sys, time\nimport app\nprint('ready', flush=True)\ntime.sleep(300)\n")
    return tree


def test_apply_and_revert_name_the_processes_running_old_code(tmp_path):
    tree = _package_tree(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    web = _start([sys.executable, "web_app.py"], cwd=tree)  # as the GUI is started: from the checkout
    importer = _start([sys.executable, "-c", "import app, time; print('ready', flush=True); time.sleep(300)"],
                      cwd=elsewhere, env=dict(os.environ, PYTHONPATH=str(tree)))
    unrelated = _start([sys.executable, "-c", "import json, time; print('ready', flush=True); time.sleep(300)"],
                       cwd=elsewhere)
    try:
        applied = cli("apply", tree, "--no-cache", cwd=elsewhere)
        assert applied.returncode == 0, applied.stderr
        assert "still runs the old code" in applied.stderr
        named = {int(line.split()[1].rstrip(",")) for line in applied.stderr.splitlines() if line.startswith("  pid ")}
        assert named == {web.pid, importer.pid}, applied.stderr
        assert "web_app.py" in applied.stderr and "running since " in applied.stderr
        reverted = cli("revert", tree, cwd=elsewhere)
        assert reverted.returncode == 0 and str(web.pid) in reverted.stderr and str(unrelated.pid) not in reverted.stderr
        quiet_run = cli("apply", tree, "--no-cache", "-q", cwd=elsewhere)
        assert "pid" not in quiet_run.stderr
    finally:
        for proc in (web, importer, unrelated):
            proc.kill()
            proc.wait()
    after = cli("apply", tree, "--no-cache", cwd=elsewhere)  # nothing to write, nobody running
    assert "pid" not in after.stderr


def _skewed_clock_env(tmp_path: Path, seconds: int) -> dict:
    """The tool's environment with psutil's wall-clock start times off by ``seconds``, as in a VM
    restored from a snapshot whose clock was stepped (the kernel's boot time moves with it)."""
    site = tmp_path / f"skew{seconds}"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import psutil._pslinux as linux\n"
        "_boot_time = linux.boot_time\n"
        f"linux.boot_time = lambda: _boot_time() + ({seconds})\n")
    return dict(os.environ, PYTHONPATH=str(site))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the skew is put into psutil's Linux boot time")
@pytest.mark.parametrize("skew", [30, -30])
def test_stale_processes_do_not_depend_on_the_wall_clock(tmp_path, skew):
    tree = _package_tree(tmp_path)
    env = _skewed_clock_env(tmp_path, skew)
    web = _start([sys.executable, "web_app.py"], cwd=tree)
    try:
        applied = cli("apply", tree, "--no-cache", env=env)
        named = {int(line.split()[1].rstrip(",")) for line in applied.stderr.splitlines() if line.startswith("  pid ")}
        assert named == {web.pid}, applied.stderr
    finally:
        web.kill()
        web.wait()
    time.sleep(0.1)
    later = _start([sys.executable, "web_app.py"], cwd=tree)  # started after apply: it runs the new code
    try:
        state = cli("status", tree, "--output-format", "json", env=env)
    finally:
        later.kill()
        later.wait()
    assert json.loads(state.stdout)["processes"] == [], state.stdout


def test_an_interpreter_under_a_folder_named_for_the_tool_is_still_named(tmp_path):
    """The tool's default cache, ~/.cache/sam3d-codemod, holds a virtual environment whose python
    runs the user's apps too; only the tool's own script or ``-m sam3d_codemod`` marks a run of it."""
    tree = _package_tree(tmp_path)
    bin_dir = tmp_path / ".cache" / "sam3d-codemod" / "dev" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.symlink_to(sys.executable)
    web = _start([str(python), "web_app.py"], cwd=tree)
    try:
        applied = cli("apply", tree, "--no-cache")
    finally:
        web.kill()
        web.wait()
    named = {int(line.split()[1].rstrip(",")) for line in applied.stderr.splitlines() if line.startswith("  pid ")}
    assert named == {web.pid}, applied.stderr


@pytest.mark.parametrize("cmdline, is_tool", [
    (["/venv/bin/python", "/venv/bin/sam3d-codemod", "check", "."], True),
    (["/venv/bin/python", "-m", "sam3d_codemod.cli.main", "apply", "."], True),
    (["/venv/bin/python", "-msam3d_codemod", "apply", "."], True),
    (["/home/u/.cache/sam3d-codemod/dev/bin/python", "web_app.py"], False),
    (["/opt/sam3d_codemod_env/bin/python", "-m", "app"], False),
])
def test_only_the_tools_own_runs_are_left_out(cmdline, is_tool):
    from sam3d_codemod.cli.processes import _is_this_tool

    assert _is_this_tool(cmdline) is is_tool


def test_status_shows_the_tree_at_a_glance(tmp_path):
    tree = _package_tree(tmp_path)
    git(tree, "init", "-q")
    git(tree, "add", "-A")
    git(tree, "commit", "-qm", "upstream head")
    lock = tmp_path / "sam3d-codemod.lock"
    assert cli("lock", tree, "--lock", lock, "--no-cache").returncode == 0
    before = cli("status", tree, "--lock", lock)
    assert before.returncode == 0, before.stdout + before.stderr  # unpatched, as locked: nothing to do
    assert "upstream head" in before.stdout and "no apply record" in before.stdout and f"matches {lock}" in before.stdout
    assert cli("apply", tree, "--no-cache").returncode == 0
    time.sleep(1.2)  # process start times are known to within a second (the kernel's boot time is whole seconds)
    web = _start([sys.executable, "web_app.py"], cwd=tree)
    try:
        (tree / "app" / "model.py").write_text((tree / "app" / "model.py").read_text() + "y = 2\n")
        os.utime(tree / "app" / "__init__.py")
        state = cli("status", tree, "--lock", lock, "--output-format", "json")
    finally:
        web.kill()
        web.wait()
    data = json.loads(state.stdout)
    assert data["recorded_files"] == 2 and data["edited"] == ["app/model.py"]
    assert data["helpers"] == [{"path": "app/_torch_compat.py", "version": "0.1.0", "current": True}]
    assert data["pending_files"] == 0 and {d["code"] for d in data["drift"]} == {"TC007", "TC011"}
    assert data["processes"] == [] and state.returncode == 1  # started after apply: it runs the new code


@pytest.mark.parametrize("options", [[], ["--isolated"], ["--select", "TC007"], ["--ignore", "TC100"],
                                     ["--config", "OTHER"], ["--target-torch", "2.13"]])
def test_status_reports_what_check_would_with_the_same_options(tmp_path, options):
    """status resolves its settings as check does: the consumer's config, its trust rules and the
    command line over it (the config here ignores TC007; OTHER selects only TC100)."""
    consumer = tmp_path / "consumer"
    tree = consumer / "tree"
    tree.mkdir(parents=True)
    (tree / "m.py").write_text(PATCHABLE)
    (consumer / "pyproject.toml").write_text('[tool.sam3d-codemod]\nignore = ["TC007"]\n')
    (tmp_path / "other.toml").write_text('[tool.sam3d-codemod]\nselect = ["TC100"]\n')
    options = [str(tmp_path / "other.toml") if o == "OTHER" else o for o in options]
    checked = cli("check", tree, "--no-cache", "--output-format", "json", *options)
    state = cli("status", tree, "--output-format", "json", *options)
    pending = {s["path"] for s in json.loads(checked.stdout)["sites"] if s["status"] == "patched" and s["code"] != "TC000"}
    assert json.loads(state.stdout)["pending_files"] == len(pending), (state.stdout, checked.stdout)
    assert state.returncode == checked.returncode, (state.stdout, checked.stdout)
    expected = {(): 0, ("--isolated",): 1, ("--select", "TC007"): 0, ("--ignore", "TC100"): 1}
    if tuple(options) in expected:
        assert checked.returncode == expected[tuple(options)]


# ------------------------------------------------------------------ progress

def _on_tty(args, cwd=None, env=None):
    """Run with stderr on a pseudo-terminal (stdout piped); (exit code, stdout, what the terminal got)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    out = proc.stdout.read()
    proc.wait()
    os.close(master)
    return proc.returncode, out.decode(), b"".join(chunks).decode("utf-8", "replace")


def test_apply_and_verify_show_progress_on_a_terminal_only(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(60):
        (tree / f"m{i}.py").write_text(PATCHABLE)
    base = [sys.executable, "-m", "sam3d_codemod.cli.main"]
    code, out, terminal = _on_tty(base + ["apply", str(tree), "--no-cache", "-j", "1"])
    assert code == 0 and "patching" in terminal and "100%" in terminal, terminal
    assert "\x1b" not in out  # the report on stdout stays plain
    for i in range(60):
        (tree / f"m{i}.py").write_text(PATCHABLE)
    piped = cli("apply", tree, "--no-cache", "-j", "1")
    assert "patching" not in piped.stderr and piped.stderr == ""
    # verify: a stand-in torch (the probe only needs `import torch` to run its units)
    fake = tmp_path / "faketorch" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('__version__ = "2.0.0"\n')
    env = dict(os.environ, PYTHONPATH=str(fake.parent))
    args = ["verify", str(SAMPLE), "--device", "cpu", "--python", sys.executable]
    code, out, terminal = _on_tty(base + args, env=env)
    assert "verifying" in terminal and "100%" in terminal, terminal
    piped = subprocess.run(base + args, env=env, capture_output=True, text=True)
    assert "verifying" not in piped.stderr and "verify:" in piped.stdout


@pytest.mark.realtree
def test_update_names_the_processes_running_old_code(tmp_path):
    from tests.checkout import bare_upstream
    from tests.checkout import consumer as consumer_repo

    repo = consumer_repo(tmp_path, bare_upstream(tmp_path))
    sub = repo / "external" / "sam-3d-objects"
    assert cli("apply", sub, "--no-cache").returncode == 0
    gui = _start([sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(300)"], cwd=tmp_path,
                 env=dict(os.environ, PYTHONPATH=str(sub)))  # the tree on its path, as a launcher sets it
    try:
        proc = cli("update", sub, "--no-cache", env=dict(os.environ, SAM3D_CODEMOD_NO_REPLAY="1"))
    finally:
        gui.kill()
        gui.wait()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"  pid {gui.pid}, running since " in proc.stderr and proc.stderr.count(f"pid {gui.pid},") == 1
