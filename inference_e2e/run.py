#!/usr/bin/env python3
"""The whole inference, patched against unpatched, through upstream's own entry point (issue 17).

One command on any CUDA machine (or a CPU one with ``--size tiny``)::

    python -m inference_e2e.run --patched P --unpatched U --image I --mask M \\
        [--deps D] [--size full] [--order "U P F P U"] [--runs 2] [--deterministic] \\
        [--attn torch_flash_attn,sdpa] [--helper-cost] [--warm-up] --out report.json

``P`` and ``U`` are full checkouts (``sam3d_objects/`` and ``notebook/inference.py``), ``U`` as
upstream ships it and ``P`` after ``sam3d-codemod apply``. It writes the checkpoint workspace once
(``make_workspace``), then runs one worker process per letter of ``--order`` (P patched,
U unpatched, F patched with ``SAM3D_CODEMOD_FORCE_FALLBACK=1``): each calls
``Inference(pipeline.yaml)(image, mask, seed=42, pointmap=...)`` once for the stage digests and the
``_torch_compat`` helper-call counts, and ``--runs`` more times for the clock. With several
``--attn`` backends the whole order runs under each, reversed for every second one (A B B A), so a
drift of the machine's speed favours neither; the first backend is the A of the A/B table.
``--helper-cost`` times each helper against its native call in the first patched worker (torch 2.3+).
``--warm-up`` first runs one worker of the order's first tree that no comparison uses: a fresh
machine's first process compiles and autotunes kernels, and may pick other ones than later processes.
The report (``report.py``) holds every worker's raw result, the per-stage table (median ms of the
timed calls, ratio, peak memory, bitwise equality), the whole-sample ratio, the A/B and the helper
calls. ``--from`` with ``--markdown`` / ``--plot`` re-renders existing reports without torch.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from inference_e2e.report import TREES, markdown, plot, summarize_all  # noqa: E402


def schedule(order, attns):
    """(letter, backend) per worker: the whole ``order`` under each backend, reversed for every
    second backend (A B B A), as the old smoke test balanced its two backends."""
    letters = order.split()
    jobs = []
    for i, attn in enumerate(attns):
        jobs += [(letter, attn) for letter in (letters if i % 2 == 0 else letters[::-1])]
    return jobs


def _worker_cmd(args, jobs, index, tmp):
    letter, attn = jobs[index]
    tree = args.unpatched if letter == "U" else args.patched
    out = tmp / ("worker_%d_%s.json" % (index, letter))
    cmd = [sys.executable, "-m", "inference_e2e.worker", "--tree", tree, "--workspace", args.workspace,
           "--image", args.image, "--mask", args.mask, "--out", str(out), "--runs", str(args.runs),
           "--tag", "%d_%s" % (index, letter), "--attn", attn]
    if args.deps:
        cmd += ["--deps", args.deps]
    if args.deterministic:
        cmd.append("--deterministic")
    if letter == "U":
        cmd.append("--kaolin-stand-in")
    first = min(i for i, job in enumerate(jobs) if job[0] == letter)  # one of each kind is enough
    if args.save_dir and index == first:
        cmd += ["--save-dir", args.save_dir]
    if args.helper_cost and letter == "P" and index == first:
        cmd.append("--helper-cost")
    env = dict(os.environ)
    env.pop("SAM3D_CODEMOD_FORCE_FALLBACK", None)
    if letter == "F":
        env["SAM3D_CODEMOD_FORCE_FALLBACK"] = "1"
    if args.deterministic:
        env.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return cmd, env, out


def _warm_up(args, job, tmp):
    """One worker before the compared ones: it pays for the kernels a fresh machine compiles and
    autotunes first, so no compared worker runs cold. Its result is kept, marked, and never compared."""
    quiet = argparse.Namespace(**dict(vars(args), save_dir=None, helper_cost=False, runs=0))
    cmd, env, out = _worker_cmd(quiet, [job], 0, tmp)
    out = tmp / ("warm_up_%s.json" % job[0])
    cmd[cmd.index("--out") + 1] = str(out)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    print("warm-up %s %s rc=%d %.0fs" % (job[0], job[1], proc.returncode, time.monotonic() - t0), flush=True)
    return {"letter": job[0], "attn": job[1], "tree": TREES[job[0]], "warm_up": True, "rc": proc.returncode,
            "wall_s": round(time.monotonic() - t0, 1), "stderr_tail": proc.stderr[-1500:],
            "result": json.loads(out.read_text()) if proc.returncode == 0 and out.exists() else None}


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
    ap.add_argument("--attn", default="torch_flash_attn",
                    help="dense attention backend, or several comma-separated for the A/B (torch_flash_attn,sdpa)")
    ap.add_argument("--helper-cost", action="store_true",
                    help="time each _torch_compat helper against its native call (first patched worker; torch 2.3+)")
    ap.add_argument("--deterministic", action="store_true")
    ap.add_argument("--warm-up", action="store_true",
                    help="first run one worker of the order's first tree, untimed and left out of every comparison "
                         "(a fresh machine's first process compiles and autotunes kernels)")
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
        # a worker without its own backend ran under its report's single --attn
        workers = [dict(w, attn=w.get("attn") or r.get("args", {}).get("attn") or "torch_flash_attn")
                   for r in reports for w in r["workers"]]
        report = {"sources": args.source, "workers": workers}
        report["summary"] = summarize_all(workers)
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
    attns = [a for a in args.attn.split(",") if a]
    jobs = schedule(args.order, attns)
    if args.warm_up:
        report["workers"].append(_warm_up(args, jobs[0], tmp))
    for index, (letter, attn) in enumerate(jobs):
        if args.deadline_s and time.monotonic() - start > args.deadline_s:
            report["workers"].append({"letter": letter, "attn": attn, "skipped": "deadline"})
            continue
        cmd, env, out = _worker_cmd(args, jobs, index, tmp)
        t0 = time.monotonic()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
        entry = {"letter": letter, "attn": attn, "tree": TREES[letter], "rc": proc.returncode,
                 "wall_s": round(time.monotonic() - t0, 1), "stderr_tail": proc.stderr[-1500:]}
        entry["result"] = json.loads(out.read_text()) if proc.returncode == 0 and out.exists() else None
        report["workers"].append(entry)
        print("worker %d %s %s rc=%d %.0fs" % (index, letter, attn, proc.returncode, entry["wall_s"]), flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    report["summary"] = summarize_all(report["workers"], attns[0])
    report["seconds"] = round(time.monotonic() - start, 1)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1, default=str))
    print(markdown(report), flush=True)
    return 0 if all(w.get("rc") == 0 for w in report["workers"] if "skipped" not in w) else 1


if __name__ == "__main__":
    sys.exit(main())
