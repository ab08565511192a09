"""A stand-in for a full upstream checkout, built without GitHub: the PyPI tree (tests/realtree.py) as
``sam3d_objects/`` plus our own ``notebook/inference.py`` and ``demo.py`` with upstream's import
shapes (a script in no package that imports ``sam3d_objects`` and kaolin), in a local bare repo."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from .realtree import pristine_tree

# Written by us; the same shapes as upstream's notebook/inference.py: environment set up first, a
# kaolin import at the top of a script outside any package, then the package itself.
INFERENCE = '''\
import os

os.environ.setdefault("LIDRA_SKIP_INIT", "true")

import sys
import torch
from kaolin.visualize import IpyTurntableVisualizer
from kaolin.render.camera import Camera, PinholeIntrinsics

import sam3d_objects
from sam3d_objects.pipeline.inference_pipeline_pointmap import InferencePipelinePointMap


class Inference:
    def __init__(self, config_file, compile=False):
        self.config_file = config_file
        self.compile = compile
'''

DEMO = '''\
import sys

sys.path.append("notebook")
from inference import Inference

inference = Inference("checkpoints/hf/pipeline.yaml", compile=False)
'''

ENV = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
           GIT_COMMITTER_EMAIL="t@t", GIT_CONFIG_NOSYSTEM="1", HOME=os.environ.get("HOME", "/tmp"))


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-c", "protocol.file.allow=always", "-c", "init.defaultBranch=main", *args],
                          cwd=cwd, capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def upstream_tree(dest: Path) -> Path:
    shutil.copytree(pristine_tree(), dest / "sam3d_objects")
    (dest / "notebook").mkdir()
    (dest / "notebook" / "inference.py").write_text(INFERENCE)
    (dest / "demo.py").write_text(DEMO)
    return dest


def bare_upstream(tmp: Path) -> Path:
    """tmp/upstream.git with one commit of the stand-in tree; tmp/upstream-work is its work tree."""
    work = upstream_tree(tmp / "upstream-work")
    git(work, "init", "-q")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "upstream v1")
    git(tmp, "clone", "-q", "--bare", str(work), str(tmp / "upstream.git"))
    git(work, "remote", "add", "origin", str(tmp / "upstream.git"))
    return tmp / "upstream.git"


def consumer(tmp: Path, upstream: Path, at: str = "external/sam-3d-objects") -> Path:
    repo = tmp / "consumer"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "submodule", "add", "-q", str(upstream), at)
    git(repo, "commit", "-qm", "add upstream as a submodule")
    return repo
