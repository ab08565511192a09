#!/usr/bin/env python
"""sam3d-codemod performance benchmark: every ratio is against a baseline measured in the same run.

    python bench/bench.py            # full run (~10 min on 2 idle cores)
    python bench/bench.py --quick    # ~1-2 min: fewer runs, smaller inputs

Runs with the dev venv (~/.cache/sam3d-codemod/dev) when the current interpreter lacks the
project; prints a table (measurement, ours, baseline, ratio, target, PASS/FAIL) and writes
bench/results.json and docs/bench_scaling.png. Timings are medians of N runs of subprocesses
(time.perf_counter around the child; CPU time and peak RSS come from os.wait4). Ours and the
baseline run interleaved so that load from other processes hits both alike.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
CACHE = Path(os.environ.get("SAM3D_CODEMOD_CACHE", Path.home() / ".cache" / "sam3d-codemod"))
DEV_PYTHON = CACHE / "dev" / "bin" / "python"
TORCH_SRC = CACHE / "envs" / "torch-2.13.0" / "lib" / "python3.11" / "site-packages" / "torch"


def _ensure_dev_interpreter() -> None:
    """Re-run under the dev venv when this interpreter cannot import the project."""
    try:
        import libcst  # noqa: F401

        import sam3d_codemod  # noqa: F401
    except ImportError:
        if DEV_PYTHON.is_file() and Path(sys.prefix).resolve() != DEV_PYTHON.parent.parent.resolve() \
                and not os.environ.get("SAM3D_BENCH_REEXEC"):
            os.environ["SAM3D_BENCH_REEXEC"] = "1"
            os.execv(str(DEV_PYTHON), [str(DEV_PYTHON), __file__, *sys.argv[1:]])
        sys.exit("bench: needs sam3d-codemod and libcst importable (run with the dev venv's python)")


# ---------------------------------------------------------------- measuring

@dataclass
class Sample:
    wall: float  # seconds, perf_counter around the child
    cpu: float  # user + sys of the child and every descendant it waited for
    maxrss_mib: float  # largest RSS of the child or one of its descendants
    rc: int
    stdout: bytes = b""
    stderr: bytes = b""


def user_install(checkout: Path = REPO, name: str = "bench-install") -> Path:
    """A venv with ``checkout`` installed the way users install it (``pip install .``, not
    editable: no import-hook finder at start-up). Its dependencies come from the dev venv through
    a path entry, so nothing is downloaded. Returns its bin directory; refreshed on every run."""
    venv = CACHE / name
    python = venv / "bin" / "python"
    if not python.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    dev_site = subprocess.run([str(DEV_PYTHON), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "_sam3d_bench_dev_deps.pth").write_text(dev_site + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall",
                    "--disable-pip-version-check", str(checkout)], check=True)
    return python.parent


def run_once(cmd: Sequence[str], cwd: Optional[Path] = None, env: Optional[dict] = None) -> Sample:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(map(str, cmd)), cwd=cwd, env=env if env is not None else ENV,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, out.read(), err.read())


@dataclass
class Series:
    label: str
    cmd: List[str]
    samples: List[Sample] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(s.wall for s in self.samples)

    @property
    def cpu(self) -> float:
        return statistics.median(s.cpu for s in self.samples)

    @property
    def rcs(self) -> List[int]:
        return sorted({s.rc for s in self.samples})

    def to_json(self) -> dict:
        return {"label": self.label, "cmd": self.cmd, "median_wall_s": self.wall, "median_cpu_s": self.cpu,
                "min_wall_s": min(s.wall for s in self.samples), "max_wall_s": max(s.wall for s in self.samples),
                "walls_s": [s.wall for s in self.samples], "cpus_s": [s.cpu for s in self.samples],
                "maxrss_mib": max(s.maxrss_mib for s in self.samples), "exit_codes": self.rcs}


def measure(series: Sequence[Series], runs: int, cwd=None, prepare: Optional[Dict[str, Callable[[], None]]] = None,
            env: Optional[dict] = None) -> None:
    """Run every series ``runs`` times, interleaved (a b a b ...), ``prepare[label]()`` untimed before each."""
    for _ in range(runs):
        for s in series:
            if prepare and s.label in prepare:
                prepare[s.label]()
            s.samples.append(run_once(s.cmd, cwd=cwd, env=env))


# ---------------------------------------------------------------- trees

def copy_tree(src: Path, dest: Path) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest)
    return dest


def py_files(root: Path) -> List[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        out += [Path(dirpath) / f for f in sorted(filenames) if f.endswith(".py")]
    return out


def line_count(files: Sequence[Path]) -> int:
    return sum(p.read_bytes().count(b"\n") for p in files)


def touch_all(root: Path) -> None:
    now = time.time()
    for p in py_files(root):
        os.utime(p, (now, now))


def clear_caches(root: Path) -> None:
    for name in (".sam3d-codemod-cache", ".ruff_cache"):
        shutil.rmtree(root / name, ignore_errors=True)


def stride_subset(files: Sequence[Path], k: int) -> List[Path]:
    """k files spread evenly over the sorted list (deterministic)."""
    if k >= len(files):
        return list(files)
    return [files[(i * len(files)) // k] for i in range(k)]


def copy_subset(src_root: Path, files: Sequence[Path], dest: Path) -> Path:
    """Copy ``files`` (under ``src_root``) to ``dest/<src_root.name>/...`` keeping relative paths."""
    if dest.exists():
        shutil.rmtree(dest)
    base = dest / src_root.name
    for f in files:
        target = base / f.relative_to(src_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
    return base


NO_TRIGGER_TEMPLATE = '''"""Module {i}: plain helpers with none of the rules' trigger words."""
from dataclasses import dataclass
from typing import List, Optional
import os


@dataclass
class Record{i}:
    name: str
    value: float = 0.0
    tags: Optional[List[str]] = None

    def scaled(self, factor: float) -> "Record{i}":
        return Record{i}(self.name, self.value * factor, list(self.tags or []))

    def describe(self) -> str:
        parts = [self.name, format(self.value, ".3f")]
        if self.tags:
            parts.append(",".join(sorted(self.tags)))
        return " | ".join(parts)


def load_{i}(path: str) -> List[Record{i}]:
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            name, _, value = line.strip().partition("=")
            if name:
                rows.append(Record{i}(name, float(value or 0)))
    return rows


def summarize_{i}(rows: List[Record{i}]) -> dict:
    total = sum(r.value for r in rows)
    best = max(rows, key=lambda r: r.value, default=None)
    return {{"count": len(rows), "total": total, "best": best.name if best else None}}


def window_{i}(values: List[float], size: int = 3) -> List[float]:
    out = []
    for start in range(0, max(len(values) - size + 1, 0)):
        chunk = values[start:start + size]
        out.append(sum(chunk) / len(chunk))
    return out
'''


def make_no_trigger_tree(dest: Path, n: int, rules: Sequence) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    pkg = dest / "plainpkg"
    for i in range(n):
        sub = pkg / f"part{i // 20}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"mod_{i}.py").write_text(NO_TRIGGER_TEMPLATE.format(i=i))
    for d in [pkg, *sorted(p for p in pkg.iterdir() if p.is_dir())]:
        (d / "__init__.py").write_text('"""Package."""\n')
    for p in py_files(pkg):
        raw = p.read_bytes()
        # the runner's own two-stage pre-filter (literal triggers, then the rule's pattern)
        hits = [r.code for r in rules if r.matches_bytes(raw, p.name)] + (["torch"] if b"torch" in raw else [])
        if hits:
            raise SystemExit(f"bench: generated file {p.name} has trigger words of {hits}")
    return pkg


# ---------------------------------------------------------------- import checks

def imported_modules(stderr: bytes) -> List[str]:
    """Module names from ``-X importtime`` output."""
    mods = []
    for line in stderr.decode(errors="replace").splitlines():
        m = re.match(r"import time:\s+\d+\s*\|\s*\d+\s*\|\s*(\S+)", line)
        if m:
            mods.append(m.group(1))
    return mods


def has_top(mods: Sequence[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in mods)


# ---------------------------------------------------------------- report

@dataclass
class Row:
    measurement: str
    ours: str
    baseline: str
    ratio: str
    target: str
    verdict: str  # PASS / FAIL / info, or "PASS wall / FAIL cpu" when the two disagree
    detail: dict = field(default_factory=dict)
    cpu_ratio: str = "-"  # the same ratio from CPU time (user+sys): less sensitive to other load


def fmt_s(t: float) -> str:
    return f"{t * 1e3:.0f} ms" if t < 1 else f"{t:.2f} s"


def print_table(rows: Sequence[Row], out=sys.stdout) -> str:
    headers = ("measurement", "ours", "baseline", "ratio (wall)", "ratio (CPU)", "target", "result")
    cells = [(r.measurement, r.ours, r.baseline, r.ratio, r.cpu_ratio, r.target, r.verdict) for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(cell, widths)) + " |" for cell in cells]
    text = "\n".join(lines)
    print(text, file=out)
    return text


def verdict(ok: bool, cpu_ok: Optional[bool] = None) -> str:
    """PASS/FAIL on wall time; with ``cpu_ok``, the CPU-time verdict too when the two disagree
    (a single-threaded child that other processes slowed down can look better or worse by wall)."""
    wall = "PASS" if ok else "FAIL"
    if cpu_ok is None or cpu_ok == ok:
        return wall
    return f"{wall} wall / {'PASS' if cpu_ok else 'FAIL'} cpu"


def json_report(sample: Sample) -> dict:
    try:
        return json.loads(sample.stdout)
    except ValueError:
        return {}


# ---------------------------------------------------------------- main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="~1-2 min: fewer runs and smaller inputs")
    ap.add_argument("--runs", type=int, default=None, help="runs of the fast measurements (default 5, quick 3)")
    ap.add_argument("--slow-runs", type=int, default=None, help="runs of the slow measurements (default 1)")
    ap.add_argument("--startup-runs", type=int, default=None, help="runs of the start-up measurements (default 10)")
    ap.add_argument("--torch-src", type=Path, default=TORCH_SRC, help="torch's installed sources (scaling input)")
    ap.add_argument("--sizes", default=None, help="comma-separated file counts for scaling; 'all' = every file "
                                                    "(default 100,1000,all; quick 30,100)")
    ap.add_argument("--speedup-files", default=None, help="file count for the -j 1 vs -j 2 comparison "
                                                          "(default all; quick 100)")
    ap.add_argument("--libcst-files", type=int, default=None,
                    help="compare with the LibCST reference on this many files of the real tree (default all; quick 30)")
    ap.add_argument("--no-profile", action="store_true", help="skip the per-phase profile of the cold check")
    ap.add_argument("--baseline-checkout", type=Path, default=None,
                    help="another checkout of the tool (e.g. `git worktree add /tmp/old main`): its cold and warm "
                         "check are measured in the same alternation, as a before/after")
    ap.add_argument("--results", type=Path, default=BENCH / "results.json")
    ap.add_argument("--plot", type=Path, default=REPO / "docs" / "bench_scaling.png")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--replot", action="store_true", help="only redraw --plot from an existing --results file")
    args = ap.parse_args(argv)
    _ensure_dev_interpreter()
    if args.replot:
        data = json.loads(args.results.read_text())
        plot(data["scaling"], data.get("j1_point"), args.plot)
        print(f"wrote {args.plot}")
        return 0
    quick = args.quick
    runs = args.runs or (3 if quick else 5)
    slow_runs = args.slow_runs or 1
    startup_runs = args.startup_runs or (5 if quick else 10)
    sizes_arg = args.sizes or ("30,100" if quick else "100,1000,all")
    speedup_arg = args.speedup_files or ("100" if quick else "all")
    libcst_files = args.libcst_files if args.libcst_files is not None else (30 if quick else 0)

    sys.path.insert(0, str(REPO))
    from sam3d_codemod import __version__
    from sam3d_codemod.codemods.rules import select_rules
    from tests.realtree import pristine_tree

    all_rules = select_rules(["ALL"])  # imported once, up front: the tree may change while the bench runs

    bindir = Path(sys.executable).parent
    install = user_install()
    old_tool = None
    if args.baseline_checkout is not None:
        old_tool = str(user_install(args.baseline_checkout.resolve(), "bench-install-baseline") / "sam3d-codemod")
    py = str(install / "python")
    tool = str(install / "sam3d-codemod")
    ruff = str(bindir / "ruff") if (bindir / "ruff").exists() else shutil.which("ruff")
    if not tool or not ruff:
        sys.exit("bench: needs the sam3d-codemod and ruff commands (pip install ruff into the dev venv)")

    global ENV
    tmp = Path(tempfile.mkdtemp(prefix="sam3d-bench-"))
    ENV = dict(os.environ)
    # Byte-compiled modules as a normal install has them; a private prefix keeps sources clean.
    ENV.pop("PYTHONDONTWRITEBYTECODE", None)
    ENV.pop("PYTHONPATH", None)
    ENV["PYTHONPYCACHEPREFIX"] = str(CACHE / "bench-pycache")
    ENV["NO_COLOR"] = "1"
    ENV["COLUMNS"] = "120"

    t_start = time.perf_counter()
    load_before = os.getloadavg()
    rows: List[Row] = []
    results: dict = {
        "version": __version__, "quick": quick, "runs": runs, "slow_runs": slow_runs, "startup_runs": startup_runs,
        "python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
        "ruff": subprocess.run([ruff, "--version"], capture_output=True, text=True).stdout.strip(),
        "libcst": __import__("importlib.metadata").metadata.version("libcst"),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "loadavg_before": load_before, "series": {}, "rows": [],
    }

    def record(*series: Series) -> None:
        for s in series:
            results["series"][s.label] = s.to_json()

    def step(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:6.1f}s] {msg}", file=sys.stderr, flush=True)

    try:
        # ------------------------------------------------ warm-up (byte-compile into the private prefix)
        step("warm-up")
        real = copy_tree(pristine_tree(), tmp / "real" / "sam3d_objects")
        real_files = py_files(real)
        real_lines = line_count(real_files)
        for cmd in ([tool, "--help"], [py, "-m", "sam3d_codemod", "--help"], [tool, "check", real, "--no-cache", "-q"],
                    [ruff, "check", "--select", "UP", "--no-cache", "-q", real]):
            run_once(cmd, cwd=tmp)

        # ------------------------------------------------ start-up
        step(f"start-up ({startup_runs} runs)")
        floor = Series("python -c pass", [py, "-c", "pass"])
        script = Series("sam3d-codemod --help", [tool, "--help"])
        module = Series("python -m sam3d_codemod --help", [py, "-m", "sam3d_codemod", "--help"])
        measure([floor, script, module], startup_runs, cwd=tmp)
        record(floor, script, module)
        for s in (script, module):
            rows.append(Row(f"start-up: {s.label}", fmt_s(s.wall), f"{fmt_s(floor.wall)} (python -c pass)",
                            f"{s.wall / floor.wall:.1f}x", "< 150 ms", verdict(s.wall < 0.150, s.cpu < 0.150),
                            {"cpu_s": s.cpu, "floor_cpu_s": floor.cpu}, f"{fmt_s(s.cpu)} CPU"))
        imp_env = dict(ENV, PYTHONPROFILEIMPORTTIME="1")
        help_mods = imported_modules(run_once([tool, "--help"], cwd=tmp, env=imp_env).stderr)
        help_mods_m = imported_modules(run_once([py, "-X", "importtime", "-m", "sam3d_codemod", "--help"], cwd=tmp).stderr)
        torch_in = has_top(help_mods, "torch") or has_top(help_mods_m, "torch")
        libcst_in_help = has_top(help_mods, "libcst") or has_top(help_mods_m, "libcst")
        results["startup_imports"] = {"modules": len(help_mods), "torch": torch_in, "libcst": libcst_in_help}
        rows.append(Row("start-up: torch imported by --help", "yes" if torch_in else "no", "-", "-", "no",
                        verdict(not torch_in), {"modules_imported": len(help_mods), "libcst": libcst_in_help}))

        # ------------------------------------------------ cold check on the real tree vs ruff
        step(f"cold check vs ruff ({runs} runs)")
        prep_cold = {"ours": lambda: (clear_caches(real.parent), touch_all(real)),
                     "ruff": lambda: (clear_caches(real.parent), touch_all(real))}
        ours = Series("ours", [tool, "check", real, "--no-cache"])
        base = Series("ruff", [ruff, "check", "--select", "UP", "--no-cache", real])
        # libcst's dataclass methods compiled afresh, as on a machine's very first run
        uncached = Series("uncached", ["env", "SAM3D_CODEMOD_NO_COMPILE_CACHE=1", tool, "check", real, "--no-cache"])
        prep_cold["uncached"] = prep_cold["ours"]
        cold_series = [ours, base, uncached]
        old_cold = None
        if old_tool is not None:
            old_cold = Series("old", [old_tool, "check", real, "--no-cache"])
            prep_cold["old"] = prep_cold["ours"]
            cold_series.append(old_cold)
        measure(cold_series, runs, cwd=real.parent, prepare=prep_cold)
        ours.label, base.label = "cold check (default -j)", "cold ruff check --select UP"
        uncached.label = "cold check, no compile cache (SAM3D_CODEMOD_NO_COMPILE_CACHE=1)"
        record(ours, base, uncached)
        ratio = ours.wall / base.wall
        rows.append(Row(f"cold check, real tree ({len(real_files)} files, {real_lines} lines)", fmt_s(ours.wall),
                        f"{fmt_s(base.wall)} (ruff --select UP)", f"{ratio:.1f}x", "<= 10x",
                        verdict(ratio <= 10, ours.cpu / base.cpu <= 10),
                        {"cpu_ratio": ours.cpu / max(base.cpu, 1e-9), "ours_cpu_s": ours.cpu, "ruff_cpu_s": base.cpu,
                         "exit_codes": ours.rcs}, f"{ours.cpu / base.cpu:.1f}x"))
        if old_cold is not None:
            record(old_cold)
            rows.append(Row(f"cold check, baseline checkout {args.baseline_checkout.name}", fmt_s(old_cold.wall),
                            f"{fmt_s(base.wall)} (ruff --select UP)", f"{old_cold.wall / base.wall:.1f}x", "-", "info",
                            {"cpu_ratio": old_cold.cpu / max(base.cpu, 1e-9)}, f"{old_cold.cpu / base.cpu:.1f}x"))
        rows.append(Row("cold check, no libcst compile cache (a machine's first run)", fmt_s(uncached.wall),
                        f"{fmt_s(base.wall)} (ruff --select UP)", f"{uncached.wall / base.wall:.1f}x", "-", "info",
                        {"cpu_ratio": uncached.cpu / max(base.cpu, 1e-9)}, f"{uncached.cpu / base.cpu:.1f}x"))

        # ------------------------------------------------ warm check vs ruff with cache
        step(f"warm check vs ruff ({runs} runs)")
        clear_caches(real.parent)
        w_ours = Series("warm check (cache present)", [tool, "check", real])
        w_base = Series("warm ruff check --select UP", [ruff, "check", "--select", "UP", real])
        w_quiet = Series("warm check -q (cache present)", [tool, "check", "-q", real])
        w_full = Series("warm check, no replay (per-file cache only)",
                        ["env", "SAM3D_CODEMOD_NO_REPLAY=1", tool, "check", real])
        run_once(w_ours.cmd, cwd=real.parent)  # fills the per-file cache (the tree changes: not recorded)
        time.sleep(0.3)  # past the racy window: the next identical run is recorded for replay
        for s in (w_ours, w_quiet, w_base, w_full):
            run_once(s.cmd, cwd=real.parent)
        measure([w_ours, w_base, w_quiet, w_full], runs, cwd=real.parent)
        record(w_ours, w_base, w_quiet, w_full)
        ratio = w_ours.wall / w_base.wall
        rows.append(Row("warm check, real tree (cache, unchanged)", fmt_s(w_ours.wall),
                        f"{fmt_s(w_base.wall)} (ruff, cache)", f"{ratio:.1f}x", "<= 2.5x",
                        verdict(ratio <= 2.5, w_ours.cpu / w_base.cpu <= 2.5),
                        {"cpu_ratio": w_ours.cpu / max(w_base.cpu, 1e-9), "exit_codes": w_ours.rcs},
                        f"{w_ours.cpu / w_base.cpu:.1f}x"))
        rows.append(Row("warm check, no replay (SAM3D_CODEMOD_NO_REPLAY=1)", fmt_s(w_full.wall),
                        f"{fmt_s(w_base.wall)} (ruff, cache)", f"{w_full.wall / w_base.wall:.1f}x", "-", "info",
                        {"cpu_ratio": w_full.cpu / max(w_base.cpu, 1e-9)}, f"{w_full.cpu / w_base.cpu:.1f}x"))
        rows.append(Row("warm check -q (no report)", fmt_s(w_quiet.wall),
                        f"{fmt_s(w_base.wall)} (ruff, cache)", f"{w_quiet.wall / w_base.wall:.1f}x", "-", "info",
                        {"cpu_ratio": w_quiet.cpu / max(w_base.cpu, 1e-9), "help_s": script.wall},
                        f"{w_quiet.cpu / w_base.cpu:.1f}x"))
        clear_caches(real.parent)

        # ------------------------------------------------ vs a plain LibCST codemod (-j 1)
        lib_src = pristine_tree()
        lib_label = "real tree"
        if libcst_files:
            src_files = py_files(lib_src)
            lib_src = copy_subset(lib_src, stride_subset(src_files, libcst_files), tmp / "libcst-src")
            lib_label = f"{libcst_files}-file stride subset of the real tree"
        lib_files = py_files(lib_src)
        lib_tree = tmp / "libcst" / "sam3d_objects"
        ours_tree = copy_tree(lib_src, tmp / "ours-j1" / "sam3d_objects")
        step(f"check -j 1 vs libcst.tool codemod -j 1 on the {lib_label} ({max(runs, slow_runs)} / {slow_runs} runs)")
        (tmp / "libcst" ).mkdir(exist_ok=True)
        lib_env = dict(ENV, PYTHONPATH=str(BENCH))
        l_ours = Series("ours", [tool, "check", ours_tree, "--no-cache", "-j", "1"])
        l_base = Series("libcst", [py, "-m", "libcst.tool", "codemod", "-x", "reference_codemod.TreeMapDynamoCommand",
                                   "--no-format", "-j", "1", "--hide-progress", lib_tree])
        # ours is fast: `runs` samples, spread around the reference's `slow_runs` (it takes ~40 s each)
        ours_left = max(runs, slow_runs)
        for i in range(slow_runs):
            for _ in range(ours_left // (slow_runs - i) if i < slow_runs - 1 else ours_left):
                touch_all(ours_tree)
                l_ours.samples.append(run_once(l_ours.cmd, cwd=ours_tree.parent))
            ours_left = max(runs, slow_runs) - len(l_ours.samples)
            copy_tree(lib_src, lib_tree)  # the codemod writes: a fresh copy every run
            l_base.samples.append(run_once(l_base.cmd, cwd=lib_tree.parent, env=lib_env))
        l_ours.label, l_base.label = "cold check -j 1 (libcst comparison)", "libcst.tool codemod reference -j 1"
        record(l_ours, l_base)
        changed = sum(1 for f in py_files(lib_tree)
                      if f.read_bytes() != (lib_src / f.relative_to(lib_tree)).read_bytes())
        speedup = l_base.wall / l_ours.wall
        rows.append(Row(f"cold check -j 1 vs LibCST codemod -j 1 ({len(lib_files)} files)", fmt_s(l_ours.wall),
                        f"{fmt_s(l_base.wall)} (libcst.tool)", f"{speedup:.1f}x faster", ">= 15x faster",
                        verdict(speedup >= 15, l_base.cpu / l_ours.cpu >= 15),
                        {"cpu_speedup": l_base.cpu / max(l_ours.cpu, 1e-9), "reference_changed_files": changed,
                         "reference_rc": l_base.rcs,
                         "reference_stderr_tail": l_base.samples[-1].stderr.decode(errors="replace")[-400:]},
                        f"{l_base.cpu / l_ours.cpu:.1f}x faster"))

        # ------------------------------------------------ a tree without trigger words
        plain = make_no_trigger_tree(tmp / "plain", 100, all_rules)
        plain_files = py_files(plain)
        step(f"no-trigger tree ({runs} runs)")
        imp = run_once([py, "-X", "importtime", "-m", "sam3d_codemod", "check", plain, "--no-cache"], cwd=tmp)
        mods = imported_modules(imp.stderr)
        libcst_loaded = has_top(mods, "libcst")
        n_ours = Series("no-trigger check", [tool, "check", plain, "--no-cache"])
        n_base = Series("no-trigger ruff", [ruff, "check", "--select", "UP", "--no-cache", plain])
        measure([n_ours, n_base], runs, cwd=tmp)
        record(n_ours, n_base)
        rows.append(Row(f"no-trigger tree ({len(plain_files)} files): libcst imported", "yes" if libcst_loaded else "no",
                        "-", "-", "no", verdict(not libcst_loaded), {"exit_code": imp.rc, "modules": len(mods)}))
        rows.append(Row(f"no-trigger tree ({len(plain_files)} files, {line_count(plain_files)} lines): check",
                        fmt_s(n_ours.wall), f"{fmt_s(n_base.wall)} (ruff --select UP)",
                        f"{n_ours.wall / n_base.wall:.1f}x", "-", "info",
                        {"vs_help_s": n_ours.wall - script.wall, "exit_codes": n_ours.rcs}, f"{n_ours.cpu / n_base.cpu:.1f}x"))

        # ------------------------------------------------ scaling on torch's sources
        torch_src = args.torch_src
        scaling = []
        if not torch_src.is_dir():
            step(f"scaling skipped: {torch_src} not found")
        else:
            all_torch = py_files(torch_src)
            sizes = [len(all_torch) if s.strip() == "all" else min(int(s), len(all_torch)) for s in sizes_arg.split(",")]
            speed_n = len(all_torch) if speedup_arg == "all" else min(int(speedup_arg), len(all_torch))
            trees: Dict[int, Path] = {}

            def tree_for(k: int) -> Path:
                if k not in trees:
                    trees[k] = copy_subset(torch_src, stride_subset(all_torch, k), tmp / f"torch-{k}")
                return trees[k]

            for k in sizes:
                tree = tree_for(k)
                files = py_files(tree)
                lines = line_count(files)
                n = slow_runs
                step(f"scaling: {k} files, {lines} lines, -j 2 ({n} runs)")
                s = Series(f"scaling {k} files -j 2", [tool, "check", tree, "-j", "2", "--no-cache", "--select", "ALL",
                                                       "--output-format", "json"])
                r = Series(f"scaling {k} files ruff", [ruff, "check", "--select", "UP", "--no-cache", "--exit-zero", tree])
                measure([s, r], n, cwd=tmp)
                rep = json_report(s.samples[-1])
                record(s, r)
                point = {"files": len(files), "lines": lines, "wall_s": s.wall, "cpu_s": s.cpu, "ruff_wall_s": r.wall,
                         "files_per_s": len(files) / s.wall, "lines_per_s": lines / s.wall,
                         "us_per_line": 1e6 * s.wall / lines, "cpu_us_per_line": 1e6 * s.cpu / lines,
                         "exit_code": s.rcs, "maxrss_mib": max(x.maxrss_mib for x in s.samples),
                         "files_parsed": rep.get("files_parsed"), "errors": len(rep.get("errors", [])),
                         "error_samples": rep.get("errors", [])[:5], "sites": len(rep.get("sites", [])),
                         "unhandled": sum(1 for x in rep.get("sites", []) if x.get("status") == "unhandled")}
                scaling.append(point)
                rows.append(Row(f"scaling: {len(files)} torch files, {lines} lines, -j 2 (exit {'/'.join(map(str, s.rcs))}, "
                                f"{point['errors']} errors, {point['files_parsed']} parsed)",
                                f"{fmt_s(s.wall)}: {point['files_per_s']:.1f} files/s, "
                                f"{point['lines_per_s'] / 1e3:.1f}k lines/s, {point['us_per_line']:.0f} us/line",
                                f"{fmt_s(r.wall)} (ruff)", f"{s.wall / r.wall:.0f}x",
                                "-", "info", point, f"{s.cpu / r.cpu:.0f}x"))
            if len(scaling) >= 2:
                per_line = [p["us_per_line"] for p in scaling]
                spread = max(per_line) / min(per_line)
                rows.append(Row("scaling: time per line, max/min over sizes",
                                " / ".join(f"{x:.0f}" for x in per_line) + " us/line", "-", f"{spread:.2f}x",
                                "<= 2x (flat)", verdict(spread <= 2.0), {"us_per_line": per_line}))
            results["scaling"] = scaling

            # -j 2 over -j 1
            tree = tree_for(speed_n)
            files = py_files(tree)
            j2 = next((x for x in results["series"].values() if x["label"] == f"scaling {speed_n} files -j 2"), None)
            step(f"-j 1 on {speed_n} files ({slow_runs} runs)")
            s1 = Series(f"speed-up {speed_n} files -j 1", [tool, "check", tree, "-j", "1", "--no-cache", "--select", "ALL",
                                                           "--output-format", "json"])
            measure([s1], slow_runs, cwd=tmp)
            j2_wall = j2["median_wall_s"] if j2 else None
            j2_cpu = j2["median_cpu_s"] if j2 else None
            if j2_wall is None:
                s2 = Series(f"scaling {speed_n} files -j 2", [tool, "check", tree, "-j", "2", "--no-cache", "--select",
                                                              "ALL", "--output-format", "json"])
                measure([s2], slow_runs, cwd=tmp)
                record(s2)
                j2_wall, j2_cpu = s2.wall, s2.cpu
            record(s1)
            results["j1_point"] = {"files": len(files), "lines": line_count(files), "wall_s": s1.wall, "cpu_s": s1.cpu}
            rows.append(Row(f"-j 2 speed-up over -j 1 ({len(files)} torch files)", f"{fmt_s(j2_wall)} (-j 2)",
                            f"{fmt_s(s1.wall)} (-j 1)", f"{s1.wall / j2_wall:.2f}x", "-", "info",
                            {"j1_cpu_s": s1.cpu, "j2_cpu_s": j2_cpu, "load_note": "other processes share the cores"},
                            f"CPU {j2_cpu:.0f} s vs {s1.cpu:.0f} s" if j2_cpu else "-"))

            # ------------------------------------------------ memory: one worker on the largest file
            py_rules = [r for r in all_rules if r.kind == "python"]
            pool = all_torch if not quick else stride_subset(all_torch, max(sizes))
            biggest = max(pool, key=lambda p: p.stat().st_size)
            parsed = [p for p in pool if any(r.matches_bytes(p.read_bytes(), p.name) for r in py_rules)]
            biggest_parsed = max(parsed, key=lambda p: p.stat().st_size) if parsed else biggest
            for label, f in (("largest file", biggest), ("largest file LibCST parses", biggest_parsed)):
                if label == "largest file LibCST parses" and f == biggest:
                    continue
                step(f"memory: {label} {f.relative_to(torch_src)}")
                m = run_once([py, BENCH / "worker_rss.py", f], cwd=tmp)
                try:
                    info = json.loads(m.stdout)
                except ValueError:
                    info = {"error": m.stderr.decode(errors="replace")[-300:]}
                results.setdefault("memory", []).append(info)
                rows.append(Row(f"memory: one worker, {label} ({info.get('lines', '?')} lines, "
                                f"{f.stat().st_size // 1024} KiB)",
                                f"{info.get('peak_rss_mib', float('nan')):.0f} MiB peak RSS",
                                f"{info.get('baseline_rss_mib', float('nan')):.0f} MiB (after imports)",
                                f"+{info.get('peak_rss_mib', 0) - info.get('baseline_rss_mib', 0):.0f} MiB", "-",
                                "info", info))

        # ------------------------------------------------ per-phase profile
        if not args.no_profile:
            step("profile of the cold check (in-process, -j 1)")
            prof_json = tmp / "profile.json"
            p = run_once([py, BENCH / "profile_phases.py", real, "--json", prof_json], cwd=tmp)
            results["profile_text"] = p.stdout.decode(errors="replace")
            if prof_json.is_file():
                results["profile"] = json.loads(prof_json.read_text())
    finally:
        results["elapsed_s"] = time.perf_counter() - t_start
        results["loadavg_after"] = os.getloadavg()
        results["rows"] = [asdict(r) for r in rows]
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}", file=sys.stderr)

    print()
    print(f"sam3d-codemod {__version__} bench{' (quick)' if quick else ''}: median of {runs} runs "
          f"({slow_runs} for slow, {startup_runs} for start-up); {os.cpu_count()} CPUs, load average "
          f"{load_before[0]:.1f} before / {results['loadavg_after'][0]:.1f} after; {results['elapsed_s']:.0f} s")
    results["table"] = print_table(rows)
    if results.get("profile_text"):
        print("\nwhere a cold check spends its time (real tree, -j 1, in-process):")
        print(results["profile_text"].rstrip())
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwrote {args.results}")
    if scaling:
        plot(scaling, results.get("j1_point"), args.plot)
        print(f"wrote {args.plot}")
    return 1 if any("FAIL" in r.verdict for r in rows) else 0


def plot(points: List[dict], j1: Optional[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    xs = [p["lines"] for p in points]
    a1.plot(xs, [p["wall_s"] for p in points], "o-", label="check -j 2 (wall)")
    a1.plot(xs, [p["cpu_s"] for p in points], "s--", label="check -j 2 (CPU, all processes)")
    a1.plot(xs, [p["ruff_wall_s"] for p in points], "^:", label="ruff --select UP (wall)")
    for p in points:
        a1.annotate(f"{p['files']} files", (p["lines"], p["wall_s"]), textcoords="offset points", xytext=(-20, -16),
                    fontsize=8)
    a1.margins(x=0.08, y=0.15)
    if j1:
        a1.plot([j1["lines"]], [j1["wall_s"]], "D", label="check -j 1 (wall)")
    a1.set_xscale("log")
    a1.set_yscale("log")
    a1.set_xlabel("lines of torch source")
    a1.set_ylabel("seconds")
    a1.set_title("cold check (--no-cache --select ALL)")
    a1.grid(True, which="both", alpha=0.3)
    a1.legend(fontsize=8, loc="upper left")
    a2.plot(xs, [p["us_per_line"] for p in points], "o-", label="wall")
    a2.plot(xs, [p["cpu_us_per_line"] for p in points], "s--", label="CPU")
    a2.set_xscale("log")
    a2.set_ylim(bottom=0)
    a2.set_xlabel("lines of torch source")
    a2.set_ylabel("microseconds per line")
    a2.set_title("time per line (flat = linear scaling)")
    a2.grid(True, which="both", alpha=0.3)
    a2.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


ENV: dict = dict(os.environ)

if __name__ == "__main__":
    sys.exit(main())
