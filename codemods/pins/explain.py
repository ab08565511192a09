"""``sam3d-codemod rules TPnnn``: what a pins rule maps, read from the version table with each entry's source."""
from __future__ import annotations

from typing import List

from .table import load_target


def rule_doc(code: str, torch_line: str = "2.0") -> str:
    target = load_target(torch_line)
    lines: List[str] = [f"For torch {target.torch} with CUDA {target.cuda} (codemods/pins/data/companions.json):"]
    if code == "TP003":
        lines.append(f"  PyTorch's index -> {target.torch_index}")
        kaolin = target.entry("kaolin")
        if kaolin:
            lines.append(f"  kaolin's wheel index -> {target.fill(kaolin['wheel_index'])}")
        lines.append(f"  source: {target.data['torch_source']}")
        return "\n".join(lines)
    for name, entry in sorted(target.packages.items()):
        if entry["rule"] != code:
            continue
        if code == "TP004":
            spec = entry.get("spec") or "the tree's own git URL"
            what = f"built from source: {spec}"
        elif code == "TP100":
            first = entry.get("first_needing_newer_torch")
            what = f"from {first} needs torch{entry['its_requires_torch']}" if first else "every release accepts this torch"
        elif code == "TP002":
            what = f"{target.fill(entry['pattern'])}=={target.fill(entry['version'])}"
        else:
            what = f"=={entry['version']}" + (f"; {entry['marker']}" if entry.get("marker") else "")
        lines += [f"  {name}: {what}", f"      source: {entry['source']}"]
    if code == "TP001":
        lines.append(f"  numpy: {next(c for c in target.constraints if c.startswith('numpy'))} "
                     f"({target.data['numpy_source']})")
    if code == "TP100":
        lines.append("  and any pin built for another CUDA (+cuXXX, -cuXX, cudaXXx) that no entry maps")
    return "\n".join(lines)
