"""Where a cold ``check`` spends its time: exclusive wall time per phase, in one process (-j 1).

    python bench/profile_phases.py PATH [--select ALL] [--top 8] [--json OUT]

Wraps the engine's phases (LibCST parse of the hot statements, the traversal, codegen, line
numbers, the TC100 API scan, Python's own ``ast.parse``) with exclusive timers keyed by call path,
runs ``sam3d_codemod.cli.runner.run`` exactly as ``check --no-cache -j 1`` does, and prints the
totals, the import cost of the CLI and of libcst, and the slowest files.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable, Dict, List


class PhaseTimer:
    """Exclusive time per call path; nested wrapped calls are charged to themselves only."""

    def __init__(self) -> None:
        self.stack: List[list] = []  # [label, start, child time]
        self.exclusive: Dict[str, float] = defaultdict(float)
        self.calls: Dict[str, int] = defaultdict(int)

    def wrap(self, label: str, fn: Callable, reentrant: bool = False) -> Callable:
        """``reentrant``: a recursive function, timed at its outermost call only."""
        timer = self

        def wrapper(*args, **kwargs):
            if reentrant and timer.stack and timer.stack[-1][0] == label:
                return fn(*args, **kwargs)
            path = " > ".join([f[0] for f in timer.stack] + [label])
            frame = [label, time.perf_counter(), 0.0]
            timer.stack.append(frame)
            try:
                return fn(*args, **kwargs)
            finally:
                timer.stack.pop()
                total = time.perf_counter() - frame[1]
                timer.exclusive[path] += total - frame[2]
                timer.calls[path] += 1
                if timer.stack:
                    timer.stack[-1][2] += total

        wrapper.__wrapped__ = fn
        return wrapper

    def by_leaf(self) -> Dict[str, float]:
        out: Dict[str, float] = defaultdict(float)
        for path, t in self.exclusive.items():
            out[path.rsplit(" > ", 1)[-1]] += t
        return dict(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path")
    ap.add_argument("--select", default="")
    ap.add_argument("--top", type=int, default=8)
    ap.add_argument("--json", dest="json_out", default=None)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    from sam3d_codemod.cli import runner  # what every CLI command imports first
    t_cli = time.perf_counter() - t0
    t0 = time.perf_counter()
    from sam3d_codemod.codemods.engine import libcst_loader

    libcst = libcst_loader.load()  # what the first pre-filtered file costs (with the compile cache)
    t_libcst = time.perf_counter() - t0
    t0 = time.perf_counter()
    import ast

    from sam3d_codemod.codemods.apiscan import scan as api_scan
    from sam3d_codemod.codemods.engine import positions, statements, traversal, whole_module
    from sam3d_codemod.codemods.engine import transform as engine
    from sam3d_codemod.codemods.rules import select_rules
    t_engine = time.perf_counter() - t0

    timer = PhaseTimer()
    select = [s for s in args.select.split(",") if s]
    select_rules(select, (), "2.0")  # rule modules imported before timing starts
    api_scan.scan("import torch\ntorch.compile(x)\n", "warmup.py", "2.0")  # API table load: start-up cost
    libcst.parse_module("x = 1\n")

    def wrap(owner, attr: str, label: str, reentrant: bool = False) -> None:
        """Patch ``owner.attr`` (looked up at call time by the runner/engine); skip what the code lacks."""
        fn = owner.__dict__.get(attr) if isinstance(owner, type) else getattr(owner, attr, None)
        if fn is None:
            missing.append(f"{getattr(owner, '__name__', owner)}.{attr}")
        elif isinstance(fn, property):
            setattr(owner, attr, property(timer.wrap(label, fn.fget)))
        else:
            setattr(owner, attr, timer.wrap(label, fn, reentrant))

    missing: List[str] = []
    inputs: List[str] = []  # sources of the first LibCST parse of each pre-filtered file
    plain_parse = libcst.parse_module
    wrap(libcst, "parse_module", "LibCST parse (hot statements)")
    wrap(ast, "parse", "ast.parse")
    wrap(engine, "transform_module", "whole-module path")
    wrap(engine, "transform_source", "transform_source")
    for path_module in (statements, whole_module):  # each path calls its own imported name
        wrap(path_module, "build_index", "build_index")
        wrap(path_module, "def_hotness", "def_hotness")
    wrap(statements, "StatementPlan", "statement plan")
    wrap(positions, "first_line_code", "line numbers")
    wrap(traversal.Walker, "walk", "traversal (Walker)", reentrant=True)
    wrap(libcst.Module, "code", "codegen (Module.code)")
    wrap(api_scan, "scan", "api_scan.scan")
    wrap(api_scan, "_newer", "api_scan table")
    per_file: Dict[str, float] = {}
    inner = runner.transform_file

    def timed_transform(job):
        if job.codes:
            inputs.append(job.raw.decode("utf-8", "replace"))
        start = time.perf_counter()
        try:
            return inner(job)
        finally:
            per_file[str(job.path)] = time.perf_counter() - start

    runner.transform_file = timer.wrap("transform_file", timed_transform)
    options = runner.Options(select=select, jobs=1, cache=False)
    t0 = time.perf_counter()
    report = runner.run([args.path], options, verify=True)
    t_run = time.perf_counter() - t0

    leaf = timer.by_leaf()
    accounted = sum(leaf.values())
    leaf["runner (discover, read, pre-filter, report)"] = t_run - accounted
    lines_total = sum(Path(o.path).read_bytes().count(b"\n") for o in report.outcomes if Path(o.path).is_file())
    cache = libcst_loader.stats
    print(f"imports: cli.runner {t_cli*1e3:.0f} ms, libcst {t_libcst*1e3:.0f} ms (compile cache: {cache['reused']} "
          f"reused, {cache['compiled']} compiled), engine+rules {t_engine*1e3:.0f} ms")
    print(f"run(): {t_run:.2f} s wall, {report.files_seen} files seen, {report.files_parsed} parsed by LibCST, "
          f"{len(report.outcomes)} outcomes, {len(report.errors)} errors")
    if missing:
        print(f"(not wrapped, absent in this version: {', '.join(missing)})")
    print(f"{'phase (exclusive)':<46} {'s':>8} {'%':>6}")
    for name, t in sorted(leaf.items(), key=lambda kv: -kv[1]):
        print(f"{name:<46} {t:8.2f} {100*t/max(t_run,1e-9):6.1f}")
    print("by call path:")
    for path, t in sorted(timer.exclusive.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {t:7.2f} s {timer.calls[path]:6d}x  {path}")
    # The floor for any LibCST-based check: one parse of the files the pre-filter lets through.
    ast.parse = ast.parse.__wrapped__
    t0 = time.perf_counter()
    for source in inputs:
        plain_parse(source)
    t_floor = time.perf_counter() - t0
    t0 = time.perf_counter()
    for source in inputs:
        ast.parse(source)
    t_ast = time.perf_counter() - t0
    floor_lines = sum(x.count("\n") for x in inputs)
    print(f"floor: one libcst.parse_module of the {len(inputs)} pre-filtered files ({floor_lines} lines) takes "
          f"{t_floor:.2f} s; ast.parse of the same {t_ast:.2f} s; + import libcst {t_libcst:.2f} s")
    print(f"slowest {args.top} files:")
    root = Path(args.path)
    for path, t in sorted(per_file.items(), key=lambda kv: -kv[1])[: args.top]:
        p = Path(path)
        n = p.read_bytes().count(b"\n") if p.is_file() else 0
        print(f"  {t:7.2f} s {n:7d} lines  {p.relative_to(root) if p.is_relative_to(root) else p}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({
            "imports_ms": {"cli.runner": t_cli * 1e3, "libcst": t_libcst * 1e3, "engine+rules": t_engine * 1e3},
            "run_s": t_run, "files_seen": report.files_seen, "files_parsed": report.files_parsed,
            "floor": {"libcst_parse_s": t_floor, "ast_parse_s": t_ast, "lines": floor_lines, "files": len(inputs)},
            "lines_of_outcomes": lines_total,
            "phases_s": leaf, "paths_s": dict(timer.exclusive), "calls": dict(timer.calls),
            "slowest_files": sorted(per_file.items(), key=lambda kv: -kv[1])[: args.top],
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
