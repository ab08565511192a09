"""The report tooling (inference_e2e/report.py, run.py) on the committed H200 reports of issue 17:
pooling, the per-stage table and the whole-sample ratio recomputed from the raw worker results; the
attention-backend A/B and the helper-call lines on workers derived from them; the worker schedule."""
import copy
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from inference_e2e import report, run

DOCS = Path(__file__).resolve().parents[2] / "docs" / "gpu_inference_e2e"
SOURCES = [DOCS / name for name in ("report_PUF.json", "report_UP.json")]


def _pooled():
    reports = [json.loads(path.read_text()) for path in SOURCES]
    return {"workers": [w for r in reports for w in r["workers"]]}


def test_pooled_summary_matches_the_committed_one():
    summary = report.summarize(_pooled()["workers"])
    committed = json.loads((DOCS / "summary.json").read_text())["summary"]
    assert summary["whole_sample"]["ratio_P_over_U"] == committed["whole_sample"]["ratio_P_over_U"]
    assert len(summary["whole_sample"]["P"]["all_ms"]) == 5 and len(summary["whole_sample"]["U"]["all_ms"]) == 5
    assert summary["final_outputs_bitwise"] == {"P": True, "F": True}
    assert summary["helper_calls"] == {}  # these workers predate the counting


def test_every_computing_stage_is_bitwise_and_the_raising_one_is_marked():
    pooled = _pooled()
    pooled["summary"] = report.summarize_all(pooled["workers"])
    rows = {row["stage"]: row for row in pooled["summary"]["table"]}
    computing = [s for s in rows if s not in ("other", "layout_postopt")]
    assert len(computing) == 10
    assert all(rows[s]["P_bitwise"] and rows[s]["F_bitwise"] for s in computing)
    assert set(rows["layout_postopt"]["raised"]) == {"P", "U", "F"}
    table = report.markdown(pooled)
    assert "| layout_postopt |" in table and "raised in every tree" in table
    assert "| **whole sample** | 18717.1 | 19063.3 | 0.982 |" in table
    assert "ATTN_BACKEND" not in table  # one backend: the table as it always was
    assert pooled["summary"]["attention_pinned"] == {"torch_flash_attn": {"ran": ["torch_flash_attn"], "as_asked": True}}


def test_summary_marks_a_stage_that_differs():
    workers = _pooled()["workers"]
    for worker in workers:
        if worker["letter"] == "P":
            worker["result"]["runs"][0]["digests"]["slat_flow"] = ["0000:1"]
    rows = {row["stage"]: row for row in report.summarize(workers)["table"]}
    assert rows["slat_flow"]["P_bitwise"] is False and rows["slat_flow"]["F_bitwise"] is True


def _as_backend(workers, attn, dense, slower=1.0, changed_stage=None):
    """The committed workers as if they had run under ``attn`` (pinned to ``dense``), every timed
    stage ``slower`` times as long and, optionally, one stage's digest of the patched tree changed."""
    out = copy.deepcopy(workers)
    for w in out:
        w["attn"] = attn
        w["result"]["attention"]["dense"] = dense
        for i, r in enumerate(w["result"]["runs"]):
            r["times_s"] = {k: v * slower for k, v in r["times_s"].items()}
            if i == 0 and changed_stage and w["letter"] == "P":
                r["digests"][changed_stage] = ["ffff:1"]
    return out


def test_attention_ab_times_and_compares_each_tree_under_both_backends():
    base = _pooled()["workers"]
    workers = (_as_backend(base, "torch_flash_attn", "torch_flash_attn")
               + _as_backend(base, "sdpa", "sdpa", slower=1.5, changed_stage="ss_flow"))
    summary = report.summarize_all(workers)
    assert summary["attn"] == "torch_flash_attn" and set(summary["by_attn"]) == {"torch_flash_attn", "sdpa"}
    # the top level is the reference backend's summary, as a one-backend report has it
    assert summary["whole_sample"]["ratio_P_over_U"] == pytest.approx(18717.1 / 19063.3, abs=1e-4)
    ab = {block["tree"]: block for block in summary["attn_ab"]}
    assert set(ab) == {"P", "U", "F"} and all(b["A"] == "torch_flash_attn" and b["B"] == "sdpa" for b in ab.values())
    for block in ab.values():
        assert block["whole_sample"]["ratio"] == pytest.approx(1.5)
        assert all(row["ratio"] == pytest.approx(1.5) for row in block["stages"] if row["A_ms"] > 0)
    stages = {row["stage"]: row for row in ab["P"]["stages"]}
    assert stages["ss_flow"]["bitwise"] is False and stages["slat_flow"]["bitwise"] is True
    assert all(row.get("bitwise", True) for row in ab["U"]["stages"])
    assert summary["attention_pinned"]["sdpa"] == {"ran": ["sdpa"], "as_asked": True}
    text = report.markdown({"summary": summary})
    assert "ATTN_BACKEND=torch_flash_attn\n" in text and "ATTN_BACKEND=sdpa\n" in text
    assert "| patched (A torch_flash_attn, B sdpa) | ss_flow |" in text and "| 1.500 | differ |" in text


def test_a_backend_the_pipeline_overrode_is_flagged():
    base = _pooled()["workers"]
    workers = _as_backend(base, "torch_flash_attn", "torch_flash_attn") + _as_backend(base, "sdpa", "flash_attn")
    summary = report.summarize_all(workers)
    assert summary["attention_pinned"]["sdpa"] == {"ran": ["flash_attn"], "as_asked": False}
    assert "ATTN_BACKEND=sdpa (NOT AS ASKED: ran flash_attn)" in report.markdown({"summary": summary})


def test_helper_calls_and_their_estimated_cost_are_reported_per_patched_tree():
    workers = _pooled()["workers"]
    for w in workers:
        if w["letter"] in ("P", "F"):
            w["result"]["runs"][0]["helper_calls"] = {"tree_map": 14822, "sdpa_kernel": 4224, "missing": 3}
        if w["letter"] == "P":
            w["result"]["helper_cost_us"] = {"tree_map": {"added_us": 0.5}, "sdpa_kernel": {"added_us": -0.1}}
    summary = report.summarize(workers)
    assert set(summary["helper_calls"]) == {"P", "F"}
    assert summary["helper_calls"]["P"]["calls_per_sample"]["tree_map"] == 14822
    # 14822 x 0.5 us; a negative difference (below the timer's resolution) counts as zero
    assert summary["helper_calls"]["P"]["estimated_overhead_ms"] == pytest.approx(7.411)
    assert summary["helper_calls"]["F"]["estimated_overhead_ms"] is None
    text = report.markdown({"summary": summary})
    assert "helper calls in one sample (patched): tree_map 14822, sdpa_kernel 4224, missing 3; about 7.41 ms" in text


def test_schedule_runs_the_order_under_each_backend_balanced():
    assert run.schedule("U P F P U", ["torch_flash_attn"]) == [
        ("U", "torch_flash_attn"), ("P", "torch_flash_attn"), ("F", "torch_flash_attn"),
        ("P", "torch_flash_attn"), ("U", "torch_flash_attn")]
    jobs = run.schedule("U P", ["a", "b", "c"])
    assert jobs == [("U", "a"), ("P", "a"), ("P", "b"), ("U", "b"), ("U", "c"), ("P", "c")]


def test_worker_commands_pin_the_backend_and_time_helpers_once(tmp_path):
    args = SimpleNamespace(unpatched="U_TREE", patched="P_TREE", workspace="WS", image="I", mask="M", runs=2,
                           deps=None, deterministic=False, save_dir="SAVE", helper_cost=True)
    jobs = run.schedule("U P F", ["torch_flash_attn", "sdpa"])
    cmds = [run._worker_cmd(args, jobs, i, tmp_path) for i in range(len(jobs))]
    for (letter, attn), (cmd, env, _) in zip(jobs, cmds):
        assert cmd[cmd.index("--attn") + 1] == attn
        assert cmd[cmd.index("--tree") + 1] == ("U_TREE" if letter == "U" else "P_TREE")
        assert ("--kaolin-stand-in" in cmd) == (letter == "U")
        assert env.get("SAM3D_CODEMOD_FORCE_FALLBACK") == ("1" if letter == "F" else None)
    assert ["--helper-cost" in c for c, _, _ in cmds] == [False, True, False, False, False, False]
    assert ["--save-dir" in c for c, _, _ in cmds] == [True, True, True, False, False, False]


def test_from_rerenders_the_committed_reports(tmp_path, capsys):
    out, md = tmp_path / "summary.json", tmp_path / "table.md"
    assert run.main(["--from", *map(str, SOURCES), "--out", str(out), "--markdown", str(md)]) == 0
    summary = json.loads(out.read_text())["summary"]
    assert summary["whole_sample"]["ratio_P_over_U"] == pytest.approx(0.982, abs=5e-4)
    # byte for byte the table committed beside the reports, and what the command printed
    assert md.read_text() == (DOCS / "table.md").read_text()
    assert capsys.readouterr().out == md.read_text() + "\n"


def test_a_tree_whose_own_runs_disagree_is_marked():
    """Several workers of one tree must agree with each other; where they do not (a cold first
    process that autotuned other kernels), a difference from that tree is the machine's."""
    workers = _pooled()["workers"]
    assert report.summarize(workers)["repeatable"] == {"P": True, "U": True}  # the H200 runs: 2 P, 2 U workers
    first_u = next(w for w in workers if w["letter"] == "U")
    first_u["result"]["runs"][0]["digests"]["pointmap"] = ["0000:1"]
    first_u["result"]["runs"][0]["outputs"]["final_digests"] = {"coords": "0000"}
    pooled = {"workers": workers, "summary": report.summarize_all(workers)}
    rows = {row["stage"]: row for row in pooled["summary"]["table"]}
    assert rows["pointmap"]["U_repeatable"] is False and rows["ss_flow"]["U_repeatable"] is True
    assert pooled["summary"]["repeatable"] == {"P": True, "U": False}
    table = report.markdown(pooled)
    assert "| pointmap |" in table and "unpatched runs DISAGREE" in table.split("| pointmap |")[1].splitlines()[0]
    assert "unpatched runs DISAGREE" in table.split("| **whole sample** |")[1].splitlines()[0]


def test_a_warm_up_worker_is_never_compared():
    workers = _pooled()["workers"]
    before = report.summarize(workers)
    cold = copy.deepcopy(next(w for w in workers if w["letter"] == "U"))
    cold["warm_up"] = True
    cold["result"]["runs"][0]["digests"] = {k: ["0000:1"] for k in cold["result"]["runs"][0]["digests"]}
    cold["result"]["runs"][0]["times_s"] = {k: 100.0 for k in cold["result"]["runs"][0]["times_s"]}
    assert report.summarize([cold] + workers) == before


def test_the_warm_up_worker_runs_once_untimed_and_saves_nothing(tmp_path, monkeypatch):
    args = SimpleNamespace(unpatched="U_TREE", patched="P_TREE", workspace="WS", image="I", mask="M", runs=2,
                           deps=None, deterministic=True, save_dir="SAVE", helper_cost=True)
    seen = []
    monkeypatch.setattr(run.subprocess, "run", lambda cmd, **kw: seen.append((cmd, kw["env"]))
                        or SimpleNamespace(returncode=1, stderr="boom"))
    entry = run._warm_up(args, ("U", "sdpa"), tmp_path)
    (cmd, env), = seen
    assert cmd[cmd.index("--runs") + 1] == "0" and cmd[cmd.index("--attn") + 1] == "sdpa"
    assert cmd[cmd.index("--out") + 1] == str(tmp_path / "warm_up_U.json")
    assert "--save-dir" not in cmd and "--helper-cost" not in cmd and "--kaolin-stand-in" in cmd
    assert entry["warm_up"] is True and entry["letter"] == "U" and entry["result"] is None and entry["rc"] == 1
    assert args.runs == 2 and args.save_dir == "SAVE"  # the caller's settings are untouched
