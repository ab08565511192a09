"""Runtime probe behind ``sam3d-codemod verify``: run by the *target* interpreter, never imported.

    PYTHON verify_probe.py --package-dir DIR [--device cpu|cuda|auto] [--json-out FILE]
                           [--sys-path DIR]... [--block PKG]... [--save-dir DIR] [--only NAME,...]
                           [--modules M,...] [--no-imports] [--no-checks] [--timeout SECONDS] [--seed N]
                           [--jobs N]

Standalone (standard library + torch), Python 3.8+. It imports torch once, then runs every unit
in a child forked from that clean state (a fresh interpreter where ``fork`` is missing), so one
module's side effects -- ``import torch._dynamo`` makes ``torch._dynamo`` appear for everyone
after it -- never hide another module's failure:

* one unit per module of the package: import it;
* one unit per smoke check: build tiny random modules from the tree and run the code paths that
  the rules rewrite (see CHECKS), on CUDA when ``--device`` asks for it or ``auto`` finds it.

Every failure gets a category:

* ``torch-api``: the tree uses a torch API this torch lacks or treats differently (an
  ImportError/AttributeError naming torch, an error raised inside torch or by a torch function
  called from the tree): a rule should have rewritten it;
* ``missing-package``: ModuleNotFoundError (or a broken install) of a package that is not torch
  and not the tree: the user's environment; ``package`` names what to ``pip install``;
* ``error``: anything else (a bug of the tree itself, or a check whose result is wrong).

A check whose module cannot be imported because of a missing package is skipped, not failed.
The JSON report goes to ``--json-out`` (stdout when absent). Exit status: 0 report written,
3 torch cannot be imported (report says so), 2 bad arguments.

``--block PKG`` makes ``import PKG`` fail as if PKG were not installed, ``--sys-path`` adds
directories in front of the tree on ``sys.path`` (stand-ins for packages that cannot be installed),
``--save-dir`` stores each check's outputs with ``torch.save`` (differential tests compare two
trees with them).
"""
import argparse
import importlib
import importlib.abc
import json
import os
import platform
import re
import sys
import tempfile
import time
import traceback
import types
import warnings

PROBE_VERSION = 1

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


def classify(exc, package):
    """(category, package-to-install or None, explanation) of a failure."""
    frames = _frames(exc.__traceback__)
    message = str(exc)
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
            if mod and not mod.startswith(package) and not _is_torch_module(mod) and mod not in ("importlib", "__main__"):
                if not mod.startswith("importlib") and mod != __name__:
                    return "missing-package", pip_name(mod), "package %s is installed but fails to import" % mod.split(".")[0]
        return "error", None, "import error"
    if isinstance(exc, AttributeError):
        found = TORCH_API_MARK.search(message)
        if found:
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


# ----------------------------------------------------------------------------- checks
class Skip(Exception):
    """A check that does not apply (module not in this tree, optional package missing)."""

    def __init__(self, reason, package=None):
        Exception.__init__(self, reason)
        self.package = package


class CheckFailed(Exception):
    """A check ran but its result is wrong."""


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
        base = os.path.join(self.package_dir, *rel.split("."))
        return os.path.isfile(base + ".py") or os.path.isfile(os.path.join(base, "__init__.py"))

    def imp(self, rel):
        return importlib.import_module("%s.%s" % (self.package, rel))

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


def _pick(ctx, layouts):
    for rel, fn in layouts:
        if ctx.has(rel):
            ctx.info["module"] = "%s.%s" % (ctx.package, rel)
            return fn
    raise Skip("not in this tree (looked for %s)" % ", ".join(rel for rel, _ in layouts))


def _to(module, device):
    """``module.to(device)`` through the tensors, for modules that shadow ``nn.Module._apply``."""
    for tensor in list(module.parameters()) + list(module.buffers()):
        tensor.data = tensor.data.to(device)
    return module


def _latents(torch, device, channels, names=("shape", "6drotation", "translation"), tokens=(8, 1, 1), batch=2):
    return {n: torch.randn(batch, t, channels, device=device) for n, t in zip(names, tokens)}


def _close(torch, a, b, atol, what):
    if not torch.allclose(a.float(), b.float(), atol=atol, rtol=atol):
        raise CheckFailed("%s: max abs difference %.3g > %g" % (what, (a.float() - b.float()).abs().max().item(), atol))


def check_mot_self_attention(ctx):
    import torch

    def upstream():
        mod = ctx.imp("model.backbone.tdfy_dit.modules.attention.modules")
        ctx.manual_seed()
        names = ["shape", "6drotation", "translation"]
        attn = mod.MOTMultiHeadSelfAttention(32, 4, qk_rms_norm=True, latent_names=names, protect_modality_list=["shape"]).to(ctx.device)
        x = _latents(torch, ctx.device, 32)
        out = attn(x)
        if sorted(out) != sorted(names) or any(out[n].shape != x[n].shape for n in names):
            raise CheckFailed("unexpected output structure %r" % {k: tuple(v.shape) for k, v in out.items()})
        ctx.save("out", out)

    def sample():
        mod = ctx.imp("model.backbone.attention.mot")
        ctx.manual_seed()
        block = _to(mod.MOTBlock(["shape", "pose"], 16), ctx.device)
        x = _latents(torch, ctx.device, 16, names=("shape", "pose"), tokens=(4, 1))
        out, shapes = block(x)
        ctx.save("out", out)

    _pick(ctx, [("model.backbone.tdfy_dit.modules.attention.modules", upstream), ("model.backbone.attention.mot", sample)])()


def check_mot_modulated_block(ctx):
    import torch

    def upstream():
        mod = ctx.imp("model.backbone.tdfy_dit.modules.transformer.modulated")
        names = ["shape", "6drotation", "translation"]
        ctx.manual_seed()
        block = mod.MOTModulatedTransformerCrossBlock(32, 16, 4, qk_rms_norm=True, latent_names=names, use_checkpoint=True).to(ctx.device)
        x = _latents(torch, ctx.device, 32)
        cond = torch.randn(2, 32, device=ctx.device)
        context = torch.randn(2, 5, 16, device=ctx.device)
        out = block(x, cond, context)
        ctx.manual_seed(1)
        plain = mod.ModulatedTransformerCrossBlock(32, 16, 4, use_checkpoint=True).to(ctx.device)
        dense = plain(x["shape"], cond, context)
        ctx.save("mot", out)
        ctx.save("dense", dense)
        ctx.info["use_checkpoint"] = True

    def sample():
        mod = ctx.imp("model.backbone.attention.mot")
        ctx.manual_seed()
        block = _to(mod.MOTBlock(["shape", "pose"], 16, use_checkpoint=True), ctx.device)
        x = _latents(torch, ctx.device, 16, names=("shape", "pose"), tokens=(4, 1))
        out, shapes = block(x)
        ctx.save("out", out)
        ctx.info["use_checkpoint"] = True

    _pick(ctx, [("model.backbone.tdfy_dit.modules.transformer.modulated", upstream), ("model.backbone.attention.mot", sample)])()


class _DictBackbone(object):
    """Tiny generator backbone returning a dict of latents (built lazily so torch is imported in the child)."""

    @staticmethod
    def make(torch, device):
        class Backbone(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.shape = torch.nn.Linear(8, 8)
                self.pose = torch.nn.Linear(8, 4)

            def forward(self, x, t, cond):
                return {"shape": self.shape(x) + cond.mean(), "pose": self.pose(x) * t + cond.sum()}

        return Backbone().to(device)


def check_cfg_guidance(ctx):
    import torch

    strength = {"shape": 3.0, "pose": 2.0}
    interval = {"shape": (0.0, 1.0), "pose": (0.5, 1.0)}

    def upstream():
        mod = ctx.imp("model.backbone.generator.classifier_free_guidance")
        got = mod.get_strength(strength, interval, 0.25)
        if got != {"shape": 3.0, "pose": 0.0}:
            raise CheckFailed("get_strength(dict, dict interval) gave %r" % (got,))
        if mod.get_strength(strength, (0.5, 1.0), 0.25) != {"shape": 0.0, "pose": 0.0}:
            raise CheckFailed("get_strength with a tuple interval is wrong")
        ctx.manual_seed()
        backbone = _DictBackbone.make(torch, ctx.device)
        x = torch.randn(2, 8, device=ctx.device)
        cond = torch.randn(2, 8, device=ctx.device)
        cfg = mod.ClassifierFreeGuidance(backbone, strength=strength, interval=interval).eval()
        out_dict = cfg(x, 0.75, cond)
        cfg_scalar = mod.ClassifierFreeGuidance(backbone, strength=2.5, interval=(0.0, 1.0)).eval()
        out_scalar = cfg_scalar(x, 0.75, cond)
        y = backbone(x, 0.75, cond)
        y_un = backbone(x, 0.75, torch.zeros_like(cond))
        for key in y:
            _close(torch, out_dict[key], (1 + strength[key]) * y[key] - strength[key] * y_un[key], 1e-5, "cfg dict strength " + key)
            _close(torch, out_scalar[key], 3.5 * y[key] - 2.5 * y_un[key], 1e-5, "cfg scalar strength " + key)
        pm = mod.PointmapCFG.__new__(mod.PointmapCFG)
        y_pm = {k: v * 0.5 for k, v in y.items()}
        out_pm = mod.PointmapCFG._cfg_step(pm, y, y_un, y_pm, strength, {"shape": 1.0, "pose": 0.5})
        ctx.save("dict", out_dict)
        ctx.save("scalar", out_scalar)
        ctx.save("pointmap", out_pm)

    def sample():
        mod = ctx.imp("model.backbone.cfg")
        got = mod.get_strength(strength, interval, 0.25)
        if got != {"shape": 3.0, "pose": 0.0}:
            raise CheckFailed("get_strength(dict, dict interval) gave %r" % (got,))
        ctx.manual_seed()
        y = {"shape": torch.randn(2, 4, device=ctx.device), "pose": torch.randn(2, 3, device=ctx.device)}
        y_un = {k: torch.randn_like(v) for k, v in y.items()}
        cfg = mod.ClassifierFreeGuidance()
        out_dict = cfg._cfg_step(y, y_un, strength)
        out_scalar = cfg._cfg_step(y, y_un, 2.5)
        for key in y:
            _close(torch, out_dict[key], (1 + strength[key]) * y[key] - strength[key] * y_un[key], 1e-5, "cfg dict strength " + key)
        ctx.save("dict", out_dict)
        ctx.save("scalar", out_scalar)

    _pick(ctx, [("model.backbone.generator.classifier_free_guidance", upstream), ("model.backbone.cfg", sample)])()


def _naive_attention(torch, q, k, v):
    q, k, v = (t.float().permute(0, 2, 1, 3) for t in (q, k, v))
    weights = torch.softmax(q @ k.transpose(-2, -1) / (q.shape[-1] ** 0.5), dim=-1)
    return (weights @ v).permute(0, 2, 1, 3)


def _attention_check(ctx, backend, atol):
    import torch

    os.environ["ATTN_BACKEND"] = backend
    flags = ("flash", "mem_efficient", "math")

    def sdp_flags():
        return {f: getattr(torch.backends.cuda, "%s_sdp_enabled" % f)() for f in flags if hasattr(torch.backends.cuda, "%s_sdp_enabled" % f)}

    before = sdp_flags()

    def upstream():
        ctx.imp("model.backbone.tdfy_dit.modules.attention")
        mod = ctx.imp("model.backbone.tdfy_dit.modules.attention.full_attn")
        if mod.BACKEND != backend:
            raise CheckFailed("ATTN_BACKEND=%s but the module uses %r" % (backend, mod.BACKEND))
        ctx.manual_seed()
        n, l, h, c = 2, 8, 2, 16
        q, k, v = (torch.randn(n, l, h, c, device=ctx.device) for _ in range(3))
        ref = _naive_attention(torch, q, k, v)
        out3 = mod.scaled_dot_product_attention(q, k, v)
        out1 = mod.scaled_dot_product_attention(torch.stack([q, k, v], dim=2))
        out2 = mod.scaled_dot_product_attention(q, torch.stack([k, v], dim=2))
        for name, out in (("q,k,v", out3), ("qkv", out1), ("q,kv", out2)):
            if out.dtype != q.dtype or out.shape != q.shape:
                raise CheckFailed("%s: got %s %s" % (name, out.dtype, tuple(out.shape)))
            _close(torch, out, ref, atol, "sdpa(%s) vs reference" % name)
        ctx.save("out", (out1, out2, out3))

    def sample():
        mod = ctx.imp("model.backbone.attention.full_attn")
        ctx.manual_seed()
        q, k, v = (torch.randn(2, 8, 2, 16, device=ctx.device) for _ in range(3))
        out = mod.scaled_dot_product_attention(q, k, v)
        _close(torch, out, _naive_attention(torch, q, k, v), atol, "sdpa vs reference")
        ctx.save("out", out)

    _pick(ctx, [("model.backbone.tdfy_dit.modules.attention.full_attn", upstream), ("model.backbone.attention.full_attn", sample)])()
    after = sdp_flags()
    ctx.info["sdp_flags_restored"] = before == after
    if before != after:
        raise CheckFailed("torch.backends.cuda SDPA flags not restored after the call: %r -> %r" % (before, after))


def check_attention_torch_flash_attn(ctx):
    _attention_check(ctx, "torch_flash_attn", 3e-2)  # bfloat16 autocast inside


def check_attention_sdpa(ctx):
    _attention_check(ctx, "sdpa", 1e-4)


class _FakeSparse(object):
    def __init__(self, feats, coords):
        self.feats = feats
        self.coords = coords


def check_slat_is_compiling(ctx):
    import torch

    def upstream():
        mod = ctx.imp("model.backbone.tdfy_dit.models.structured_latent_flow")
        wrapper_cls = mod.SLatFlowModelTdfyWrapper

        def parent_forward(self, x, t, cond, d=None):
            extra = d.float().sum() if d is not None else 0.0
            return _FakeSparse(x.feats * 2 + cond.mean() + t.mean() + extra, x.coords)

        # The sparse backbone needs spconv; only the wrapper's is_compiling branch is under test.
        mod.SLatFlowModel.forward = parent_forward
        mod.sp = types.SimpleNamespace(SparseTensor=_FakeSparse)
        model = wrapper_cls.__new__(wrapper_cls)
        torch.nn.Module.__init__(model)
        model.condition_embedder = lambda cond: cond * 3
        model.force_zeros_cond = False
        ctx.manual_seed()
        x = torch.randn(1, 6, 4, device=ctx.device)
        t = torch.rand(1, device=ctx.device)
        cond = torch.randn(1, 5, 4, device=ctx.device)
        coords = [[0, i, i, i] for i in range(6)]
        out_kw = model(x, t, cond, coords=coords, d=torch.ones(1, device=ctx.device))
        out_pos = model(x, t, cond, coords)
        ctx.save("kw", out_kw)
        ctx.save("pos", out_pos)

    def sample():
        mod = ctx.imp("model.backbone.cfg")
        ctx.manual_seed()
        x = torch.randn(2, 3, device=ctx.device)
        out = mod.ClassifierFreeGuidance().forward(x, d=1)
        ctx.save("out", out)

    _pick(ctx, [("model.backbone.tdfy_dit.models.structured_latent_flow", upstream), ("model.backbone.cfg", sample)])()


def check_pointmap_dynamo_disable(ctx):
    import torch

    def upstream():
        mod = ctx.imp("model.backbone.dit.embedder.pointmap")
        ctx.manual_seed()
        embed = mod.PointPatchEmbed(input_size=16, patch_size=4, embed_dim=32).to(ctx.device)
        xyz = torch.randn(2, 3, 16, 16, device=ctx.device)
        xyz[0, :, 0, 0] = float("nan")
        x, b, h, w = embed.embed_pointmap_windows(xyz)
        if tuple(x.shape) != (2, 16, 16, 32):
            raise CheckFailed("unexpected shape %s" % (tuple(x.shape),))
        ctx.save("out", x)

    def sample():
        mod = ctx.imp("model.pointmap")
        ctx.manual_seed()
        embed = mod.PointPatchEmbed(8).to(ctx.device)
        ctx.save("out", embed.embed(torch.randn(2, 5, 3, device=ctx.device)))

    _pick(ctx, [("model.backbone.dit.embedder.pointmap", upstream), ("model.pointmap", sample)])()


_DYNAMO_EXPECTED = (("cache_size_limit", 64), ("accumulated_cache_size_limit", 2048), ("capture_scalar_outputs", True))


def _compile_warnings(caught):
    return [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning) and "torch.compile" in str(w.message)]


def _dynamo_config_report(ctx):
    import torch

    config = torch._dynamo.config
    values, wrong = {}, []
    for key, expected in _DYNAMO_EXPECTED:
        if hasattr(config, key):
            values[key] = getattr(config, key)
            if values[key] != expected:
                wrong.append("%s=%r (expected %r)" % (key, values[key], expected))
        else:
            values[key] = None  # this torch has no such key: the write must be skipped, not fail
    ctx.info["dynamo_config"] = values
    ctx.save("dynamo_config", values)
    if wrong:
        raise CheckFailed("torch._dynamo.config not set: " + ", ".join(wrong))


def check_pipeline_dynamo_config(ctx):
    import torch

    def fake_pipeline():
        ctx.manual_seed()
        decoder = torch.nn.Linear(4, 4).to(ctx.device)
        return types.SimpleNamespace(
            model=decoder,
            embed_condition=decoder.forward,
            models={
                "ss_generator": types.SimpleNamespace(reverse_fn=types.SimpleNamespace(inner_forward=decoder.forward)),
                "ss_decoder": decoder,
            },
            condition_embedders={"ss_condition_embedder": types.SimpleNamespace(embedder_list=[(torch.nn.Linear(4, 4), None)])},
            _warmup=lambda *a, **k: None,
        )

    def run():
        # _compile only: torch.compile is lazy (nothing compiles until a call) and _warmup is a no-op.
        mod = ctx.imp("pipeline.inference_pipeline")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            mod.InferencePipeline._compile(fake_pipeline())
            if ctx.has("pipeline.inference_pipeline_pointmap"):
                pm = ctx.imp("pipeline.inference_pipeline_pointmap")
                pm.InferencePipelinePointMap._compile(fake_pipeline())
                ctx.info["pointmap_pipeline"] = True
        ctx.info["compile_warnings"] = len(_compile_warnings(caught))
        _dynamo_config_report(ctx)

    _pick(ctx, [("pipeline.inference_pipeline", run)])()


def check_compile_fallback(ctx):
    import torch

    def run(make):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ctx.manual_seed()
            fn = torch.nn.Linear(4, 3).to(ctx.device)
            compiled = [make(fn) for _ in range(3)]
        messages = _compile_warnings(caught)
        ctx.info["compile_warnings"] = len(messages)
        ctx.info["eager_fallback"] = bool(messages)
        if len(messages) > 1:
            raise CheckFailed("%d compile fallback warnings, expected at most one" % len(messages))
        if messages:
            # torch cannot compile here: each result must be the eager function and give its output
            x = torch.randn(2, 4, device=ctx.device)
            for c in compiled:
                _close(torch, c(x), fn(x), 1e-6, "eager fallback")
            ctx.save("out", compiled[0](x))
        # where torch can compile, calling would start a (slow) compilation: not done here

    def upstream():
        mod = ctx.imp("pipeline.inference_pipeline_pointmap")
        run(lambda fn: mod.compile_wrapper(fn.forward, mode="max-autotune", fullgraph=True))

    def sample():
        mod = ctx.imp("pipeline.inference_pipeline")
        run(lambda fn: mod.InferencePipeline(fn, compile_model=True).model)

    _pick(ctx, [("pipeline.inference_pipeline_pointmap", upstream), ("pipeline.inference_pipeline", sample)])()


def _sphere_grid(torch, device, res):
    n = res + 1
    ar = torch.arange(n, device=device)
    verts = torch.stack(torch.meshgrid(ar, ar, ar, indexing="ij"), dim=-1).reshape(-1, 3)
    corners = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 1], [0, 1, 1], [1, 1, 1]], device=device)
    base = torch.stack(torch.meshgrid(*(torch.arange(res, device=device),) * 3, indexing="ij"), dim=-1).reshape(-1, 1, 3)
    idx = base + corners.unsqueeze(0)
    cubes = (idx[..., 0] * n + idx[..., 1]) * n + idx[..., 2]
    pos = verts.float() / res - 0.5
    sdf = pos.norm(dim=-1) - 0.3
    return pos, sdf, cubes


def _half_dtype(torch, device):
    """float16, or bfloat16 where this torch has no float16 ``tanh`` on the device (CPU before 2.1):
    FlexiCubes normalises its weights with tanh, and either 16-bit type reaches the same index_add_."""
    try:
        torch.tanh(torch.ones(1, dtype=torch.float16, device=device))
        torch.sigmoid(torch.ones(1, dtype=torch.float16, device=device))
        return torch.float16
    except RuntimeError:
        return torch.bfloat16


def check_flexicubes_fp16(ctx):
    import torch

    def upstream():
        mod = ctx.imp("model.backbone.tdfy_dit.representations.mesh.flexicubes.flexicubes")
        ctx.info["check_tensor_from"] = getattr(mod.check_tensor, "__module__", "?")
        fc = mod.FlexiCubes(device=ctx.device)
        res = 4
        pos, sdf, cubes = _sphere_grid(torch, ctx.device, res)
        ctx.manual_seed()
        beta = torch.rand(cubes.shape[0], 12, device=ctx.device)
        alpha = torch.rand(cubes.shape[0], 8, device=ctx.device)
        gamma = torch.rand(cubes.shape[0], device=ctx.device)
        half = _half_dtype(torch, ctx.device)
        ctx.info["half_dtype"] = str(half).replace("torch.", "")
        outputs = {}
        for name, dtype in (("fp32", torch.float32), ("fp16", half)):
            verts, faces, reg, _ = fc(pos.to(dtype), sdf.to(dtype), cubes, res, beta=beta.to(dtype), alpha=alpha.to(dtype),
                                      gamma_f=gamma.to(dtype), training=False)
            if faces.shape[0] == 0:
                raise CheckFailed("%s: no faces extracted" % name)
            outputs[name] = {"verts": verts, "faces": faces, "reg": reg}
            ctx.save("out", outputs)
        if outputs["fp32"]["faces"].shape != outputs["fp16"]["faces"].shape:
            raise CheckFailed("float16 mesh differs in topology from float32")
        _close(torch, outputs["fp16"]["verts"], outputs["fp32"]["verts"], 5e-2, "16-bit vs float32 vertices")

    def sample():
        mod = ctx.imp("model.backbone.representations.flexicubes")
        ctx.info["check_tensor_from"] = getattr(mod.check_tensor, "__module__", "?")
        ctx.manual_seed()
        vd = torch.zeros(4, 3, device=ctx.device)
        index = torch.tensor([0, 1, 1, 3, 2], device=ctx.device)
        dist = torch.rand(5, device=ctx.device, dtype=torch.float16)
        counts = torch.ones(4, device=ctx.device)
        out1 = mod.mean_edge_length(vd, index, dist, counts)
        out2 = mod.dual_vertices(torch.zeros(4, 3, device=ctx.device), torch.zeros(4, 1, device=ctx.device), index,
                                 torch.rand(5, 1, device=ctx.device, dtype=torch.float16), torch.rand(5, 3, device=ctx.device, dtype=torch.float16))
        ctx.save("out", (out1, out2))

    _pick(ctx, [("model.backbone.tdfy_dit.representations.mesh.flexicubes.flexicubes", upstream),
                ("model.backbone.representations.flexicubes", sample)])()


def check_load_checkpoint(ctx):
    import torch

    def run(mod):
        pl = getattr(mod, "pl", None)
        ctx.info["lightning"] = "placeholder" if "missing" in repr(pl) else ("importable" if pl is not None else "absent")
        ctx.manual_seed()
        source = torch.nn.Linear(4, 3)
        target = torch.nn.Linear(4, 3)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.ckpt")
            torch.save({"state_dict": source.state_dict()}, path)
            loaded = mod.load_model_from_checkpoint(target, path, device=ctx.device)
        for key, value in source.state_dict().items():
            _close(torch, loaded.state_dict()[key], value.to(ctx.device), 0, "loaded " + key)
        ctx.save("out", loaded.state_dict())

    _pick(ctx, [("model.io", lambda: run(ctx.imp("model.io")))])()


def check_cpu_autocast_fp32(ctx):
    import torch

    def upstream():
        mod = ctx.imp("pipeline.utils.pointmap")

        # moge/utils3d are not under test: tiny stand-ins for the two helpers the function calls
        def recover_focal_shift(points, mask, focal=None):
            shift = points[..., 2].mean(dim=(-2, -1)) * 0.1
            return (focal if focal is not None else torch.ones_like(shift)), shift

        def intrinsics_from_focal_center(fx, fy, cx, cy):
            k = torch.zeros(fx.shape[0], 3, 3, device=fx.device, dtype=fx.dtype)
            k[:, 0, 0], k[:, 1, 1], k[:, 0, 2], k[:, 1, 2], k[:, 2, 2] = fx, fy, cx, cy, 1.0
            return k

        mod.recover_focal_shift = recover_focal_shift
        mod.utils3d = types.SimpleNamespace(torch=types.SimpleNamespace(intrinsics_from_focal_center=intrinsics_from_focal_center))
        ctx.manual_seed()
        points = torch.randn(1, 6, 8, 3, device=ctx.device).to(torch.bfloat16)
        points[..., 2] += 3
        out = mod.infer_intrinsics_from_pointmap(points, fov_x=60.0)
        if out["points"].dtype != torch.float32:
            raise CheckFailed("output dtype %s, expected float32" % out["points"].dtype)
        ctx.save("out", out)

    def sample():
        mod = ctx.imp("model.pointmap")
        ctx.manual_seed()
        out = mod.normalize(torch.randn(2, 5, 3, device=ctx.device).to(torch.bfloat16))
        if out.dtype != torch.float32:
            raise CheckFailed("output dtype %s, expected float32" % out.dtype)
        ctx.save("out", out)

    _pick(ctx, [("pipeline.utils.pointmap", upstream), ("model.pointmap", sample)])()


def check_attention_backend_select(ctx):
    def run():
        os.environ.pop("ATTN_BACKEND", None)
        mod = ctx.imp("pipeline.inference_pipeline")  # runs set_attention_backend() at import
        mod.set_attention_backend()
        ctx.info["ATTN_BACKEND"] = os.environ.get("ATTN_BACKEND", "(unset)")

    _pick(ctx, [("pipeline.inference_pipeline", run)])()


# name, what it exercises, rules, function
CHECKS = [
    ("mot_self_attention", "MOT self-attention: multi-tree tree_map", "TC005", check_mot_self_attention),
    ("mot_modulated_block", "MOT modulated cross block, checkpointed", "TC005 TC001", check_mot_modulated_block),
    ("cfg_guidance", "classifier-free guidance: _cfg_step, get_strength (dict strength/interval)", "TC005", check_cfg_guidance),
    ("attention_torch_flash_attn", "scaled_dot_product_attention, ATTN_BACKEND=torch_flash_attn", "TC003", check_attention_torch_flash_attn),
    ("attention_sdpa", "scaled_dot_product_attention, ATTN_BACKEND=sdpa", "-", check_attention_sdpa),
    ("slat_is_compiling", "structured-latent flow wrapper: is_compiling branch", "TC004", check_slat_is_compiling),
    ("pointmap_dynamo_disable", "pointmap embedder: @torch._dynamo.disable() method", "TC002", check_pointmap_dynamo_disable),
    ("pipeline_dynamo_config", "InferencePipeline._compile: torch._dynamo.config writes", "TC002 TC011", check_pipeline_dynamo_config),
    ("compile_fallback", "compile_wrapper: eager fallback where torch cannot compile", "TC011", check_compile_fallback),
    ("flexicubes_fp16", "FlexiCubes on float16 inputs (index_add_ dtypes, kaolin optional)", "TC007 TC008", check_flexicubes_fp16),
    ("load_checkpoint", "load_model_from_checkpoint with a plain nn.Module (lightning optional)", "TC006", check_load_checkpoint),
    ("cpu_autocast_fp32", "pointmap intrinsics under float32 autocast", "TC012", check_cpu_autocast_fp32),
    ("attention_backend_select", "set_attention_backend() without CUDA", "TC013", check_attention_backend_select),
]


# ----------------------------------------------------------------------------- units
def list_modules(package_dir):
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


def _result(kind, name, **fields):
    data = {"kind": kind, "name": name, "status": "ok", "category": None, "error": None, "package": None,
            "cause": None, "where": None, "info": {}, "warnings": []}
    data.update(fields)
    return data


def _failure(kind, name, exc, package, roots, **fields):
    category, pip, cause = classify(exc, package)
    tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])
    return _result(kind, name, status="fail", category=category, package=pip, cause=cause,
                   error="%s: %s" % (type(exc).__name__, str(exc).strip().splitlines()[0] if str(exc).strip() else ""),
                   where=where(exc, roots), traceback=tail[-3000:], **fields)


def run_unit(unit, opts):
    """Run one unit in this process (a fresh child) and return its result dict."""
    kind, name = unit
    package_dir = opts.package_dir
    package = os.path.basename(os.path.normpath(package_dir))
    roots = [os.path.abspath(package_dir)]
    started = time.time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if kind == "import":
            try:
                importlib.import_module(name)
                result = _result(kind, name)
            except BaseException as exc:  # noqa: B902 - report everything, SystemExit included
                result = _failure(kind, name, exc, package, roots)
        else:
            entry = dict((c[0], c) for c in CHECKS)[name]
            ctx = Ctx(package, package_dir, opts.device_resolved, opts.seed, opts.save_dir, name)
            try:
                try:
                    entry[3](ctx)
                finally:
                    ctx.flush()  # what a check saved before failing still serves a differential test
                result = _result(kind, name, info=ctx.info)
            except Skip as exc:
                result = _result(kind, name, status="skip", cause=str(exc), package=exc.package, info=ctx.info)
            except CheckFailed as exc:
                result = _result(kind, name, status="fail", category="error", error=str(exc), cause="wrong result", info=ctx.info)
            except BaseException as exc:  # noqa: B902
                result = _failure(kind, name, exc, package, roots, info=ctx.info)
                if result["category"] == "missing-package":
                    result.update(status="skip", cause="needs the optional package %s" % result["package"])
            result["description"], result["rules"] = entry[1], entry[2]
    result["warnings"] = sorted(set("%s: %s" % (w.category.__name__, str(w.message).splitlines()[0] if str(w.message) else "") for w in caught
                                    if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, ImportWarning))))[:10]
    result["seconds"] = round(time.time() - started, 3)
    return result


def _json_safe(value):
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        if isinstance(value, dict):
            return {str(k): _json_safe(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [_json_safe(v) for v in value]
        return repr(value)


def _read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


class _Child(object):
    def __init__(self, unit, pid, read_fd, log):
        self.unit, self.pid, self.read_fd, self.log = unit, pid, read_fd, log
        self.started = time.time()
        self.chunks = []


def _start_fork(unit, opts):
    """Fork a child (torch imported, nothing else) that runs ``unit`` and writes its JSON result to a pipe."""
    read_fd, write_fd = os.pipe()
    log = tempfile.TemporaryFile()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(read_fd)
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            if opts.jobs > 1:
                import torch

                torch.set_num_threads(max(1, (os.cpu_count() or 1) // opts.jobs))
            result = run_unit(unit, opts)
            view = memoryview(json.dumps(_json_safe(result)).encode())
            while view:
                view = view[os.write(write_fd, view):]
        except BaseException:  # noqa: B902
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    return _Child(unit, pid, read_fd, log)


def _finish(child, opts, timed_out):
    status = None
    if timed_out:
        try:
            os.kill(child.pid, 9)
        except OSError:
            pass
        os.waitpid(child.pid, 0)
    else:
        status = os.waitpid(child.pid, 0)[1]
    os.close(child.read_fd)
    log = child.log
    log.seek(0, 2)
    log.seek(max(0, log.tell() - 2000))
    output = log.read().decode("utf-8", "replace")
    log.close()
    return _decode_child(child.unit, b"" if timed_out else b"".join(child.chunks), status, output, opts)


def run_forked_all(units, opts):
    """Run units in forked children, ``opts.jobs`` at a time; results in the order of ``units``."""
    import select

    results = {}
    pending = list(units)
    running = []
    while pending or running:
        while pending and len(running) < opts.jobs:
            running.append(_start_fork(pending.pop(0), opts))
        ready, _, _ = select.select([c.read_fd for c in running], [], [], 0.5)
        for child in list(running):
            if child.read_fd in ready:
                chunk = os.read(child.read_fd, 1 << 16)
                if chunk:
                    child.chunks.append(chunk)
                    continue
                results[child.unit] = _finish(child, opts, timed_out=False)
                running.remove(child)
            elif time.time() - child.started > opts.timeout:
                results[child.unit] = _finish(child, opts, timed_out=True)
                running.remove(child)
    return [results[u] for u in units]


def run_subprocess(unit, opts):
    """Fallback where fork is unavailable: a fresh interpreter per unit."""
    import subprocess

    cmd = [sys.executable, os.path.abspath(__file__), "--unit", "%s:%s" % unit] + opts.passthrough
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=opts.timeout)
    except subprocess.TimeoutExpired:
        return _decode_child(unit, b"", None, "", opts)
    lines = proc.stdout.decode("utf-8", "replace").strip().splitlines()
    return _decode_child(unit, lines[-1].encode() if lines else b"", proc.returncode, proc.stderr.decode("utf-8", "replace")[-2000:], opts)


def _decode_child(unit, data, status, output, opts):
    kind, name = unit
    if data:
        try:
            return json.loads(data.decode("utf-8"))
        except ValueError:
            pass
    if status is None:
        cause = "timed out after %ss" % opts.timeout
    else:
        cause = "the child process died (status %s): a crash in native code?" % status
    return _result(kind, name, status="fail", category="error", error=cause, cause=cause, traceback=output)


def _cuda_probe(opts):
    """CUDA availability, asked in a child so this process never initialises CUDA (forks stay usable)."""
    code = "import json, torch; ok = torch.cuda.is_available(); print(json.dumps([ok, torch.cuda.get_device_name(0) if ok else None]))"
    import subprocess

    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
        return tuple(json.loads(proc.stdout.decode().strip().splitlines()[-1]))
    except Exception:
        return False, None


def parse_args(argv):
    parser = argparse.ArgumentParser(description="sam3d-codemod verify probe")
    parser.add_argument("--package-dir", required=True)
    parser.add_argument("--device", choices=["cpu", "cuda", "auto"], default="auto")
    parser.add_argument("--json-out")
    parser.add_argument("--sys-path", action="append", default=[])
    parser.add_argument("--block", action="append", default=[])
    parser.add_argument("--save-dir")
    parser.add_argument("--only", default="")
    parser.add_argument("--modules", default="", help="comma-separated module names: import only these")
    parser.add_argument("--no-imports", action="store_true")
    parser.add_argument("--no-checks", action="store_true")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1), help="units run at once")
    parser.add_argument("--no-fork", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--unit", help=argparse.SUPPRESS)
    parser.add_argument("--device-resolved", help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    opts.passthrough = [a for a in argv if not a.startswith("--unit")]
    return opts


def _emit(report, opts):
    text = json.dumps(_json_safe(report), indent=1, sort_keys=True)
    if opts.json_out:
        with open(opts.json_out, "w") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text + "\n")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    opts = parse_args(argv)
    started = time.time()
    opts.jobs = max(1, opts.jobs)
    package_dir = os.path.abspath(opts.package_dir)
    opts.package_dir = package_dir
    if not os.path.isfile(os.path.join(package_dir, "__init__.py")):
        sys.stderr.write("verify_probe: %s is not a package directory\n" % package_dir)
        return 2
    root = os.path.dirname(package_dir)
    sys.path[:0] = [root] + [os.path.abspath(p) for p in opts.sys_path]
    if opts.block:
        sys.meta_path.insert(0, _Blocker(opts.block))
    if opts.save_dir:
        os.makedirs(opts.save_dir, exist_ok=True)
    report = {"probe": PROBE_VERSION, "python": sys.version.split()[0], "executable": sys.executable,
              "platform": platform.platform(), "package": os.path.basename(package_dir), "package_dir": package_dir,
              "imports": [], "checks": []}
    try:
        import torch  # noqa: F401 - imported once here; every unit starts from this state
    except BaseException as exc:  # noqa: B902
        report["error"] = "torch-missing"
        report["message"] = "torch cannot be imported by %s: %s: %s" % (sys.executable, type(exc).__name__, exc)
        _emit(report, opts)
        return 3
    if opts.unit:  # one unit, result on stdout (the no-fork fallback)
        kind, name = opts.unit.split(":", 1)
        opts.device_resolved = opts.device_resolved or opts.device
        sys.stdout.write(json.dumps(_json_safe(run_unit((kind, name), opts))) + "\n")
        return 0
    report["torch"] = torch.__version__
    cuda, gpu = (False, None) if opts.device == "cpu" else _cuda_probe(opts)
    report["cuda_available"], report["gpu"] = cuda, gpu
    if opts.device == "cuda" and not cuda:
        report["error"] = "no-cuda"
        report["message"] = "--device cuda, but torch %s sees no CUDA device" % torch.__version__
        _emit(report, opts)
        return 2
    opts.device_resolved = "cuda" if cuda else "cpu"
    report["device"] = opts.device_resolved
    opts.passthrough += ["--device-resolved", opts.device_resolved]
    units = []
    if not opts.no_imports:
        units += [("import", m) for m in ([m for m in opts.modules.split(",") if m] or list_modules(package_dir))]
    if not opts.no_checks:
        only = set(filter(None, opts.only.split(",")))
        units += [("check", c[0]) for c in CHECKS if not only or c[0] in only]
    if hasattr(os, "fork") and not opts.no_fork:
        results = run_forked_all(units, opts)
    else:
        results = [run_subprocess(unit, opts) for unit in units]
    for result in results:
        report["imports" if result["kind"] == "import" else "checks"].append(result)
    report["seconds"] = round(time.time() - started, 2)
    _emit(report, opts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
