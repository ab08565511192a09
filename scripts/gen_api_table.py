#!/usr/bin/env python3
"""Generate ``codemods/data/torch_api.json``: which torch APIs appeared after 2.0.

The table is built from *real* torch wheels, without installing or importing
them.  For every release in :data:`VERSIONS` the script

1. downloads the wheel with ``pip download --no-deps`` into
   ``~/.cache/sam3d-codemod/wheels/`` (one wheel at a time),
2. statically scans the ``torch/**/*.py`` and ``torch/**/*.pyi`` members with
   :mod:`ast` (the wheel is read with :mod:`zipfile`, nothing is extracted),
3. deletes the wheel again (unless ``--keep-wheels``) and caches the extracted
   symbol set as ``~/.cache/sam3d-codemod/api-scan/<VERSION>.json`` so re-runs
   never download anything.

Symbols recorded per release (all as plain strings):

* modules / packages: ``torch.nn.attention``
* module-level names: ``torch.compiler.is_compiling`` (top-level def/class/
  assignment, ``__all__`` entries, names imported by ``__init__.py`` files and
  by ``.pyi`` stubs; ``torch`` also gets everything in
  ``torch/_C/_VariableFunctions.pyi``)
* tensor methods: ``torch.Tensor.<name>`` (``torch/_C/__init__.pyi`` class
  ``TensorBase``/``_TensorBase`` plus ``torch/_tensor.py`` class ``Tensor``)
* keyword arguments: ``torch.load(weights_only=)``; ``*args``/``**kw`` are
  recorded as ``f(*args=)``/``f(**kw=)``.  Overloads and ``.py``/``.pyi``
  duplicates are unioned; ``X = _add_docstr(target, "X(a, b=None) -> T")``
  falls back to the signature line in the docstring (torch 2.0 stubs only say
  ``scaled_dot_product_attention: Callable``).  Recorded for public functions
  and class ``__init__`` of public modules, ``torch.Tensor`` methods, and
  everything in :data:`KWARG_FUNCS`.
* dynamo config keys: ``torch._dynamo.config.<key>``
* public members of classes re-exported by public modules, under the public
  path: ``torch.nn.Module.compile``

Wheels: the Python part of a torch wheel does not depend on the platform (the
2.13.0 macOS arm64 wheel and the manylinux CPU wheel give identical symbol
sets), so the small macOS arm64 wheel is fetched by default.

The committed table keeps every module but only the names within the scope
described at :data:`PRIVATE_MODULES_TRACKED` (the per-version caches keep
everything).  The committed table stores only what the oldest scanned release lacks
(``first_release``) and what later disappeared (``removed_in``); both map a
symbol to a ``"major.minor"`` string.

Usage::

    python scripts/gen_api_table.py                      # all of VERSIONS
    python scripts/gen_api_table.py --versions 2.0.0 2.3.1
    python scripts/gen_api_table.py --wheel 2.13.0=/opt/wheels/torch-2.13.0+cpu-....whl

Stubs and source are not all a release exposes: torch 2.0 creates ``torch.return_types.min``
and the like at import time (from ``torch._C._return_types``) and has no stub for them, so the
static scan alone dates them to 2.1. ``--runtime VERSION=PYTHON`` asks an interpreter with that
torch installed (``scripts/api_runtime_probe.py``) which of the table's symbols really resolve, and
dates those no later than VERSION; the committed table has the oldest release (the tool's target)
probed this way (``runtime_probed`` records the build)::

    python scripts/gen_api_table.py --runtime 2.0=$(scripts/torch-envs 2.0.0 | cut -d' ' -f2)
    python scripts/gen_api_table.py --runtime-only --runtime 2.0=/path/to/torch-2.0/python

Only the standard library is needed (plus ``pip`` for downloading).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Tuple

VERSIONS: Tuple[str, ...] = (
    "2.0.0",
    "2.1.2",
    "2.2.2",
    "2.3.1",
    "2.4.1",
    "2.5.1",
    "2.6.0",
    "2.7.1",
    "2.8.0",
    "2.9.1",
    "2.10.0",
    "2.11.0",
    "2.12.1",
    "2.13.0",
)

# Bump when the extraction logic changes: invalidates ~/.cache/.../api-scan.
SCAN_FORMAT = 5

# The pure-python part of a torch wheel is the same on every platform, so by
# default we fetch the smallest wheel PyPI has (macOS arm64, ~60-80 MB instead
# of ~0.7-0.9 GB for the CUDA manylinux build).  Platforms are tried in order.
DEFAULT_PLATFORMS: Tuple[Tuple[str, ...], ...] = (
    ("macosx_14_0_arm64", "macosx_11_0_arm64"),
    ("manylinux_2_28_x86_64", "manylinux2014_x86_64"),
    ("win_amd64",),
)
PYTHON_VERSION = "3.11"

# Public name -> where its signature may live (first found wins for
# resolution, but every candidate that exists is unioned).  Names not listed
# here are resolved through import/alias chains automatically.
KWARG_FUNCS: Dict[str, Tuple[str, ...]] = {
    "torch.nn.functional.scaled_dot_product_attention": (
        "torch.nn.functional.scaled_dot_product_attention",
        "torch._C._nn.scaled_dot_product_attention",
    ),
    "torch.load": ("torch.serialization.load",),
    "torch.save": ("torch.serialization.save",),
    "torch.compile": ("torch.compile",),
    "torch.autocast.__init__": ("torch.amp.autocast_mode.autocast.__init__",),
    "torch.amp.autocast.__init__": ("torch.amp.autocast_mode.autocast.__init__",),
    "torch.cuda.amp.autocast.__init__": ("torch.cuda.amp.autocast_mode.autocast.__init__",),
    "torch.utils.checkpoint.checkpoint": ("torch.utils.checkpoint.checkpoint",),
    "torch.utils.checkpoint.checkpoint_sequential": ("torch.utils.checkpoint.checkpoint_sequential",),
    "torch.utils._pytree.tree_map": ("torch.utils._pytree.tree_map",),
    "torch.utils._pytree.tree_flatten": ("torch.utils._pytree.tree_flatten",),
    "torch.utils._pytree.tree_unflatten": ("torch.utils._pytree.tree_unflatten",),
    "torch.utils._pytree.tree_map_only": ("torch.utils._pytree.tree_map_only",),
    "torch.utils._pytree.register_pytree_node": ("torch.utils._pytree.register_pytree_node",),
    "torch.compiler.disable": ("torch.compiler.disable",),
    "torch._dynamo.disable": ("torch._dynamo.eval_frame.disable", "torch._dynamo.decorators.disable"),
    "torch.nn.attention.sdpa_kernel": ("torch.nn.attention.sdpa_kernel",),
    "torch.backends.cuda.sdp_kernel": ("torch.backends.cuda.sdp_kernel",),
    "torch.nn.Module.load_state_dict": ("torch.nn.modules.module.Module.load_state_dict",),
    "torch.nn.Module.state_dict": ("torch.nn.modules.module.Module.state_dict",),
    "torch.nn.Module.to": ("torch.nn.modules.module.Module.to",),
    "torch.nn.Module.register_forward_hook": ("torch.nn.modules.module.Module.register_forward_hook",),
    "torch.nn.Module.register_forward_pre_hook": ("torch.nn.modules.module.Module.register_forward_pre_hook",),
    "torch.nn.init.trunc_normal_": ("torch.nn.init.trunc_normal_",),
    "torch.cuda.amp.GradScaler.__init__": ("torch.cuda.amp.grad_scaler.GradScaler.__init__",),
    "torch.amp.GradScaler.__init__": ("torch.amp.grad_scaler.GradScaler.__init__",),
    "torch.set_default_device": ("torch.set_default_device",),
    "torch.use_deterministic_algorithms": ("torch.use_deterministic_algorithms",),
    "torch.jit.script": ("torch.jit._script.script",),
}

CACHE_ROOT = Path(os.environ.get("SAM3D_CODEMOD_CACHE", Path.home() / ".cache" / "sam3d-codemod"))
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "codemods" / "data" / "torch_api.json"

_DOCSTR_FUNCS = {"_add_docstr", "add_docstr"}
_SIG_LINE_RE_TMPL = r"^\s*(?:\w+\.)*{name}\((?P<args>.*)\)\s*(?:->.*)?$"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def short_version(v: str) -> str:
    parts = re.findall(r"\d+", v.split("+")[0])
    return ".".join(parts[:2])


def version_key(v: str) -> Tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", v.split("+")[0]))


# ---------------------------------------------------------------------------
# Static extraction from one wheel
# ---------------------------------------------------------------------------


def member_to_module(name: str) -> Optional[Tuple[str, bool]]:
    """``torch/nn/__init__.py`` -> (``torch.nn``, True)."""
    if not name.startswith("torch/"):
        return None
    if name.endswith(".pyi"):
        stem = name[:-4]
    elif name.endswith(".py"):
        stem = name[:-3]
    else:
        return None
    parts = stem.split("/")
    if any(not p.isidentifier() for p in parts):
        return None  # e.g. torch/include/.../something-with-dash
    is_pkg = parts[-1] == "__init__"
    if is_pkg:
        parts = parts[:-1]
    return ".".join(parts), is_pkg


def _attr_chain(node: ast.AST) -> Optional[str]:
    out: List[str] = []
    while isinstance(node, ast.Attribute):
        out.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        out.append(node.id)
        return ".".join(reversed(out))
    return None


def _params(args: ast.arguments, drop_first: bool) -> List[str]:
    """Names usable as keywords, plus ``*name``/``**name``."""
    out: List[str] = []
    regular = list(args.args)
    if drop_first and (args.posonlyargs or regular):
        if args.posonlyargs:
            first = args.posonlyargs[0].arg
        else:
            first = regular[0].arg
        if first in ("self", "cls"):
            if args.posonlyargs:
                pass  # posonly are never keywords anyway
            else:
                regular = regular[1:]
    for a in regular:
        # .pyi convention: ``__x`` means positional-only.
        if a.arg.startswith("__") and not a.arg.endswith("__"):
            continue
        out.append(a.arg)
    if args.vararg is not None:
        out.append("*" + args.vararg.arg)
    for a in args.kwonlyargs:
        out.append(a.arg)
    if args.kwarg is not None:
        out.append("**" + args.kwarg.arg)
    return out


def _string_list(node: ast.AST) -> List[str]:
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _string_list(node.left) + _string_list(node.right)
    return []


def _resolve_relative(module: str, is_pkg: bool, level: int, target: Optional[str]) -> str:
    if level == 0:
        return target or ""
    base = module.split(".")
    if not is_pkg:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    parts = base + ([target] if target else [])
    return ".".join(p for p in parts if p)


def _docstring_sig(name: str, doc: str) -> Optional[List[str]]:
    """Parse ``name(a, b=None, *, c=1) -> T`` out of a docstring."""
    pat = re.compile(_SIG_LINE_RE_TMPL.format(name=re.escape(name)), re.M)
    for m in pat.finditer(doc):
        args = m.group("args")
        try:
            fn = ast.parse(f"def _f({args}): pass").body[0]
        except SyntaxError:
            continue
        assert isinstance(fn, ast.FunctionDef)
        return _params(fn.args, drop_first=False)
    return None


class ModuleInfo:
    __slots__ = ("names", "all_names", "star_imports", "aliases")

    def __init__(self) -> None:
        self.names: Set[str] = set()
        self.all_names: Optional[Set[str]] = None
        self.star_imports: Set[str] = set()
        self.aliases: Dict[str, str] = {}  # local name -> qualified target


class Scan:
    """Everything extracted from one wheel."""

    def __init__(self) -> None:
        self.modules: Dict[str, ModuleInfo] = {}
        self.sigs: Dict[str, Set[str]] = {}  # qualname -> kwarg names
        self.classes: Dict[str, Set[str]] = {}  # qualname -> public members
        self.functions: Set[str] = set()
        self.tensor_methods: Set[str] = set()
        self.dynamo_config: Set[str] = set()
        self.parse_errors: List[str] = []

    def mod(self, name: str) -> ModuleInfo:
        info = self.modules.get(name)
        if info is None:
            info = self.modules[name] = ModuleInfo()
        return info

    def add_sig(self, qual: str, params: Iterable[str]) -> None:
        self.sigs.setdefault(qual, set()).update(params)

    # -- per-file ---------------------------------------------------------

    def scan_source(self, module: str, is_pkg: bool, is_stub: bool, source: str) -> None:
        info = self.mod(module)
        # Register parents so that e.g. torch.nn exists even if only a stub.
        parts = module.split(".")
        for i in range(1, len(parts)):
            self.mod(".".join(parts[:i]))
        try:
            tree = ast.parse(source)
        except SyntaxError as e:  # pragma: no cover - depends on wheel
            self.parse_errors.append(f"{module}: {e}")
            return
        reexport_imports = is_pkg or is_stub or module == "torch"
        for stmt in _flatten_top(tree.body):
            self._top_stmt(module, is_pkg, is_stub, reexport_imports, info, stmt)
        if module == "torch._dynamo.config":
            for stmt in _flatten_top(tree.body):
                for tgt in _assigned_names(stmt):
                    self.dynamo_config.add(tgt)
        if module == "torch._C":
            for stmt in tree.body:
                if isinstance(stmt, ast.ClassDef) and stmt.name in ("TensorBase", "_TensorBase"):
                    self._tensor_class(stmt)
        if module == "torch._tensor":
            for stmt in tree.body:
                if isinstance(stmt, ast.ClassDef) and stmt.name == "Tensor":
                    self._tensor_class(stmt)

    def _tensor_class(self, cls: ast.ClassDef) -> None:
        for stmt in _flatten_top(cls.body):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.tensor_methods.add(stmt.name)
                self.add_sig(f"torch.Tensor.{stmt.name}", _params(stmt.args, drop_first=True))
            else:
                for tgt in _assigned_names(stmt):
                    self.tensor_methods.add(tgt)

    def _top_stmt(self, module, is_pkg, is_stub, reexport_imports, info: ModuleInfo, stmt) -> None:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            info.names.add(stmt.name)
            q = f"{module}.{stmt.name}"
            self.functions.add(q)
            self.add_sig(q, _params(stmt.args, drop_first=False))
        elif isinstance(stmt, ast.ClassDef):
            info.names.add(stmt.name)
            q = f"{module}.{stmt.name}"
            members = self.classes.setdefault(q, set())
            for sub in _flatten_top(stmt.body):
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    is_static = any(_attr_chain(d) == "staticmethod" for d in sub.decorator_list)
                    self.add_sig(f"{q}.{sub.name}", _params(sub.args, drop_first=not is_static))
                    members.add(sub.name)
                else:
                    members.update(_assigned_names(sub))
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            self._import(module, is_pkg, reexport_imports, info, stmt)
        elif isinstance(stmt, ast.AugAssign):
            if isinstance(stmt.target, ast.Name) and stmt.target.id == "__all__":
                info.all_names = (info.all_names or set()) | set(_string_list(stmt.value))
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            call = stmt.value
            fn = _attr_chain(call.func)
            if fn in ("__all__.extend", "__all__.append") and call.args:
                arg = call.args[0]
                vals = [arg.value] if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else _string_list(arg)
                info.all_names = (info.all_names or set()) | set(vals)
        else:
            names = _assigned_names(stmt)
            for n in names:
                if n == "__all__":
                    value = getattr(stmt, "value", None)
                    if value is not None:
                        info.all_names = (info.all_names or set()) | set(_string_list(value))
                    continue
                info.names.add(n)
            value = getattr(stmt, "value", None)
            if len(names) == 1 and value is not None:
                self._alias_assign(module, info, names[0], value)

    def _alias_assign(self, module: str, info: ModuleInfo, name: str, value: ast.AST) -> None:
        # ``x = torch._C._nn.x`` / ``x = _add_docstr(torch._C._nn.x, "...")``
        target: Optional[str] = None
        if isinstance(value, (ast.Attribute, ast.Name)):
            target = _attr_chain(value)
        elif isinstance(value, ast.Call):
            fn = _attr_chain(value.func) or ""
            if fn.split(".")[-1] in _DOCSTR_FUNCS and value.args:
                target = _attr_chain(value.args[0])
                if len(value.args) > 1:
                    # r"""...""" possibly ``+ notes`` or ``.format(...)``-ed.
                    doc = "\n".join(
                        n.value for n in ast.walk(value.args[1])
                        if isinstance(n, ast.Constant) and isinstance(n.value, str)
                    )
                    params = _docstring_sig(name, doc)
                    if params is not None:
                        self.add_sig(f"{module}.{name}", params)
        if target and target != name:
            info.aliases.setdefault(name, target)

    def _import(self, module, is_pkg, reexport, info: ModuleInfo, stmt) -> None:
        if isinstance(stmt, ast.Import):
            for a in stmt.names:
                if a.asname:
                    info.aliases.setdefault(a.asname, a.name)
                    if reexport and _is_torch(a.name):
                        info.names.add(a.asname)
            return
        src = _resolve_relative(module, is_pkg, stmt.level, stmt.module)
        for a in stmt.names:
            if a.name == "*":
                if _is_torch(src):
                    info.star_imports.add(src)
                continue
            local = a.asname or a.name
            info.aliases.setdefault(local, f"{src}.{a.name}")
            # Re-exports of torch's own names only: ``from typing import Any``
            # in an __init__ is not a torch API (``__all__`` still counts).
            if reexport and _is_torch(src):
                info.names.add(local)

    # -- whole-wheel post-processing ---------------------------------------

    def finish(self) -> None:
        # torch re-exports everything from _VariableFunctions at runtime.
        vf = self.modules.get("torch._C._VariableFunctions")
        if vf is not None:
            self.mod("torch").star_imports.add("torch._C._VariableFunctions")
        # Resolve star imports to a fixpoint.
        for _ in range(6):
            changed = False
            for info in self.modules.values():
                for src in list(info.star_imports):
                    other = self.modules.get(src)
                    if other is None:
                        continue
                    exported = self._exported(other)
                    new = exported - info.names
                    if new:
                        info.names |= new
                        for n in new:
                            info.aliases.setdefault(n, f"{src}.{n}")
                        changed = True
            if not changed:
                break

    @staticmethod
    def _exported(info: ModuleInfo) -> Set[str]:
        if info.all_names is not None:
            return set(info.all_names)
        return {n for n in info.names if not n.startswith("_")}

    def resolve(self, qual: str, depth: int = 0, table: Optional[dict] = None) -> Optional[str]:
        """Follow import / assignment aliases until a key of ``table``
        (default: known signatures)."""
        if table is None:
            table = self.sigs
        if qual in table:
            return qual
        if depth > 12:
            return None
        parts = qual.split(".")
        for i in range(len(parts) - 1, 0, -1):
            mod = ".".join(parts[:i])
            info = self.modules.get(mod)
            if info is None:
                continue
            target = info.aliases.get(parts[i])
            if target is None or target == ".".join(parts[: i + 1]):
                continue
            # Alias written relative to module globals: ``x = _C._nn.x``.
            if not target.startswith("torch") and target.split(".")[0] in info.aliases:
                head, _, rest = target.partition(".")
                target = info.aliases[head] + ("." + rest if rest else "")
            if not target.startswith("torch"):
                continue
            new = ".".join([target] + parts[i + 1 :])
            got = self.resolve(new, depth + 1, table)
            if got is not None:
                return got
        return None

    def symbols(self) -> Set[str]:
        out: Set[str] = set()
        for mod, info in self.modules.items():
            out.add(mod)
            for n in info.names:
                out.add(f"{mod}.{n}")
            for n in info.all_names or ():
                out.add(f"{mod}.{n}")
        for n in self.tensor_methods:
            out.add(f"torch.Tensor.{n}")
        for k in self.dynamo_config:
            out.add(f"torch._dynamo.config.{k}")
        # keyword arguments
        def add_kwargs(public: str, quals: Iterable[str]) -> None:
            params: Set[str] = set()
            for q in quals:
                params |= self.sigs.get(q, set())
            for p in params:
                out.add(f"{public}({p}=)")

        for public, cands in KWARG_FUNCS.items():
            quals = [c for c in cands if c in self.sigs]
            r = self.resolve(public)
            if r is not None:
                quals.append(r)
            if quals:
                add_kwargs(public, quals)
        for n in self.tensor_methods:
            q = f"torch.Tensor.{n}"
            if q in self.sigs and not n.startswith("_"):
                add_kwargs(q, [q])
        for mod, info in self.modules.items():
            if any(p.startswith("_") for p in mod.split(".")) or mod.startswith("torch.testing"):
                continue
            for n in info.names:
                if n.startswith("_"):
                    continue
                q = f"{mod}.{n}"
                cls = self.resolve(q, table=self.classes)
                if cls is not None:
                    # public members of public classes, under the public path
                    for m in self.classes[cls]:
                        if not m.startswith("_"):
                            out.add(f"{q}.{m}")
                r = self.resolve(q)
                if r is not None:
                    add_kwargs(q, [r])
                rc = self.resolve(q + ".__init__")
                if rc is not None and r is None:
                    add_kwargs(q + ".__init__", [rc])
        return out


def _is_torch(module: str) -> bool:
    return module == "torch" or module.startswith("torch.")


def _flatten_top(body: List[ast.stmt]) -> Iterable[ast.stmt]:
    """Top-level statements, descending into if/try/with blocks."""
    for stmt in body:
        if isinstance(stmt, ast.If):
            yield from _flatten_top(stmt.body)
            yield from _flatten_top(stmt.orelse)
        elif isinstance(stmt, ast.Try) or (sys.version_info >= (3, 11) and isinstance(stmt, getattr(ast, "TryStar", ()))):
            yield from _flatten_top(stmt.body)
            for h in stmt.handlers:
                yield from _flatten_top(h.body)
            yield from _flatten_top(stmt.orelse)
            yield from _flatten_top(stmt.finalbody)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            yield from _flatten_top(stmt.body)
        else:
            yield stmt


def _assigned_names(stmt: ast.stmt) -> List[str]:
    targets: List[ast.AST] = []
    if isinstance(stmt, ast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, ast.AnnAssign):
        targets = [stmt.target]
    elif sys.version_info >= (3, 12) and isinstance(stmt, getattr(ast, "TypeAlias", ())):
        targets = [stmt.name]
    out: List[str] = []
    for t in targets:
        if isinstance(t, ast.Name):
            out.append(t.id)
        elif isinstance(t, (ast.Tuple, ast.List)):
            out.extend(e.id for e in t.elts if isinstance(e, ast.Name))
    return out


def scan_wheel(path: Path) -> Tuple[Set[str], Set[str], Dict[str, object]]:
    scan = Scan()
    nfiles = 0
    nbytes = 0
    with zipfile.ZipFile(path) as zf:
        for zi in zf.infolist():
            mm = member_to_module(zi.filename)
            if mm is None:
                continue
            module, is_pkg = mm
            data = zf.read(zi)
            nfiles += 1
            nbytes += len(data)
            scan.scan_source(module, is_pkg, zi.filename.endswith(".pyi"), data.decode("utf-8", "replace"))
    scan.finish()
    syms = scan.symbols()
    stats = {"files": nfiles, "source_bytes": nbytes, "parse_errors": scan.parse_errors,
             "symbols": len(syms), "modules": len(scan.modules)}
    return syms, set(scan.modules), stats


# ---------------------------------------------------------------------------
# Download + cache
# ---------------------------------------------------------------------------


def download_wheel(version: str, wheel_dir: Path, platforms: Tuple[Tuple[str, ...], ...]) -> Path:
    wheel_dir.mkdir(parents=True, exist_ok=True)
    existing = _find_wheel(version, wheel_dir)
    if existing is not None:
        return existing
    errors = []
    for plats in platforms:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-q", f"torch=={version}", "-d", str(wheel_dir), "--only-binary=:all:",
               "--python-version", PYTHON_VERSION]
        for p in plats:
            cmd += ["--platform", p]
        log(f"  $ {' '.join(cmd[2:])}")
        res = subprocess.run(cmd, capture_output=True, text=True)
        found = _find_wheel(version, wheel_dir)
        if res.returncode == 0 and found is not None:
            return found
        errors.append(f"{plats}: rc={res.returncode} {res.stderr.strip()[-500:]}")
    raise RuntimeError(f"could not download torch=={version}:\n" + "\n".join(errors))


def _find_wheel(version: str, wheel_dir: Path) -> Optional[Path]:
    for p in sorted(wheel_dir.glob(f"torch-{version}-*.whl")) + sorted(wheel_dir.glob(f"torch-{version}+*.whl")):
        return p
    return None


def scan_version(version: str, args, wheel_overrides: Dict[str, Path]) -> Tuple[Set[str], Set[str]]:
    """(symbols, modules) of one release, from the cache or a fresh scan."""
    cache_file = args.cache / "api-scan" / f"{version}.json"
    if cache_file.exists() and not args.rescan:
        data = json.loads(cache_file.read_text())
        if data.get("format") == SCAN_FORMAT:
            log(f"[{version}] cached: {cache_file}")
            return set(data["symbols"]), set(data["modules"])
    t0 = time.time()
    downloaded = False
    if version in wheel_overrides:
        wheel = wheel_overrides[version]
    else:
        wheel_dir = args.cache / "wheels"
        had = _find_wheel(version, wheel_dir)
        wheel = download_wheel(version, wheel_dir, args.platforms)
        downloaded = had is None
    t1 = time.time()
    size = wheel.stat().st_size
    log(f"[{version}] wheel {wheel.name} ({size / 1e6:.0f} MB) in {t1 - t0:.1f}s")
    try:
        syms, modules, stats = scan_wheel(wheel)
    finally:
        if version not in wheel_overrides and not args.keep_wheels and (downloaded or args.delete_cached_wheels):
            wheel.unlink()
    t2 = time.time()
    stats.update({"wheel": wheel.name, "wheel_bytes": size, "download_s": round(t1 - t0, 1), "scan_s": round(t2 - t1, 1)})
    log(f"[{version}] scanned {stats['files']} files, {len(syms)} symbols in {t2 - t1:.1f}s"
        + (f", {len(stats['parse_errors'])} parse errors" if stats["parse_errors"] else ""))
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"format": SCAN_FORMAT, "version": version, "stats": stats,
                               "modules": sorted(modules), "symbols": sorted(syms)}, indent=0))
    tmp.replace(cache_file)
    return syms, modules


# ---------------------------------------------------------------------------
# Table
# ---------------------------------------------------------------------------

# Scope of the committed table (the per-version caches keep everything).
# Every module/package is kept, private ones included (``torch._dynamo``,
# ``torch._inductor.fx_passes``...).  *Names* are kept when they are public
# (no leading single underscore) and live in a public module, in one of these
# private modules, or in a ``*.config`` module (where ``_private`` keys are
# kept too).  Everything under ``torch.testing._internal`` is dropped.
PRIVATE_MODULES_TRACKED: Tuple[str, ...] = (
    "torch._C",  # and its submodules, e.g. torch._C._nn
    "torch._dynamo",  # package level only (disable, mark_dynamic, ...)
    "torch._dynamo.eval_frame",
    "torch._dynamo.decorators",
    "torch._functorch.aot_autograd",
    "torch._higher_order_ops",
    "torch._inductor",
    "torch._library",
    "torch._logging",
    "torch._subclasses",
    "torch._subclasses.fake_tensor",
    "torch._utils",
    "torch._VF",
    "torch.utils._pytree",
)


def _is_private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def in_scope(sym: str, modules: Set[str]) -> bool:
    base = sym.split("(", 1)[0]
    if base == "torch.testing._internal" or base.startswith("torch.testing._internal."):
        return False
    if "(" in sym:
        return True  # kwargs are only recorded for public callables
    if base in modules:
        return True
    mod, _, leaf = base.rpartition(".")
    if mod.endswith(".config") or mod == "torch._dynamo.config":
        return True
    if _is_private(leaf):
        return False
    if not any(_is_private(p) for p in mod.split(".")):
        return True
    return mod in PRIVATE_MODULES_TRACKED or mod.startswith("torch._C.")


def build_table(per_version: List[Tuple[str, Set[str], Set[str]]]) -> Dict[str, object]:
    per_version = sorted(per_version, key=lambda t: version_key(t[0]))
    # Several patch releases of one minor collapse to the newest one given.
    by_minor: Dict[str, Set[str]] = {}
    all_modules: Set[str] = set()
    for v, syms, mods in per_version:
        by_minor[short_version(v)] = syms
        all_modules |= mods
    minors = sorted(by_minor, key=version_key)
    oldest = by_minor[minors[0]]
    first_release: Dict[str, str] = {}
    removed_in: Dict[str, str] = {}
    everything: Set[str] = set().union(*by_minor.values())
    for sym in everything:
        if not in_scope(sym, all_modules):
            continue
        present = [sym in by_minor[m] for m in minors]
        first = present.index(True)
        if first > 0:
            first_release[sym] = minors[first]
        last = len(present) - 1 - present[::-1].index(True)
        if last < len(minors) - 1:
            removed_in[sym] = minors[last + 1]
    return {
        "generated_by": "scripts/gen_api_table.py",
        "versions": minors,
        "scanned_releases": [v for v, _, _ in per_version],
        "known_in_oldest_count": sum(1 for s in oldest if in_scope(s, all_modules)),
        "private_modules_tracked": list(PRIVATE_MODULES_TRACKED),
        "first_release": dict(sorted(first_release.items())),
        "removed_in": dict(sorted(removed_in.items())),
    }


RUNTIME_PROBE = Path(__file__).resolve().with_name("api_runtime_probe.py")


def probe_runtime(python: str, symbols: List[str]) -> Tuple[str, Set[str]]:
    """(torch version, the ``symbols`` it exposes at run time), asked of ``python`` (an interpreter
    with that torch installed) through ``api_runtime_probe.py``."""
    proc = subprocess.run([python, str(RUNTIME_PROBE)], input=json.dumps(symbols), capture_output=True,
                          text=True, timeout=1800, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"runtime probe with {python} failed:\n{proc.stderr[-2000:]}")
    answer = json.loads(proc.stdout)
    return answer["torch"], set(answer["present"])


def apply_runtime(table: Dict[str, object], release: str, present: Set[str], torch_version: str) -> int:
    """Correct ``table`` with what ``release`` exposes at run time: a symbol it has is not newer
    than it (dropped from ``first_release`` for the oldest release, else dated ``release``).
    The static scan reads stubs and source; names created at import time (torch 2.0's
    ``torch.return_types.*``) exist only here. Returns how many dates moved."""
    first: Dict[str, str] = table["first_release"]  # type: ignore[assignment]
    oldest = table["versions"][0]  # type: ignore[index]
    minor = short_version(release)
    moved = 0
    for sym in sorted(present):
        dated = first.get(sym)
        if dated is None or version_key(dated) <= version_key(minor):
            continue
        moved += 1
        if minor == oldest:
            del first[sym]
            table["known_in_oldest_count"] = int(table["known_in_oldest_count"]) + 1  # type: ignore[call-overload]
        else:
            first[sym] = minor
    probed = dict(table.get("runtime_probed", {}))  # type: ignore[arg-type]
    probed[minor] = torch_version
    table["runtime_probed"] = dict(sorted(probed.items(), key=lambda kv: version_key(kv[0])))
    return moved


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--versions", nargs="+", default=list(VERSIONS),
                    help="torch releases to scan (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output json (default: %(default)s)")
    ap.add_argument("--cache", type=Path, default=CACHE_ROOT, help="cache root (default: %(default)s)")
    ap.add_argument("--keep-wheels", action="store_true", help="do not delete downloaded wheels after scanning")
    ap.add_argument("--delete-cached-wheels", action="store_true",
                    help="also delete wheels that were already in the cache before this run")
    ap.add_argument("--rescan", action="store_true", help="ignore the per-version scan cache")
    ap.add_argument("--wheel", action="append", default=[], metavar="VERSION=PATH",
                    help="use a local wheel for VERSION instead of downloading (never deleted)")
    ap.add_argument("--platform", action="append", default=None, dest="platform_list",
                    help="pip --platform tag to download (repeatable; default: macOS arm64, then manylinux, then win)")
    ap.add_argument("--runtime", action="append", default=[], metavar="VERSION=PYTHON",
                    help="also ask PYTHON (with torch VERSION installed) which symbols that release exposes at "
                         "run time, and date them no later than it (repeatable; at least the oldest release)")
    ap.add_argument("--runtime-only", action="store_true",
                    help="apply --runtime to the table at --out without scanning any wheel")
    args = ap.parse_args(argv)
    runtimes = [tuple(spec.split("=", 1)) for spec in args.runtime]
    if args.runtime_only:
        if not runtimes:
            ap.error("--runtime-only needs --runtime VERSION=PYTHON")
        table = json.loads(args.out.read_text())
        _apply_runtimes(table, runtimes)
        args.out.write_text(json.dumps(table, indent=0, separators=(",", ":")) + "\n")
        return 0
    args.platforms = (tuple(args.platform_list),) if args.platform_list else DEFAULT_PLATFORMS
    overrides: Dict[str, Path] = {}
    for spec in args.wheel:
        v, _, p = spec.partition("=")
        overrides[v] = Path(p)

    t0 = time.time()
    results: List[Tuple[str, Set[str], Set[str]]] = []
    for v in sorted(args.versions, key=version_key):
        syms, mods = scan_version(v, args, overrides)
        results.append((v, syms, mods))
    table = build_table(results)
    _apply_runtimes(table, runtimes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # One entry per line: small, deterministic, diff-friendly.
    text = json.dumps(table, indent=0, separators=(",", ":")) + "\n"
    args.out.write_text(text)
    log(f"wrote {args.out} ({len(text) / 1e6:.2f} MB): {len(table['first_release'])} new symbols, "
        f"{len(table['removed_in'])} removed, {table['known_in_oldest_count']} in {table['versions'][0]} "
        f"[{time.time() - t0:.0f}s]")
    return 0


def _apply_runtimes(table: Dict[str, object], runtimes) -> None:
    for release, python in sorted(runtimes, key=lambda r: version_key(r[0])):
        torch_version, present = probe_runtime(python, sorted(table["first_release"]))  # type: ignore[arg-type]
        if short_version(torch_version) != short_version(release):
            raise SystemExit(f"{python} has torch {torch_version}, not {release}")
        moved = apply_runtime(table, release, present, torch_version)
        log(f"runtime {release} ({torch_version}): {moved} symbols it exposes were dated later by the static scan")


if __name__ == "__main__":
    sys.exit(main())
