#!/usr/bin/env python3
"""Generate ``codemods/pins/data/companions.json``, the version table of the pins rules (TP001-TP005,
TP100), from ``codemods/pins/data/pins_spec.json`` and the packages' own metadata on PyPI.

The spec says which release goes with each target torch and where that choice comes from. For every
package that is on PyPI this script asks pip for the release's metadata (``pip install --dry-run
--no-deps --report``, the same view of an index the resolver has; ``fast-deps`` reads only the
wheel's METADATA) and records its ``Requires-Dist`` on torch and numpy, its ``Requires-Python``
and, from PyPI's JSON API, the CPython tags it has wheels for. A chosen release whose metadata
does not accept the target torch stops the script. For ``dependents`` (pure-Python packages that
require torch, such as lightning) it bisects the releases for the first one whose Requires-Dist
excludes the target torch: ``check`` flags a pin at or after it (TP100).

Entries from PyTorch's, NVIDIA's and kaolin's own indexes, and source builds, keep the ``source``
the spec gives (their install docs): that metadata is not on PyPI.

Usage: python scripts/gen_pins_table.py [--python 3.10]     (network: PyPI)
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "codemods" / "pins" / "data"
PYPI_JSON = "https://pypi.org/pypi/{name}/json"
PYPI_PAGE = "https://pypi.org/project/{name}/{version}/"


def pip_metadata(specs, python: str) -> dict:
    """name (normalised) -> pip's metadata dict for each ``name==version`` in ``specs``."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--ignore-installed", "-q",
               "--only-binary=:all:", "--python-version", python, "--use-feature=fast-deps",
               # (--target: older pips refuse --python-version without it)
               "--target", str(Path(tmp) / "t"), "--report", str(report), *specs]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"error: pip cannot read the metadata of {' '.join(specs)}: "
                             f"{(proc.stderr.strip().splitlines() or ['?'])[-1]}")
        data = json.loads(report.read_text())
    return {normalise(i["metadata"]["name"]): i["metadata"] for i in data["install"]}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def torch_requirement(metadata: dict) -> str:
    """The Requires-Dist specifier on torch (without extras), '' when torch is unbounded, None without torch."""
    for line in metadata.get("requires_dist") or []:
        req = Requirement(line)
        if normalise(req.name) == "torch" and not (req.marker and "extra" in str(req.marker)):
            return str(req.specifier)
    return None


def releases(name: str) -> dict:
    with urllib.request.urlopen(PYPI_JSON.format(name=name), timeout=60) as resp:
        return json.load(resp)["releases"]


def wheel_pythons(name: str, version: str) -> list:
    files = releases(name).get(version) or []
    tags = sorted({f["python_version"] for f in files if f["packagetype"] == "bdist_wheel"})
    return [f"{t[2]}.{t[3:]}" for t in tags if re.fullmatch(r"cp3\d+", t)]


def python_marker(pythons: list, targets: list):
    """The environment marker that limits a pin to the target Pythons it has wheels for (None: all of them)."""
    have = [p for p in targets if p in pythons]
    if have == targets:
        return None
    if len(have) == 1:
        return f'python_version == "{have[0]}"'
    if have == targets[:len(have)]:
        return f'python_version < "{targets[len(have)]}"'
    if have == targets[len(targets) - len(have):]:
        return f'python_version >= "{have[0]}"'
    return " or ".join(f'python_version == "{p}"' for p in have)


def first_excluding(name: str, torch: str, python: str, after: str) -> tuple:
    """(first release after ``after`` whose Requires-Dist excludes torch ``torch``, its specifier), by bisection
    over final releases (the bound only ever rises); (None, None) when every release accepts it."""
    versions = sorted((Version(v) for v, files in releases(name).items()
                       if files and not Version(v).is_prerelease and Version(v) > Version(after)))
    lo, hi, found = 0, len(versions) - 1, (None, None)
    while lo <= hi:
        mid = (lo + hi) // 2
        meta = pip_metadata([f"{name}=={versions[mid]}"], python)[normalise(name)]
        spec = torch_requirement(meta)
        if spec and not Requirement(f"torch{spec}").specifier.contains(torch, prereleases=True):
            found, hi = (str(versions[mid]), spec), mid - 1
        else:
            lo = mid + 1
    return found


def accepts(spec, torch: str) -> bool:
    return spec is None or Requirement(f"torch{spec}").specifier.contains(torch, prereleases=True)


def build_target(target: str, spec: dict, python: str) -> dict:
    torch = spec["torch"]
    fill = {"cuda": spec["default_cuda"], "cuda_nodot": spec["default_cuda"].replace(".", ""),
            "cuda_major": spec["default_cuda"].split(".")[0], "torch": torch}
    out = {k: spec[k] for k in ("torch", "python", "cuda", "default_cuda", "torch_index", "torch_source",
                                "constraints", "numpy_source")}
    packages = {}
    pinned = {n: e["version"] for n, e in spec["companions"].items()}
    pinned.update({e["pattern"].format(**fill): e.get("probe", e["version"]) for e in spec["cuda_wheels"].values()})
    pinned.update({n: e["pinned"] for n, e in spec["dependents"].items()})
    meta = pip_metadata([f"{n}=={v}" for n, v in pinned.items()], python)
    seen = pip_metadata([f"{n}=={v}" for n, v in spec["upstream_seen"].items()], python)
    for name, entry in spec["companions"].items():
        m = meta[normalise(name)]
        needs = torch_requirement(m)
        if not accepts(needs, torch):
            raise SystemExit(f"error: {name}=={entry['version']} requires torch{needs}, not {torch}")
        newer = seen.get(normalise(name))
        pythons = wheel_pythons(name, entry["version"])
        packages[name] = {"rule": "TP001", "version": entry["version"], "requires_torch": needs,
                          "requires_python": m.get("requires_python"), "pythons": pythons,
                          "marker": python_marker(pythons, spec["python"]),
                          "source": PYPI_PAGE.format(name=name, version=entry["version"]) + f" (Requires-Dist: torch{needs})",
                          "upstream": {"version": spec["upstream_seen"][name], "requires_torch": torch_requirement(newer)}
                          if newer else None}
    for family, entry in spec["cuda_wheels"].items():
        probe = entry["pattern"].format(**fill)
        m = meta[normalise(probe)]
        packages[family] = {"rule": "TP002", "pattern": entry["pattern"], "version": entry["version"],
                            "requires_python": m.get("requires_python"),
                            "requires_dist": [r for r in m.get("requires_dist") or [] if "extra ==" not in r],
                            "checked": f"{probe}=={entry.get('probe', entry['version'])} on PyPI",
                            "source": entry["source"]}
    for name, entry in spec["source_builds"].items():
        packages[name] = dict(entry, rule="TP004")
    for name, entry in spec["python_markers"].items():
        pythons = wheel_pythons(name, entry["version"])
        packages[name] = {"rule": "TP005", "version": entry["version"], "pythons": pythons,
                          "marker": python_marker(pythons, spec["python"]),
                          "source": entry["source"] + f" (wheels: CPython {', '.join(pythons)})"}
    for name, entry in spec["dependents"].items():
        m = meta[normalise(name)]
        first, needs = first_excluding(name, torch, python, entry["pinned"])
        packages[name] = {"rule": "TP100", "version": entry["pinned"], "requires_torch": torch_requirement(m),
                          "first_needing_newer_torch": first, "its_requires_torch": needs,
                          "source": PYPI_PAGE.format(name=name, version=first or entry["pinned"])
                          + (f" (Requires-Dist: torch{needs})" if first else " (every later release accepts this torch)")}
    out["packages"] = packages
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="3.10", help="Python whose wheels are read (default 3.10)")
    args = parser.parse_args()
    spec = json.loads((DATA / "pins_spec.json").read_text())
    table = {"_about": "Generated by scripts/gen_pins_table.py from pins_spec.json and PyPI metadata; do not edit.",
             "targets": {t: build_target(t, s, args.python) for t, s in spec["targets"].items()}}
    target = DATA / "companions.json"
    target.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    print(f"wrote {target.relative_to(ROOT)}: {sum(len(t['packages']) for t in table['targets'].values())} entries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
