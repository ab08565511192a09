"""Smoke checks of the model code the rules patch: MOT attention and blocks, CFG, attention backends,
the structured-latent flow wrapper, the pointmap embedder. Part of the verify probe (run by path).

Each check builds tiny random modules from the tree's own classes (found by shape, see
``vp_context.pick``) and runs the rewritten paths; upstream layouts first, then the layout of our
sample tree (``fixtures/sample-tree``).
"""
import os
import sys
import types

from vp_context import CheckFailed, Layout, NotApplicable, close, latents, pick, to_device

MOT_NAMES = ["shape", "6drotation", "translation"]


def check_mot_self_attention(ctx):
    import torch

    def upstream(mod):
        ctx.manual_seed()
        attn = mod.MOTMultiHeadSelfAttention(32, 4, qk_rms_norm=True, latent_names=MOT_NAMES,
                                             protect_modality_list=["shape"]).to(ctx.device)
        x = latents(torch, ctx.device, 32)
        out = attn(x)
        if sorted(out) != sorted(MOT_NAMES) or any(out[n].shape != x[n].shape for n in MOT_NAMES):
            raise CheckFailed("unexpected output structure %r" % {k: tuple(v.shape) for k, v in out.items()})
        ctx.save("out", out)

    def sample(mod):
        ctx.manual_seed()
        block = to_device(mod.MOTBlock(["shape", "pose"], 16), ctx.device)
        out, shapes = block(latents(torch, ctx.device, 16, names=("shape", "pose"), tokens=(4, 1)))
        ctx.save("out", out)

    pick(ctx, [Layout("model.backbone.tdfy_dit.modules.attention.modules", ["MOTMultiHeadSelfAttention"], upstream),
               Layout("model.backbone.attention.mot", ["MOTBlock"], sample, anywhere=False)])


def check_mot_modulated_block(ctx):
    import torch

    def upstream(mod):
        ctx.manual_seed()
        block = mod.MOTModulatedTransformerCrossBlock(32, 16, 4, qk_rms_norm=True, latent_names=MOT_NAMES,
                                                      use_checkpoint=True).to(ctx.device)
        x = latents(torch, ctx.device, 32)
        cond = torch.randn(2, 32, device=ctx.device)
        context = torch.randn(2, 5, 16, device=ctx.device)
        out = block(x, cond, context)
        ctx.manual_seed(1)
        plain = mod.ModulatedTransformerCrossBlock(32, 16, 4, use_checkpoint=True).to(ctx.device)
        dense = plain(x["shape"], cond, context)
        ctx.save("mot", out)
        ctx.save("dense", dense)
        ctx.info["use_checkpoint"] = True

    def sample(mod):
        ctx.manual_seed()
        block = to_device(mod.MOTBlock(["shape", "pose"], 16, use_checkpoint=True), ctx.device)
        out, shapes = block(latents(torch, ctx.device, 16, names=("shape", "pose"), tokens=(4, 1)))
        ctx.save("out", out)
        ctx.info["use_checkpoint"] = True

    pick(ctx, [Layout("model.backbone.tdfy_dit.modules.transformer.modulated",
                      ["MOTModulatedTransformerCrossBlock", "ModulatedTransformerCrossBlock"], upstream),
               Layout("model.backbone.attention.mot", ["MOTBlock"], sample, anywhere=False)])


def _dict_backbone(torch, device):
    """Tiny generator backbone returning a dict of latents."""

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

    def upstream(mod):
        got = mod.get_strength(strength, interval, 0.25)
        if got != {"shape": 3.0, "pose": 0.0}:
            raise CheckFailed("get_strength(dict, dict interval) gave %r" % (got,))
        if mod.get_strength(strength, (0.5, 1.0), 0.25) != {"shape": 0.0, "pose": 0.0}:
            raise CheckFailed("get_strength with a tuple interval is wrong")
        ctx.manual_seed()
        backbone = _dict_backbone(torch, ctx.device)
        x = torch.randn(2, 8, device=ctx.device)
        cond = torch.randn(2, 8, device=ctx.device)
        out_dict = mod.ClassifierFreeGuidance(backbone, strength=strength, interval=interval).eval()(x, 0.75, cond)
        out_scalar = mod.ClassifierFreeGuidance(backbone, strength=2.5, interval=(0.0, 1.0)).eval()(x, 0.75, cond)
        y = backbone(x, 0.75, cond)
        y_un = backbone(x, 0.75, torch.zeros_like(cond))
        for key in y:
            close(torch, out_dict[key], (1 + strength[key]) * y[key] - strength[key] * y_un[key], 1e-5, "cfg dict strength " + key)
            close(torch, out_scalar[key], 3.5 * y[key] - 2.5 * y_un[key], 1e-5, "cfg scalar strength " + key)
        pm = mod.PointmapCFG.__new__(mod.PointmapCFG)
        y_pm = {k: v * 0.5 for k, v in y.items()}
        out_pm = mod.PointmapCFG._cfg_step(pm, y, y_un, y_pm, strength, {"shape": 1.0, "pose": 0.5})
        ctx.save("dict", out_dict)
        ctx.save("scalar", out_scalar)
        ctx.save("pointmap", out_pm)

    def sample(mod):
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
            close(torch, out_dict[key], (1 + strength[key]) * y[key] - strength[key] * y_un[key], 1e-5, "cfg dict strength " + key)
        ctx.save("dict", out_dict)
        ctx.save("scalar", out_scalar)

    pick(ctx, [Layout("model.backbone.generator.classifier_free_guidance",
                      ["ClassifierFreeGuidance", "PointmapCFG", "get_strength"], upstream),
               Layout("model.backbone.cfg", ["ClassifierFreeGuidance", "get_strength"], sample, anywhere=False)])


def _naive_attention(torch, q, k, v):
    q, k, v = (t.float().permute(0, 2, 1, 3) for t in (q, k, v))
    weights = torch.softmax(q @ k.transpose(-2, -1) / (q.shape[-1] ** 0.5), dim=-1)
    return (weights @ v).permute(0, 2, 1, 3)


def _backend_of(mod):
    """The backend the attention module uses: its own ``BACKEND`` or its package config's (TRELLIS)."""
    if hasattr(mod, "BACKEND"):
        return mod.BACKEND
    config = getattr(mod, "config", None)
    return getattr(config, "BACKEND", None)


def _reads_attn_backend(ctx, mod):
    """Whether the attention module or the package holding its backend reads ``ATTN_BACKEND`` in
    code (a string token, so a commented-out ``os.environ.get("ATTN_BACKEND")`` does not count)."""
    import io
    import tokenize

    parent = sys.modules.get(mod.__name__.rpartition(".")[0])
    for module in (mod, parent):
        if module is None:
            continue
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(ctx.source(module)).readline))
        except (OSError, tokenize.TokenError, SyntaxError, TypeError):
            return True  # cannot tell: keep the strict check
        if any(t.type == tokenize.STRING and "ATTN_BACKEND" in t.string for t in tokens):
            return True
    return False


def _attention_check(ctx, backend, atol):
    import torch

    os.environ["ATTN_BACKEND"] = backend
    flags = ("flash", "mem_efficient", "math")

    def sdp_flags():
        return {f: getattr(torch.backends.cuda, "%s_sdp_enabled" % f)() for f in flags
                if hasattr(torch.backends.cuda, "%s_sdp_enabled" % f)}

    before = sdp_flags()

    def upstream(mod):
        if ("'%s'" % backend) not in ctx.source(mod) and ('"%s"' % backend) not in ctx.source(mod):
            raise NotApplicable("%s has no %s backend" % (mod.__name__, backend))
        if _backend_of(mod) != backend:
            if not _reads_attn_backend(ctx, mod):
                # a fork that fixes its backend in code (no ATTN_BACKEND read): this backend is not one it offers
                raise NotApplicable("%s fixes its attention backend to %r (ATTN_BACKEND is not read)"
                                    % (mod.__name__, _backend_of(mod)))
            raise CheckFailed("ATTN_BACKEND=%s but the module uses %r" % (backend, _backend_of(mod)))
        ctx.manual_seed()
        q, k, v = (torch.randn(2, 8, 2, 16, device=ctx.device) for _ in range(3))
        ref = _naive_attention(torch, q, k, v)
        out3 = mod.scaled_dot_product_attention(q, k, v)
        out1 = mod.scaled_dot_product_attention(torch.stack([q, k, v], dim=2))
        out2 = mod.scaled_dot_product_attention(q, torch.stack([k, v], dim=2))
        for name, out in (("q,k,v", out3), ("qkv", out1), ("q,kv", out2)):
            if out.dtype != q.dtype or out.shape != q.shape:
                raise CheckFailed("%s: got %s %s" % (name, out.dtype, tuple(out.shape)))
            close(torch, out, ref, atol, "sdpa(%s) vs reference" % name)
        ctx.save("out", (out1, out2, out3))

    def sample(mod):
        ctx.manual_seed()
        q, k, v = (torch.randn(2, 8, 2, 16, device=ctx.device) for _ in range(3))
        out = mod.scaled_dot_product_attention(q, k, v)
        close(torch, out, _naive_attention(torch, q, k, v), atol, "sdpa vs reference")
        ctx.save("out", out)

    pick(ctx, [Layout("model.backbone.tdfy_dit.modules.attention.full_attn", ["scaled_dot_product_attention"], upstream),
               Layout("model.backbone.attention.full_attn", ["scaled_dot_product_attention"], sample, anywhere=False)])
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

    def upstream(mod):
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
        ctx.save("kw", model(x, t, cond, coords=coords, d=torch.ones(1, device=ctx.device)))
        ctx.save("pos", model(x, t, cond, coords))

    def sample(mod):
        ctx.manual_seed()
        ctx.save("out", mod.ClassifierFreeGuidance().forward(torch.randn(2, 3, device=ctx.device), d=1))

    pick(ctx, [Layout("model.backbone.tdfy_dit.models.structured_latent_flow", ["SLatFlowModelTdfyWrapper", "SLatFlowModel"], upstream),
               Layout("model.backbone.cfg", ["ClassifierFreeGuidance"], sample, anywhere=False)])


def check_pointmap_dynamo_disable(ctx):
    import torch

    def upstream(mod):
        ctx.manual_seed()
        embed = mod.PointPatchEmbed(input_size=16, patch_size=4, embed_dim=32).to(ctx.device)
        xyz = torch.randn(2, 3, 16, 16, device=ctx.device)
        xyz[0, :, 0, 0] = float("nan")
        x, b, h, w = embed.embed_pointmap_windows(xyz)
        if tuple(x.shape) != (2, 16, 16, 32):
            raise CheckFailed("unexpected shape %s" % (tuple(x.shape),))
        ctx.save("out", x)

    def sample(mod):
        ctx.manual_seed()
        embed = mod.PointPatchEmbed(8).to(ctx.device)
        ctx.save("out", embed.embed(torch.randn(2, 5, 3, device=ctx.device)))

    pick(ctx, [Layout("model.backbone.dit.embedder.pointmap", ["PointPatchEmbed.embed_pointmap_windows"], upstream),
               Layout("model.pointmap", ["PointPatchEmbed"], sample, anywhere=False)])
