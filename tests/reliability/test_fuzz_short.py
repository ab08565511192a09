"""The short fuzz: ~200 cases of every family through the library, plus a CLI-level sample.

The long run is ``python scripts/fuzz.py --cases 2000 --seed 1`` (see the README)."""
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_short_fuzz(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fuzz.py"), "--cases", "200", "--seed", "7", "--jobs", str(min(4, os.cpu_count() or 2)),
         "--out", str(tmp_path / "failures")],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    print(proc.stdout, proc.stderr)
    summary = next((line for line in proc.stdout.splitlines() if line.startswith("fuzz: cases=")), None)
    assert summary is not None, proc.stderr[-3000:]
    counts = dict(re.findall(r"([\w-]+)=(\d+)", summary.split("|")[0]))
    assert int(counts.pop("cases")) == 200
    assert all(v == "0" for v in counts.values()), summary + "\n" + proc.stderr[-3000:]
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Every family ran (hypothesmith falls back to the built-in generator when it is not installed).
    assert re.search(r"grammar:\d+", summary) and re.search(r"upstream:\d+", summary), summary
    assert int(re.search(r"cli-files=(\d+)", summary).group(1)) > 0
