#!/usr/bin/env python3
"""Fuzz sam3d-codemod's rules, engine and CLI.

    python scripts/fuzz.py --cases 2000 --seed 1            # the long run (docs/results.md numbers)
    python scripts/fuzz.py --cases 200 --seed 7 --jobs 2    # the short run tests/reliability runs
    python scripts/fuzz.py --replay out/fuzz-failures/1     # re-check saved failing inputs

Case families (each case is one module, as bytes):

* ``hypothesmith``: programs from hypothesmith's Python grammar (falls back to ``grammar`` when
  hypothesmith is not installed) with the rules' trigger patterns spliced in at statement boundaries;
* ``grammar``: a small generator of nested programs (defs, classes, decorators, with/try/if/for,
  lambdas, comprehensions) that places trigger snippets, through aliases, in every context;
* ``upstream``: the real files of PyPI ``sam3d==0.1.2`` (vendored SAM 3D Objects, via
  ``tests/realtree.py``) and the rule fixtures, mutated: aliases renamed, statements duplicated,
  deleted or wrapped in try/except, re-indented, CRLF/mixed line endings, BOM, latin-1 with a
  coding cookie, trailing newline dropped, trigger snippets inserted.

Checks for every case, through the library API (``engine.transform_source`` with all rules):

* crash: any exception but LibCST's ParserSyntaxError (input rejected: a clean per-file error);
* unparsable: the output does not ``ast.parse`` (or no longer compiles while the input did), or the
  engine's own check (RuleBug) fired;
* non-idempotent: a second pass changes the output again;
* untouched-changed: the output differs although no rule reported a patched site;
* eol-changed: a CRLF-only file gets LF lines, or a BOM is lost;
* prefilter-miss: a rule patched a file its own text pre-filter rejects (the CLI would skip it);
* path-mismatch: the statement-level path (``transform_source``) differs in code, sites or
  compat need from parsing the whole module (``transform_module``).

Inputs LibCST cannot print back byte for byte (trailing whitespace-only lines, an over-indented
last comment, form feeds, lone CRs) are counted, not failed: "kept" when those bytes lie outside
the statements the rules touch (the output must still hold them), "lossy" when inside (the CLI
refuses the file with a per-file error, which the CLI sample checks).

Plus a CLI-level sample: batches of cases are written into a package, ``sam3d-codemod apply`` runs
in a subprocess, and every file must hold exactly the library's bytes (unchanged and refused ones
byte-identical), parse, and a second ``apply`` must change nothing.

Prints one summary line; exits 1 on any failure and saves each failing input (with a note on how
to reproduce it) under ``--out`` (default ``out/fuzz-failures/<seed>``).
"""
from __future__ import annotations

import argparse
import ast
import codecs
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parent.parent
# Only ``tests.realtree`` comes from the checkout. The tool is imported from the installed package:
# with the repository first on sys.path, its bare ``sam3d_codemod/`` (no ``cli``, no ``codemods``:
# setuptools maps those from the top level) would shadow a regular, non-editable install.
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))

FAILURE_KINDS = ("crash", "unparsable", "non-idempotent", "untouched-changed", "eol-changed",
                 "prefilter-miss", "path-mismatch", "timeout", "cli")
FAMILIES = ("hypothesmith", "grammar", "upstream")
COMPAT_CHOICES = (("from . import _torch_compat", 6), ("from sam3d_objects import _torch_compat", 2),
                  ("from .. import _torch_compat", 1), (None, 1))
CHUNK = 10  # cases per worker task (hypothesmith generates a chunk in one hypothesis run)


# ------------------------------------------------------------------ trigger snippets
# Self-contained statements; ``T`` is the torch module name (aliased by the generator).
SNIPPETS: Tuple[str, ...] = (
    # TC001
    "import T\nx = T.utils.checkpoint.checkpoint(f, y, use_reentrant=False)\n",
    "import torch.utils.checkpoint as cp\nx = cp.checkpoint(f, y)\n",
    "from torch.utils import checkpoint\nx = checkpoint.checkpoint(f, y)\n",
    "import T\nm = T.distributed.fsdp.FullyShardedDataParallel(m)\n",
    "import T\nflops = T.utils.flop_counter.FlopCounterMode()\n",
    # TC002
    "import T\nT._dynamo.config.cache_size_limit = 64\n",
    "import T\nT._dynamo.config.accumulated_cache_size_limit = 512\n",
    "import T\nT._dynamo.config.suppress_errors = True\nT._dynamo.config.optimize_ddp = False\n",
    "from torch import _dynamo\n_dynamo.config.verbose = 1\n",
    "import torch._dynamo as dyn\ndyn.reset()\n",
    "import T\n@T._dynamo.disable()\ndef _no_dynamo(x):\n    return x\n",
    "import T\nif hasattr(T._dynamo.config, 'x'):\n    T._dynamo.config.x = 1\n",
    # TC003
    "from torch.nn.attention import sdpa_kernel, SDPBackend\nwith sdpa_kernel(SDPBackend.FLASH_ATTENTION):\n    out = attn(q, k, v)\n",
    "from torch.nn.attention import sdpa_kernel as kern\nctx = kern([])\n",
    "import torch.nn.attention as A\nctx = A.sdpa_kernel(A.SDPBackend.MATH)\n",
    "import T\nwith T.nn.attention.sdpa_kernel(T.nn.attention.SDPBackend.EFFICIENT_ATTENTION):\n    pass\n",
    "from torch.nn import attention\nb = attention.SDPBackend.MATH\n",
    "from torch.nn.attention.flex_attention import flex_attention\n",
    "from torch.nn.attention import *\n",
    # TC004
    "import T\nif T.compiler.is_compiling():\n    y = 0\n",
    "from torch.compiler import is_compiling\nflag = is_compiling()\n",
    "import T\nfn = T.compiler.disable(fn)\n",
    # TC005
    "from torch.utils import _pytree\ny = _pytree.tree_map(f, a, b)\n",
    "import torch.utils._pytree as pytree\ny = pytree.tree_map(lambda p, q: p + q, x, z)\n",
    "from torch.utils._pytree import tree_map as tm\ny = tm(f, *trees)\n",
    "import T\ny = T.utils._pytree.tree_map(f, a, is_leaf=g)\n",
    "from torch.utils._pytree import tree_map\ny = tree_map(f, a)\nz = tree_map(f, a, b, c)\n",
    # TC006
    "import lightning.pytorch as pl\n",
    "import pytorch_lightning as pl\nclass M(pl.LightningModule):\n    pass\n",
    "from lightning import LightningModule, Trainer\n",
    "from lightning.pytorch.utilities.types import STEP_OUTPUT\n",
    "try:\n    import lightning\nexcept ImportError:\n    lightning = None\n",
    # TC007
    "x.index_add_(0, i, s)\n",
    "out = T.index_add(x, 0, i, s)\n",
    "self.buf.index_add_(0, idx, val * 2)\n",
    "f(x).index_add_(0, i, s)\n",
    "x.index_add_(dim=0, index=i, source=s)\n",
    "y = x.index_add(0, i, s, alpha=2)\n",
    # TC008
    "import kaolin\n",
    "from kaolin.utils.testing import check_tensor\ncheck_tensor(x, (None, 3), throw=True)\n",
    "import kaolin.ops.mesh as km\n",
    # TC009 (bites in __init__.py)
    "import os\nif os.environ.get('LIDRA_SKIP_INIT') is None:\n    import sam3d_objects.init\n",
    "import sam3d_objects.init\n",
    # TC011
    "import T\nmodel = T.compile(model, mode='max-autotune')\n",
    "import T\n@T.compile\ndef _compiled(x):\n    return x\n",
    "import T\n@T.compile(dynamic=True)\ndef _compiled2(x):\n    return x\n",
    "import T\ncompile_fn = (T.compile)\n",
    "import re\npat = re.compile('x')\n",
    # TC012
    "import T\nwith T.autocast('cpu', dtype=T.float32):\n    pass\n",
    "import T\nwith T.autocast(device_type='cpu', dtype=T.float, enabled=True):\n    y = 1\n",
    "import T\nctx = T.cpu.amp.autocast(dtype=T.float32)\n",
    "import T\nwith T.autocast('cuda', dtype=T.bfloat16):\n    pass\n",
    # TC013
    "import T\nif T.cuda.is_available():\n    gpu_name = T.cuda.get_device_name(0)\n",
    "import T\nif T.cuda.is_available():\n    name = T.cuda.get_device_name()\n    other = 1\n",
    # TC014, TC015: gates (if/else, the expression forms, a fall-through, a branch holding `global`)
    "import T\nfrom . import _torch_compat\nif T.__version__ >= '2.4':\n    norm = _torch_compat.RMSNorm(8)\n"
    "else:\n    norm = T.nn.LayerNorm(8)\n",
    "import T\nfrom . import _torch_compat\nnorm = _torch_compat.RMSNorm(8) if T.__version__ >= (2, 4) else None\n",
    "import T\nif T.__version__ < '2.4':\n    raise RuntimeError('needs torch 2.4')\nnorm = T.nn.RMSNorm(8)\n",
    "import T\nfrom . import _torch_compat\ndef _norm(d):\n    # old torch\n    if T.__version__ < '2.4':\n"
    "        return T.nn.LayerNorm(d)\n    return _torch_compat.RMSNorm(d)\n",
    "import T\nfrom . import _torch_compat\nfor _p in ps:\n    if T.__version__ < '2.3':\n        continue\n"
    "    _torch_compat.tree_map(f, _p, _p)\n",
    "import T\nimport torch._dynamo\nif not hasattr(T, '_dynamo'):\n    raise ImportError('dynamo')\n"
    "T._dynamo.config.cache_size_limit = 8\n",
    "import T\nfrom . import _torch_compat\ndef _flag():\n    if T.__version__ < '2.3':\n        global FLAG\n"
    "        FLAG = 0\n        return\n    FLAG = _torch_compat.is_compiling()\n",
    # suppressions, already-patched, look-alikes
    "x.index_add_(0, i, s)  # sam3d-codemod: ignore[TC007]\n",
    "import T\nT._dynamo.config.x = 1  # sam3d-codemod: ignore\n",
    "from . import _torch_compat\ny = _torch_compat.tree_map(f, a, b)\n",
    "s = 'torch._dynamo.config.x = 1; tree_map(f, a, b); x.index_add_(0, i, s)'\n",
    "# import lightning.pytorch as pl; torch.compile(m)\n",
    "def tree_map(f, *a):\n    return f\ny = tree_map(f, a, b)\n",
    "index_add_ = None\ncompiler = 'gcc'\nattention = 1\n",
    # black-style: parenthesized multi-line imports and calls with magic trailing commas
    "from torch.nn.attention import (\n    SDPBackend,\n    sdpa_kernel,\n)\n",
    "from torch.nn.attention import (sdpa_kernel)\n",
    "from torch.nn import (\n    attention,\n)\nctx = attention.sdpa_kernel(x)\n",
    "from torch.compiler import (\n    is_compiling,\n)\n",
    "from torch.utils._pytree import (\n    tree_map,\n    tree_flatten,\n)\ny = tree_map(\n    f,\n    a,\n    b,\n)\n",
    "from lightning.pytorch import (\n    LightningModule,\n    Trainer,\n)\n",
    "from kaolin.utils.testing import (\n    check_tensor,\n)\n",
    "x.index_add_(\n    0,\n    i,\n    s,\n)\n",
    "import T\nwith T.autocast(\n    'cpu',\n    dtype=T.float32,\n):\n    pass\n",
    "import T\nmodel = T.compile(\n    model,\n    mode='max-autotune',\n)\n",
    "import T\nT._dynamo.config.cache_size_limit = (\n    64\n)\n",
    "import T\nif (\n    T.cuda.is_available()\n):\n    gpu_name = T.cuda.get_device_name(0)\n",
)
MODULE_ONLY = ("import *",)


def alias_torch(snippet: str, name: str) -> str:
    """``T`` -> ``torch``, or an ``import torch as <name>`` alias used consistently."""
    if name == "torch":
        return re.sub(r"\bT\b", "torch", snippet)
    out = []
    for line in lines_of(snippet):
        if re.match(r"\s*import T\s*$", line):
            out.append(line.replace("import T", f"import torch as {name}"))
        else:
            out.append(re.sub(r"\bT\b", name, line))
    return "".join(out)


def pick_snippet(rng: random.Random, module_level: bool = True) -> str:
    while True:
        snippet = rng.choice(SNIPPETS)
        if module_level or not any(m in snippet for m in MODULE_ONLY):
            return alias_torch(snippet, rng.choice(("torch", "torch", "torch", "th", "T", "_torch")))


def lines_of(text: str) -> List[str]:
    """Lines as Python's tokenizer sees them (LF, CRLF or a lone CR), endings kept; str.splitlines
    would also split at form feeds and other separators that Python keeps inside a line."""
    return re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)


def indent(text: str, prefix: str) -> str:
    return "".join(prefix + line if line.strip() else line for line in lines_of(text))


# ------------------------------------------------------------------ the small grammar generator
NAMES = ("x", "y", "z", "a", "b", "s", "i", "idx", "buf", "out", "model", "f", "g", "data", "q", "k", "v")


def gen_expr(rng: random.Random, depth: int = 0) -> str:
    if depth > 2 or rng.random() < 0.35:
        return rng.choice(NAMES + ("1", "0.5", "'s'", "None", "True", "[]", "{}"))
    kind = rng.randrange(10)

    def e() -> str:
        return gen_expr(rng, depth + 1)

    if kind == 0:
        return f"{e()} + {e()}"
    if kind == 1:
        return f"{rng.choice(NAMES)}({', '.join(e() for _ in range(rng.randrange(4)))})"
    if kind == 2:
        return f"{rng.choice(NAMES)}.{rng.choice(NAMES)}"
    if kind == 3:
        return f"[{e()} for {rng.choice(NAMES)} in {e()}]"
    if kind == 4:
        return f"(lambda {rng.choice(NAMES)}: {e()})"
    if kind == 5:
        return f"{e()}[{e()}]"
    if kind == 6:
        return f"({e()}, {e()})"
    if kind == 7:
        return f"{{{e()}: {e()}}}"
    if kind == 8:
        return f"({e()} if {e()} else {e()})"
    return f"f'{{{rng.choice(NAMES)}}}'"


def gen_block(rng: random.Random, depth: int, ind: str, in_func: bool, in_loop: bool, budget: List[int]) -> List[str]:
    lines: List[str] = []
    for _ in range(rng.randint(1, 4)):
        if budget[0] <= 0:
            break
        budget[0] -= 1
        lines += gen_stmt(rng, depth, ind, in_func, in_loop, budget)
    return lines or [ind + "pass\n"]


def gen_stmt(rng: random.Random, depth: int, ind: str, in_func: bool, in_loop: bool, budget: List[int]) -> List[str]:
    inner = ind + rng.choice(("    ", "    ", "  ", "\t")) if not ind.endswith("\t") else ind + "\t"
    r = rng.random()
    if r < 0.30:
        return [indent(pick_snippet(rng, module_level=(depth == 0)), ind)]
    if depth >= 3 or r < 0.45:
        simple = rng.choice((
            f"{rng.choice(NAMES)} = {gen_expr(rng)}",
            f"{rng.choice(NAMES)} += {gen_expr(rng)}",
            gen_expr(rng),
            "pass",
            f"assert {gen_expr(rng)}",
            f"del {rng.choice(NAMES)}",
            f"{rng.choice(NAMES)}: int = {gen_expr(rng)}",
            f"{rng.choice(NAMES)} = {gen_expr(rng)}; {rng.choice(NAMES)} = {gen_expr(rng)}",
        ))
        if in_func and rng.random() < 0.2:
            simple = f"return {gen_expr(rng)}"
        if in_loop and rng.random() < 0.1:
            simple = rng.choice(("break", "continue"))
        return [f"{ind}{simple}\n"]
    kind = rng.randrange(9)

    def body(func: bool = in_func, loop: bool = in_loop) -> List[str]:
        return gen_block(rng, depth + 1, inner, func, loop, budget)

    if kind == 0:
        decorators = ('staticmethod', 'functools.wraps(g)', 'torch.no_grad()', 'torch.compile', 'torch._dynamo.disable()',
                      'torch.compile(mode=' + repr('reduce-overhead') + ')')
        decos = [f"{ind}@{rng.choice(decorators)}\n" for _ in range(rng.randrange(3))]
        asyn = "async " if rng.random() < 0.15 else ""
        name, number = rng.choice(NAMES), rng.randrange(99)
        params = ", ".join(rng.sample(NAMES, rng.randrange(3)))
        return decos + [f"{ind}{asyn}def {name}_{number}({params}):\n"] + body(True, False)
    if kind == 1:
        return [f"{ind}class C{rng.randrange(99)}({rng.choice(('', 'object', 'nn.Module', 'pl.LightningModule'))}):\n"] + body(False, False)
    if kind == 2:
        out = [f"{ind}if {gen_expr(rng)}:\n"] + body()
        if rng.random() < 0.3:
            out += [f"{ind}elif {gen_expr(rng)}:\n"] + body()
        if rng.random() < 0.4:
            out += [f"{ind}else:\n"] + body()
        return out
    if kind == 3:
        return [f"{ind}for {rng.choice(NAMES)} in {gen_expr(rng)}:\n"] + body(in_func, True)
    if kind == 4:
        return [f"{ind}while {gen_expr(rng)}:\n"] + body(in_func, True)
    if kind == 5:
        out = [f"{ind}try:\n"] + body()
        handlers = rng.randint(0 if rng.random() < 0.3 else 1, 2)
        for _ in range(handlers):
            caught = rng.choice(('ImportError', 'Exception', '(ImportError, RuntimeError)', 'ModuleNotFoundError as e'))
            out += [f"{ind}except {caught}:\n"] + body()
        if handlers == 0 or rng.random() < 0.3:
            out += [f"{ind}finally:\n"] + body()
        return out
    if kind == 6:
        return [f"{ind}with {gen_expr(rng)} as {rng.choice(NAMES)}:\n"] + body()
    if kind == 7:
        return [f"{ind}if TYPE_CHECKING:\n", indent(pick_snippet(rng, module_level=False), inner)]
    return [f"{ind}{rng.choice(NAMES)} = [{gen_expr(rng)}\n", f"{ind}    for {rng.choice(NAMES)} in {gen_expr(rng)}]\n"]


def gen_grammar_program(rng: random.Random) -> str:
    lines: List[str] = []
    if rng.random() < 0.3:
        lines.append('"""Module docstring."""\n')
    if rng.random() < 0.2:
        lines.append("from __future__ import annotations\n")
    if rng.random() < 0.85:  # plausible modules import what they use; some do not
        lines.append(rng.choice(("import torch\n", "import torch\nimport torch.nn as nn\n", "import os\nimport torch\n")))
    budget = [rng.randint(4, 30)]
    while budget[0] > 0:
        budget[0] -= 1
        lines += gen_stmt(rng, 0, "", False, False, budget)
    return "".join(lines)


# ------------------------------------------------------------------ hypothesmith
_HYPO_CACHE: Dict[int, List[str]] = {}


def hypothesmith_programs(seed: int, count: int) -> Optional[List[str]]:
    """``count`` programs from hypothesmith's grammar strategy, deterministic for ``seed``; None if not installed."""
    try:
        import hypothesmith
        from hypothesis import HealthCheck, Phase, given, settings
        from hypothesis import seed as hseed
    except ImportError:
        return None
    if seed in _HYPO_CACHE:
        return _HYPO_CACHE[seed]
    out: List[str] = []
    warnings.filterwarnings("ignore")

    @hseed(seed)
    @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(hypothesmith.from_grammar(auto_target=False))
    def collect(src: str) -> None:
        out.append(src)

    try:
        collect()
    except Exception:  # pragma: no cover - hypothesis internals
        pass
    _HYPO_CACHE[seed] = out
    return out


def statement_starts(text: str) -> List[Tuple[int, str]]:
    """(0-based line, indentation) where a new statement may be inserted: before each statement that
    starts its own line, at module level and in function/class/if/for/with/try bodies."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    lines = lines_of(text)
    spots = {}
    for node in ast.walk(tree):
        for name in ("body", "orelse", "finalbody"):
            block = getattr(node, name, None)
            if not isinstance(block, list):
                continue
            for stmt in block:
                if not isinstance(stmt, ast.stmt):
                    continue
                decorators = getattr(stmt, "decorator_list", None) or []
                row = min([stmt.lineno] + [d.lineno for d in decorators]) - 1
                if row >= len(lines):
                    continue
                line = lines[row]
                lead = line[: len(line) - len(line.lstrip(" \t"))]
                if stmt.col_offset != len(lead) or (decorators and not line.lstrip().startswith("@")):
                    continue  # not at the start of its line (``a; b`` or ``if x: y``)
                if isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__":
                    continue
                spots[row] = lead
    return sorted(spots.items())


def splice(rng: random.Random, text: str, count: int) -> str:
    if text and not text.endswith(("\n", "\r")):
        text += "\n"
    for _ in range(count):
        spots = statement_starts(text)
        lines = lines_of(text)
        if spots and rng.random() < 0.85:
            row, lead = rng.choice(spots)
            # after a __future__ import block only; the spot list already skips them
            snippet = indent(pick_snippet(rng, module_level=(lead == "")), lead)
            lines.insert(row, snippet)
        else:
            lines.append(pick_snippet(rng))
        text = "".join(lines)
    return text


# ------------------------------------------------------------------ mutations of real files
def mutate(rng: random.Random, text: str) -> Tuple[str, List[str]]:
    ops = []
    for _ in range(rng.randint(1, 4)):
        op = rng.choice(("alias", "alias", "duplicate", "delete", "wrap_try", "reindent", "insert", "insert", "insert",
                         "dedent_tail", "blank_lines", "comment"))
        new = globals()["_m_" + op](rng, text)
        if new is not None and new != text:
            text = new
            ops.append(op)
    return text, ops


def _m_alias(rng, text):
    imports = re.findall(r"(?m)^[ \t]*(?:import [\w.]+ as (\w+)|from [\w.]+ import .*\bas (\w+))", text)
    names = [a or b for a, b in imports]
    plain = re.findall(r"(?m)^[ \t]*import (torch|numpy|os)\s*$", text)
    if plain and (not names or rng.random() < 0.5):
        mod = rng.choice(plain)
        alias = rng.choice(("_t", "tt", "T", "torch_", "np_")) + "x"
        text = re.sub(rf"(?m)^([ \t]*)import {mod}\s*$", rf"\1import {mod} as {alias}", text)
        return re.sub(rf"(?<![\w.]){mod}\.", alias + ".", text)
    if not names:
        return None
    old = rng.choice(names)
    return re.sub(rf"\b{re.escape(old)}\b", old + "_r", text)


def _stmt_ranges(text):
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return [], []
    lines = lines_of(text)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and node.end_lineno is not None:
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            line = lines[first - 1]
            lead = line[: len(line) - len(line.lstrip(" \t"))]
            if len(lead) == node.col_offset or getattr(node, "decorator_list", None):
                out.append((first - 1, node.end_lineno, lead))
    return out, lines


def _m_duplicate(rng, text):
    ranges, lines = _stmt_ranges(text)
    if not ranges:
        return None
    a, b, _ = rng.choice(ranges)
    return "".join(lines[:b] + lines[a:b] + lines[b:])


def _m_delete(rng, text):
    ranges, lines = _stmt_ranges(text)
    if not ranges:
        return None
    a, b, lead = rng.choice(ranges)
    eol = "\r\n" if lines[b - 1].endswith("\r\n") else "\n"
    return "".join(lines[:a] + [f"{lead}pass{eol}"] + lines[b:])


def _m_wrap_try(rng, text):
    ranges, lines = _stmt_ranges(text)
    ranges = [r for r in ranges if re.match(r"\s*(import|from)\b", lines[r[0]])] or ranges
    if not ranges:
        return None
    a, b, lead = rng.choice(ranges)
    body = [(lead + "    " + line[len(lead):]) if line.strip() else line for line in lines[a:b]]
    handler = rng.choice(("ImportError", "Exception", "(ImportError, RuntimeError)"))
    return "".join(lines[:a] + [f"{lead}try:\n"] + body + [f"{lead}except {handler}:\n", f"{lead}    pass\n"] + lines[b:])


def _m_reindent(rng, text):
    unit = rng.choice(("  ", "\t", "   ", "        "))

    def fix(m):
        n = len(m.group(0))
        return unit * (n // 4) + " " * (n % 4)

    return re.sub(r"(?m)^(?: {4})+", fix, text)


def _m_insert(rng, text):
    return splice(rng, text, 1)


def _m_dedent_tail(rng, text):
    return text.rstrip("\n") if rng.random() < 0.5 else text + "\n\n\n"


def _m_blank_lines(rng, text):
    lines = lines_of(text)
    if not lines:
        return None
    i = rng.randrange(len(lines))
    return "".join(lines[:i] + ["\n" * rng.randint(1, 3)] + lines[i:])


def _m_comment(rng, text):
    lines = lines_of(text)
    i = rng.randrange(len(lines) + 1)
    return "".join(lines[:i] + [rng.choice(("# tree_map torch._dynamo index_add_\n", "#\n", "# type: ignore\n"))] + lines[i:])


def encode_variant(rng: random.Random, text: str) -> Tuple[bytes, str]:
    """The bytes of a case: CRLF / mixed endings, BOM, latin-1 with a cookie, or plain UTF-8."""
    r = rng.random()
    note = "utf-8"
    if r < 0.15:
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
        note = "crlf"
    elif r < 0.22:
        text = "".join(line.replace("\n", "\r\n") if rng.random() < 0.5 else line for line in lines_of(text))
        note = "mixed-eol"
    r = rng.random()
    if r < 0.1:
        return codecs.BOM_UTF8 + text.encode("utf-8"), note + "+bom"
    if r < 0.2:
        eol = "\r\n" if "\r\n" in text else "\n"
        cookie = f"# -*- coding: latin-1 -*-{eol}# Fran\xe7ois \xe9t\xe9 \xb5s{eol}"
        if text.startswith("#!"):
            first, _, rest = text.partition("\n")
            body = first + "\n" + cookie + rest
        else:
            body = cookie + text
        try:
            return body.encode("latin-1"), note + "+latin-1"
        except UnicodeEncodeError:
            pass
    return text.encode("utf-8"), note


# ------------------------------------------------------------------ cases
@dataclass
class Case:
    index: int
    family: str
    raw: bytes
    filename: str = "mod.py"
    compat_import: Optional[str] = "from . import _torch_compat"
    note: str = ""


@dataclass
class Outcome:
    index: int
    family: str
    status: str = "ok"  # ok | rejected | invalid
    changed: bool = False
    patched_codes: List[str] = field(default_factory=list)
    failures: List[Tuple[str, str]] = field(default_factory=list)
    case: Optional[Case] = None  # kept only for failures and CLI samples
    detail: str = ""


_CORPUS: Optional[List[Tuple[str, str]]] = None


def corpus() -> List[Tuple[str, str]]:
    """(name, text) of the real files: the PyPI wheel's vendored tree and the rule fixtures."""
    global _CORPUS
    if _CORPUS is None:
        files: List[Tuple[str, str]] = []
        try:
            from tests.realtree import pristine_tree

            root = pristine_tree()
            for p in sorted(root.rglob("*.py")):
                files.append(("upstream/" + p.relative_to(root).as_posix(), p.read_text(encoding="utf-8")))
        except BaseException as exc:  # pytest.skip outside pytest raises a BaseException
            print(f"fuzz: warning: no upstream tree ({type(exc).__name__}: {exc}); mutating fixtures only", file=sys.stderr)
        for p in sorted((REPO / "fixtures").rglob("*.py")):
            if not p.name.endswith(".out.py"):
                files.append(("fixtures/" + p.relative_to(REPO / "fixtures").as_posix(), p.read_text(encoding="utf-8")))
        _CORPUS = files
    return _CORPUS


def make_case(seed: int, index: int, family: str, hypo: Optional[List[str]]) -> Case:
    rng = random.Random(f"{seed}:{index}")
    note = family
    if family == "hypothesmith" and hypo:
        program = hypo[index % len(hypo)]
        text = splice(rng, program, rng.randint(1, 4))
        note += f" #{index % len(hypo)}"
    elif family == "upstream":
        name, original = rng.choice(corpus())
        text, ops = mutate(rng, original)
        note += f" {name} [{','.join(ops)}]"
    else:
        text = gen_grammar_program(rng)
    raw, enc = encode_variant(rng, text)
    choices = [c for c, w in COMPAT_CHOICES for _ in range(w)]
    filename = "__init__.py" if rng.random() < 0.15 else "mod.py"
    return Case(index, family, raw, filename, rng.choice(choices), f"{note} {enc}")


# ------------------------------------------------------------------ the checks
class CaseTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise CaseTimeout()


def _compiles(text: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(text, "<fuzz>", "exec", dont_inherit=True)
        return True
    except (SyntaxError, ValueError):
        return False
    except RecursionError:
        return False


_RULES = None


def rules():
    global _RULES
    if _RULES is None:
        from sam3d_codemod.codemods.rules import select_rules

        _RULES = select_rules((), (), "2.0")
    return _RULES


def check_case(case: Case, timeout: float = 60.0) -> Outcome:
    out = Outcome(case.index, case.family)
    if hasattr(signal, "setitimer") and timeout:
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        _check(case, out)
    except CaseTimeout:
        out.failures.append(("timeout", f"over {timeout}s"))
    except RecursionError:
        out.status = "rejected"  # the CLI reports deep nesting as a per-file error
    except Exception:
        out.failures.append(("crash", traceback.format_exc()))
    finally:
        if hasattr(signal, "setitimer") and timeout:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    if out.failures:
        out.case = case
    return out


def _check(case: Case, out: Outcome) -> None:
    import libcst as cst

    from sam3d_codemod.cli.fileio import InputError, decode
    from sam3d_codemod.codemods.engine.transform import LossyInput, RuleBug, transform_module, transform_source

    path = Path(case.filename)
    try:
        source = decode(path, case.raw)
    except InputError:
        out.status = "invalid"
        return
    text = source.text
    if not _compiles(text):
        out.status = "invalid"  # generators aim for valid Python; a miss is not a finding
        return
    try:
        module = cst.parse_module(text)
    except cst.ParserSyntaxError:
        out.status = "rejected"
        return
    all_rules = rules()
    whole_module_lossy = module.code != text
    try:
        result = transform_source(text, all_rules, str(path), case.compat_import, "2.0")
    except RuleBug as exc:
        out.failures.append(("unparsable", str(exc)))
        return
    except LossyInput as exc:
        # Refused only where LibCST cannot print back a statement the rules touch; it must be right.
        if not whole_module_lossy:
            out.failures.append(("crash", f"LossyInput on a file LibCST round-trips: {exc}"))
        else:
            out.status = "lossy"
            out.detail = _first_difference(text, module.code)
        return
    if not whole_module_lossy:
        # The statement-level path must give exactly what parsing the whole module gives.
        reference = transform_module(module, text, all_rules, str(path), case.compat_import, "2.0")
        mismatch = _result_difference(reference, result)
        if mismatch:
            out.failures.append(("path-mismatch", mismatch))
    patched = sorted({s.code for s in result.sites if s.status == "patched"})
    out.patched_codes = patched
    body = prefilter_bytes(case.raw)
    for code in patched:
        rule = next(r for r in all_rules if r.code == code)
        if not rule.matches_bytes(body, path.name):
            out.failures.append(("prefilter-miss", f"{code} patched a file its pre-filter skips"))
    if result.code is None:
        return
    new = result.code
    out.changed = True
    if not patched:
        out.failures.append(("untouched-changed", "output differs but no rule reported a patched site"))
    try:
        ast.parse(new)
    except (SyntaxError, ValueError) as exc:
        out.failures.append(("unparsable", f"output does not parse: {exc}"))
        return
    if not _compiles(new):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                compile(new, "<out>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            out.failures.append(("unparsable", f"output no longer compiles: {exc}"))
    if whole_module_lossy:
        # LibCST would drop these bytes printing the whole module (trailing whitespace-only lines,
        # an over-indented last comment, form feeds, a lone CR); they lie outside the patched
        # statements, so the output must still hold them.
        out.status = "kept"
        out.detail = _first_difference(text, module.code)
    if "\r\n" in text and not re.search(r"(?<!\r)\n", text) and re.search(r"(?<!\r)\n", new):
        out.failures.append(("eol-changed", "CRLF file got LF-only lines"))
    try:
        data = source.encode(new)
    except InputError as exc:
        out.failures.append(("crash", f"cannot encode the output: {exc}"))
        return
    if case.raw.startswith(codecs.BOM_UTF8) != data.startswith(codecs.BOM_UTF8):
        out.failures.append(("eol-changed", "BOM lost or added"))
    try:
        again = transform_source(new, all_rules, str(path), case.compat_import, "2.0")
    except Exception as exc:
        out.failures.append(("non-idempotent", f"second pass raised {type(exc).__name__}: {exc}"))
        return
    if again.code is not None:
        out.failures.append(("non-idempotent", "second pass changed the output again:\n" + _short_diff(new, again.code)))


def _result_difference(reference, result) -> str:
    """Where two TransformResults differ (code, sites, compat need), or ""."""
    if reference.code != result.code:
        return "code differs from the whole-module path:\n" + _short_diff(reference.code or "", result.code or "")
    ref_sites = [(s.code, s.line, s.status, s.message) for s in reference.sites]
    sites = [(s.code, s.line, s.status, s.message) for s in result.sites]
    if ref_sites != sites:
        return f"sites differ: whole-module {ref_sites} vs statements {sites}"
    if reference.needs_compat != result.needs_compat:
        return "needs_compat differs"
    return ""


def prefilter_bytes(raw: bytes) -> bytes:
    """The bytes the CLI's pre-filter matches the rules' patterns against (cli/runner.py, run())."""
    body = raw[3:] if raw.startswith(codecs.BOM_UTF8) else raw
    return body.replace(b"\r", b"\n") if b"\r" in body else body


def _first_difference(a: str, b: str) -> str:
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"at char {i}: input {a[i:i + 12]!r}, LibCST {b[i:i + 12]!r}"


def _short_diff(a: str, b: str) -> str:
    import difflib

    return "".join(list(difflib.unified_diff(a.splitlines(True), b.splitlines(True), "first", "second", n=1))[:40])


def run_chunk(task) -> List[Outcome]:
    seed, family, start, count, timeout = task
    hypo = None
    if family == "hypothesmith":
        # Generation costs ~0.2 s a program: each one serves two cases, with different splices and bytes.
        hypo = hypothesmith_programs(seed * 100003 + start, max(4, (count + 1) // 2))
        if not hypo:
            family = "grammar"  # not installed: the small generator stands in
    outcomes = []
    for index in range(start, start + count):
        case = make_case(seed, index, family, hypo)
        outcome = check_case(case, timeout)
        outcome.family = family
        outcomes.append(outcome)
        if outcome.status in ("ok", "lossy", "kept") and not outcome.failures:
            outcome.case = case  # candidates for the CLI sample
    return outcomes


# ------------------------------------------------------------------ CLI sample
def cli_sample(cases: List[Case], workdir: Path, timeout: float) -> List[Tuple[Case, str, str]]:
    """Write ``cases`` into a package, run ``sam3d-codemod apply`` twice; returns (case, kind, detail) failures."""
    from sam3d_codemod.cli.fileio import decode
    from sam3d_codemod.codemods.engine.transform import transform_source

    failures: List[Tuple[Case, str, str]] = []
    tree = workdir / "tree"
    shutil.rmtree(tree, ignore_errors=True)
    pkg = tree / "fuzzpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    expected: Dict[str, Tuple[Case, bytes]] = {}
    from sam3d_codemod.codemods.engine.transform import LossyInput

    all_rules = rules()
    refused = set()
    for case in cases:
        name = f"case_{case.index:06d}.py"
        (pkg / name).write_bytes(case.raw)
        source = decode(Path(name), case.raw)
        try:
            result = transform_source(source.text, all_rules, name, "from . import _torch_compat", "2.0")
        except LossyInput:
            result = None
        if result is None:
            refused.add(f"fuzzpkg/{name}")  # the CLI must refuse it, not write a lossy copy
            expected[name] = (case, case.raw)
        else:
            expected[name] = (case, source.encode(result.code) if result.code is not None else case.raw)
    cmd = [sys.executable, "-m", "sam3d_codemod.cli.main", "apply", str(tree), "--output-format", "json", "--no-cache", "-j", "2"]
    for attempt in ("first", "second"):
        try:
            # cwd: not the checkout, whose bare sam3d_codemod/ `-m` would put first on the path.
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout, cwd=str(Path(tree).resolve().parent))
        except subprocess.TimeoutExpired:
            return [(c, "cli", f"`apply` ({attempt} run) took over {timeout}s") for c, _ in expected.values()][:1]
        try:
            report = json.loads(proc.stdout)
        except ValueError:
            stderr = proc.stderr.decode(errors="replace")[-2000:]
            return [(cases[0], "cli", f"{attempt} `apply` crashed (exit {proc.returncode}): {stderr}")]
        errors = {e["path"]: e["message"] for e in report["errors"]}
        unexpected = {p: m for p, m in errors.items() if p not in refused or "byte for byte" not in m}
        missing = refused - set(errors)
        if (proc.returncode not in (0, 1, 2) or (proc.returncode == 2) != bool(errors) or unexpected or missing
                or b"Traceback" in proc.stderr):
            return [(cases[0], "cli", f"{attempt} `apply` exit {proc.returncode}, unexpected errors {unexpected}, "
                                      f"lossy files not refused {sorted(missing)}: {proc.stderr.decode(errors='replace')[-2000:]}")]
        if attempt == "first":
            for name, (case, want) in expected.items():
                got = (pkg / name).read_bytes()
                if got != want:
                    failures.append((case, "cli", "CLI bytes differ from the library's:\n"
                                     + _short_diff(want.decode("latin-1"), got.decode("latin-1"))))
                    continue
                try:
                    ast.parse(decode(Path(name), got).text)
                except SyntaxError as exc:
                    failures.append((case, "cli", f"written file does not parse: {exc}"))
        elif report["files_changed"]:
            for rel in report["files_changed"]:
                name = Path(rel).name
                case = expected.get(name, (cases[0], b""))[0]
                failures.append((case, "cli", f"second `apply` changed {rel} again"))
    return failures


# ------------------------------------------------------------------ main
def save_failure(out_dir: Path, case: Case, kind: str, detail: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{kind}-{case.family}-{case.index:06d}"
    (out_dir / f"{stem}.py").write_bytes(case.raw)
    (out_dir / f"{stem}.txt").write_text(
        f"kind: {kind}\nfamily: {case.family}\nmade: {case.note}\nfilename: {case.filename}\n"
        f"compat_import: {case.compat_import}\n\n{detail}\n\n"
        f"reproduce: python scripts/fuzz.py --replay {out_dir / (stem + '.py')}\n"
    )
    return out_dir / f"{stem}.py"


def minimize(case: Case, kind: str, timeout: float) -> bytes:
    """Line-based delta debugging: the smallest input (by lines) that still fails with ``kind``."""
    from sam3d_codemod.cli.fileio import decode

    source = decode(Path(case.filename), case.raw)
    lines = lines_of(source.text)

    def fails(candidate: List[str]) -> bool:
        raw = source.encode("".join(candidate))
        outcome = check_case(Case(case.index, case.family, raw, case.filename, case.compat_import), timeout)
        return any(k == kind for k, _ in outcome.failures)

    n = 2
    while len(lines) >= 2:
        size = max(1, len(lines) // n)
        reduced = False
        for start in range(0, len(lines), size):
            candidate = lines[:start] + lines[start + size:]
            if candidate and fails(candidate):
                lines, n, reduced = candidate, max(n - 1, 2), True
                break
        if not reduced:
            if size == 1:
                break
            n = min(n * 2, len(lines))
    return source.encode("".join(lines))


def replay(paths: List[str], timeout: float, shrink: bool = False) -> int:
    bad = 0
    files = []
    for p in paths:
        p = Path(p)
        files += sorted(p.glob("*.py")) if p.is_dir() else [p]
    for f in files:
        meta = f.with_suffix(".txt")
        filename, compat = "mod.py", "from . import _torch_compat"
        if meta.is_file():
            info = dict(line.split(": ", 1) for line in meta.read_text().splitlines() if ": " in line)
            filename = info.get("filename", filename)
            compat = None if info.get("compat_import") == "None" else info.get("compat_import", compat)
        outcome = check_case(Case(0, "replay", f.read_bytes(), filename, compat), timeout)
        status = ", ".join(k for k, _ in outcome.failures) or outcome.status
        print(f"{f}: {status}")
        for kind, detail in outcome.failures:
            print(f"  {kind}: {detail}")
            if shrink:
                small = minimize(Case(0, "replay", f.read_bytes(), filename, compat), kind, timeout)
                target = f.with_name(f.stem + f".min-{kind}.py")
                target.write_bytes(small)
                print(f"  minimized ({len(small)} bytes) -> {target}:\n{small.decode('utf-8', 'replace')}")
        bad += bool(outcome.failures)
    return 1 if bad else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--families", default=",".join(FAMILIES), help=f"comma-separated subset of {','.join(FAMILIES)}")
    ap.add_argument("--cli-files", type=int, default=40, help="files per CLI-level sample run")
    ap.add_argument("--cli-every", type=int, default=250, help="one CLI-level run per this many cases (at least one)")
    ap.add_argument("--case-timeout", type=float, default=60.0)
    ap.add_argument("--out", default=None, help="where failing inputs go [out/fuzz-failures/<seed>]")
    ap.add_argument("--replay", nargs="+", default=None, help="re-check saved inputs (files or folders) and exit")
    ap.add_argument("--minimize", action="store_true", help="with --replay: also shrink each failing input")
    args = ap.parse_args(argv)
    if args.replay:
        return replay(args.replay, args.case_timeout, args.minimize)
    families = [f for f in args.families.split(",") if f]
    for f in families:
        if f not in FAMILIES:
            ap.error(f"unknown family {f}")
    out_dir = Path(args.out) if args.out else REPO / "out" / "fuzz-failures" / str(args.seed)
    start_time = time.monotonic()

    # Cases are assigned to families round-robin by chunk; each chunk is one worker task.
    tasks = []
    index = 0
    k = 0
    while index < args.cases:
        count = min(CHUNK, args.cases - index)
        tasks.append((args.seed, families[k % len(families)], index, count, args.case_timeout))
        index += count
        k += 1
    if "hypothesmith" in families and _hypothesmith_missing():
        print("fuzz: hypothesmith is not installed; its cases use the built-in grammar generator "
              "(pip install hypothesmith)", file=sys.stderr)
    if "upstream" in families:
        corpus()  # download/extract once, before the workers

    outcomes: List[Outcome] = []
    if args.jobs > 1 and len(tasks) > 1:
        import multiprocessing

        ctx = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
        with ctx.Pool(args.jobs) as pool:
            for chunk in pool.imap_unordered(run_chunk, tasks):
                outcomes += chunk
    else:
        for task in tasks:
            outcomes += run_chunk(task)
    outcomes.sort(key=lambda o: o.index)

    failures: List[Tuple[Case, str, str]] = []
    for o in outcomes:
        for kind, detail in o.failures:
            failures.append((o.case, kind, detail))

    # CLI-level sample: clean, changed-or-not cases, written into one package per run.
    rng = random.Random(f"{args.seed}:cli")
    pool_cases = [o.case for o in outcomes if o.case is not None and not o.failures and o.case.filename == "mod.py"]
    runs = max(1, args.cases // args.cli_every)
    cli_files = 0
    with tempfile.TemporaryDirectory(prefix="sam3d-fuzz-") as tmp:
        for _ in range(runs):
            if not pool_cases:
                break
            sample = rng.sample(pool_cases, min(args.cli_files, len(pool_cases)))
            cli_files += len(sample)
            failures += cli_sample(sample, Path(tmp), timeout=max(120.0, args.case_timeout * 4))

    counts = {kind: 0 for kind in FAILURE_KINDS}
    for _case, kind, _detail in failures:
        counts[kind] += 1
    if out_dir.is_dir():  # a previous run with this seed: its inputs would mix with ours
        for old in out_dir.iterdir():
            if re.match(r"[a-z-]+-(hypothesmith|grammar|upstream|replay)-\d{6}(\.min-[a-z-]+)?\.(py|txt)$", old.name):
                old.unlink()
    saved = [save_failure(out_dir, case, kind, detail) for case, kind, detail in failures]
    status = {s: sum(o.status == s for o in outcomes) for s in ("ok", "rejected", "invalid", "lossy", "kept")}
    by_family = {f: sum(o.family == f for o in outcomes) for f in ("hypothesmith", "grammar", "upstream")}
    changed = sum(o.changed for o in outcomes)
    elapsed = time.monotonic() - start_time
    print(
        f"fuzz: cases={len(outcomes)} crashes={counts['crash']} unparsable={counts['unparsable']} "
        f"non-idempotent={counts['non-idempotent']} untouched-changed={counts['untouched-changed']} "
        f"eol-changed={counts['eol-changed']} prefilter-miss={counts['prefilter-miss']} "
        f"path-mismatch={counts['path-mismatch']} "
        f"timeouts={counts['timeout']} cli-failures={counts['cli']} | changed={changed} "
        f"rejected={status['rejected']} lossy={status['lossy']} kept={status['kept']} invalid={status['invalid']} cli-files={cli_files} "
        f"families={','.join(f'{k}:{v}' for k, v in by_family.items() if v)} seed={args.seed} time={elapsed:.1f}s"
    )
    if saved:
        print(f"fuzz: {len(failures)} failure(s); inputs saved under {out_dir} "
              f"(python scripts/fuzz.py --replay {out_dir})", file=sys.stderr)
        for case, kind, detail in failures[:10]:
            print(f"  {kind}: case {case.index} ({case.note}): {detail.strip().splitlines()[-1] if detail.strip() else ''}",
                  file=sys.stderr)
        return 1
    return 0


def _hypothesmith_missing() -> bool:
    try:
        import hypothesmith  # noqa: F401
    except ImportError:
        return True
    return False


if __name__ == "__main__":
    sys.exit(main())
