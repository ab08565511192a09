"""What both caches key on: the tool's own code (``code_fingerprint``), and the per-tree cache's folder.

Standard library only: the replay path (cli/replay.py) imports this before anything else."""
from __future__ import annotations

import hashlib
import os

CACHE_DIR = ".sam3d-codemod-cache"  # the per-file result cache (cli/cache.py) inside each tree


def code_fingerprint() -> str:
    """Changes whenever the tool's own code or data changes (not only its version number)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parts = []
    for folder in ("codemods", "cli", os.path.join("codemods", "data"), os.path.join("codemods", "runtime"),
                   os.path.join("codemods", "probe"), os.path.join("codemods", "rules"), os.path.join("codemods", "engine"),
                   os.path.join("codemods", "apiscan"), os.path.join("codemods", "pins"), os.path.join("codemods", "pins", "data")):
        d = os.path.join(here, folder)
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if name.endswith((".py", ".json")):
                st = os.stat(os.path.join(d, name))
                parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
