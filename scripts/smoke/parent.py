"""The parent: spawns the workers, compares their outputs stage by stage, prints the summary."""
from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scripts.smoke.constants import PIPELINE, SIZES, STAGES


COUNT_OF = {"mesh_decoder/vertices": "mesh_vertices", "mesh_decoder/vertex_attrs": "mesh_vertices",
            "mesh_decoder/faces": "mesh_faces", "gs_decoder/_xyz": "gaussians", "slat_flow/feats": "voxels"}


def noise_floor(workers):
    """Run-to-run differences of each output within one process (same tree, weights and seed).

    Returns (max |diff| per output over all workers, spread of each count over the runs of one worker).
    """
    values, counts = {}, {}
    for res in workers.values():
        for k, v in (res.get("repeat_max_abs_diff") or {}).items():
            if isinstance(v, (int, float)):
                values[k] = max(values.get(k, 0.0), float(v))
        infos = res.get("run_infos") or []
        if len(infos) > 1:
            for key in ("mesh_vertices", "mesh_faces", "gaussians", "voxels"):
                xs = [i[key] for i in infos if key in i]
                if xs:
                    counts[key] = max(counts.get(key, 0), max(xs) - min(xs))
    return values, counts


def compare(ref_path, new_path, rtol, atol_frac, noise=None):
    """Per-output diffs of ``new`` against ``ref`` (both dumps of run_sample).

    ``equal``: allclose (rtol, atol = atol_frac * max|ref|), or bitwise for integer outputs.
    ``within_noise``: equal, or the difference is at most twice what the same tree shows between
    two runs in one process (GPU atomics make later stages vary run to run); for outputs whose
    length varies (mesh vertices/faces), the length difference against the run-to-run spread.
    """
    import torch

    values, counts = noise or ({}, {})
    ref = torch.load(ref_path)
    new = torch.load(new_path)
    per_key = {}
    for k in sorted(set(ref) | set(new)):
        if k not in ref or k not in new:
            per_key[k] = {"equal": False, "within_noise": False,
                          "why": "missing in %s" % ("reference" if k not in ref else "candidate")}
            continue
        a, b = new[k], ref[k]
        if a.shape != b.shape:
            entry = {"equal": False, "why": "shape %s vs %s" % (tuple(a.shape), tuple(b.shape))}
            spread = counts.get(COUNT_OF.get(k, ""), 0)
            diff = abs(a.shape[0] - b.shape[0])
            entry.update({"length_diff": diff, "run_to_run_length_spread": spread,
                          "within_noise": a.shape[1:] == b.shape[1:] and spread > 0 and diff <= 2 * spread})
            per_key[k] = entry
            continue
        if not a.is_floating_point():
            eq = bool(torch.equal(a, b))
            per_key[k] = {"equal": eq, "exact": eq, "within_noise": eq,
                          "max_abs": 0.0 if eq else float((a.long() - b.long()).abs().max())}
            continue
        a64, b64 = a.double(), b.double()
        finite = torch.isfinite(b64)
        same_nonfinite = bool(torch.equal(torch.isfinite(a64), finite))
        d = (a64 - b64).abs()[finite] if a.numel() else torch.zeros(1, dtype=torch.float64)
        scale = float(b64[finite].abs().max()) if finite.any() else 0.0
        max_abs = float(d.max()) if d.numel() else 0.0
        rel_l2 = float(d.norm() / b64[finite].norm()) if finite.any() and float(b64[finite].norm()) > 0 else 0.0
        atol = atol_frac * scale
        close = same_nonfinite and bool(torch.allclose(a64[finite], b64[finite], rtol=rtol, atol=atol))
        floor = values.get(k)
        per_key[k] = {"equal": close, "exact": bool(torch.equal(a, b)), "max_abs": max_abs,
                      "max_rel": max_abs / scale if scale else 0.0, "rel_l2": rel_l2,
                      "run_to_run_max_abs": floor,
                      "within_noise": close or (same_nonfinite and floor is not None and max_abs <= 2 * floor)}
    stages = {}
    for st in STAGES:
        keys = [k for k in per_key if k.startswith(st + "/")]
        if not keys:
            continue
        floats = [per_key[k] for k in keys if "max_abs" in per_key[k]]
        floors = [e["run_to_run_max_abs"] for e in floats if e.get("run_to_run_max_abs") is not None]
        stages[st] = {
            "equal": all(per_key[k]["equal"] for k in keys),
            "exact": all(per_key[k].get("exact", False) for k in keys),
            "within_noise": all(per_key[k]["within_noise"] for k in keys),
            "max_abs": max((e["max_abs"] for e in floats), default=None),
            "max_rel": max((e.get("max_rel", 0.0) for e in floats), default=None),
            "run_to_run_max_abs": max(floors) if floors else None,
            "length_diffs": {k: per_key[k]["length_diff"] for k in keys if "length_diff" in per_key[k]},
        }
    return {"stages": stages, "outputs": per_key}


def _median(xs):
    return statistics.median(xs) if xs else None


def summarize_timing(res):
    runs = res.get("runs") or []
    med = {st: _median([r["stage_ms"][st] for r in runs if st in r["stage_ms"]]) for st in STAGES}
    med["total"] = _median([r["total_ms"] for r in runs])
    best = {st: min((r["stage_ms"][st] for r in runs if st in r["stage_ms"]), default=None) for st in STAGES}
    best["total"] = min((r["total_ms"] for r in runs), default=None)
    peaks = {st: max((r["stage_peak_bytes"].get(st, 0) for r in runs), default=0) for st in STAGES}
    return med, best, peaks


def spawn(args, tree, attn, tag, tmp, force_fallback=False, flash_check=False, runs=None, warmup=None,
          stub_extra="", timeout=None, helper_bench=False, count_helpers=False):
    env = dict(os.environ)
    env["ATTN_BACKEND"] = attn
    env.pop("SPARSE_ATTN_BACKEND", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("TRITON_CACHE_DIR", str(Path(tmp) / "triton-cache"))
    if force_fallback:
        env["SAM3D_CODEMOD_FORCE_FALLBACK"] = "1"
    else:
        env.pop("SAM3D_CODEMOD_FORCE_FALLBACK", None)
    if tag.startswith("unpatched"):
        # upstream __init__ imports sam3d_objects.init, which the public tree lacks
        env["LIDRA_SKIP_INIT"] = "1"
    else:
        env.pop("LIDRA_SKIP_INIT", None)
    result = Path(tmp) / ("%s.json" % tag)
    dump = Path(tmp) / ("%s.pt" % tag)
    cmd = [sys.executable, str(Path(__file__).resolve().parents[1] / "gpu_smoke.py"), "--worker", "--tree", tree, "--device", args.device,
           "--seed", str(args.seed), "--runs", str(args.runs if runs is None else runs),
           "--warmup", str(args.warmup if warmup is None else warmup), "--result", str(result),
           "--dump", str(dump), "--stub-extra", stub_extra]
    if args.tiny:
        cmd.append("--tiny")
    if args.steps:
        cmd += ["--steps", str(args.steps)]
    if flash_check:
        cmd.append("--flash-check")
    if args.stop_after:
        cmd += ["--stop-after", args.stop_after]
    if helper_bench:
        cmd.append("--helper-bench")
    if count_helpers:
        cmd += ["--count-helpers", "--full-depth"]
    if args.deterministic:
        cmd.append("--deterministic")
        env["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
    if args.save_ply:
        cmd += ["--save-ply", args.save_ply]
    if args.image:
        cmd += ["--image", args.image, "--mask", args.mask]
    print("\n=== %s: ATTN_BACKEND=%s%s" % (tag, attn, " SAM3D_CODEMOD_FORCE_FALLBACK=1" if force_fallback else ""),
          flush=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, timeout=timeout, check=False)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        rc = "timeout after %.0f s" % timeout
    took = time.perf_counter() - t0
    if not result.exists():
        return {"error": "worker exited %s" % rc, "wall_s": took}, None
    data = json.loads(result.read_text())
    data["wall_s"] = took
    if rc != 0:
        data["error"] = "worker exited %s (partial results kept)" % rc
    return data, (dump if dump.exists() else None)


def _finish_attn(entry, dumps, args):
    """Compare the dumps of one ATTN_BACKEND and summarize its timings; returns whether all is equal."""
    ok = True
    ref_name = "unpatched" if dumps.get("unpatched") else "patched"
    noise = noise_floor(entry["workers"])
    entry["run_to_run"] = {"max_abs": noise[0], "length_spread": noise[1]}
    for name in ("patched", "patched_fallback"):
        if name != ref_name and dumps.get(name) and dumps.get(ref_name):
            cmp = compare(dumps[ref_name], dumps[name], args.rtol, args.atol_frac, noise)
            entry["compare"]["%s_vs_%s" % (name, ref_name)] = cmp
            expected = STAGES[:STAGES.index(args.stop_after) + 1] if args.stop_after else STAGES
            expected = [st for st in expected if st != "condition" or args.image]
            ok &= all(s["within_noise"] for s in cmp["stages"].values()) and len(cmp["stages"]) == len(expected)
    merged = {}  # the rounds of one tree pool their timed runs
    for name, res in entry["workers"].items():
        if res.get("runs"):
            base = re.sub(r"_r\d+$", "", name)
            m = merged.setdefault(base, {"runs": [], "peak_bytes": 0})
            m["runs"] += res["runs"]
            m["peak_bytes"] = max([m["peak_bytes"]] + [max(r["stage_peak_bytes"].values()) for r in res["runs"]])
    for name, res in merged.items():
        med, best, peaks = summarize_timing(res)
        entry["timing"][name] = {"median_ms": med, "min_ms": best, "stage_peak_bytes": peaks,
                                 "peak_bytes": res["peak_bytes"], "n_runs": len(res["runs"]),
                                 "all_ms": [r["stage_ms"] for r in res["runs"]]}
    t = entry["timing"]
    if "patched" in t and "unpatched" in t:
        for stat in ("median", "min"):
            ratio = {}
            for st in list(STAGES) + ["total"]:
                p, u = t["patched"][stat + "_ms"][st], t["unpatched"][stat + "_ms"][st]
                ratio[st] = p / u if p is not None and u else None
            entry["time_ratio_patched_over_unpatched" + ("" if stat == "median" else "_min")] = ratio
    return ok


def main_parent(args):
    started = time.perf_counter()
    trees = {"patched": str(Path(args.tree).resolve())}
    if args.tree_unpatched:
        trees["unpatched"] = str(Path(args.tree_unpatched).resolve())
    for name, t in trees.items():
        if Path(t).name != "sam3d_objects" and (Path(t) / "sam3d_objects").is_dir():
            trees[name] = str(Path(t) / "sam3d_objects")
        if not (Path(trees[name]) / "__init__.py").is_file():
            raise SystemExit("%s: not a sam3d_objects package dir" % trees[name])
    attns = ["torch_flash_attn", "sdpa"] if args.attn == "both" else [args.attn]
    tmp = tempfile.mkdtemp(prefix="gpu_smoke_")
    report = None
    if args.append and args.out and Path(args.out).is_file():
        report = json.loads(Path(args.out).read_text())
        report.setdefault("commands", [report.get("command")]).append(" ".join(sys.argv))
    if report is None:
        report = {"command": " ".join([os.path.basename(sys.executable)] + sys.argv), "device": args.device,
                  "tiny": bool(args.tiny), "seed": args.seed, "runs": args.runs, "warmup": args.warmup,
                  "deterministic": bool(args.deterministic),
                  "tolerance": {"rtol": args.rtol, "atol": "%g * max|reference|" % args.atol_frac},
                  "pipeline": PIPELINE, "sizes": SIZES["tiny" if args.tiny else "full"], "attn": {}}
    skipped = []

    def remaining():
        return None if not args.deadline_s else args.deadline_s - (time.perf_counter() - started)

    def save():
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")

    def run(tag, *a, **kw):
        left = remaining()
        if left is not None and left < args.min_child_s:
            skipped.append(tag)
            print("\n=== %s: skipped, %.0f s left before the deadline" % (tag, left), flush=True)
            return {"error": "skipped (deadline)"}, None
        return spawn(args, *a, timeout=left, **kw)

    ok = True
    jobs = []  # (attn, worker name, kwargs)
    for i, attn in enumerate(attns):
        # alternate which tree goes first (per backend and per round: A B B A ...), so a drift of
        # the machine's speed does not favour one tree
        for r in range(args.rounds):
            order = ["unpatched", "patched"] if (i + r) % 2 == 0 else ["patched", "unpatched"]
            if "unpatched" not in trees:
                order = ["patched"]
            for name in order:
                jobs.append((attn, name if r == 0 else "%s_r%d" % (name, r),
                             dict(tree=trees[name], stub_extra="kaolin" if name == "unpatched" else "")))
        if args.force_fallback:
            jobs.append((attn, "patched_fallback", dict(tree=trees["patched"], force_fallback=True,
                                                        runs=args.fallback_runs, warmup=0)))
    # the flash-only restriction check first: it is quick, and must not be squeezed out by the deadline
    if (args.device == "cuda" or args.flash_check_cpu) and not args.no_flash_check:
        checks = {}
        for ff in (False, True):
            tag = "flashcheck-%s" % ("fallback" if ff else "native")
            res, _ = run(tag, trees["patched"], "sdpa", tag, tmp, force_fallback=ff, flash_check=True)
            checks["fallback" if ff else "native"] = res
        report["flash_check"] = checks
        report["flash_check_verdict"] = flash_verdict(checks, args.device)
        if args.device == "cuda":
            ok &= report["flash_check_verdict"]["ok"]
        save()
    if args.helper_report:
        # host-side cost of the helpers: calls per sample (released depths, toy widths) x cost per call
        hr = {}
        res, _ = run("helper-bench", trees["patched"], "torch_flash_attn", "helper-bench", tmp, helper_bench=True)
        hr["bench"] = res.get("helper_bench", res)
        for attn in attns:
            tag = "helper-count-%s" % attn
            res, _ = run(tag, trees["patched"], attn, tag, tmp, count_helpers=True, runs=1, warmup=0)
            calls = res.get("helper_calls_per_sample") or {}
            bench = hr["bench"] if isinstance(hr["bench"], dict) else {}
            # a negative difference is below the timer's resolution: count it as zero
            cost = sum(n * max(bench.get(k, {}).get("overhead_us", 0.0), 0.0) for k, n in calls.items()) / 1000.0
            hr[attn] = {"calls_per_sample": calls, "sizes": res.get("sizes"), "estimated_overhead_ms": cost}
        report["helper_overhead"] = hr
        save()
    for attn in attns:
        if args.helper_report and args.no_pipeline:
            break
        entry = report["attn"].setdefault(attn, {})
        entry.update({"workers": {}, "compare": {}, "timing": {}})
        dumps = {}
        for a, name, kw in jobs:
            if a != attn:
                continue
            tree = kw.pop("tree")
            tag = "%s-%s" % (name.replace("_", "-"), attn)
            res, dump = run(tag, tree, attn, tag, tmp, **kw)
            entry["workers"][name] = res
            dumps[name] = dump
            ok &= "error" not in res
            save()
        ok &= _finish_attn(entry, dumps, args)
        save()
        for d in dumps.values():
            if d and not args.keep:
                d.unlink(missing_ok=True)
    if skipped:
        report["skipped"] = skipped
    report["ok"] = bool(ok) and not skipped
    report["parent_wall_s"] = time.perf_counter() - started
    print_summary(report)
    save()
    if args.out:
        print("wrote", args.out)
    if args.keep:
        print("worker results and dumps kept in", tmp)
    else:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if report["ok"] else 1


def flash_verdict(checks, device):
    """Expected on CUDA: both incompatible inputs fail with 'No available kernel' under both context
    managers (native and _torch_compat, in both branches), the compatible one runs, flags are restored."""
    problems = []
    for mode, res in checks.items():
        fc = (res or {}).get("flash_check")
        if not fc:
            problems.append("%s: no result (%s)" % (mode, (res or {}).get("error")))
            continue
        if mode == "fallback" and not fc.get("force_fallback"):
            problems.append("fallback: FORCE_FALLBACK not active")
        for key, entry in fc["cases"].items():
            case = key.split("/")[1]
            if case == "bfloat16_hd64":
                if entry["outcome"] != "ran":
                    problems.append("%s %s: compatible input failed: %s" % (mode, key, entry.get("message")))
            elif device == "cuda" and not entry.get("no_available_kernel"):
                problems.append("%s %s: expected 'No available kernel', got %s" % (mode, key, entry["outcome"]))
            if not entry["flags_restored"]:
                problems.append("%s %s: SDP flags not restored" % (mode, key))
        if fc.get("compat_vs_native_max_abs_diff", 0.0) != 0.0:
            problems.append("%s: compat and native outputs differ" % mode)
    return {"ok": not problems, "problems": problems}


def _fmt_bytes(b):
    return "%.2f GiB" % (b / 2 ** 30) if b else "-"


def print_summary(report):
    print("\n================ summary ================")
    for attn, entry in report["attn"].items():
        print("\nATTN_BACKEND=%s" % attn)
        for name, res in entry["workers"].items():
            if "error" in res:
                print("  %s: ERROR %s" % (name, res["error"]))
            else:
                stubs = res.get("stubs_imported", res.get("stubbed", []))
                print("  %s: voxels %s, stubs imported %s, spconv %s" % (
                    name, res.get("info", {}).get("voxels"), ",".join(stubs) or "-", res.get("spconv")))
        t = entry["timing"]
        ratio = entry.get("time_ratio_patched_over_unpatched", {})
        cmp = next((c for k, c in entry["compare"].items() if k.startswith("patched_vs")), None)
        print("  %-13s %12s %12s %7s %11s %11s %10s %8s" % ("stage", "patched ms", "unpatched ms", "ratio",
                                                             "peak P", "peak U", "max |d|", "equal"))
        for st in list(STAGES) + ["total"]:
            p = t.get("patched", {}).get("median_ms", {}).get(st)
            u = t.get("unpatched", {}).get("median_ms", {}).get(st)
            pp = t.get("patched", {}).get("stage_peak_bytes", {}).get(st) if st != "total" else t.get("patched", {}).get("peak_bytes")
            pu = t.get("unpatched", {}).get("stage_peak_bytes", {}).get(st) if st != "total" else t.get("unpatched", {}).get("peak_bytes")
            c = (cmp or {}).get("stages", {}).get(st, {})
            print("  %-13s %12s %12s %7s %11s %11s %10s %8s" % (
                st, "%.1f" % p if p is not None else "-", "%.1f" % u if u is not None else "-",
                "%.3f" % ratio[st] if ratio.get(st) else "-", _fmt_bytes(pp), _fmt_bytes(pu),
                "%.3g" % c["max_abs"] if c.get("max_abs") is not None else "-",
                ("bitwise" if c["exact"] else "yes" if c["equal"] else "noise" if c["within_noise"] else "NO")
                if c else "-"))
        for k, c in entry["compare"].items():
            print("  %s: %s" % (k, ", ".join(
                "%s=%s" % (st, "bitwise" if s["exact"] else "allclose" if s["equal"] else
                           "within run-to-run noise" if s["within_noise"] else "DIFFERENT")
                for st, s in c["stages"].items())))
        rmin = entry.get("time_ratio_patched_over_unpatched_min", {})
        if rmin.get("total"):
            print("  ratio of best runs: %s" % ", ".join("%s %.3f" % (st, v) for st, v in rmin.items() if v))
    hr = report.get("helper_overhead")
    if hr:
        for k, v in (hr.get("bench") or {}).items():
            if isinstance(v, dict) and "overhead_us" in v:
                print("helper %-13s native %.2f us, _torch_compat %.2f us (+%.2f us a call)" % (
                    k, v["native_us"], v["helper_us"], v["overhead_us"]))
        for attn, v in hr.items():
            if attn != "bench" and isinstance(v, dict):
                print("helper calls per sample (%s): %s -> about %.2f ms a sample" % (
                    attn, v.get("calls_per_sample"), v.get("estimated_overhead_ms", 0.0)))
    if "flash_check_verdict" in report:
        v = report["flash_check_verdict"]
        print("\nflash-only restriction: %s" % ("OK" if v["ok"] else "PROBLEMS: " + "; ".join(v["problems"])))
    print("\nOK" if report["ok"] else "\nFAILED")
