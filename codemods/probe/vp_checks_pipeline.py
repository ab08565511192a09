"""Smoke checks of the pipeline and geometry code the rules patch: dynamo config in ``_compile``, the
compile fallback, FlexiCubes on 16-bit inputs, checkpoint loading without Lightning, CPU float32
autocast, the attention backend choice without CUDA. Part of the verify probe (run by path).
"""
import os
import tempfile
import types
import warnings

from vp_context import CheckFailed, Layout, close, pick

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

    def run(mod):
        # _compile only: torch.compile is lazy (nothing compiles until a call) and _warmup is a no-op.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            mod.InferencePipeline._compile(fake_pipeline())
            pointmap = ctx.find(["InferencePipelinePointMap._compile"], "pipeline.inference_pipeline_pointmap")
            if pointmap is not None:
                pointmap.InferencePipelinePointMap._compile(fake_pipeline())
                ctx.info["pointmap_pipeline"] = True
        ctx.info["compile_warnings"] = len(_compile_warnings(caught))
        _dynamo_config_report(ctx)

    pick(ctx, [Layout("pipeline.inference_pipeline", ["InferencePipeline._compile"], run)])


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
                close(torch, c(x), fn(x), 1e-6, "eager fallback")
            ctx.save("out", compiled[0](x))
        # where torch can compile, calling would start a (slow) compilation: not done here

    def upstream(mod):
        run(lambda fn: mod.compile_wrapper(fn.forward, mode="max-autotune", fullgraph=True))

    def sample(mod):
        run(lambda fn: mod.InferencePipeline(fn, compile_model=True).model)

    pick(ctx, [Layout("pipeline.inference_pipeline_pointmap", ["compile_wrapper"], upstream),
               Layout("pipeline.inference_pipeline", ["InferencePipeline"], sample, anywhere=False)])


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


def _check_tensor_from(mod):
    """Where the module's ``check_tensor`` comes from (kaolin, ``_torch_compat``, a fork's own), or "absent"."""
    fn = getattr(mod, "check_tensor", None)  # a fork may have removed the kaolin import and its uses
    return getattr(fn, "__module__", "?") if fn is not None else "absent"


def check_flexicubes_fp16(ctx):
    import torch

    def upstream(mod):
        ctx.info["check_tensor_from"] = _check_tensor_from(mod)
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
        close(torch, outputs["fp16"]["verts"], outputs["fp32"]["verts"], 5e-2, "16-bit vs float32 vertices")

    def sample(mod):
        ctx.info["check_tensor_from"] = _check_tensor_from(mod)
        ctx.manual_seed()
        vd = torch.zeros(4, 3, device=ctx.device)
        index = torch.tensor([0, 1, 1, 3, 2], device=ctx.device)
        dist = torch.rand(5, device=ctx.device, dtype=torch.float16)
        counts = torch.ones(4, device=ctx.device)
        out1 = mod.mean_edge_length(vd, index, dist, counts)
        out2 = mod.dual_vertices(torch.zeros(4, 3, device=ctx.device), torch.zeros(4, 1, device=ctx.device), index,
                                 torch.rand(5, 1, device=ctx.device, dtype=torch.float16),
                                 torch.rand(5, 3, device=ctx.device, dtype=torch.float16))
        ctx.save("out", (out1, out2))

    pick(ctx, [Layout("model.backbone.tdfy_dit.representations.mesh.flexicubes.flexicubes", ["FlexiCubes"], upstream),
               Layout("model.backbone.representations.flexicubes", ["mean_edge_length", "dual_vertices"], sample, anywhere=False)])


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
            close(torch, loaded.state_dict()[key], value.to(ctx.device), 0, "loaded " + key)
        ctx.save("out", loaded.state_dict())

    pick(ctx, [Layout("model.io", ["load_model_from_checkpoint"], run)])


def check_cpu_autocast_fp32(ctx):
    import torch

    def upstream(mod):
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

    def sample(mod):
        ctx.manual_seed()
        out = mod.normalize(torch.randn(2, 5, 3, device=ctx.device).to(torch.bfloat16))
        if out.dtype != torch.float32:
            raise CheckFailed("output dtype %s, expected float32" % out.dtype)
        ctx.save("out", out)

    pick(ctx, [Layout("pipeline.utils.pointmap", ["infer_intrinsics_from_pointmap"], upstream),
               Layout("model.pointmap", ["normalize"], sample, anywhere=False)])


def check_attention_backend_select(ctx):
    def run(mod):  # importing the module already ran set_attention_backend() (upstream calls it at import)
        os.environ.pop("ATTN_BACKEND", None)
        mod.set_attention_backend()
        ctx.info["ATTN_BACKEND"] = os.environ.get("ATTN_BACKEND", "(unset)")

    os.environ.pop("ATTN_BACKEND", None)
    pick(ctx, [Layout("pipeline.inference_pipeline", ["set_attention_backend"], run)])

