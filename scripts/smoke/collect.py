"""Merge reports into docs/gpu_results.json, the markdown tables and the stage-time plot."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

from scripts.smoke.constants import CORE_STAGES, STAGES
from scripts.smoke.parent import COUNT_OF, noise_floor


def _parse_worker_log(path):
    """{tag: [info dict of every run]} from a log of this script (the '[worker] run N: ... {...}' lines)."""
    import ast

    runs, tag = {}, None
    for line in Path(path).read_text(errors="replace").splitlines():
        m = re.match(r"=== (\S+): ATTN_BACKEND=", line)
        if m:
            tag = m.group(1)
            continue
        m = re.match(r"\[worker\] run \d+.*?(\{.*\})\s*$", line)
        if m and tag:
            runs.setdefault(tag, []).append(ast.literal_eval(m.group(1)))
    return runs


def _reverdict(entry, attn, log_runs):
    """Noise-aware verdicts for a report written before compare() had them (from its stored numbers)."""
    workers = entry["workers"]
    for name, res in workers.items():
        if "run_infos" not in res:
            tag = "%s-%s" % (name.replace("_", "-"), attn)
            if tag in log_runs:
                res["run_infos"] = log_runs[tag]
    values, counts = noise_floor(workers)
    entry["run_to_run"] = {"max_abs": values, "length_spread": counts}
    for cmp in entry["compare"].values():
        for k, e in cmp["outputs"].items():
            if "within_noise" in e:
                continue
            if "why" in e and e["why"].startswith("shape"):
                m = re.match(r"shape \((\d+), [^)]*\) vs \((\d+), ", e["why"])
                spread = counts.get(COUNT_OF.get(k, ""), 0)
                diff = abs(int(m.group(1)) - int(m.group(2))) if m else None
                e.update({"length_diff": diff, "run_to_run_length_spread": spread,
                          "within_noise": diff is not None and spread > 0 and diff <= 2 * spread})
            else:
                floor = values.get(k)
                e["run_to_run_max_abs"] = floor
                e["within_noise"] = e["equal"] or (floor is not None and e.get("max_abs", float("inf")) <= 2 * floor)
        for st, sv in cmp["stages"].items():
            keys = [k for k in cmp["outputs"] if k.startswith(st + "/")]
            sv["within_noise"] = all(cmp["outputs"][k]["within_noise"] for k in keys)
            floors = [cmp["outputs"][k].get("run_to_run_max_abs") for k in keys]
            floors = [f for f in floors if f is not None]
            sv["run_to_run_max_abs"] = max(floors) if floors else None
            sv["length_diffs"] = {k: cmp["outputs"][k]["length_diff"] for k in keys if "length_diff" in cmp["outputs"][k]}
            nums = [cmp["outputs"][k] for k in keys if "max_rel" in cmp["outputs"][k]]
            sv["max_abs"] = max((e["max_abs"] for e in nums), default=None)
            sv["max_rel"] = max((e["max_rel"] for e in nums), default=None)


def _verdict(sv):
    return ("bitwise" if sv.get("exact") else "allclose" if sv.get("equal") else
            "within run-to-run noise" if sv.get("within_noise") else "DIFFERENT")


def collect(args):
    """Merge device reports (``name=report.json[,log.txt]``) into one results file, with a summary and a plot."""
    sources = {}
    for spec in args.collect:
        name, _, paths = spec.partition("=")
        report_path, _, log_path = paths.partition(",")
        report = json.loads(Path(report_path).read_text())
        log_runs = _parse_worker_log(log_path) if log_path else {}
        for attn, entry in report.get("attn", {}).items():
            if entry.get("compare"):
                _reverdict(entry, attn, log_runs)
            # reports written before the fix hold the last stage's peak as the sample's: use the max
            for tt in entry.get("timing", {}).values():
                tt["peak_bytes"] = max(tt["stage_peak_bytes"].values())
            for res in entry.get("workers", {}).values():
                if res.get("runs"):
                    res["peak_bytes"] = max(max(r["stage_peak_bytes"].values()) for r in res["runs"])
        sources[name] = report
    summary = {"equality": {}, "timing": {}, "peak_memory_bytes": {}}
    for name, report in sources.items():
        for attn, entry in report.get("attn", {}).items():
            for cname, cmp in entry.get("compare", {}).items():
                summary["equality"].setdefault(name, {}).setdefault(attn, {})[cname] = {
                    st: {"verdict": _verdict(sv), "max_abs": sv.get("max_abs"), "max_rel": sv.get("max_rel"),
                         "run_to_run_max_abs": sv.get("run_to_run_max_abs"), "length_diffs": sv.get("length_diffs")}
                    for st, sv in cmp["stages"].items()}
            t = entry.get("timing", {})
            if "patched" in t and "unpatched" in t:
                rows = {}
                for st in list(STAGES) + ["total"]:
                    p, u = t["patched"]["median_ms"].get(st), t["unpatched"]["median_ms"].get(st)
                    if p is None or u is None:
                        continue
                    pm, um = t["patched"].get("min_ms", {}).get(st), t["unpatched"].get("min_ms", {}).get(st)
                    rows[st] = {"patched_ms": p, "unpatched_ms": u, "ratio": p / u,
                                "ratio_of_best": pm / um if pm and um else None,
                                "runs": [t["patched"].get("n_runs") or len(report["attn"][attn]["workers"]["patched"].get("runs", [])),
                                         t["unpatched"].get("n_runs") or len(report["attn"][attn]["workers"]["unpatched"].get("runs", []))]}
                summary["timing"].setdefault(name, {})[attn] = rows
                summary["peak_memory_bytes"].setdefault(name, {})[attn] = {
                    tree: dict(t[tree]["stage_peak_bytes"], sample=max(t[tree]["stage_peak_bytes"].values()))
                    for tree in ("patched", "unpatched")}
        if "flash_check_verdict" in report:
            fc = {"verdict": report["flash_check_verdict"]}
            for mode, res in report.get("flash_check", {}).items():
                f = res.get("flash_check", {})
                fc[mode] = {"cases": {k: {kk: vv for kk, vv in v.items() if kk in ("outcome", "message", "flags_inside", "flags_restored")}
                                      for k, v in f.get("cases", {}).items()},
                            **{k: v for k, v in f.items() if k.startswith("fallback_with_") or k == "compat_vs_native_max_abs_diff"}}
            summary["flash_check"] = fc
        if "helper_overhead" in report:
            summary["helper_overhead"] = report["helper_overhead"]
    # every patched/unpatched ratio measured, pooled (geometric mean) per stage
    pooled = {}
    for name, per_attn in summary["timing"].items():
        for attn, rows in per_attn.items():
            for st, row in rows.items():
                if st == "total" and not all(x in rows for x in CORE_STAGES):
                    continue  # a stage-1-only run's total is not the pipeline's
                pooled.setdefault(st, []).append(row["ratio"])
    summary["time_ratio_geomean_all_measurements"] = {
        st: {"geomean": math.exp(sum(math.log(x) for x in xs) / len(xs)), "min": min(xs), "max": max(xs), "n": len(xs)}
        for st, xs in pooled.items()}
    first = next(iter(sources.values()))
    any_worker = next((w for e in first.get("attn", {}).values() for w in e.get("workers", {}).values() if "torch" in w), {})
    summary["environment"] = {k: any_worker.get(k) for k in ("device_name", "torch", "python", "spconv", "stubbed", "params", "sizes", "info")}
    out = {"summary": summary, "sources": sources}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", args.out)
    if args.plot and args.plot_source in sources:
        plot_stage_times(sources[args.plot_source], args.plot, args.plot_source)
        print("wrote", args.plot)
    if args.plot_source in sources:
        print(markdown_tables(sources[args.plot_source]))
    return 0


def markdown_tables(report):
    """The per-stage table of docs/gpu.md for one report (one table per ATTN_BACKEND)."""
    def gib(b):
        return "%.2f GiB" % (b / 2 ** 30) if b else "-"

    lines = []
    for attn, entry in report["attn"].items():
        t = entry.get("timing", {})
        if "patched" not in t or "unpatched" not in t:
            continue
        cmp = entry.get("compare", {}).get("patched_vs_unpatched", {"stages": {}, "outputs": {}})
        n = tuple(t[tree].get("n_runs") or len(entry["workers"][tree].get("runs", [])) for tree in ("patched", "unpatched"))
        lines += ["", "ATTN_BACKEND=%s (median of %s patched / %s unpatched timed runs)" % (attn, n[0], n[1]), "",
                  "| stage | patched ms | unpatched ms | ratio | peak mem patched | peak mem unpatched | max abs diff (run-to-run) | outputs |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        for st in list(STAGES) + ["total"]:
            p, u = t["patched"]["median_ms"].get(st), t["unpatched"]["median_ms"].get(st)
            if p is None or u is None:
                continue
            if st == "total":
                pp, pu = t["patched"]["peak_bytes"], t["unpatched"]["peak_bytes"]
                diff, verdict = "", ""
            else:
                pp, pu = t["patched"]["stage_peak_bytes"].get(st), t["unpatched"]["stage_peak_bytes"].get(st)
                sv = cmp["stages"].get(st, {})
                if sv.get("length_diffs"):
                    spreads = {k: cmp["outputs"][k].get("run_to_run_length_spread") for k in sv["length_diffs"]}
                    diff = "; ".join("%s %+d rows (run-to-run spread %s)" % (k.split("/")[1], v, spreads[k])
                                     for k, v in sorted(sv["length_diffs"].items()) if k.endswith(("faces", "vertices")))
                elif sv.get("max_abs") is not None:
                    floor = sv.get("run_to_run_max_abs")
                    diff = "%.3g (%s)" % (sv["max_abs"], "%.3g" % floor if floor is not None else "-")
                else:
                    diff = "-"
                verdict = _verdict(sv) if sv else "-"
            lines.append("| %s | %.1f | %.1f | %.3f | %s | %s | %s | %s |" % (st, p, u, p / u, gib(pp), gib(pu), diff, verdict))
        for cname, c in entry.get("compare", {}).items():
            if cname == "patched_vs_unpatched":
                continue
            lines += ["", "%s: %s" % (cname, "; ".join(
                "%s %s%s" % (st, _verdict(sv), " (max abs %.3g)" % sv["max_abs"] if sv.get("max_abs") else "")
                for st, sv in c["stages"].items()))]
    return "\n".join(lines)


def plot_stage_times(report, path, label):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    attns = [a for a, e in report["attn"].items() if "patched" in e.get("timing", {}) and "unpatched" in e["timing"]]
    fig, axes = plt.subplots(1, len(attns), figsize=(6.5 * len(attns), 4.6), squeeze=False)
    for ax, attn in zip(axes[0], attns):
        t = report["attn"][attn]["timing"]
        stages = [st for st in STAGES if t["patched"]["median_ms"].get(st) is not None]
        xs = range(len(stages))
        for off, tree, color in ((-0.2, "unpatched", "#8c8c8c"), (0.2, "patched", "#1f77b4")):
            med = [t[tree]["median_ms"][st] for st in stages]
            runs = t[tree].get("all_ms") or []
            lo = [med[i] - min(r[st] for r in runs) if runs else 0 for i, st in enumerate(stages)]
            hi = [max(r[st] for r in runs) - med[i] if runs else 0 for i, st in enumerate(stages)]
            ax.bar([x + off for x in xs], med, width=0.4, color=color, label="%s (median, min-max)" % tree,
                   yerr=[lo, hi], capsize=3)
        for i, st in enumerate(stages):
            r = t["patched"]["median_ms"][st] / t["unpatched"]["median_ms"][st]
            ax.text(i, max(t["patched"]["median_ms"][st], t["unpatched"]["median_ms"][st]) * 1.35, "x%.3f" % r,
                    ha="center", fontsize=8)
        ax.set_yscale("log")
        ax.set_xticks(list(xs))
        ax.set_xticklabels(stages, rotation=15)
        ax.set_ylabel("wall time per sample, ms (log)")
        ax.set_title("ATTN_BACKEND=%s" % attn)
        ax.legend(fontsize=8, loc="upper right")
    fig.suptitle("SAM 3D Objects stack on one H200, random weights at released sizes: patched vs unpatched (%s)" % label,
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
