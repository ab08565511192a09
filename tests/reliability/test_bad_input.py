"""Bad input: one line naming the file and the cause, the run goes on with the other files, exit 2."""
import codecs
import os
import re

import pytest

from .helpers import IS_ROOT, PATCHABLE, PATCHED, cli, invoke

TRIGGER = "y = x.index_add_(0, i, s)\n"  # makes the pre-filter send the file to the parser


def _tree(tmp_path, bad_name: str, bad: bytes):
    root = tmp_path / "t"
    root.mkdir()
    (root / "a_good.py").write_text(PATCHABLE)
    (root / bad_name).write_bytes(bad)
    (root / "z_good.py").write_text(PATCHABLE)
    return root


def _error_lines(out: str, name: str):
    return [line for line in out.splitlines() if line.startswith("error") and name in line]


def _run_and_check(tmp_path, bad_name, bad, cause):
    root = _tree(tmp_path, bad_name, bad)
    code, out = invoke("apply", root)
    assert code == 2, out
    lines = _error_lines(out, bad_name)
    assert len(lines) == 1, out  # exactly one line for the file
    assert re.search(cause, lines[0]), lines[0]
    assert (root / bad_name).read_bytes() == bad  # never touched
    assert (root / "a_good.py").read_text() == PATCHED  # the others still done
    assert (root / "z_good.py").read_text() == PATCHED
    return lines[0]


@pytest.mark.parametrize("name,bad,cause", [
    ("syntax.py", b"import torch\ndef f(:\n    " + TRIGGER.encode(), r"syntax error at line \d"),
    ("py2.py", b"import torch\nprint \"x\"\n" + TRIGGER.encode(), r"syntax error at line 2"),
    ("py2_exec.py", b"exec \"import torch\"\n" + TRIGGER.encode(), r"syntax error at line 1"),
    ("indent.py", b"import torch\n  " + TRIGGER.encode() + b" z = 1\n", r"syntax error"),
    ("nul.py", b"import torch\n" + TRIGGER.encode() + b"x = '\0'\n", r"NUL bytes"),
    ("undecodable.py", b"import torch\n# caf\xe9\n" + TRIGGER.encode(), r"cannot decode as utf-8 \(line 2"),
    ("bad_cookie.py", b"# coding: no-such-codec\nimport torch\n" + TRIGGER.encode(), r"encoding"),
    ("latin1_without_cookie.py", "import torch\n# \xe0\xe9\n".encode("latin-1") + TRIGGER.encode(), r"cannot decode as utf-8"),
    ("utf16.py", codecs.BOM_UTF16_LE + ("import torch\n" + TRIGGER).encode("utf-16-le"), r"NUL bytes|decode"),
    ("bom_and_latin1_cookie.py", codecs.BOM_UTF8 + b"# coding: latin-1\n" + TRIGGER.encode(), r"encoding"),
])
def test_bad_file_reported_run_continues(tmp_path, name, bad, cause):
    _run_and_check(tmp_path, name, bad, cause)


def test_bad_file_in_check_and_diff_too(tmp_path):
    root = _tree(tmp_path, "bad.py", b"import torch\nprint \"x\"\n" + TRIGGER.encode())
    for command in ("check", "diff"):
        code, out = invoke(command, root)
        assert code == 2, out
        assert len(_error_lines(out, "bad.py")) == 1, out


def test_errors_with_quiet_and_json(tmp_path):
    import json

    root = _tree(tmp_path, "bad.py", b"\0" + TRIGGER.encode())
    code, out = invoke("check", root, "-q")
    assert code == 2
    assert _error_lines(out, "bad.py")
    code, out = invoke("check", root, "--output-format", "json")
    assert code == 2
    data = json.loads(out)
    assert [e["path"] for e in data["errors"]] == ["bad.py"]


def test_rich_markup_in_file_name_is_printed_verbatim(tmp_path):
    name = "[red]odd[bold].py"
    line = _run_and_check(tmp_path, name, b"\0", r"NUL bytes")
    assert name in line


def _unreadable(monkeypatch, path):
    """Root reads any file whatever its mode: simulate EACCES for this one path."""
    real_open = os.open

    def fake_open(file, *a, **kw):
        if os.fspath(file) == os.fspath(path):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *a, **kw)

    monkeypatch.setattr(os, "open", fake_open)  # fileio reads through os.open (non-blocking, fstat-checked)


def test_unreadable_file(tmp_path, monkeypatch):
    root = _tree(tmp_path, "secret.py", PATCHABLE.encode())
    os.chmod(root / "secret.py", 0o000)
    if IS_ROOT:
        _unreadable(monkeypatch, root / "secret.py")
    code, out = invoke("apply", root, "--no-cache")
    os.chmod(root / "secret.py", 0o644)
    assert code == 2, out
    lines = _error_lines(out, "secret.py")
    assert len(lines) == 1 and "not readable (permission denied)" in lines[0]
    assert (root / "secret.py").read_text() == PATCHABLE
    assert (root / "a_good.py").read_text() == PATCHED


@pytest.mark.skipif(IS_ROOT, reason="root reads a chmod-000 file; test_unreadable_file simulates it instead")
def test_unreadable_file_real_chmod(tmp_path):
    root = _tree(tmp_path, "secret.py", PATCHABLE.encode())
    os.chmod(root / "secret.py", 0o000)
    try:
        r = cli("apply", root, "--no-cache")
    finally:
        os.chmod(root / "secret.py", 0o644)
    assert r.returncode == 2
    assert b"secret.py: not readable" in r.stdout + r.stderr


def test_read_only_file_on_apply_reported_even_as_root(tmp_path):
    root = _tree(tmp_path, "ro.py", PATCHABLE.encode())
    os.chmod(root / "ro.py", 0o444)
    code, out = invoke("apply", root)
    assert code == 2, out
    lines = _error_lines(out, "ro.py")
    assert len(lines) == 1 and "read-only" in lines[0], out
    assert (root / "ro.py").read_text() == PATCHABLE
    assert oct(os.stat(root / "ro.py").st_mode & 0o777) == oct(0o444)
    assert (root / "a_good.py").read_text() == PATCHED
    # diff and check do not write, so a read-only file is not an error there
    code, out = invoke("check", root)
    assert code == 1, out


def test_file_over_max_size(tmp_path):
    big = ("import torch\n" + TRIGGER + ("# " + "x" * 100 + "\n") * 60).encode()
    assert len(big) > 5000
    root = _tree(tmp_path, "big.py", big)
    code, out = invoke("apply", root, "--max-file-size", "5000")
    assert code == 2, out
    lines = _error_lines(out, "big.py")
    assert len(lines) == 1 and "over the 5000 bytes limit" in lines[0] and "--max-file-size" in lines[0], lines


def test_file_over_default_max_size(tmp_path):
    big = b"import torch\n" + TRIGGER.encode() + b"#" * (4 * 1024 * 1024) + b"\n"
    root = _tree(tmp_path, "big.py", big)
    code, out = invoke("apply", root)
    assert code == 2
    assert re.search(r"big\.py: file is 4\.2 MB, over the 4\.2 MB limit", out), out


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs")
def test_fifo_named_py_does_not_hang(tmp_path):
    root = _tree(tmp_path, "pipe.py", b"")
    (root / "pipe.py").unlink()
    os.mkfifo(root / "pipe.py")
    r = cli("apply", root, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert b"pipe.py: not a regular file" in r.stdout + r.stderr
    assert (root / "a_good.py").read_text() == PATCHED


def test_symlink_out_of_tree_never_followed_or_written(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.py").write_text(PATCHABLE)
    (outside / "pkg").mkdir()
    (outside / "pkg" / "deep.py").write_text(PATCHABLE)
    root = tmp_path / "t"
    root.mkdir()
    (root / "link.py").symlink_to(outside / "victim.py")
    (root / "linkdir").symlink_to(outside / "pkg", target_is_directory=True)
    (root / "rel.py").symlink_to("../outside/victim.py")
    (root / "own.py").write_text(PATCHABLE)
    code, out = invoke("apply", root)
    assert code == 0, out
    assert (outside / "victim.py").read_text() == PATCHABLE
    assert (outside / "pkg" / "deep.py").read_text() == PATCHABLE
    assert (root / "link.py").is_symlink() and (root / "rel.py").is_symlink()
    assert (root / "own.py").read_text() == PATCHED


def test_symlink_inside_tree_processed_once_and_link_kept(tmp_path):
    root = tmp_path / "t"
    root.mkdir()
    (root / "zz_real.py").write_text(PATCHABLE)
    (root / "aa_link.py").symlink_to("zz_real.py")  # sorts first: must not replace the link with a copy
    (root / "sub").mkdir()
    (root / "sub" / "other.py").symlink_to("../zz_real.py")
    code, out = invoke("apply", root, "--output-format", "json")
    assert code == 0, out
    import json

    data = json.loads(out)
    patched = [s for s in data["sites"] if s["status"] == "patched"]
    assert len(patched) == 1, patched  # one real file, one site
    assert (root / "aa_link.py").is_symlink() and os.readlink(root / "aa_link.py") == "zz_real.py"
    assert (root / "sub" / "other.py").is_symlink()
    assert (root / "zz_real.py").read_text() == PATCHED


def test_broken_symlink_reported(tmp_path):
    root = _tree(tmp_path, "ok.py", PATCHABLE.encode())
    (root / "dangling.py").symlink_to("nowhere.py")
    code, out = invoke("apply", root)
    assert code == 2, out
    assert _error_lines(out, "dangling.py"), out
    assert (root / "a_good.py").read_text() == PATCHED


@pytest.mark.parametrize("command", ["apply", "diff", "check"])
def test_bad_paths_exit_2(tmp_path, command):
    (tmp_path / "notes.txt").write_text("hi\n")
    for args in ([tmp_path / "missing"], [tmp_path / "notes.txt"], [tmp_path, tmp_path / "missing"]):
        code, out = invoke(command, *args)
        assert code == 2, (args, out)
        assert "sam3d-codemod: error:" in out and ("no such file" in out or "not a directory or .py file" in out), out
    assert not (tmp_path / ".sam3d-codemod-apply.lock").exists()


def test_single_file_path_works(tmp_path):
    f = tmp_path / "one.py"
    f.write_text(PATCHABLE)
    code, out = invoke("apply", f, "-q")
    assert code == 0, out
    assert f.read_text() == PATCHED


def test_corrupt_result_cache_is_ignored(tmp_path):
    root = tmp_path / "t"
    root.mkdir()
    (root / "m.py").write_text(PATCHABLE)
    code, out = invoke("check", root)  # warm the cache
    assert code == 1, out
    caches = list((root / ".sam3d-codemod-cache").glob("results-*.json"))
    assert caches
    for garbage in (b"{not json", b"[]", b'{"m.py": 1}', b'{"m.py": {"stat": [1]}}', b"\xff\xfe"):
        for c in caches:
            c.write_bytes(garbage)
        code, out = invoke("check", root)
        assert code == 1, (garbage, out)
    code, out = invoke("apply", root, "-q")
    assert code == 0, out
    assert (root / "m.py").read_text() == PATCHED


def test_file_edited_during_the_run_is_not_overwritten(tmp_path, monkeypatch):
    from sam3d_codemod.cli import runner

    root = _tree(tmp_path, "edited.py", PATCHABLE.encode())
    real = runner._run_config_rules

    def edit_then_continue(*a, **kw):  # runs after the transforms, before the writes
        (root / "edited.py").write_text(PATCHABLE + "# the user's edit\n")
        return real(*a, **kw)

    monkeypatch.setattr(runner, "_run_config_rules", edit_then_continue)
    code, out = invoke("apply", root, "-j", "1")
    assert code == 2, out
    lines = _error_lines(out, "edited.py")
    assert len(lines) == 1 and "changed on disk" in lines[0], out
    assert (root / "edited.py").read_text() == PATCHABLE + "# the user's edit\n"
    assert (root / "a_good.py").read_text() == PATCHED


def test_unexpected_exception_in_a_rule_is_one_file_error(tmp_path, monkeypatch):
    """A bug in one rule on one file must not lose the run: that file is an error, the rest is done."""
    from sam3d_codemod.codemods.engine import transform as engine

    root = _tree(tmp_path, "boom.py", PATCHABLE.encode())
    real = engine.transform_source

    def flaky(text, rules, path, *a, **kw):
        if path.endswith("boom.py"):
            raise RuntimeError("rule exploded")
        return real(text, rules, path, *a, **kw)

    monkeypatch.setattr(engine, "transform_source", flaky)
    code, out = invoke("apply", root, "-j", "1", "--no-cache")
    assert code == 2, out
    lines = _error_lines(out, "boom.py")
    assert len(lines) == 1 and "RuntimeError: rule exploded" in lines[0], out
    assert (root / "boom.py").read_text() == PATCHABLE
    assert (root / "a_good.py").read_text() == PATCHED
