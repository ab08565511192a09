"""scripts/drift_corpus.py stands in for packages the torch env cannot have through verify's own
import stand-ins (``--stand-in NAME``, codemods/probe/vp_stand_ins.py, the project's one
placeholder finder), not through stub packages of its own."""
from scripts import drift_corpus


def test_autostub_names_reach_verify_as_stand_ins(tmp_path, monkeypatch):
    tree = tmp_path / "fork"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "__init__.py").write_text("")
    calls = []

    def fake_tool_json(*args):
        calls.append(args)
        if args[0] == "verify":
            return {"exit_code": 0, "summary": {"imports_ok": 1}, "imports": [], "checks": []}
        return {"exit_code": 0, "sites": [], "rules": [], "files_seen": 1, "files_changed": [], "errors": []}

    monkeypatch.setattr(drift_corpus, "tool_json", fake_tool_json)
    row = drift_corpus.measure(tree, "/env/bin/python", ["/stubs"], 60.0, ["bpy", "cumesh"])
    (verify,) = [c for c in calls if c[0] == "verify"]
    assert verify[2:] == ("--python", "/env/bin/python", "--sys-path", "/stubs",
                          "--stand-in", "bpy", "--stand-in", "cumesh")
    assert row["verify_exit"] == 0
    # without a python no verify runs, and no stand-in is asked for anywhere
    calls.clear()
    drift_corpus.measure(tree, None, [], 60.0, ["bpy"])
    assert calls and not any("--stand-in" in c for c in calls)

