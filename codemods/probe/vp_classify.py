"""Failure causes of the verify probe (``verify_probe.py``): torch API, missing package, or error.

Part of the probe, which runs in the *target* interpreter by path (standard library + torch only);
``verify_probe.py`` puts this directory on ``sys.path``.
"""
import importlib.abc
import os
import re
import traceback

# import name -> pip distribution, where they differ
PIP_NAMES = {
    "PIL": "pillow",
    "cv2": "opencv-python",
    "hydra": "hydra-core",
    "yaml": "pyyaml",
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "igraph": "igraph",
    "huggingface_hub": "huggingface-hub",
    "flash_attn": "flash-attn",
    "diff_gaussian_rasterization": "diff-gaussian-rasterization",
    "pytorch3d": "pytorch3d",
    "spconv": "spconv (a build matching your CUDA, e.g. spconv-cu121)",
    "nvdiffrast": "nvdiffrast",
    "lightning": "lightning",
    "moge": "moge (git+https://github.com/microsoft/MoGe)",
    "utils3d": "utils3d",
    "attr": "attrs",
}

TORCH_API_MARK = re.compile(r"""module '(torch(?:\.\w+)*)' has no attribute '(\w+)'""")
# raised when a placeholder of an import stand-in (``--stand-ins``, tests/runtime/stubs) is called
STAND_IN_MARK = re.compile(r"([\w.]+) is an? (?:test )?import (?:stub|stand-in)\b")
PROBE_MODULES = ("__main__", "verify_probe")


# ----------------------------------------------------------------------------- classification
def _frames(tb):
    out = []
    while tb is not None:
        out.append(tb)
        tb = tb.tb_next
    return out


def _frame_module(tb):
    return tb.tb_frame.f_globals.get("__name__", "") or ""


def _is_torch_module(name):
    return name == "torch" or name.startswith("torch.")


def _torch_callable_named(name):
    """Whether ``name`` is a torch function/method (``tree_map``, ``index_add_``, ...)."""
    try:
        import torch
        import torch.utils._pytree as pytree
    except Exception:  # pragma: no cover - torch is there when checks run
        return False
    return any(hasattr(owner, name) for owner in (torch, torch.Tensor, torch.nn.functional, pytree))


def pip_name(module):
    top = module.split(".")[0]
    return PIP_NAMES.get(top, top.replace("_", "-"))


def _third_party_raiser(frames, package):
    """The module of the innermost frame when it is an installed third-party package (not the tree, torch or the probe)."""
    if not frames:
        return None
    filename = frames[-1].tb_frame.f_code.co_filename.replace(os.sep, "/")
    if "/site-packages/" not in filename and "/dist-packages/" not in filename:
        return None
    mod = _frame_module(frames[-1])
    if not mod or mod == package or mod.startswith(package + ".") or _is_torch_module(mod):
        return None
    if mod in PROBE_MODULES or mod.startswith(("importlib", "vp_")):
        return None
    return mod


def classify(exc, package):
    """(category, package-to-install or None, explanation) of a failure."""
    frames = _frames(exc.__traceback__)
    message = str(exc)
    stand_in = STAND_IN_MARK.search(message)
    if stand_in:
        root = stand_in.group(1).split(".")[0]
        return "missing-package", pip_name(stand_in.group(1)), "needs the real %s (an import stand-in is in its place)" % root
    if isinstance(exc, ImportError):
        name = getattr(exc, "name", None) or ""
        missing = name
        if isinstance(exc, ModuleNotFoundError) and name:
            top = name.split(".")[0]
            if top == "torch":
                return "torch-api", None, "this torch has no module %s" % name
            if top == package:
                return "error", None, "the tree imports %s, which it does not contain" % name
            return "missing-package", pip_name(name), "optional package %s is not installed" % top
        found = re.search(r"cannot import name '(\w+)' from '([\w.]+)'", message)
        if found:
            missing = found.group(2)
        if _is_torch_module(missing) or _is_torch_module(name):
            return "torch-api", None, "this torch lacks %s" % (found.group(1) if found else name)
        # raised while importing a third-party package (broken install, ABI mismatch)
        for tb in reversed(frames):
            mod = _frame_module(tb)
            if mod and not mod.startswith(package) and not _is_torch_module(mod) and mod not in PROBE_MODULES:
                if not mod.startswith(("importlib", "vp_")):
                    return "missing-package", pip_name(mod), "package %s is installed but fails to import" % mod.split(".")[0]
        return "error", None, "import error"
    if isinstance(exc, AttributeError):
        found = TORCH_API_MARK.search(message)
        if found:
            third = _third_party_raiser(frames, package)
            if third:  # an installed package that needs a newer torch: the environment, not the tree
                return ("missing-package", "%s (a release that supports this torch)" % pip_name(third),
                        "installed %s needs a newer torch (no %s.%s)" % (third.split(".")[0], found.group(1), found.group(2)))
            return "torch-api", None, "this torch has no %s.%s" % (found.group(1), found.group(2))
    arity = re.match(r"\s*(?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*)\(\) (?:takes|missing|got)", message)
    if isinstance(exc, TypeError) and arity:  # a call with the wrong arguments: whose function is it?
        if _torch_callable_named(arity.group(1)):
            return "torch-api", None, "torch's %s() has another signature here" % arity.group(1)
        return "error", None, "TypeError"
    innermost = _frame_module(frames[-1]) if frames else ""
    if _is_torch_module(innermost):
        return "torch-api", None, "raised inside %s" % innermost
    if isinstance(exc, (TypeError, RuntimeError, AttributeError, ValueError, NotImplementedError)):
        called = re.match(r"\s*([A-Za-z_]\w*)\(\)", message)
        if called and _torch_callable_named(called.group(1)):
            return "torch-api", None, "torch's %s() rejected the call" % called.group(1)
    return "error", None, type(exc).__name__


def where(exc, roots):
    """file:line of the innermost frame inside the tree (else the innermost frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return None
    chosen = frames[-1]
    for frame in reversed(frames):
        if any(os.path.abspath(frame.filename).startswith(r) for r in roots):
            chosen = frame
            break
    return "%s:%s" % (chosen.filename, chosen.lineno)


# ----------------------------------------------------------------------------- blocking
class _Blocker(importlib.abc.MetaPathFinder):
    """Make ``import PKG`` raise ModuleNotFoundError, as if PKG were not installed."""

    def __init__(self, names):
        self.names = set(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError("No module named %r (blocked by --block)" % fullname, name=fullname)
        return None


