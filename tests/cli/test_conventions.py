"""What a Ruff or Black user expects from the command line (issue 14), one test per convention."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sam3d_codemod.cli import config
from sam3d_codemod.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "fixtures" / "sample-tree"
CFG = "sam3d_objects/model/backbone/cfg.py"


def invoke(*args, input=None, env=None):
    result = CliRunner().invoke(main, [str(a) for a in args], input=input, env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def cli(*args, cwd=None, input=None, env=None):
    """The real console entry (stdin, TTY detection and exit codes as a user gets them)."""
    full_env = dict(os.environ, SAM3D_CODEMOD_NO_REPLAY="1")
    for k in ("NO_COLOR", "FORCE_COLOR", "GITHUB_WORKSPACE"):
        full_env.pop(k, None)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "sam3d_codemod", *map(str, args)], cwd=cwd, input=input,
                          capture_output=True, env=full_env)
    return proc.returncode, proc.stdout, proc.stderr.decode()


@pytest.fixture
def sample(tmp_path):
    dest = tmp_path / "sample-tree"
    shutil.copytree(SAMPLE, dest, ignore=shutil.ignore_patterns(".sam3d-codemod-cache"))
    return dest


def codes(out: str) -> set:
    return {s["code"] for s in json.loads(out)["sites"]} - {"TC100", "TC000"}


# ---------------------------------------------------------------- config (14.5, 12.4, 13.7, 13.9)

def test_pyproject_without_the_section_does_not_hide_the_parents(tmp_path):
    """Issue 12.4: a consumer repo's [tool.sam3d-codemod] reaches into the submodule, whose own
    pyproject.toml has no section."""
    consumer = tmp_path / "consumer"
    tree = consumer / "external" / "sam-3d-objects"
    shutil.copytree(SAMPLE, tree)
    (tree / "pyproject.toml").write_text('[project]\nname = "sam3d_objects"\n')
    (consumer / "pyproject.toml").write_text('[tool.sam3d-codemod]\nselect = ["TC007"]\n')
    code, out, _ = invoke("check", tree, "--output-format", "json")
    assert codes(out) == {"TC007"}
    code, out, err = invoke("check", tree, "-v", "--output-format", "json")
    assert f"config: {consumer / 'pyproject.toml'}" in err
    # a section inside the tree (upstream's) may only add checks (issue 21.4): its select adds a rule,
    # its ignore is ignored, with a note
    (tree / "pyproject.toml").write_text('[tool.sam3d-codemod]\nselect = ["TC005"]\nignore = ["TC007"]\n')
    code, out, err = invoke("check", tree, "--output-format", "json")
    assert codes(out) == {"TC005", "TC007"}
    assert "ignore ignored: the file is inside the tree being checked" in err


def test_config_option_and_isolated(sample, tmp_path):
    (sample / "pyproject.toml").write_text('[tool.sam3d-codemod]\nselect = ["TC005"]\n')
    other = tmp_path / "other.toml"
    other.write_text('[tool.sam3d-codemod]\nselect = ["TC007"]\n')
    assert codes(invoke("check", sample, "--config", other, "--output-format", "json")[1]) == {"TC007"}
    assert len(codes(invoke("check", sample, "--isolated", "--output-format", "json")[1])) > 5
    code, _, err = invoke("check", sample, "--config", tmp_path / "missing.toml")
    assert code == 2 and "no such file" in err
    (tmp_path / "empty.toml").write_text("[project]\n")
    code, _, err = invoke("check", sample, "--config", tmp_path / "empty.toml")
    assert code == 2 and "has no [tool.sam3d-codemod] table" in err


@pytest.mark.parametrize("body, message", [
    ('select = "TC005"', 'select: expected an array of strings, e.g. select = ["TC005"]; got a string'),
    ("select = 5", "select: expected an array of strings"),
    ('jobs = "many"', "jobs: expected an integer, got a string"),
    ("jobs = 0", "jobs: 0 is not in the range x>=1"),
    ('exclude = "pkg/a.py"', "exclude: expected an array of strings"),
    ("target-torch = 2.10", 'target-torch: 2.1 is a TOML float; quote it'),
    ('target-torch = "1.9"', "the supported torch releases are 2.0 to 2.13"),
    ("target-cuda = 11.8", 'target-cuda: 11.8 is a TOML float; quote it, e.g. target-cuda = "11.8"'),
    ('target-cuda = "eleven"', "target-cuda: 'eleven' is not a CUDA release written as a string X.Y"),
    ("max-file-size = true", "max-file-size: expected an integer, got a boolean"),
    ("bogus = 1", "unknown [tool.sam3d-codemod] keys: bogus"),
])
def test_config_values_are_type_checked(sample, body, message):
    (sample / "pyproject.toml").write_text(f"[tool.sam3d-codemod]\n{body}\n")
    code, out, err = invoke("check", sample)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("sam3d-codemod: error: ") and message in err, err
    assert "Traceback" not in err + out


@pytest.mark.parametrize("body, message", [("tool = 5", "`tool` must be a table, not an integer"),
                                           ("[tool]\nsam3d-codemod = 5", "must be a table, not an integer"),
                                           ("[tool.sam3d-codemod\n", "invalid TOML")])
def test_config_shapes_are_one_line_errors(sample, body, message):
    (sample / "pyproject.toml").write_text(body + "\n")
    code, _, err = invoke("check", sample)
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_precedence_select_replaces_exclude_replaces_extend_exclude_adds(sample):
    att = "sam3d_objects/model/backbone/attention/"
    (sample.parent / "pyproject.toml").write_text(f'[tool.sam3d-codemod]\nselect = ["TC005"]\nexclude = ["{att}"]\n')

    def paths(*args):
        code, out, _ = invoke("check", sample, "--output-format", "json", *args)
        return {(s["code"], s["path"]) for s in json.loads(out)["sites"] if s["code"] not in ("TC100", "TC000")}

    assert paths() == {("TC005", CFG)}  # config select and exclude
    assert {c for c, _ in paths("--select", "TC007")} == {"TC007"}  # --select replaces select
    assert ("TC005", att + "mot.py") in paths("--exclude", "nothing/")  # --exclude replaces exclude
    assert paths("--extend-exclude", CFG) == set()  # --extend-exclude adds to it
    (sample.parent / "pyproject.toml").write_text(f'[tool.sam3d-codemod]\nselect = ["TC005"]\nextend-exclude = ["{CFG}"]\n')
    assert paths("--exclude", att) == set()  # config extend-exclude adds to --exclude
    assert paths("--extend-exclude", att) == set()  # both extend-excludes count
    assert paths() == {("TC005", att + "mot.py")}


@pytest.mark.parametrize("value", ["banana", "1.9", "-1", "2.0.0.0.0", "3.0", "2.99", "2.4.0rc1"])
def test_bad_target_torch_is_a_one_line_usage_error(sample, value):
    for args in (["rules", "--target-torch", value], ["check", sample, "--target-torch", value]):
        code, out, err = invoke(*args)
        assert code == 2, (args, out, err)
        assert err.count("\n") == 1 and "Invalid value for '--target-torch'" in err and "Traceback" not in err


@pytest.mark.parametrize("value, canonical", [("2.0", "2.0"), ("2.0.1", "2.0"), ("2.10", "2.10"),
                                              ("2.1.0+cu118", "2.1"), ("2", "2.0")])
def test_target_torch_forms_accepted(value, canonical):
    assert config.TORCH_VERSION.convert(value, None, None) == canonical


def test_torch_range_matches_the_api_table():
    data = json.loads((ROOT / "codemods" / "data" / "torch_api.json").read_text())
    versions = [tuple(int(x) for x in v.split(".")) for v in data["versions"]]
    assert (min(versions), max(versions)) == (config.OLDEST_TORCH, config.NEWEST_TORCH)


def test_tomllib_fallback_to_tomli(sample):
    """Python 3.9/3.10 have no tomllib: the declared tomli backport is used (simulated here with
    tomllib hidden and tomli standing in; tests/test_lowest_python.py runs the real thing)."""
    (sample / "pyproject.toml").write_text('[tool.sam3d-codemod]\nselect = "TC005"\n')
    code = ("import sys, tomllib\n"
            "sys.modules['tomli'] = tomllib; sys.modules['tomllib'] = None\n"
            "from sam3d_codemod.cli import config\n"
            "from pathlib import Path\n"
            f"p = Path({str(sample / 'pyproject.toml')!r})\n"
            "print(config.find_config(p)[1])\n"
            "p.write_text('[tool.sam3d-codemod\\n')\n"
            "try:\n    config.find_config(p)\nexcept config.ConfigError as e:\n    print('ConfigError', e)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "{'select': 'TC005'}" in proc.stdout and "ConfigError" in proc.stdout and "invalid TOML" in proc.stdout


def test_pyproject_declares_tomli_for_old_pythons():
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'"tomli[^"]*;\s*python_version\s*<\s*.3\.11."', text)
    for dep in ("packaging", "platformdirs", "pathspec"):
        assert f'"{dep}' in text


# ---------------------------------------------------------------- single files and stdin (14.2, 14.3)

def _diff_sections(patch: bytes) -> dict:
    out = {}
    for part in re.split(rb"(?m)^(?=--- )", patch):
        m = re.search(rb"(?m)^\+\+\+ b/(\S+)", part)
        if m:
            out[m.group(1).decode()] = re.sub(rb"(?m)^diff --git .*\n(new file mode .*\n)?\Z", b"", part)
    return out


def test_single_files_get_the_whole_tree_rewrite(sample):
    subprocess.run(["git", "init", "-q", str(sample)], check=True)
    whole = _diff_sections(cli("diff", ".", "-q", cwd=sample)[1])
    # pre-commit's file list, relative to the repo; and one file given from elsewhere
    files = [CFG, "sam3d_objects/model/io.py"]
    listed = _diff_sections(cli("diff", *files, "-q", cwd=sample)[1])
    assert set(files) <= set(listed)
    for path, section in listed.items():
        assert section == whole[path], path  # same helper place, import form, paths
    one = _diff_sections(cli("diff", sample / CFG, "-q", cwd=sample.parent)[1])
    assert one[CFG] == whole[CFG] and "sam3d_objects/_torch_compat.py" in one
    # apply on the file list writes what the whole-tree apply writes
    copy = sample.parent / "copy"
    shutil.copytree(sample, copy)
    assert cli("apply", *files, "-q", cwd=sample)[0] == 0
    assert cli("apply", ".", "-q", cwd=copy)[0] == 0
    for rel in files + ["sam3d_objects/_torch_compat.py"]:
        assert (sample / rel).read_bytes() == (copy / rel).read_bytes(), rel


def test_stdin_mode(sample):
    subprocess.run(["git", "init", "-q", str(sample)], check=True)
    source = (sample / CFG).read_bytes()
    whole = _diff_sections(cli("diff", ".", "-q", cwd=sample)[1])
    code, out, err = cli("diff", "-", "--stdin-filename", CFG, "-q", cwd=sample, input=source)
    assert code == 1 and _diff_sections(out)[CFG] == whole[CFG]
    code, out, err = cli("check", "-", "--stdin-filename", CFG, "--output-format", "json", cwd=sample, input=source)
    assert code == 1 and {s["path"] for s in json.loads(out)["sites"]} == {CFG}
    # apply -: the rewrite on stdout, nothing written; the missing helper is named, exit 1
    code, out, err = cli("apply", "-", "--stdin-filename", CFG, cwd=sample, input=source)
    assert code == 1 and b"_torch_compat" in out and out != source
    assert "sam3d_objects/_torch_compat.py, which does not exist yet" in err
    assert (sample / CFG).read_bytes() == source and not (sample / "sam3d_objects/_torch_compat.py").exists()
    assert cli("apply", ".", "-q", cwd=sample)[0] == 0
    patched = (sample / CFG).read_bytes()
    assert cli("apply", "-", "--stdin-filename", CFG, "-q", cwd=sample, input=source)[:2] == (0, patched)
    assert cli("apply", "-", "--stdin-filename", CFG, "-q", cwd=sample, input=patched)[:2] == (0, patched)
    assert cli("check", "-", "--stdin-filename", CFG, "-q", cwd=sample, input=patched)[0] == 0
    # errors
    assert cli("check", "-", "x.py", cwd=sample, input=b"")[0] == 2
    assert cli("check", ".", "--stdin-filename", "a.py", cwd=sample)[0] == 2
    code, out, err = cli("check", "-", "--stdin-filename", "a.py", cwd=sample, input=b"def (:\n  pass\n")
    both = out.decode() + err
    assert code == 2 and "a.py" in both and "syntax error" in both
    code, _, err = cli("lock", "-", cwd=sample, input=b"")
    assert code == 2 and "not stdin" in err


# ---------------------------------------------------------------- annotations (14.4)

def test_github_and_sarif_paths_are_relative_to_the_repository(sample, tmp_path):
    repo = tmp_path / "repo"
    tree = repo / "external" / "sam-3d-objects"
    shutil.copytree(sample, tree)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    want = f"external/sam-3d-objects/{CFG}"
    for cwd in (repo, repo / "external"):
        code, out, _ = cli("check", tree, "--output-format", "github", cwd=cwd)
        assert code == 1 and f"file={want},line=" in out.decode()
    out = cli("check", tree, "--output-format", "github", cwd=tmp_path, env={"GITHUB_WORKSPACE": str(repo)})[1]
    assert f"file={want},line=" in out.decode()
    sarif = json.loads(cli("check", tree, "--output-format", "sarif", cwd=repo)[1])
    run = sarif["runs"][0]
    assert sarif["version"] == "2.1.0" and run["tool"]["driver"]["name"] == "sam3d-codemod"
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"] for loc in r.get("locations", [])}
    assert want in uris
    assert {r["level"] for r in run["results"]} <= {"error", "warning", "note"}
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} >= {"TC005", "TC100"}
    assert run["invocations"][0]["exitCode"] == 1


# ---------------------------------------------------------------- .gitignore (14.6)

def test_nested_gitignore_negation_and_info_exclude(tmp_path):
    repo = tmp_path / "repo"
    pkg = repo / "pkg"
    (pkg / "sub").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    body = "import torch\nx = torch.compile(f)\n"
    for rel in ("pkg/a.py", "pkg/b.py", "pkg/sub/c.py", "pkg/sub/keep.py", "pkg/sub/gen_x.py", "pkg/local.py"):
        (repo / rel).write_text(body)
    (repo / ".gitignore").write_text("b.py\n")
    (pkg / "sub" / ".gitignore").write_text("*.py\n!keep.py\n")
    (repo / ".git" / "info" / "exclude").write_text("local.py\n")
    expect = {"pkg/a.py", "pkg/sub/keep.py"}
    out = invoke("check", repo, "--output-format", "json", "--isolated")[1]
    assert {s["path"] for s in json.loads(out)["sites"] if s["code"] == "TC011"} == expect
    # git itself agrees
    listed = subprocess.run(["git", "-C", str(repo), "ls-files", "-co", "--exclude-standard", "*.py"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert set(listed) == expect
    # walking only the sub-tree still honours the .gitignore above it
    out = invoke("check", pkg, "--output-format", "json", "--isolated")[1]
    assert {s["path"] for s in json.loads(out)["sites"] if s["code"] == "TC011"} == {"a.py", "sub/keep.py"}


def test_global_excludes_file_below_info_exclude(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    body = "import torch\nx = torch.compile(f)\n"
    for rel in ("pkg/a.py", "pkg/scratch_1.py", "pkg/scratch_keep.py"):
        (repo / rel).write_text(body)
    (repo / ".git" / "info" / "exclude").write_text("!scratch_keep.py\n")  # overrides the global file

    def listed_by_git():
        out = subprocess.run(["git", "-C", str(repo), "ls-files", "-co", "--exclude-standard", "*.py"],
                             capture_output=True, text=True, check=True).stdout.split()
        return set(out)

    def checked():
        out = invoke("check", repo, "--output-format", "json", "--isolated")[1]
        return {s["path"] for s in json.loads(out)["sites"] if s["code"] == "TC011"}

    # the default location, $XDG_CONFIG_HOME/git/ignore
    xdg = tmp_path / "xdg"
    (xdg / "git").mkdir(parents=True)
    (xdg / "git" / "ignore").write_text("scratch_*.py\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    expect = {"pkg/a.py", "pkg/scratch_keep.py"}
    assert listed_by_git() == expect and checked() == expect
    # core.excludesFile wins over the default location
    other = tmp_path / "other-ignore"
    other.write_text("a.py\n")
    subprocess.run(["git", "-C", str(repo), "config", "core.excludesFile", str(other)], check=True)
    expect = {"pkg/scratch_1.py", "pkg/scratch_keep.py"}
    assert listed_by_git() == expect and checked() == expect


# ---------------------------------------------------------------- colour (14.7)

def test_color_flags_and_environment(sample):
    def diff(*extra, env=None):
        return cli("diff", sample, "-q", *extra, env=env)[1]

    assert b"\x1b[" not in diff()  # a pipe
    assert b"\x1b[" in diff("--color", "always")
    assert b"\x1b[" in diff(env={"FORCE_COLOR": "1"})
    assert b"\x1b[" not in diff(env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert b"\x1b[" in diff("--color", "always", env={"NO_COLOR": "1"})
    coloured, plain = diff("--color", "always"), diff("--color", "never")
    assert re.sub(rb"\x1b\[[0-9;]*m", b"", coloured) == plain
    for command in ("check", "apply"):
        target = sample if command == "check" else sample.parent / "c"
        if command == "apply":
            shutil.copytree(sample, target)
        out = cli(command, target, "--color", "always")[1]
        assert b"\x1b[" in out, command
        assert b"\x1b[" not in cli("check", sample, env={"FORCE_COLOR": "1", "NO_COLOR": "1"})[1]
    assert b"\x1b[" in cli("rules", "--color", "always")[1]
    assert b"\x1b[" not in cli("rules")[1] and b"\x1b[" not in cli("rules", env={"NO_COLOR": "1", "FORCE_COLOR": "1"})[1]
    assert b"\x1b[" in cli("rules", env={"FORCE_COLOR": "1"})[1]
    code, out, err = invoke("verify", "--help")
    assert "--color [auto|always|never]" in out


# ---------------------------------------------------------------- reports (14.10)

def test_statistics_show_fixes_and_verbose(sample):
    code, out, _ = cli("check", sample, "--statistics")
    lines = out.decode().splitlines()
    assert code == 1 and lines and all(re.match(r"\s*\d+\tTC\d{3}\t[a-z0-9-]+\t\(pending", line) for line in lines)
    counts = [int(line.split("\t")[0]) for line in lines]
    assert counts == sorted(counts, reverse=True)
    data = json.loads(cli("check", sample, "--statistics", "--output-format", "json")[1])
    full = json.loads(cli("check", sample, "--output-format", "json")[1])
    assert {d["code"]: d["count"] for d in data} == {r["code"]: r["found"] for r in full["rules"] if r["found"]}
    assert cli("check", sample, "--statistics", "--output-format", "github")[0] == 2
    err = cli("check", sample, "-v")[2]
    assert f"file: {CFG}: changed" in err
    # --show-fixes: apply lists what it patched
    copy = sample.parent / "copy"
    shutil.copytree(sample, copy)
    plain = cli("apply", sample)[1].decode()
    shown = cli("apply", copy, "--show-fixes")[1].decode()
    assert "TC005 " not in plain.split("sam3d-codemod apply")[0]
    assert re.search(r"(?m)^sam3d_objects/model/backbone/cfg\.py:\d+: TC005 ", shown)
    # -v on the tree commands: config, settings, files
    for command in ("check", "diff", "lock"):
        err = cli(command, copy, "-v", cwd=copy)[2]
        assert "config: none" in err and "settings: select=all" in err, command


# ---------------------------------------------------------------- cache root, docs

def test_user_cache_root_matches_platformdirs(monkeypatch, tmp_path):
    import platformdirs

    from sam3d_codemod.codemods.engine import user_cache

    monkeypatch.delenv("SAM3D_CODEMOD_CACHE", raising=False)
    for xdg in (None, str(tmp_path / "xdg"), "  "):
        if xdg is None:
            monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        else:
            monkeypatch.setenv("XDG_CACHE_HOME", xdg)
        assert user_cache.root() == platformdirs.user_cache_dir("sam3d-codemod", appauthor=False)
    monkeypatch.setenv("SAM3D_CODEMOD_CACHE", str(tmp_path / "override"))
    assert user_cache.root() == str(tmp_path / "override")


def _help_options(command: str) -> set:
    out = invoke(command, "--help")[1]
    return {m for m in re.findall(r"(?m)^\s+(?:-\w, )?(--[a-z-]+)", out)} - {"--help"}


def test_option_table_matches_help():
    """docs/usage.md's table (the README links it) lists every option of every command."""
    readme = (ROOT / "docs" / "usage.md").read_text()
    section = readme.split("## Options\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"(?m)^\| `([^`]+)`[^|]*\| ([^|]*)\|", section)
    documented = {}
    for option, commands in rows:
        documented[option.split()[0].split("/")[0]] = {c.strip() for c in commands.split(",")}
    actual = {}
    for command in ("apply", "diff", "check", "lock"):
        for option in _help_options(command):
            actual.setdefault(option, set()).add(command)
    assert {o: documented.get(o) for o in actual} == actual
    assert set(documented) == set(actual)
    # every config key is documented beside its option
    for key in config.KEYS:
        assert f"`{key}`" in section, key


@pytest.mark.parametrize("args, message", [
    (["check"], "Missing argument 'PATHS...'"),
    (["chek", "."], "No such command 'chek'"),
    (["check", ".", "--jobs", "0"], "Invalid value for '-j' / '--jobs'"),
    (["check", ".", "--output-format", "xml"], "Invalid value for '--output-format'"),
    (["check", ".", "--bogus"], "--bogus"),
])
def test_usage_errors_are_one_line_exit_2(args, message, tmp_path):
    code, out, err = cli(*args, cwd=tmp_path)
    assert code == 2 and err.count("\n") == 1 and err.startswith("sam3d-codemod: error: ") and message in err, err
    assert "--help" in err  # where to look next, on the same line


def test_bare_command_and_version_behave_as_click_does(tmp_path):
    code, out, err = cli(cwd=tmp_path)
    assert code == 2 and "Usage: " in err and "apply PATH" in err
    code, out, err = cli("--version", cwd=tmp_path)
    assert code == 0 and b"sam3d-codemod" in out
    code, out, err = cli("check", "--help", cwd=tmp_path)
    assert code == 0 and b"--stdin-filename" in out
