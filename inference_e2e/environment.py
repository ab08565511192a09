"""What a worker process needs around the tree before ``notebook/inference.py`` can be imported.

Real packages always win: ``--deps`` (a folder of pure-python sources such as pytorch3d, utils3d and
MoGe, carried where pip cannot get them) goes on ``sys.path`` after site-packages, the functional
stand-ins of ``standins/`` after that, and last the import stand-ins of ``sam3d-codemod verify
--stand-ins`` (``codemods/probe/vp_stand_ins.py``, the project's one placeholder finder), which
turn a still-missing *import-only* package into a placeholder module. Calling anything taken from
one raises, so a run that used one fails loudly; the report lists which placeholder modules were
imported and where every other package came from.
"""
from __future__ import annotations

import os
import sys
import types
from pathlib import Path

from codemods.probe import vp_stand_ins

ROOT = Path(__file__).resolve().parents[1]
STANDINS = Path(__file__).resolve().parent / "standins"
KAOLIN_STANDIN = Path(__file__).resolve().parent / "kaolin_standin"

# imported at module level on the Inference path but never called there (why, per package: docs/gpu_e2e.md)
IMPORT_ONLY = ("gradio", "open3d", "pyvista", "gsplat", "pymeshfix", "igraph", "xatlas", "cv2", "plotly",
               "imageio", "seaborn", "matplotlib", "diff_gaussian_rasterization", "diffoctreerast", "nvdiffrast",
               "flash_attn", "xformers", "torchsparse", "vox2seq", "lightning")


def placeholders_imported():
    """Every module (submodules too, e.g. ``pytorch3d._C``) that this process got from the finder."""
    return vp_stand_ins.used(submodules=True)


def prepare(tree, deps=None, kaolin=False, import_only=IMPORT_ONLY):
    """Put the checkout ``tree`` (with ``notebook/``) first on sys.path, then deps, stand-ins, placeholders.

    ``kaolin``: add the kaolin stand-in (unpatched trees need kaolin to import at all).
    """
    tree = Path(tree).resolve()
    sys.path[:0] = [str(tree / "notebook"), str(tree)]
    kept_aside = Path(sys.prefix) / "e2e-site"  # scripts/torch-envs: torchvision/timm beside a local torch
    if kept_aside.is_dir():
        sys.path.append(str(kept_aside))
    if deps:
        sys.path.append(str(Path(deps).resolve()))
    sys.path.append(str(STANDINS))
    if kaolin:
        sys.path.append(str(KAOLIN_STANDIN))
    # pytorch3d from source (--deps) has no compiled kernels: ``from pytorch3d import _C`` gets a
    # placeholder. Only then: our pytorch3d stand-in never imports ``_C``, and a submodule it lacks
    # should stay an ImportError rather than become a placeholder.
    vp_stand_ins.install(tuple(import_only) + (("pytorch3d",) if deps else ()))
    # notebook/inference.py line 5 reads os.environ["CONDA_PREFIX"] (KeyError outside conda)
    os.environ.setdefault("CONDA_PREFIX", sys.prefix)
    # notebook/inference.py sets this before its first sam3d_objects import; the attention modules
    # are imported before it (pin_attention_backend), so set it as it would
    os.environ["LIDRA_SKIP_INIT"] = "true"


def origins(names=("kaolin", "pytorch3d", "utils3d", "moge", "torchvision", "timm", "trimesh", "plyfile", "spconv",
                   "hydra", "omegaconf", "scipy")):
    """Where each package the run imported came from: site-packages, deps, stand-in or placeholder."""
    out = {}
    for name in names:
        module = sys.modules.get(name)
        if module is None:
            continue
        where = vars(module).get("__file__") or "in memory"  # no module __getattr__ (utils3d's imports)
        if vp_stand_ins.is_stand_in(module):
            where = "placeholder"
        elif (str(STANDINS) in where or str(KAOLIN_STANDIN) in where):
            where = "stand-in (%s)" % Path(where).relative_to(ROOT)
        try:
            version = str(getattr(module, "__version__", ""))
        except Exception:  # lazy-loading packages (utils3d) raise ImportError for unknown names
            version = ""
        out[name] = ("%s %s" % (version, where)).strip()
    return out


def import_torchvision():
    """Import torchvision; beside a torch it was not built for, without its operator registrations.

    PyPI's torchvision is built against PyPI's torch. Beside another build of the same torch (this
    machine's CPU torch 2.13.0) ``import torchvision`` fails in ``_meta_registrations`` with
    "operator torchvision::nms does not exist". The pipeline only uses its python transforms
    (Resize, Compose, crop), so those registrations are skipped. Returns a note, or None.
    """
    try:
        import torchvision
        return None
    except RuntimeError as error:
        if "torchvision::" not in str(error):
            raise
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
        import torchvision  # noqa: F401
        return "torchvision imported without _meta_registrations (%s)" % str(error).splitlines()[0]


# dense backends that need CUDA kernels: torch_flash_attn restricts SDPA to the flash kernel, which
# torch has for CUDA only; flash_attn and xformers are CUDA packages
CUDA_ONLY_ATTN = ("torch_flash_attn", "flash_attn", "xformers")


def attn_for_device(dense, device_type):
    """The backend a worker pins: ``dense``, except a CUDA-only one on a CPU runs as sdpa."""
    return "sdpa" if device_type != "cuda" and dense in CUDA_ONLY_ATTN else dense


def pin_attention_backend(dense):
    """Import the attention modules before ``inference_pipeline`` can override the backend.

    ``pipeline/inference_pipeline.py`` sets ``ATTN_BACKEND=flash_attn`` at import on A100/H100/H200;
    the flash-attn package has no wheel (a source build takes hours), so the backends are read
    from the environment first: ``dense`` for the dense modules, sdpa for the sparse ones.
    """
    os.environ["ATTN_BACKEND"] = dense
    os.environ["SPARSE_ATTN_BACKEND"] = "sdpa"
    from sam3d_objects.model.backbone.tdfy_dit.modules import attention, sparse

    return {"dense": attention.BACKEND, "sparse": sparse.ATTN, "sparse_backend": sparse.BACKEND}


def cpu_shims():
    """What it takes for the pipeline to build on a machine without CUDA (each is a CUDA hard-code).

    * ``inference_pipeline.set_attention_backend()`` (import time) reads ``gpu_name`` that is only
      set when CUDA is available: NameError. Shim: report CUDA during that import, named "cpu".
    * ``InferencePipeline.__init__`` logs ``torch.cuda.current_device()``: raises without CUDA.
    * ``Gaussian`` defaults to ``device="cuda"`` and ``setup_functions`` calls ``.cuda()``
      (``gaussian_on_cpu`` below).
    Returns the list of shims applied, for the report.
    """
    import torch

    real_available, real_name = torch.cuda.is_available, torch.cuda.get_device_name
    torch.cuda.is_available = lambda: True
    torch.cuda.get_device_name = lambda *a, **k: "cpu"
    try:
        import sam3d_objects.pipeline.inference_pipeline  # noqa: F401
    finally:
        torch.cuda.is_available, torch.cuda.get_device_name = real_available, real_name
    torch.cuda.current_device = lambda: 0
    gaussian_on_cpu()
    return ["set_attention_backend: CUDA reported during import (gpu_name unbound without CUDA)",
            "torch.cuda.current_device() -> 0 (InferencePipeline.__init__ logs it)",
            "Gaussian(device='cpu') default and .cuda() as identity in setup_functions"]


def gaussian_on_cpu():
    """``Gaussian()`` defaults to ``device="cuda"`` for its aabb tensor and its ``setup_functions()``
    calls ``.cuda()`` on three constants: point both at the CPU for a toy run."""
    import torch
    from sam3d_objects.model.backbone.tdfy_dit.representations.gaussian import gaussian_model

    defaults = list(gaussian_model.Gaussian.__init__.__defaults__)
    defaults[-1] = "cpu"
    gaussian_model.Gaussian.__init__.__defaults__ = tuple(defaults)
    setup = gaussian_model.Gaussian.setup_functions

    def setup_on_cpu(self):
        real = torch.Tensor.cuda
        torch.Tensor.cuda = lambda t, *a, **k: t
        try:
            setup(self)
        finally:
            torch.Tensor.cuda = real

    gaussian_model.Gaussian.setup_functions = setup_on_cpu
