"""The report of ``inference_e2e.run``: per-stage table, whole-sample ratio, attention A/B, helper calls.

Everything here works on the JSON the workers wrote (``run --from`` re-renders committed reports with
no torch): per tree, the median exclusive milliseconds of each stage over the timed calls, the peak
memory, the stage digests of the first call and whether they are bitwise equal to the reference tree
(unpatched, or patched where the unpatched tree cannot run). With several ``--attn`` backends the
first is the reference of the A/B table: per tree and stage, the time under each backend and whether
the outputs are bitwise the same. Patched trees also report how often each ``_torch_compat`` helper
was called in one sample (``helpers.py``).
"""
from __future__ import annotations

import statistics

from inference_e2e.environment import attn_for_device
from inference_e2e.helpers import overhead_ms
from inference_e2e.stages import STAGES

LABELS = list(dict.fromkeys(s[0] for s in STAGES)) + ["other"]
TREES = {"P": "patched", "U": "unpatched", "F": "patched, FORCE_FALLBACK=1"}
DEFAULT_ATTN = "torch_flash_attn"


def _exclusive(run):
    times = dict(run["times_s"])
    times["other"] = times.pop("total", 0.0)
    return times


def summarize(workers):
    """Per tree: median exclusive ms per stage over the timed calls; peaks; digests of the first call."""
    by_tree = {}
    for w in workers:
        if w.get("result") is None or w.get("warm_up"):
            continue
        entry = by_tree.setdefault(w["letter"], {"stage_ms": {}, "total_ms": [], "peak": {}, "digests": None,
                                                 "final": None, "helper_calls": None, "helper_cost": None,
                                                 "every_digests": [], "every_final": []})
        runs = w["result"]["runs"]
        entry["every_digests"].append(runs[0]["digests"])
        entry["every_final"].append(runs[0]["outputs"]["final_digests"])
        timed = runs[1:] or runs
        for run in timed:
            times = _exclusive(run)
            for label, seconds in times.items():
                entry["stage_ms"].setdefault(label, []).append(seconds * 1000)
            entry["total_ms"].append(sum(times.values()) * 1000)
        for run in runs:
            for label, peak in run["peak_bytes"].items():
                label = "other" if label == "total" else label
                entry["peak"][label] = max(entry["peak"].get(label, 0), peak)
        for run in runs:
            for label, message in run.get("errors", {}).items():
                entry.setdefault("errors", {})[label] = message
        if entry["digests"] is None:
            entry["digests"] = runs[0]["digests"]
            entry["final"] = runs[0]["outputs"]["final_digests"]
        if entry["helper_calls"] is None and "helper_calls" in runs[0]:
            entry["helper_calls"] = runs[0]["helper_calls"]
        entry["helper_cost"] = entry["helper_cost"] or w["result"].get("helper_cost_us")
    table = []
    ref_letter = "U" if "U" in by_tree else "P"  # on a torch the unpatched tree cannot run, compare with P
    ref = by_tree.get(ref_letter)
    for label in LABELS:
        row = {"stage": label}
        for letter, entry in by_tree.items():
            if label in entry["stage_ms"]:
                row[letter + "_ms"] = statistics.median(entry["stage_ms"][label])
                row[letter + "_peak_bytes"] = entry["peak"].get(label, 0)
        for letter in ("P", "F"):
            entry = by_tree.get(letter)
            if entry is None or ref is None or letter == ref_letter:
                continue
            if label in (ref["digests"] or {}):
                row[letter + "_bitwise"] = entry["digests"].get(label) == ref["digests"].get(label)
        for letter, entry in by_tree.items():  # a tree run more than once: do its workers agree?
            if len(entry["every_digests"]) > 1 and label in entry["every_digests"][0]:
                row[letter + "_repeatable"] = all(d.get(label) == entry["every_digests"][0][label]
                                                  for d in entry["every_digests"])
        raised = {letter: e["errors"][label] for letter, e in by_tree.items() if label in e.get("errors", {})}
        if raised:
            row["raised"] = raised
        if "P_ms" in row and "U_ms" in row and row["U_ms"] > 0:
            row["ratio"] = row["P_ms"] / row["U_ms"]
        table.append(row)
    # the recorder resets the peak at every stage boundary, so the sample's peak is the largest stage peak
    whole = {letter: {"median_ms": statistics.median(e["total_ms"]), "all_ms": e["total_ms"],
                      "peak_bytes": max(e["peak"].values(), default=0)} for letter, e in by_tree.items()}
    if "P" in whole and "U" in whole:
        whole["ratio_P_over_U"] = whole["P"]["median_ms"] / whole["U"]["median_ms"]
    final_equal = {letter: (by_tree[letter]["final"] == ref["final"]) for letter in by_tree if ref and letter != ref_letter}
    helper_calls = {letter: {"calls_per_sample": e["helper_calls"], "cost_us": e["helper_cost"],
                             "estimated_overhead_ms": overhead_ms(e["helper_calls"], e["helper_cost"])}
                    for letter, e in by_tree.items() if e["helper_calls"] is not None}
    repeatable = {letter: all(f == e["every_final"][0] for f in e["every_final"])
                  for letter, e in by_tree.items() if len(e["every_final"]) > 1}
    return {"table": table, "whole_sample": whole, "final_outputs_bitwise": final_equal, "reference": ref_letter,
            "repeatable": repeatable,
            "digests": {letter: {"stages": e["digests"], "final": e["final"]} for letter, e in by_tree.items()},
            "helper_calls": helper_calls}


def attn_of(worker, default=DEFAULT_ATTN):
    """The backend a worker was asked to pin (reports written before the A/B have one for all)."""
    return worker.get("attn") or default


def summarize_all(workers, default_attn=DEFAULT_ATTN):
    """``summarize`` of the first backend's workers at the top level (the shape a one-backend report
    always had); with several backends also ``by_attn`` (each one's summary) and ``attn_ab``."""
    attns = list(dict.fromkeys(attn_of(w, default_attn) for w in workers))
    if not attns:
        return summarize([])
    by_attn = {a: summarize([w for w in workers if attn_of(w, default_attn) == a]) for a in attns}
    summary = dict(by_attn[attns[0]], attn=attns[0], attention_pinned=pinned(workers, default_attn))
    if len(attns) > 1:
        summary["by_attn"] = by_attn
        summary["attn_ab"] = attn_ab(by_attn)
    return summary


def pinned(workers, default_attn=DEFAULT_ATTN):
    """Per requested backend: the dense backends its workers really ran, and whether each is the one
    asked for (a CUDA-only backend on a CPU is expected to run as sdpa). A backend the pipeline
    overrode after all (``inference_pipeline`` sets flash_attn on A100/H100/H200) shows up here."""
    out = {}
    for w in workers:
        result = w.get("result") or {}
        attention = result.get("attention")
        if not attention:
            continue
        asked = attn_of(w, default_attn)
        device = "cpu" if result.get("device") == "cpu" else "cuda"
        entry = out.setdefault(asked, {"ran": [], "as_asked": True})
        if attention["dense"] not in entry["ran"]:
            entry["ran"].append(attention["dense"])
        entry["as_asked"] &= attention["dense"] == attn_for_device(asked, device)
    return out


def attn_ab(by_attn):
    """Each further backend B against the first, A, per tree: per stage and for the whole sample the
    median ms under each, B/A, and whether the stage's outputs are bitwise equal under both."""
    names = list(by_attn)
    a = names[0]
    out = []
    for b in names[1:]:
        sa, sb = by_attn[a], by_attn[b]
        for letter in TREES:
            if letter not in sa["digests"] or letter not in sb["digests"]:
                continue
            rows_a = {r["stage"]: r for r in sa["table"]}
            rows = []
            for row_b in sb["table"]:
                row_a = rows_a.get(row_b["stage"], {})
                key = letter + "_ms"
                if key not in row_a or key not in row_b:
                    continue
                row = {"stage": row_b["stage"], "A_ms": row_a[key], "B_ms": row_b[key],
                       "ratio": row_b[key] / row_a[key] if row_a[key] else None}
                da, db = sa["digests"][letter]["stages"] or {}, sb["digests"][letter]["stages"] or {}
                if row_b["stage"] in da and row_b["stage"] in db:
                    row["bitwise"] = da[row_b["stage"]] == db[row_b["stage"]]
                rows.append(row)
            wa, wb = sa["whole_sample"][letter]["median_ms"], sb["whole_sample"][letter]["median_ms"]
            out.append({"A": a, "B": b, "tree": letter, "stages": rows,
                        "whole_sample": {"A_ms": wa, "B_ms": wb, "ratio": wb / wa if wa else None},
                        "final_outputs_bitwise": sa["digests"][letter]["final"] == sb["digests"][letter]["final"]})
    return out


def markdown(report):
    """The per-stage table (one per backend with several ``--attn``), the A/B table, the helper calls."""
    summary = report["summary"]
    if "by_attn" not in summary:
        lines = [stage_table(summary)]
    else:
        lines = []
        for attn, sub in summary["by_attn"].items():
            ran = summary.get("attention_pinned", {}).get(attn, {})
            note = "" if ran.get("as_asked", True) else " (NOT AS ASKED: ran %s)" % ", ".join(ran["ran"])
            lines += ["ATTN_BACKEND=%s%s\n" % (attn, note), stage_table(sub)]
        lines.append(ab_table(summary["attn_ab"]))
    calls = summary.get("helper_calls") or {}
    for letter, entry in calls.items():
        counted = ", ".join("%s %d" % kv for kv in sorted(entry["calls_per_sample"].items(), key=lambda kv: -kv[1]))
        cost = entry.get("estimated_overhead_ms")
        lines.append("_torch_compat helper calls in one sample (%s): %s%s\n" % (
            TREES[letter], counted or "none", "; about %.2f ms host-side" % cost if cost is not None else ""))
    return "\n".join(lines)


def ab_table(ab):
    lines = ["| tree | stage | A ms | B ms | B/A | outputs |", "| --- | --- | ---: | ---: | ---: | --- |"]
    for block in ab:
        label = "%s (A %s, B %s)" % (TREES[block["tree"]], block["A"], block["B"])
        for row in block["stages"]:
            same = {True: "bitwise", False: "differ", None: "-"}[row.get("bitwise")]
            lines.append("| %s | %s | %.1f | %.1f | %s | %s |" % (
                label, row["stage"], row["A_ms"], row["B_ms"], "%.3f" % row["ratio"] if row["ratio"] else "-", same))
        whole = block["whole_sample"]
        lines.append("| %s | **whole sample** | %.1f | %.1f | %s | final outputs %s |" % (
            label, whole["A_ms"], whole["B_ms"], "%.3f" % whole["ratio"] if whole["ratio"] else "-",
            "bitwise" if block["final_outputs_bitwise"] else "differ"))
    return "\n".join(lines) + "\n"


def stage_table(summary):
    def gib(b):
        return "%.2f" % (b / 2 ** 30) if b else "-"

    lines = ["| stage | patched ms | unpatched ms | ratio | peak memory patched / unpatched GiB | equal |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    for row in summary["table"]:
        if "P_ms" not in row and "U_ms" not in row:
            continue
        eq = []
        if row.get("raised"):
            messages = sorted(set(row["raised"].values()))
            trees = [k for k in summary["whole_sample"] if k in TREES]
            where = "every tree" if len(row["raised"]) == len(trees) else "/".join(sorted(row["raised"]))
            eq.append("raised in %s: %s" % (where, "; ".join(m[:120] for m in messages)))
        for letter, name in (("P", "patched"), ("F", "FORCE_FALLBACK")):
            if row.get("raised"):
                break
            if letter + "_bitwise" in row:
                eq.append("%s %s" % (name, "bitwise" if row[letter + "_bitwise"] else "DIFFERS"))
        # a tree whose own runs disagree: a difference from it is the machine's, not the patch's
        eq += ["%s runs DISAGREE" % TREES[k] for k in "UPF" if row.get(k + "_repeatable") is False]
        lines.append("| %s | %.1f | %.1f | %s | %s / %s | %s |" % (
            row["stage"], row.get("P_ms", float("nan")), row.get("U_ms", float("nan")),
            "%.3f" % row["ratio"] if "ratio" in row else "-", gib(row.get("P_peak_bytes")),
            gib(row.get("U_peak_bytes")), "; ".join(eq) or "-"))
    whole = summary["whole_sample"]
    if "P" in whole and "U" in whole:
        lines.append("| **whole sample** | %.1f | %.1f | %.3f | %s / %s | %s |" % (
            whole["P"]["median_ms"], whole["U"]["median_ms"], whole["ratio_P_over_U"],
            gib(whole["P"]["peak_bytes"]), gib(whole["U"]["peak_bytes"]),
            "; ".join(["%s final outputs %s" % (TREES[k], "bitwise" if v else "DIFFER")
                       for k, v in summary["final_outputs_bitwise"].items()]
                      + ["%s runs DISAGREE" % TREES[k] for k, v in summary.get("repeatable", {}).items() if not v])))
    return "\n".join(lines) + "\n"


def plot(report, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["summary"]["table"] if "P_ms" in r and "U_ms" in r]
    fig, ax = plt.subplots(figsize=(9, 4))
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [r["U_ms"] for r in rows], 0.4, label="unpatched")
    ax.bar([x + 0.2 for x in xs], [r["P_ms"] for r in rows], 0.4, label="patched")
    ax.set_xticks(list(xs))
    ax.set_xticklabels([r["stage"] for r in rows], rotation=35, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("median ms (log)")
    whole = report["summary"]["whole_sample"]
    ax.set_title("Inference(...)(image, mask, seed=42, pointmap=...): whole sample patched/unpatched %.3f"
                 % whole.get("ratio_P_over_U", float("nan")))
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
