#!/usr/bin/env python3
"""The whole inference, patched against unpatched, through upstream's own entry point (issue 17).

One command on any CUDA machine (or a CPU one with ``--size tiny``)::

    python -m inference_e2e.run --patched P --unpatched U --image I --mask M \\
        [--deps D] [--size full] [--order "U P F P U"] [--runs 2] [--deterministic] --out report.json

``P`` and ``U`` are full checkouts (``sam3d_objects/`` and ``notebook/inference.py``), ``U`` as
upstream ships it and ``P`` after ``sam3d-codemod apply``. It writes the checkpoint workspace once
(``make_workspace``), then runs one worker process per letter of ``--order`` (P patched,
U unpatched, F patched with ``SAM3D_CODEMOD_FORCE_FALLBACK=1``): each calls
``Inference(pipeline.yaml)(image, mask, seed=42, pointmap=...)`` once for the stage digests and
``--runs`` more times for the clock. The report holds every worker's raw result, the per-stage
table (median ms of the timed calls, ratio, peak memory, bitwise equality) and the whole-sample ratio.
``--markdown`` and ``--plot`` write the table and a bar chart from a report.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from inference_e2e.stages import STAGES  # noqa: E402

LABELS = list(dict.fromkeys(s[0] for s in STAGES)) + ["other"]
TREES = {"P": "patched", "U": "unpatched", "F": "patched, FORCE_FALLBACK=1"}


def _worker_cmd(args, letter, index, tmp):
    tree = args.unpatched if letter == "U" else args.patched
    out = tmp / ("worker_%d_%s.json" % (index, letter))
    cmd = [sys.executable, "-m", "inference_e2e.worker", "--tree", tree, "--workspace", args.workspace,
           "--image", args.image, "--mask", args.mask, "--out", str(out), "--runs", str(args.runs),
           "--tag", "%d_%s" % (index, letter), "--attn", args.attn]
    if args.deps:
        cmd += ["--deps", args.deps]
    if args.deterministic:
        cmd.append("--deterministic")
    if letter == "U":
        cmd.append("--kaolin-stand-in")
    if args.save_dir and index == min(i for i, x in enumerate(args.order.split()) if x == letter):
        cmd += ["--save-dir", args.save_dir]
    env = dict(os.environ)
    env.pop("SAM3D_CODEMOD_FORCE_FALLBACK", None)
    if letter == "F":
        env["SAM3D_CODEMOD_FORCE_FALLBACK"] = "1"
    if args.deterministic:
        env.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return cmd, env, out


def _exclusive(run):
    times = dict(run["times_s"])
    times["other"] = times.pop("total", 0.0)
    return times


def summarize(workers):
    """Per tree: median exclusive ms per stage over the timed calls; peaks; digests of the first call."""
    by_tree = {}
    for w in workers:
        if w.get("result") is None:
            continue
        entry = by_tree.setdefault(w["letter"], {"stage_ms": {}, "total_ms": [], "peak": {}, "digests": None,
                                                 "final": None})
        runs = w["result"]["runs"]
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
    return {"table": table, "whole_sample": whole, "final_outputs_bitwise": final_equal, "reference": ref_letter}


def markdown(report):
    gib = lambda b: "%.2f" % (b / 2 ** 30) if b else "-"  # noqa: E731
    lines = ["| stage | patched ms | unpatched ms | ratio | peak memory patched / unpatched GiB | equal |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    for row in report["summary"]["table"]:
        if "P_ms" not in row and "U_ms" not in row:
            continue
        eq = []
        if row.get("raised"):
            messages = sorted(set(row["raised"].values()))
            trees = [k for k in report["summary"]["whole_sample"] if k in TREES]
            where = "every tree" if len(row["raised"]) == len(trees) else "/".join(sorted(row["raised"]))
            eq.append("raised in %s: %s" % (where, "; ".join(m[:120] for m in messages)))
        for letter, name in (("P", "patched"), ("F", "FORCE_FALLBACK")):
            if row.get("raised"):
                break
            if letter + "_bitwise" in row:
                eq.append("%s %s" % (name, "bitwise" if row[letter + "_bitwise"] else "DIFFERS"))
        lines.append("| %s | %.1f | %.1f | %s | %s / %s | %s |" % (
            row["stage"], row.get("P_ms", float("nan")), row.get("U_ms", float("nan")),
            "%.3f" % row["ratio"] if "ratio" in row else "-", gib(row.get("P_peak_bytes")),
            gib(row.get("U_peak_bytes")), "; ".join(eq) or "-"))
    whole = report["summary"]["whole_sample"]
    if "P" in whole and "U" in whole:
        lines.append("| **whole sample** | %.1f | %.1f | %.3f | %s / %s | %s |" % (
            whole["P"]["median_ms"], whole["U"]["median_ms"], whole["ratio_P_over_U"],
            gib(whole["P"]["peak_bytes"]), gib(whole["U"]["peak_bytes"]),
            "; ".join("%s final outputs %s" % (TREES[k], "bitwise" if v else "DIFFER")
                      for k, v in report["summary"]["final_outputs_bitwise"].items())))
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patched")
    ap.add_argument("--unpatched")
    ap.add_argument("--image")
    ap.add_argument("--mask")
    ap.add_argument("--deps")
    ap.add_argument("--workspace", help="reuse this workspace (default: write one under --tmp)")
    ap.add_argument("--size", default="full")
    ap.add_argument("--order", default="U P F P U")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--attn", default="torch_flash_attn")
    ap.add_argument("--deterministic", action="store_true")
    ap.add_argument("--save-dir", help="first worker of each kind saves .ply/.glb/outputs here")
    ap.add_argument("--tmp", default="/tmp/inference_e2e")
    ap.add_argument("--deadline-s", type=float, default=0, help="start no worker after this many seconds")
    ap.add_argument("--out", help="report JSON")
    ap.add_argument("--markdown", help="with --from: write the table of a report")
    ap.add_argument("--plot", help="with --from: write the bar chart of a report")
    ap.add_argument("--from", dest="source", nargs="+",
                    help="existing reports (for --markdown / --plot); their workers are pooled")
    args = ap.parse_args(argv)
    if args.source:
        reports = [json.loads(Path(p).read_text()) for p in args.source]
        report = {"sources": args.source, "workers": [w for r in reports for w in r["workers"]]}
        report["summary"] = summarize(report["workers"])
        if args.out:
            Path(args.out).write_text(json.dumps({"sources": args.source, "summary": report["summary"]}, indent=1))
        if args.markdown:
            Path(args.markdown).write_text(markdown(report))
        if args.plot:
            plot(report, args.plot)
        print(markdown(report))
        return 0
    start = time.monotonic()
    tmp = Path(args.tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    report = {"args": vars(args), "workers": []}
    if not args.workspace:
        args.workspace = str(tmp / "workspace")
        cmd = [sys.executable, "-m", "inference_e2e.make_workspace", "--tree", args.patched, "--out",
               args.workspace, "--size", args.size] + (["--deps", args.deps] if args.deps else [])
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        print(proc.stdout[-2000:], proc.stderr[-3000:] if proc.returncode else "", flush=True)
        if proc.returncode:
            return 2
        report["workspace"] = json.loads(proc.stdout.strip().splitlines()[-1])
    for index, letter in enumerate(args.order.split()):
        if args.deadline_s and time.monotonic() - start > args.deadline_s:
            report["workers"].append({"letter": letter, "skipped": "deadline"})
            continue
        cmd, env, out = _worker_cmd(args, letter, index, tmp)
        t0 = time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
        entry = {"letter": letter, "tree": TREES[letter], "rc": proc.returncode,
                 "wall_s": round(time.monotonic() - t0, 1), "stderr_tail": proc.stderr[-1500:]}
        entry["result"] = json.loads(out.read_text()) if proc.returncode == 0 and out.exists() else None
        report["workers"].append(entry)
        print("worker %d %s rc=%d %.0fs" % (index, letter, proc.returncode, entry["wall_s"]), flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    report["summary"] = summarize(report["workers"])
    report["seconds"] = round(time.monotonic() - start, 1)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    print(markdown(report), flush=True)
    return 0 if all(w.get("rc") == 0 for w in report["workers"] if "skipped" not in w) else 1


if __name__ == "__main__":
    sys.exit(main())
