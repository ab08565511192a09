"""Runtime probe behind ``sam3d-codemod verify``: run by the *target* interpreter, never imported.

    PYTHON verify_probe.py --package-dir DIR [--device cpu|cuda|auto] [--json-out FILE]
                           [--sys-path DIR]... [--block PKG]... [--save-dir DIR] [--only NAME,...]
                           [--modules M,...] [--no-imports] [--no-checks] [--timeout SECONDS] [--seed N]
                           [--jobs N] [--stand-ins default|PKG,...]

Standalone (standard library + torch), Python 3.8+. It imports torch once, then runs every unit
in a child forked from that clean state (a fresh interpreter where ``fork`` is missing), so one
module's side effects -- ``import torch._dynamo`` makes ``torch._dynamo`` appear for everyone
after it -- never hide another module's failure:

* one unit per module of the package: import it;
* one unit per smoke check: build tiny random modules from the tree and run the code paths that
  the rules rewrite (see CHECKS), on CUDA when ``--device`` asks for it or ``auto`` finds it.

Every failure gets a category:

* ``torch-api``: the tree uses a torch API this torch lacks or treats differently (an
  ImportError/AttributeError naming torch, an error raised inside torch or by a torch function
  called from the tree): a rule should have rewritten it;
* ``missing-package``: ModuleNotFoundError (or a broken install) of a package that is not torch
  and not the tree: the user's environment; ``package`` names what to ``pip install``;
* ``error``: anything else (a bug of the tree itself, or a check whose result is wrong).

A unit that a missing package stops is ``skip`` (``package`` names it), a check whose code the tree
does not have is ``n/a`` (modules are found by the names they define, so moved code, vendored copies
and TRELLIS trees are checked too; see ``vp_context``). The JSON report goes to ``--json-out``
(stdout when absent). Exit status: 0 report written, 3 torch cannot be imported (report says so),
2 bad arguments. The verdict (exit codes of ``sam3d-codemod verify``) is the CLI's.

The probe is split by concern into the ``vp_*`` modules beside this file (failure causes, the tree
and check context, the checks, the forked units); it puts its own directory on ``sys.path``, so it
runs by path with any interpreter, installed or not.

``--block PKG`` makes ``import PKG`` fail as if PKG were not installed, ``--sys-path`` adds
directories in front of the tree on ``sys.path``, ``--stand-ins default|PKG,...`` makes up packages
that cannot be installed where they are missing (``vp_stand_ins``; an installed package wins; each
unit reports the stand-ins it imported),
``--save-dir`` stores each check's outputs with ``torch.save`` (differential tests compare two
trees with them).
"""
import argparse
import json
import os
import platform
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.append(_HERE)  # the vp_* modules beside this file; appended, so nothing of the tree is shadowed

import vp_stand_ins  # noqa: E402
from vp_checks import CHECKS  # noqa: E402
from vp_classify import PIP_NAMES, _Blocker, classify, pip_name, where  # noqa: E402,F401 - re-exported
from vp_context import list_modules, locate, tree_index  # noqa: E402,F401
from vp_units import _json_safe, note_progress, run_forked_all, run_subprocess, run_unit  # noqa: E402

PROBE_VERSION = 2


def _cuda_probe(opts):
    """CUDA availability, asked in a child so this process never initialises CUDA (forks stay usable)."""
    code = "import json, torch; ok = torch.cuda.is_available(); print(json.dumps([ok, torch.cuda.get_device_name(0) if ok else None]))"
    import subprocess

    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
        return tuple(json.loads(proc.stdout.decode().strip().splitlines()[-1]))
    except Exception:
        return False, None


def parse_args(argv):
    parser = argparse.ArgumentParser(description="sam3d-codemod verify probe")
    parser.add_argument("--package-dir", required=True)
    parser.add_argument("--device", choices=["cpu", "cuda", "auto"], default="auto")
    parser.add_argument("--json-out")
    parser.add_argument("--sys-path", action="append", default=[])
    parser.add_argument("--block", action="append", default=[])
    parser.add_argument("--stand-ins", default="", help="comma-separated packages to stand in for where not installed ('default': %s)"
                        % ",".join(vp_stand_ins.DEFAULT))
    parser.add_argument("--save-dir")
    parser.add_argument("--only", default="")
    parser.add_argument("--modules", default="", help="comma-separated module names: import only these")
    parser.add_argument("--no-imports", action="store_true")
    parser.add_argument("--no-checks", action="store_true")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--progress-file", help="append 'done total' after each unit (the CLI's progress bar)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1), help="units run at once")
    parser.add_argument("--no-fork", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--unit", help=argparse.SUPPRESS)
    parser.add_argument("--device-resolved", help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    opts.passthrough = [a for a in argv if not a.startswith("--unit")]
    return opts


def _emit(report, opts):
    text = json.dumps(_json_safe(report), indent=1, sort_keys=True)
    if opts.json_out:
        with open(opts.json_out, "w") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text + "\n")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    opts = parse_args(argv)
    started = time.time()
    opts.jobs = max(1, opts.jobs)
    package_dir = os.path.abspath(opts.package_dir)
    opts.package_dir = package_dir
    if not os.path.isfile(os.path.join(package_dir, "__init__.py")):
        sys.stderr.write("verify_probe: %s is not a package directory\n" % package_dir)
        return 2
    root = os.path.dirname(package_dir)
    sys.path[:0] = [root] + [os.path.abspath(p) for p in opts.sys_path]
    asked = opts.stand_ins.split(",")
    stand_ins = [n for n in asked if n and n != "default"] + (list(vp_stand_ins.DEFAULT) if "default" in asked else [])
    if stand_ins:
        vp_stand_ins.install(stand_ins)
    opts.probe_path = os.path.abspath(__file__)
    if opts.block:
        sys.meta_path.insert(0, _Blocker(opts.block))
    if opts.save_dir:
        os.makedirs(opts.save_dir, exist_ok=True)
    report = {"probe": PROBE_VERSION, "stand_ins": stand_ins, "python": sys.version.split()[0], "executable": sys.executable,
              "platform": platform.platform(), "package": os.path.basename(package_dir), "package_dir": package_dir,
              "imports": [], "checks": []}
    try:
        import torch  # imported once here; every unit starts from this state
    except BaseException as exc:  # noqa: B902
        report["error"] = "torch-missing"
        report["message"] = "torch cannot be imported by %s: %s: %s" % (sys.executable, type(exc).__name__, exc)
        _emit(report, opts)
        return 3
    if opts.unit:  # one unit, result on stdout (the no-fork fallback)
        kind, name = opts.unit.split(":", 1)
        opts.device_resolved = opts.device_resolved or opts.device
        sys.stdout.write(json.dumps(_json_safe(run_unit((kind, name), opts))) + "\n")
        return 0
    report["torch"] = torch.__version__
    cuda, gpu = (False, None) if opts.device == "cpu" else _cuda_probe(opts)
    report["cuda_available"], report["gpu"] = cuda, gpu
    if opts.device == "cuda" and not cuda:
        report["error"] = "no-cuda"
        report["message"] = "--device cuda, but torch %s sees no CUDA device" % torch.__version__
        _emit(report, opts)
        return 2
    opts.device_resolved = "cuda" if cuda else "cpu"
    report["device"] = opts.device_resolved
    opts.passthrough += ["--device-resolved", opts.device_resolved]
    units = []
    if not opts.no_imports:
        units += [("import", m) for m in ([m for m in opts.modules.split(",") if m] or list_modules(package_dir))]
    if not opts.no_checks:
        only = set(filter(None, opts.only.split(",")))
        units += [("check", c[0]) for c in CHECKS if not only or c[0] in only]
    tree_index(package_dir)  # parsed once here; the forked children inherit it
    if hasattr(os, "fork") and not opts.no_fork:
        results = run_forked_all(units, opts)
    else:
        results = []
        for unit in units:
            results.append(run_subprocess(unit, opts))
            note_progress(opts, len(results), len(units))
    for result in results:
        report["imports" if result["kind"] == "import" else "checks"].append(result)
    report["seconds"] = round(time.time() - started, 2)
    _emit(report, opts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
