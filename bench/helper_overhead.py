#!/usr/bin/env python
"""Host-side cost of the ``_torch_compat`` helpers against the native calls they stand in for.

    /path/to/torch-env/bin/python bench/helper_overhead.py [--number 20000] [--repeat 9] [--out FILE]

Needs a torch with ``torch.nn.attention`` (2.3+) for the native side. Imports the helper template
``codemods/runtime/torch_compat.py`` straight from this checkout (the generated
``_torch_compat.py`` of a patched tree is that file with its version and hash filled in), and
times, interleaved and best of ``--repeat`` x ``--number`` calls, each helper against native:

* ``sdpa_kernel([FLASH_ATTENTION])`` enter + exit (4 224 calls a sample with
  ``ATTN_BACKEND=torch_flash_attn``, docs/gpu.md), also with a single backend and with two;
  ``sdpa_kernel_wrapper``: the wrapper alone (its native context manager replaced by a no-op on
  both sides), the part a cache can remove;
* ``tree_map`` over two trees (14 822 calls a sample);
* ``is_compiling()`` (44 calls a sample).

The call counts are those of the generation stack in docs/gpu.md; ``inference_e2e`` counts them for a
whole ``Inference(...)(...)`` call (its report's ``helper_calls``; ``--helper-cost`` runs this module's
``measure`` in the first patched worker).

Prints one line per helper (native us, helper us, added us a call, added ms a sample) and writes
the numbers as JSON to ``--out`` when given. A micro-benchmark, not a test: nothing here passes or
fails.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import timeit
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "codemods" / "runtime" / "torch_compat.py"
CALLS_PER_SAMPLE = {"sdpa_kernel": 4224, "tree_map": 14822, "is_compiling": 44}


def load_helpers(path: Path = TEMPLATE):
    spec = importlib.util.spec_from_file_location("_torch_compat_bench", str(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cases(compat, template: Path = TEMPLATE):
    import torch
    import torch.utils._pytree as pytree
    from torch.nn.attention import SDPBackend, sdpa_kernel

    t = torch.zeros(1)
    tree = {"shape": t, "6drotation_normalized": t}
    other = {"shape": t, "6drotation_normalized": t}

    def first(a, b):
        return a

    def enter_exit(cm):
        with cm:
            pass

    # The wrapper alone: a second copy of the helpers whose native sdpa_kernel is a no-op, against
    # calling that no-op directly. Without the native context manager's own 10-20 us in both
    # columns, what the wrapper adds stands out of the noise of a shared machine.
    bare = load_helpers(template)

    def noop_sdpa_kernel(backends, set_priority=False):
        return backends

    bare._native_sdpa_kernel = noop_sdpa_kernel
    bare.FORCE_FALLBACK = False

    flash, eff = SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION
    c_flash, c_eff = compat.SDPBackend.FLASH_ATTENTION, compat.SDPBackend.EFFICIENT_ATTENTION
    return {
        # the call site in the tree: sdpa_kernel(backends=[SDPBackend.FLASH_ATTENTION])
        "sdpa_kernel": (lambda: enter_exit(sdpa_kernel(backends=[flash])),
                        lambda: enter_exit(compat.sdpa_kernel(backends=[c_flash]))),
        "sdpa_kernel_wrapper": (lambda: noop_sdpa_kernel(backends=[flash]),
                                lambda: bare.sdpa_kernel(backends=[c_flash])),
        "sdpa_kernel_single": (lambda: enter_exit(sdpa_kernel(flash)),
                               lambda: enter_exit(compat.sdpa_kernel(c_flash))),
        "sdpa_kernel_two": (lambda: enter_exit(sdpa_kernel([flash, eff])),
                            lambda: enter_exit(compat.sdpa_kernel([c_flash, c_eff]))),
        "tree_map": (lambda: pytree.tree_map(first, tree, other), lambda: compat.tree_map(first, tree, other)),
        "is_compiling": (lambda: torch.compiler.is_compiling(), lambda: compat.is_compiling()),
    }


def measure(compat, number: int, repeat: int, only=None, template: Path = TEMPLATE) -> dict:
    out = {}
    for name, (native, helper) in cases(compat, template).items():
        if only and name not in only:
            continue
        native(), helper()
        best = {"native": float("inf"), "helper": float("inf")}
        for _ in range(repeat):  # interleaved; best of `repeat`: the least disturbed measurement of each
            for label, fn in (("native", native), ("helper", helper)):
                best[label] = min(best[label], timeit.timeit(fn, number=number) / number * 1e6)
        added = best["helper"] - best["native"]
        calls = CALLS_PER_SAMPLE.get(name, 0)  # the _single/_two variants: no such call site in the tree
        out[name] = {"native_us": round(best["native"], 3), "helper_us": round(best["helper"], 3),
                     "added_us": round(added, 3), "calls_per_sample": calls,
                     "added_ms_per_sample": round(max(added, 0.0) * calls / 1000.0, 3)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--number", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--only", default="", help="comma-separated case names")
    ap.add_argument("--template", type=Path, default=TEMPLATE, help="a torch_compat.py to time (default: this checkout's)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    try:
        import torch
        import torch.nn.attention
    except ImportError as e:
        print("helper_overhead: needs torch >= 2.3 (%s)" % e, file=sys.stderr)
        return 2
    compat = load_helpers(args.template)
    only = [n for n in args.only.split(",") if n]
    result = {"torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
              "number": args.number, "repeat": args.repeat, "template": str(args.template),
              "helpers": measure(compat, args.number, args.repeat, only, args.template)}
    for name, row in result["helpers"].items():
        print("%-20s native %7.3f us  helper %7.3f us  added %+7.3f us  %8.3f ms/sample"
              % (name, row["native_us"], row["helper_us"], row["added_us"], row["added_ms_per_sample"]))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
