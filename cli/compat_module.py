"""The runtime helper module (_torch_compat.py) a tree's rewritten files import: its rendered
content, and an outcome for each helper a run must write or refresh."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Tuple

from ..codemods.base import COMPAT_MODULE, Site
from ..codemods.engine.bounded_read import DEFAULT_MAX_BYTES, InputError, read_bytes
from ..codemods.engine.hosts import HostFinder
from .outcome import FileOutcome, RunReport

COMPAT_FILE = COMPAT_MODULE + ".py"
COMPAT_MARKER = b"SAM3D_CODEMOD_HASH"


def _is_generated_compat(path: Path, raw: bytes) -> bool:
    return path.name == COMPAT_FILE and COMPAT_MARKER in raw


def render_compat() -> bytes:
    """The helper module for trees: the template with this tool's version and the template's hash."""
    import hashlib

    from .. import __version__

    template = (Path(__file__).resolve().parent.parent / "codemods" / "runtime" / "torch_compat.py")
    if not template.is_file():  # installed layout
        from ..codemods import runtime

        template = Path(runtime.__file__).parent / "torch_compat.py"
    data = template.read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:16]
    data = data.replace(b'SAM3D_CODEMOD_VERSION = "0+template"', f'SAM3D_CODEMOD_VERSION = "{__version__}"'.encode(), 1)
    data = data.replace(b'SAM3D_CODEMOD_HASH = "template"', f'SAM3D_CODEMOD_HASH = "{digest}"'.encode(), 1)
    return data


def _add_compat_modules(report: RunReport, hosts: Dict[Path, HostFinder], helpers: Dict[Path, Tuple[Path, bytes]],
                        write: bool) -> Dict[Path, FileOutcome]:
    """An outcome per helper module: those files need, and those an earlier run wrote (refreshed)."""
    needed: Dict[Path, Path] = {}
    for outcome in report.outcomes:
        if outcome.needs_compat and not outcome.error:
            host = outcome.host or hosts[outcome.root].host_for(outcome.path)[0]
            if host is not None:
                needed[host] = outcome.root
    for host, (root, _raw) in helpers.items():
        needed.setdefault(host, root)
    compat: Dict[Path, FileOutcome] = {}
    if not needed:
        return compat
    content = render_compat()
    for host, root in sorted(needed.items()):
        target = host / COMPAT_FILE
        outcome = compat[host] = FileOutcome(path=target, root=root)
        try:
            outcome.old = helpers[host][1] if host in helpers else (
                read_bytes(target, max(DEFAULT_MAX_BYTES, 4 * len(content)), follow=False) if os.path.lexists(target) else b"")
        except InputError as exc:
            outcome.error = f"cannot use this path for the runtime helpers: {exc}"
            report.outcomes.append(outcome)
            continue
        if outcome.old != content:
            outcome.new = content
            verb = ("written" if write else "to write") if not outcome.old else ("refreshed" if write else "to refresh")
            outcome.sites.append(Site("TC000", outcome.rel, 0, "patched", f"runtime helpers {verb}"))
        report.outcomes.append(outcome)
    return compat
