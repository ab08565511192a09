#!/usr/bin/env python3
"""Measure sam3d-codemod over a corpus of trees (forks of SAM 3D Objects, the TRELLIS wheel, ...).

Fetches nothing: give it tree directories, or ``--corpus DIR`` whose subdirectories are trees.
Each tree is copied to a scratch directory (the input is never written) and gets:

1. ``check --ignore TC020,TC021,TC022``: the newer-than-2.0 APIs the older rules leave alone
   (TC100 findings), for the ranking;
2. ``check``: sites per rule;
3. ``apply``, then a second ``apply`` (must change nothing), then ``check`` (its exit code);
4. with ``--python PY`` (a torch 2.0 interpreter): ``verify`` of the patched copy.

Prints a Markdown table (and, with ``--json FILE``, the raw numbers). Example (docs/drift.md):

    python scripts/drift_corpus.py --corpus /tmp/drift/corpus --python ~/venvs/t200/bin/python \
        --sys-path STUBS --autostub diffusers,cumesh,o_voxel,transformers,lpips,bpy,dinov2,flex_gemm,torchsparse
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
DRIFT_RULES = "TC020,TC021,TC022"


def tool(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, SAM3D_CODEMOD_NO_REPLAY="1")
    return subprocess.run([sys.executable, "-m", "sam3d_codemod", *args], capture_output=True, text=True, env=env)


def tool_json(*args: str) -> dict:
    proc = tool(*args, "--output-format", "json")
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise SystemExit(f"drift_corpus: `sam3d-codemod {' '.join(args)}` gave no JSON (exit {proc.returncode}): "
                         + (proc.stderr.strip().splitlines() or ["no output"])[-1]) from None
    data.setdefault("exit_code", proc.returncode)
    return data


def measure(tree: Path, python: Optional[str], sys_path: Sequence[str], timeout: float,
            stand_ins: Sequence[str] = (), all_stand_ins: bool = False) -> dict:
    row: dict = {"tree": tree.name}
    with tempfile.TemporaryDirectory(prefix="drift-corpus-") as tmp:
        work = Path(tmp) / tree.name
        shutil.copytree(tree, work, symlinks=True)
        before = tool_json("check", str(work), "--no-cache", "--ignore", DRIFT_RULES)
        row["newer_apis"] = collections.Counter(
            _api(s["message"]) for s in before["sites"] if s["code"] == "TC100")
        check = tool_json("check", str(work), "--no-cache")
        row["files"] = check.get("files_seen")
        row["sites"] = {r["code"]: r["found"] for r in check["rules"] if r["found"] and r["code"] != "TC000"}
        row["unhandled_before"] = sum(r["unhandled"] for r in check["rules"])
        applied = tool_json("apply", str(work), "--no-cache")
        row["apply_exit"] = applied["exit_code"]
        row["apply_errors"] = [e["message"] for e in applied.get("errors", [])]
        again = tool_json("apply", str(work), "--no-cache")
        row["second_apply_changed"] = len(again.get("files_changed", []))
        after = tool_json("check", str(work), "--no-cache")
        row["check_after"] = after["exit_code"]
        row["left"] = [f"{s['code']} {s['path']}:{s['line']} {s['message']}" for s in after["sites"]
                       if s["status"] in ("unhandled", "error")] + [e["message"] for e in after.get("errors", [])]
        if python:
            args = ["verify", str(work), "--python", python]
            for entry in sys_path:
                args += ["--sys-path", entry]
            # packages the torch env cannot have (CUDA-only builds, Blender's bpy): verify's own import
            # stand-ins, the project's one placeholder finder (codemods/probe/vp_stand_ins.py)
            for name in stand_ins:
                args += ["--stand-in", name]
            if all_stand_ins:  # verify's own stand-ins (pytorch3d's rotation math computes) where --sys-path has none
                args.append("--stand-ins")
            verify = tool_json(*args)
            row["verify_exit"] = verify["exit_code"]
            row["verify"] = verify.get("summary", {})
            row["verify_failures"] = [f"{u.get('name') or u.get('module')}: {u.get('category')}: "
                                      f"{(u.get('error') or u.get('message') or '')[:200]}"
                                      for u in verify.get("imports", []) + verify.get("checks", [])
                                      if u.get("status") == "fail" and u.get("category") != "missing-package"]
    return row


def _api(message: str) -> str:
    return message.split("`")[1] if message.count("`") >= 2 else message


def markdown(rows: List[dict]) -> str:
    codes = sorted({c for r in rows for c in r["sites"]})
    out = ["| tree | files | " + " | ".join(codes) + " | check after apply | 2nd apply changed | verify 2.0: imports ok/failed"
           " | checks ok/skip/fail | torch-API | missing pkg | error |",
           "|---|---|" + "---|" * len(codes) + "---|---|---|---|---|---|---|"]
    for r in rows:
        v = r.get("verify")
        vcols = ([f"{v['imports_ok']}/{v['imports_failed']}", f"{v['checks_ok']}/{v['checks_skipped']}/{v['checks_failed']}",
                  str(v["torch_api"]), str(v["missing_package"]), str(v["error"])] if v else ["-"] * 5)
        out.append(f"| {r['tree']} | {r['files']} | " + " | ".join(str(r["sites"].get(c, "")) for c in codes)
                   + f" | {r['check_after']} | {r['second_apply_changed']} | " + " | ".join(vcols) + " |")
    ranking = collections.Counter()
    trees = collections.Counter()
    for r in rows:
        ranking.update(r["newer_apis"])
        trees.update(set(r["newer_apis"]))
    if ranking:
        out += ["", "Newer-than-2.0 APIs the older rules (TC001-TC013) leave alone, over the corpus:", "",
                "| API | sites | trees |", "|---|---|---|"]
        out += [f"| `{api}` | {n} | {trees[api]} |" for api, n in ranking.most_common()]
    left = [(r["tree"], x) for r in rows for x in r["left"] + r.get("verify_failures", [])]
    if left:
        out += ["", "Left after apply (check findings, verify failures other than missing packages):", ""]
        out += [f"- {tree}: {x}" for tree, x in left]
    return "\n".join(out) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="*", type=Path)
    parser.add_argument("--corpus", type=Path, help="a directory whose subdirectories are trees")
    parser.add_argument("--python", help="a torch 2.0 interpreter for verify (skipped without)")
    parser.add_argument("--sys-path", action="append", default=[], help="passed to verify (import stubs)")
    parser.add_argument("--autostub", action="append", default=[],
                        help="import names to stand in for (comma-separated; CUDA-only packages the env lacks); "
                             "passed to verify as --stand-in NAME")
    parser.add_argument("--stand-ins", action="store_true", help="pass --stand-ins to verify")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--json", type=Path, help="also write the raw numbers here (after each tree)")
    parser.add_argument("--render", type=Path, nargs="+", help="print the table of earlier --json files, measure nothing")
    args = parser.parse_args(argv)
    if args.render:
        rows = [row for path in args.render for row in json.loads(path.read_text())]
        for row in rows:
            row["newer_apis"] = collections.Counter(row["newer_apis"])
        sys.stdout.write(markdown(rows))
        return 0
    trees = list(args.trees)
    if args.corpus:
        trees += sorted(p for p in args.corpus.iterdir() if p.is_dir())
    if not trees:
        parser.error("no trees (give paths or --corpus DIR)")
    sys_path = [str(Path(p).resolve()) for p in args.sys_path]
    names = [n for group in args.autostub for n in group.split(",") if n]
    rows = []
    for tree in trees:
        rows.append(measure(tree, args.python, sys_path, args.timeout, names, args.stand_ins))
        if args.json:
            args.json.write_text(json.dumps(rows, indent=2, sort_keys=True, default=dict) + "\n")
    sys.stdout.write(markdown(rows))
    bad = [r for r in rows if r["check_after"] != 0 or r["second_apply_changed"]
           or (r.get("verify") and (r["verify"]["torch_api"] or r["verify"]["error"]))]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
