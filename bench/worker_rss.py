"""Peak RSS of one ``check`` worker on one file: ``python bench/worker_rss.py FILE`` prints JSON.

Runs ``sam3d_codemod.cli.runner.transform_file`` exactly as a pool worker does in ``check``
(every rule whose pre-filter matches, idempotence re-run, TC100 scan) and reads
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` after the imports and after the file.
"""
from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> int:
    path = Path(sys.argv[1]).resolve()
    import libcst

    from sam3d_codemod.cli import runner
    from sam3d_codemod.cli.filejob import FileJob
    from sam3d_codemod.codemods.apiscan.scan import scan
    from sam3d_codemod.codemods.rules import select_rules

    libcst.parse_module("import torch\n")
    scan("import torch\ntorch.compile(x)\n", "warmup.py")
    baseline = rss_mib()
    raw = path.read_bytes()
    rules = [r for r in select_rules(["ALL"]) if r.kind == "python"]
    codes = tuple(r.code for r in rules if r.matches_bytes(raw, path.name))
    finder = runner.HostFinder(path.parent)
    compat = finder.import_statement(path) if codes else None
    start = time.perf_counter()
    checkable = runner._checkable(select_rules(["ALL"]), runner.Options(select=["ALL"]), True)
    outcome = runner.transform_file(FileJob(path.parent, path, raw, codes, "2.0", compat, True, True, checkable))
    elapsed = time.perf_counter() - start
    print(json.dumps({
        "file": str(path), "bytes": len(raw), "lines": raw.count(b"\n"), "codes": list(codes),
        "baseline_rss_mib": baseline, "peak_rss_mib": rss_mib(), "seconds": elapsed,
        "sites": len(outcome.sites), "changed": outcome.new is not None, "error": outcome.error,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
