"""The pins rules through the command line: apply writes and records the pin files, revert restores
them byte for byte (CRLF too), check gates new pins like code drift, env prints the install plan."""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sam3d_codemod.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM_SHAPE = ROOT / "fixtures" / "pins" / "upstream-shape"
SAMPLE = ROOT / "fixtures" / "sample-tree"


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


def files(root: Path):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".sam3d-codemod-cache" not in p.parts and p.name != ".sam3d-codemod-applied.json"}


@pytest.fixture
def tree(tmp_path):
    """The upstream-shaped pin files beside the sample tree's code, one file with CRLF line ends."""
    root = tmp_path / "checkout"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns(".sam3d-codemod-cache"))
    for path in UPSTREAM_SHAPE.rglob("*"):
        if path.is_file() and path.name != "README.md":
            dest = root / path.relative_to(UPSTREAM_SHAPE)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(path.read_bytes())
    p3d = root / "requirements.p3d.txt"
    p3d.write_bytes(p3d.read_bytes().replace(b"\n", b"\r\n"))
    return root


def test_apply_then_revert_restores_the_pin_files_byte_for_byte(tree):
    before = files(tree)
    code, _ = invoke("apply", tree, "-q")
    assert code == 0
    after = files(tree)
    changed = {rel for rel in before if before[rel] != after.get(rel)}
    assert {"requirements.txt", "requirements.inference.txt", "requirements.p3d.txt", "pyproject.toml",
            "environments/default.yml"} <= changed
    assert b'xformers==0.0.19; python_version < "3.11"\n' in after["requirements.txt"]
    assert b"torchaudio==2.0.1\n" in after["requirements.txt"]
    assert after["requirements.txt"].endswith(b"numpy<2  # sam3d-codemod TP001: torch 2.0.0 is built against numpy 1\n")
    assert after["requirements.p3d.txt"].count(b"\r\n") == 2 and b"\n" not in after["requirements.p3d.txt"].replace(b"\r\n", b"")
    assert after["requirements.dev.txt"] == before["requirements.dev.txt"]
    code, out = invoke("check", tree, "--output-format", "json", "--no-cache")
    assert code == 0, out
    code, _ = invoke("revert", tree)
    assert code == 0
    assert files(tree) == before


def test_check_fails_on_unpatched_pins_and_diff_shows_them(tree):
    code, out = invoke("check", tree, "--select", "TP", "--output-format", "json", "--no-cache")
    data = json.loads(out)
    assert code == 1 and "requirements.txt" in data["files_changed"]
    assert {r["code"] for r in data["rules"] if r["patched"]} == {"TP001", "TP002", "TP003", "TP004", "TP005"}
    code, out = invoke("diff", tree, "--select", "TP001,TP005")
    assert code == 1 and '-xformers==0.0.28.post3\n+xformers==0.0.19; python_version < "3.11"\n' in out and "\n-kaolin==0.17.0" not in out


def test_a_new_pin_needing_newer_torch_fails_check_after_apply(tree):
    invoke("apply", tree, "-q")
    req = tree / "requirements.txt"
    req.write_bytes(req.read_bytes() + b"lightning==2.4.0\n")
    code, out = invoke("check", tree, "--output-format", "json", "--no-cache")
    sites = [s for s in json.loads(out)["sites"] if s["code"] == "TP100"]
    assert code == 1 and len(sites) == 1 and "torch<4.0,>=2.1.0" in sites[0]["message"]


def test_a_new_coupled_pin_is_drift_against_the_lock(tree, tmp_path):
    lock = tmp_path / "pins.lock"
    assert invoke("lock", tree, "--lock", lock, "--no-cache")[0] == 0
    assert invoke("check", tree, "--lock", lock, "--no-cache")[0] == 0
    inference = tree / "requirements.inference.txt"
    inference.write_bytes(inference.read_bytes() + b"xformers==0.0.29\n")
    code, out = invoke("check", tree, "--lock", lock, "--no-cache")
    assert code == 1 and "drift: TP001 requirements.inference.txt: 0 in the lock, 1 now" in out


def test_env_refuses_an_unpatched_tree_with_one_line(tree):
    result = CliRunner().invoke(main, ["env", str(tree)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "not patched for torch 2.0.0" in result.output and "apply" in result.output


def test_env_prints_the_ordered_plan_and_writes_the_constraints(tree):
    invoke("apply", tree, "-q")
    code, out = invoke("env", tree, "--python", "3.10", "--cuda", "11.8")
    assert code == 0
    titles = [line for line in out.splitlines() if line[:4] in {f"# {i}." for i in range(5)}]
    assert [t[2:4] for t in titles] == ["0.", "1.", "2.", "3.", "4."]
    constraints = tree / ".sam3d-codemod-constraints.txt"
    assert "torch==2.0.0\n" in constraints.read_text() and "numpy<2\n" in constraints.read_text()
    assert (f"pip install -c {constraints.resolve()} torch==2.0.0 torchvision==0.15.1 torchaudio==2.0.1"
            " --index-url https://download.pytorch.org/whl/cu118") in out
    assert f"-c {constraints.resolve()} -r {(tree / 'requirements.txt').resolve()}" in out
    build_lines = [line for line in out.splitlines() if "--no-build-isolation" in line]
    specs = [shlex.split(b)[-1] for b in build_lines]
    assert [re.split(r"[ @=]", s)[0] for s in specs] == ["kaolin", "gsplat", "flash-attn", "pytorch3d"]
    assert "flash-attn==2.5.8" in specs  # flash_attn 2.8.3 needs torch 2.2: the table's release for 2.0
    assert all("TORCH_CUDA_ARCH_LIST='7.0;7.5;8.0;8.6;8.9;9.0' FORCE_CUDA=1" in b for b in build_lines)
    assert "pytorch3d.git@75ebeeaea0908c5527e7b1e305fbc7681382db47" in out  # the tree's own commit is kept
    assert out.index("# 3.") < out.index("--no-build-isolation") < out.index("# 4.")
    script = tree / "plan.sh"
    script.write_text(out)
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0


def test_env_unknown_cuda_or_python_is_a_one_line_error(tree):
    invoke("apply", tree, "-q")
    for args, text in ((["--cuda", "12.1"], "no pin table for CUDA 12.1"), (["--python", "3.12"], "Python 3.12")):
        result = CliRunner().invoke(main, ["env", str(tree), *args])
        assert result.exit_code == 2 and result.output.count("\n") == 1 and text in result.output


def test_a_tree_without_pin_files_reports_as_before():
    code, out = invoke("check", SAMPLE, "--output-format", "json", "--no-cache", "--lock", ROOT / "fixtures" / "sample-tree.lock")
    data = json.loads(out)
    assert code == 0 and not any(s["code"].startswith("TP") for s in data["sites"])
    assert all(r["found"] == 0 for r in data["rules"] if r["code"].startswith("TP"))  # listed, like every code


def test_a_torch_without_a_pin_table_is_a_note_not_an_error(tree):
    code, out = invoke("check", tree, "--target-torch", "2.3", "--select", "TP", "--output-format", "json", "--no-cache")
    data = json.loads(out)
    assert code == 0 and not data["sites"]
    assert [n["message"] for n in data["notes"]] == ["no pin table for torch 2.3 (the table has: 2.0): pin files not checked"]


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory):
    venv = tmp_path_factory.mktemp("plan-check") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    return venv


@pytest.mark.parametrize("installed, status", [("2.0.0", 0), ("2.0.0+cu118", 0), ("2.5.1", 1)])
def test_the_plans_last_step_fails_when_a_step_replaced_torch(tree, bare_venv, installed, status):
    """Step 4 asks pip whether the installed torch meets the constraints (a stand-in dist-info here)."""
    invoke("apply", tree, "-q")
    out = invoke("env", tree)[1]
    check = out.split("# 4.", 1)[1].splitlines()[1]
    assert check.startswith('"$PY" -m pip install --dry-run --no-index')
    site = next(bare_venv.glob("lib/python*/site-packages"))
    for old in site.glob("torch-*.dist-info"):
        shutil.rmtree(old)
    info = site / f"torch-{installed}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: torch\nVersion: {installed}\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text("")
    proc = subprocess.run(["bash", "-c", check], env=dict(os.environ, PY=str(bare_venv / "bin" / "python")),
                          capture_output=True, text=True)
    assert proc.returncode == status, proc.stderr[-1000:]
    assert ("torch is no longer 2.0.0" in proc.stderr) == (status != 0)


def test_a_replayed_check_notices_an_edited_requirements_file(tree, tmp_path):
    """`check` piped to a file replays its last run while nothing it read changed: pin files count."""
    invoke("apply", tree, "-q")
    env = dict(os.environ, SAM3D_CODEMOD_CACHE=str(tmp_path / "cache"))
    env.pop("SAM3D_CODEMOD_NO_REPLAY", None)

    def check():
        proc = subprocess.run([sys.executable, "-m", "sam3d_codemod", "check", str(tree), "--select", "TP"],
                              capture_output=True, text=True, env=env, cwd=tmp_path)
        return proc.returncode

    time.sleep(0.25)  # past replay's racy window: the runs below may be recorded
    assert check() == 0 and check() == 0
    req = tree / "requirements.dev.txt"
    req.write_text(req.read_text() + "xformers==0.0.28.post3\n")
    assert check() == 1


def test_diff_of_the_pin_files_is_what_apply_writes_and_git_apply_takes_it(tree, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(tree, other)
    result = CliRunner().invoke(main, ["diff", str(tree), "--select", "TP", "-q"])
    patch = tmp_path / "pins.patch"
    patch.write_bytes(result.stdout_bytes)
    subprocess.run(["git", "apply", str(patch)], cwd=other, check=True)
    invoke("apply", tree, "--select", "TP", "-q")
    assert files(other) == {rel: data for rel, data in files(tree).items()}


def test_env_leaves_git_status_clean(tree):
    subprocess.run(["git", "init", "-q", str(tree)], check=True)
    subprocess.run(["git", "-C", str(tree), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(tree), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"], check=True)
    invoke("apply", tree, "-q")
    invoke("revert", tree)
    assert invoke("env", tree, "--cpu")[0] == 2  # reverted: unpatched again
    invoke("apply", tree, "-q")
    assert invoke("env", tree)[0] == 0 and (tree / ".sam3d-codemod-constraints.txt").is_file()
    invoke("revert", tree)
    status = subprocess.run(["git", "-C", str(tree), "status", "--porcelain"], capture_output=True, text=True).stdout
    assert status == ""


def test_pin_files_through_a_symlinked_folder_are_never_read_or_written(tree, tmp_path):
    """The tree is untrusted: a ``requirements/`` folder that links outside it is not followed."""
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "extra.txt"
    victim.write_text("torchaudio==2.5.1+cu121\n")
    (tree / "requirements").symlink_to(outside, target_is_directory=True)
    code, _ = invoke("apply", tree, "--select", "TP", "-q")
    assert code == 0
    assert victim.read_text() == "torchaudio==2.5.1+cu121\n"
    code, out = invoke("check", tree, "--select", "TP", "--output-format", "json", "--no-cache")
    assert "extra.txt" not in out


def test_target_cuda_from_the_config_and_the_command_line(tree, tmp_path):
    """`target-cuda` is a config key like `target-torch`; a CUDA the pin table lacks for the target
    torch is a one-line error, not pin files left unchecked behind a note."""
    config = tmp_path / "own.toml"
    default_code, default_out = invoke("check", tree, "--no-cache", "--isolated")
    config.write_text('[tool.sam3d-codemod]\ntarget-cuda = "11.8"\n')
    code, out = invoke("check", tree, "--no-cache", "--config", config)
    assert (code, out) == (default_code, default_out) and default_code == 1 and "TP002" in out
    config.write_text('[tool.sam3d-codemod]\ntarget-cuda = "12.1"\n')
    code, out = invoke("check", tree, "--no-cache", "--config", config)
    assert code == 2 and out == ("sam3d-codemod: error: --target-cuda 12.1: no pin table for CUDA 12.1 with torch 2.0 "
                                 "(the table has: 11.8)\n"), out
    code, out = invoke("check", tree, "--no-cache", "--config", config, "--target-cuda", "11.8")  # the command line wins
    assert (code, out) == (default_code, default_out)
    code, out = invoke("check", tree, "--no-cache", "--isolated", "--target-cuda", "cu118")
    assert code == 2 and out.count("\n") == 1 and "'cu118' is not a CUDA release written as a string X.Y" in out
    code, out = invoke("check", tree, "--no-cache", "--isolated", "--target-cuda", "12.1", "--target-torch", "2.4")
    assert code == 1 and "no pin table for torch 2.4" in out  # no table for that torch at all: the note, as before
