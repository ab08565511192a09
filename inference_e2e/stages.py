"""Per-stage wall time, peak memory and output digests of one ``Inference(...)(...)`` call.

The pipeline's own methods and modules are wrapped on the instance (nothing in the tree changes):
a stage's time is exclusive (a nested stage's time is its own, not its parent's), synchronised
on CUDA at both ends; its peak memory is ``max_memory_allocated`` while it ran (children
included); its digest is a SHA-256 over every tensor it returned, taken after its clock stopped.
"""
from __future__ import annotations

import hashlib
import time

# (label, where, attribute): "pipe" = a method of the pipeline, a model name = that module's forward
STAGES = (
    ("pointmap", "pipe", "compute_pointmap"),
    ("preprocess", "pipe", "preprocess_image"),
    ("condition", "pipe", "embed_condition"),
    ("ss_flow", "ss_generator", "forward"),
    ("ss_decoder", "ss_decoder", "forward"),
    ("pose_decoder", "pipe", "pose_decoder"),
    ("slat_flow", "slat_generator", "forward"),
    ("gs_decoder", "slat_decoder_gs", "forward"),
    ("mesh_decoder", "slat_decoder_mesh", "forward"),
    ("mesh_export", "pipe", "postprocess_slat_output"),
    ("layout_postopt", "pipe", "run_post_optimization"),
    ("layout_postopt", "pipe", "run_post_optimization_GS"),  # the PyPI tree's splat-based variant
)


def _tensors(obj, depth=0, seen=None):
    """Every tensor/array reachable from ``obj`` in a stable order (dicts by key, objects by attribute)."""
    import numpy as np
    import torch

    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 6:
        return
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, np.ndarray):
        yield torch.from_numpy(np.ascontiguousarray(obj))
    elif isinstance(obj, dict):
        for key in sorted(obj, key=str):
            yield from _tensors(obj[key], depth + 1, seen)
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _tensors(item, depth + 1, seen)
    elif isinstance(obj, torch.nn.Module) or callable(obj) or obj is None:
        return
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        for key in sorted(vars(obj)):
            if not key.startswith("__"):
                yield from _tensors(getattr(obj, key), depth + 1, seen)
    if type(obj).__name__ == "Trimesh":  # trimesh keeps these behind properties
        for name in ("vertices", "faces"):
            yield torch.from_numpy(np.ascontiguousarray(getattr(obj, name)))


def digest(obj):
    import torch

    h = hashlib.sha256()
    n = 0
    for t in _tensors(obj):
        t = t.detach().contiguous().cpu()
        h.update(("%s%s" % (t.dtype, tuple(t.shape))).encode())
        if t.dtype == torch.bfloat16:
            t = t.view(torch.int16)
        h.update(t.numpy().tobytes())
        n += 1
    return "%s:%d" % (h.hexdigest()[:16], n)


class Recorder:
    def __init__(self, device, digests=True):
        import torch

        self.torch = torch
        self.cuda = device.type == "cuda"
        self.device = device
        self.digests = digests
        self.times = {}  # label -> exclusive seconds, summed over calls
        self.peaks = {}  # label -> bytes
        self.outputs = {}  # label -> [digest per call]
        self.calls = {}
        self.errors = {}  # label -> the exception a stage raised (the pipeline may catch it)
        self._stack = []

    def _sync(self):
        if self.cuda:
            self.torch.cuda.synchronize(self.device)

    def _peak(self):
        return self.torch.cuda.max_memory_allocated(self.device) if self.cuda else 0

    def _reset_peak(self):
        if self.cuda:
            self.torch.cuda.reset_peak_memory_stats(self.device)

    def enter(self, label):
        self._sync()
        now = time.perf_counter()
        if self._stack:
            parent = self._stack[-1]
            parent["own"] += now - parent["since"]
            parent["peak"] = max(parent["peak"], self._peak())
        self._reset_peak()
        self._stack.append({"label": label, "since": now, "own": 0.0, "peak": 0})

    def leave(self, result=None):
        self._sync()
        now = time.perf_counter()
        frame = self._stack.pop()
        frame["own"] += now - frame["since"]
        peak = max(frame["peak"], self._peak())
        label = frame["label"]
        self.times[label] = self.times.get(label, 0.0) + frame["own"]
        self.peaks[label] = max(self.peaks.get(label, 0), peak)
        self.calls[label] = self.calls.get(label, 0) + 1
        if self.digests and label != "total":
            self.outputs.setdefault(label, []).append(digest(result))
        if self._stack:
            parent = self._stack[-1]
            parent["peak"] = max(parent["peak"], peak)
            self._reset_peak()
            parent["since"] = time.perf_counter()  # digesting is nobody's time

    def wrap(self, label, fn):
        def timed(*args, **kwargs):
            self.enter(label)
            result = None
            try:
                result = fn(*args, **kwargs)
                return result
            except Exception as error:
                self.errors.setdefault(label, "%s: %s" % (type(error).__name__, str(error).splitlines()[0][:300]))
                raise
            finally:
                self.leave(result)

        timed.stage_inner = fn  # not __wrapped__: a bound method proxies that name to its decorated function
        return timed


def instrument(pipeline, recorder):
    """Point every stage of ``pipeline`` (an InferencePipelinePointMap) at ``recorder``; returns the labels."""
    wrapped = []
    for label, where, attr in STAGES:
        owner = pipeline if where == "pipe" else pipeline.models[where]
        if owner is None or not hasattr(owner, attr):
            continue
        fn = getattr(owner, attr)
        setattr(owner, attr, recorder.wrap(label, getattr(fn, "stage_inner", fn)))  # re-wrap the original
        wrapped.append(label)
    return wrapped
