"""What a smoke check of the verify probe works with: the tree's modules (found by shape), outcomes, helpers.

Part of the probe (``verify_probe.py``), which runs in the *target* interpreter by path.

A check names the classes/functions it exercises; ``locate`` finds the module of the tree that
defines all of them (the upstream path first, then any module of the package), so the checks run
on forks that moved code, on vendored copies and on TRELLIS (``trellis``) trees. A check whose
code a tree does not have raises ``NotApplicable`` (reported as "does not apply", never a failure);
one that needs a package the environment lacks raises ``Skip`` (reported as "skipped (needs X)").
"""
import ast
import importlib
import os

# ----------------------------------------------------------------------------- outcomes


class NotApplicable(Exception):
    """The tree does not have the code a check exercises (another layout, a fork that removed it)."""


class Skip(Exception):
    """A check that could not run here: an optional package is missing (``package``)."""

    def __init__(self, reason, package=None):
        Exception.__init__(self, reason)
        self.package = package


class CheckFailed(Exception):
    """A check ran but its result is wrong."""


# ----------------------------------------------------------------------------- the tree


def list_modules(package_dir):
    """Every importable module of the package, the package itself first, shallow before deep."""
    package = os.path.basename(os.path.normpath(package_dir))
    out = []
    for dirpath, dirnames, filenames in os.walk(package_dir):
        dirnames[:] = sorted(d for d in dirnames if d.isidentifier() and not d.startswith("."))
        rel = os.path.relpath(dirpath, package_dir)
        parts = [package] + ([] if rel == "." else rel.split(os.sep))
        for name in sorted(filenames):
            if not name.endswith(".py") or not name[:-3].isidentifier():
                continue
            if name == "__init__.py":
                out.append(".".join(parts))
            else:
                out.append(".".join(parts + [name[:-3]]))
    return sorted(set(out), key=lambda m: (m.count("."), m))


def module_file(package_dir, module):
    parts = module.split(".")[1:]
    base = os.path.join(package_dir, *parts)
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


def _defined_names(body, out):
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
            if isinstance(node, ast.ClassDef):  # methods as Class.method
                out.update("%s.%s" % (node.name, sub) for sub in _defined_names(node.body, set()) if "." not in sub)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out.add(target.id)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(node.target, ast.Name):
            out.add(node.target.id)
        elif isinstance(node, ast.If):
            _defined_names(node.body, out)
            _defined_names(node.orelse, out)
        elif isinstance(node, ast.Try):
            _defined_names(node.body, out)
            for handler in node.handlers:
                _defined_names(handler.body, out)
            _defined_names(node.orelse, out)
            _defined_names(node.finalbody, out)
    return out  # imported names are not counted: a re-export is not where the code lives


_INDEX = {}


def tree_index(package_dir):
    """module -> names it defines at top level (also inside if/try), parsed once (before the forks)."""
    if package_dir not in _INDEX:
        index = {}
        for module in list_modules(package_dir):
            path = module_file(package_dir, module)
            try:
                with open(path, "rb") as fh:
                    tree = ast.parse(fh.read())
            except (OSError, SyntaxError, ValueError):
                continue
            index[module] = _defined_names(tree.body, set())
        _INDEX[package_dir] = index
    return _INDEX[package_dir]


class Layout(object):
    """Where a check's code lives: names a module must define, the upstream module path first.

    ``anywhere=False``: only the module at ``hint`` (a layout of our own sample tree, whose names
    are too generic to look for elsewhere)."""

    def __init__(self, hint, names, run, anywhere=True):
        self.hint, self.names, self.run, self.anywhere = hint, tuple(names), run, anywhere


def locate(package_dir, names, hint=None, anywhere=True):
    """The module (absolute name) that defines every one of ``names``, or None."""
    package = os.path.basename(os.path.normpath(package_dir))
    index = tree_index(package_dir)
    wanted = set(names)
    if hint:
        module = "%s.%s" % (package, hint)
        if wanted <= index.get(module, set()):
            return module
    if not anywhere:
        return None
    found = sorted((m for m, defined in index.items() if wanted <= defined), key=lambda m: (m.count("."), m))
    return found[0] if found else None


# ----------------------------------------------------------------------------- context


class Ctx(object):
    def __init__(self, package, package_dir, device, seed, save_dir, check_name):
        self.package = package
        self.package_dir = package_dir
        self.device = device
        self.seed = seed
        self.save_dir = save_dir
        self.check_name = check_name
        self.info = {}
        self._saved = {}

    def has(self, rel):
        return module_file(self.package_dir, "%s.%s" % (self.package, rel)) is not None

    def imp(self, rel):
        return importlib.import_module("%s.%s" % (self.package, rel))

    def find(self, names, hint=None):
        """Import and return the module defining ``names`` (None when the tree has none)."""
        module = locate(self.package_dir, names, hint)
        return importlib.import_module(module) if module else None

    def source(self, module):
        path = module_file(self.package_dir, module.__name__)
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def manual_seed(self, offset=0):
        import torch

        torch.manual_seed(self.seed + offset)

    def save(self, key, value):
        self._saved[key] = value

    def flush(self):
        if self.save_dir and self._saved:
            import torch

            def cpu(x):
                if isinstance(x, torch.Tensor):
                    return x.detach().cpu()
                if isinstance(x, dict):
                    return {k: cpu(v) for k, v in x.items()}
                if isinstance(x, (list, tuple)):
                    return type(x)(cpu(v) for v in x) if not hasattr(x, "_fields") else tuple(cpu(v) for v in x)
                return x

            torch.save(cpu(self._saved), os.path.join(self.save_dir, self.check_name + ".pt"))


def pick(ctx, layouts):
    """Run the first layout the tree has (its module imported and passed in); NotApplicable if none.

    Every layout's upstream path (``hint``) is tried first, in order; then the layouts that may live
    anywhere, by the names their module defines (``Class.method`` names a method)."""
    found = None
    for layout in layouts:
        module = locate(ctx.package_dir, layout.names, layout.hint, anywhere=False) if layout.hint else None
        if module:
            found = (layout, module)
            break
    for layout in layouts if not found else ():
        module = locate(ctx.package_dir, layout.names) if layout.anywhere else None
        if module:
            found = (layout, module)
            break
    if not found:
        wanted = " / ".join("+".join(layout.names) for layout in layouts if layout.anywhere)
        raise NotApplicable("not in this tree (no module defines %s)" % wanted)
    layout, module = found
    ctx.info["module"] = module
    return layout.run(importlib.import_module(module))


# ----------------------------------------------------------------------------- tensor helpers


def to_device(module, device):
    """``module.to(device)`` through the tensors, for modules that shadow ``nn.Module._apply``."""
    for tensor in list(module.parameters()) + list(module.buffers()):
        tensor.data = tensor.data.to(device)
    return module


def latents(torch, device, channels, names=("shape", "6drotation", "translation"), tokens=(8, 1, 1), batch=2):
    return {n: torch.randn(batch, t, channels, device=device) for n, t in zip(names, tokens)}


def close(torch, a, b, atol, what):
    if not torch.allclose(a.float(), b.float(), atol=atol, rtol=atol):
        raise CheckFailed("%s: max abs difference %.3g > %g" % (what, (a.float() - b.float()).abs().max().item(), atol))
