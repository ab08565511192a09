#!/usr/bin/env python3
"""What the libcst compile cache (``codemods/engine/libcst_loader.py``) saves, per interpreter.

    python bench/compile_cache.py [--runs N] [PYTHON ...]     # default: this interpreter

Each PYTHON needs libcst and this checkout importable (e.g. ``pip install -e .`` in its venv). For
each one it times ``libcst_loader.load()`` in fresh processes, alternating: with the cache (served
from a warm cache file), without it (``SAM3D_CODEMOD_NO_COMPILE_CACHE=1``: plain ``import libcst``),
and a first run (empty cache directory: compiles and writes the file). CPU time of the import
(``time.process_time``) is the number to read on a shared machine; wall time is shown beside it.
The whole-tree effect is bench/bench.py's row "cold check, no libcst compile cache".
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

PROBE = r"""
import json, sys, time
w, c = time.perf_counter(), time.process_time()
from sam3d_codemod.codemods.engine import libcst_loader
libcst_loader.load()
print(json.dumps({"wall": time.perf_counter() - w, "cpu": time.process_time() - c, "stats": libcst_loader.stats,
                  "python": sys.version.split()[0]}))
"""


def run(python: str, env: dict) -> dict:
    out = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, env=env, check=True, timeout=120)
    return json.loads(out.stdout)


def bench(python: str, runs: int) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in ("SAM3D_CODEMOD_NO_COMPILE_CACHE", "SAM3D_CODEMOD_CACHE")}
    tmp = tempfile.mkdtemp(prefix="sam3d-cc-")
    try:
        warm_dir, first_dir = os.path.join(tmp, "warm"), os.path.join(tmp, "first")
        kinds = {
            "cached": dict(base, SAM3D_CODEMOD_CACHE=warm_dir),
            "uncached": dict(base, SAM3D_CODEMOD_CACHE=warm_dir, SAM3D_CODEMOD_NO_COMPILE_CACHE="1"),
            "first": dict(base, SAM3D_CODEMOD_CACHE=first_dir),
        }
        run(python, kinds["cached"])  # fills the warm cache (and byte-compiles)
        samples = {k: [] for k in kinds}
        for _ in range(runs):
            for kind, env in kinds.items():
                shutil.rmtree(first_dir, ignore_errors=True)
                samples[kind].append(run(python, env))
        out = {"python": samples["cached"][0]["python"], "runs": runs}
        for kind, rows in samples.items():
            out[kind] = {"cpu_ms": 1e3 * statistics.median(r["cpu"] for r in rows),
                         "wall_ms": 1e3 * statistics.median(r["wall"] for r in rows), "stats": rows[-1]["stats"]}
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pythons", nargs="*", default=[sys.executable])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", dest="json_out", default=None)
    args = ap.parse_args(argv)
    results = [bench(p, args.runs) for p in args.pythons]
    print("| Python | compiles | import libcst, cached | uncached | saved (CPU) | first run (compile + write) |")
    print("|---|---|---|---|---|---|")
    for r in results:
        c, u, f = r["cached"], r["uncached"], r["first"]
        print(f"| {r['python']} | {f['stats']['compiled']} | {c['cpu_ms']:.0f} ms CPU ({c['wall_ms']:.0f} wall) "
              f"| {u['cpu_ms']:.0f} ms CPU ({u['wall_ms']:.0f} wall) | {u['cpu_ms'] - c['cpu_ms']:.0f} ms "
              f"({1 - c['cpu_ms'] / u['cpu_ms']:.0%}) | {f['cpu_ms']:.0f} ms CPU |")
    if args.json_out:
        with open(args.json_out, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
