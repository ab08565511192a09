"""The issue-17 report tooling (inference_e2e/run.py) on the committed H200 reports: pooling,
the per-stage table and the whole-sample ratio are recomputed from the raw worker results."""
import json
from pathlib import Path

from inference_e2e import run

DOCS = Path(__file__).resolve().parents[2] / "docs" / "gpu_inference_e2e"


def _pooled():
    reports = [json.loads((DOCS / name).read_text()) for name in ("report_PUF.json", "report_UP.json")]
    return {"workers": [w for r in reports for w in r["workers"]]}


def test_pooled_summary_matches_the_committed_one():
    report = _pooled()
    summary = run.summarize(report["workers"])
    committed = json.loads((DOCS / "summary.json").read_text())["summary"]
    assert summary["whole_sample"]["ratio_P_over_U"] == committed["whole_sample"]["ratio_P_over_U"]
    assert len(summary["whole_sample"]["P"]["all_ms"]) == 5 and len(summary["whole_sample"]["U"]["all_ms"]) == 5
    assert summary["final_outputs_bitwise"] == {"P": True, "F": True}


def test_every_computing_stage_is_bitwise_and_the_raising_one_is_marked():
    report = _pooled()
    report["summary"] = run.summarize(report["workers"])
    rows = {row["stage"]: row for row in report["summary"]["table"]}
    computing = [s for s in rows if s not in ("other", "layout_postopt")]
    assert len(computing) == 10
    assert all(rows[s]["P_bitwise"] and rows[s]["F_bitwise"] for s in computing)
    assert set(rows["layout_postopt"]["raised"]) == {"P", "U", "F"}
    table = run.markdown(report)
    assert "| layout_postopt |" in table and "raised in every tree" in table
    assert "| **whole sample** | 18717.1 | 19063.3 | 0.982 |" in table


def test_summary_marks_a_stage_that_differs():
    report = _pooled()
    for worker in report["workers"]:
        if worker["letter"] == "P":
            worker["result"]["runs"][0]["digests"]["slat_flow"] = ["0000:1"]
    rows = {row["stage"]: row for row in run.summarize(report["workers"])["table"]}
    assert rows["slat_flow"]["P_bitwise"] is False and rows["slat_flow"]["F_bitwise"] is True
