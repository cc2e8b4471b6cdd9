"""The shipped config files, found wherever c3_dense is: in a source checkout (``configs/``) or in
an installed wheel (``c3_dense/.mim/configs``, where OpenMMLab's ``mim`` looks for a package's
configs)::

    from c3_dense import config_files
    config_files.get_config_file("detectron2/PascalVOC07/faster_rcnn_R_50_FPN_c3.yaml")
    config_files.get_config_file("PascalVOC07/faster_rcnn_R_50_FPN_c3.yaml")   # the same file
    config_files.list_configs("mmseg")

The command lines take such a name wherever they take a config path (a path that exists on
disk is used as it is). Framework-free: finding files only (:mod:`c3_dense.model_zoo` builds
configs and models from them through the adapters).
"""
from __future__ import annotations

import difflib
import os
from typing import List, Optional

from .errors import UserInputError

FRAMEWORKS = ("detectron2", "mmdet", "mmseg", "mmpretrain")
_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def configs_root() -> str:
    """The folder holding ``detectron2/``, ``mmdet/``, ``mmseg/`` and ``mmpretrain/`` configs."""
    for candidate in (os.path.join(_PACKAGE, ".mim", "configs"),        # a wheel
                      os.path.join(os.path.dirname(_PACKAGE), "configs")):  # a checkout
        if os.path.isdir(os.path.join(candidate, "detectron2")):
            return candidate
    raise UserInputError(f"no configs found beside {_PACKAGE}: reinstall c3_dense from its "
                         "wheel or run from a checkout of the repository")


def list_configs(framework: Optional[str] = None) -> List[str]:
    """Names of the shipped configs (``framework/...``), bases excluded, sorted."""
    root = configs_root()
    names = []
    for fw in ([framework] if framework else FRAMEWORKS):
        for folder, dirs, files in os.walk(os.path.join(root, fw)):
            dirs[:] = sorted(d for d in dirs if d != "_base_")
            names += [os.path.relpath(os.path.join(folder, f), root).replace(os.sep, "/")
                      for f in files if f.endswith((".yaml", ".py")) and not
                      f.startswith(("Base-", "__"))]
    return sorted(names)


def get_config_file(name: str) -> str:
    """The absolute path of the shipped config ``name``: ``framework/sub/file`` or, when one
    framework has it, ``sub/file``; a name that matches nothing is a UserInputError naming
    the nearest configs."""
    root = configs_root()
    name = name.replace("\\", "/").lstrip("/")
    for prefix in ("", "configs/"):
        if name.startswith(prefix):
            rest = name[len(prefix):]
            candidates = [rest] + [f"{fw}/{rest}" for fw in FRAMEWORKS]
            found = [c for c in candidates if os.path.isfile(os.path.join(root, c))]
            if found:
                return os.path.join(root, found[0])
    near = near_configs(name)
    hint = f"; did you mean {', '.join(near)}?" if near else \
        "; c3-configs (python -m c3_dense configs) lists the shipped ones"
    raise UserInputError(f"config {name} not found: neither a file nor a shipped "
                         f"config{hint}")


def near_configs(name: str, count: int = 5) -> List[str]:
    """The shipped configs whose names are closest to ``name`` (a misspelling, another data
    set's folder, a missing framework prefix), closest first."""
    shipped = list_configs()
    base = os.path.basename(name)
    same_file = [c for c in shipped if os.path.basename(c) == base]
    by_name = difflib.get_close_matches(name.split("configs/")[-1], shipped, n=count,
                                        cutoff=0.6)
    by_base = [shipped[[os.path.basename(c) for c in shipped].index(b)] for b in
               difflib.get_close_matches(base, [os.path.basename(c) for c in shipped],
                                         n=count, cutoff=0.6)]
    return list(dict.fromkeys(same_file + by_name + by_base))[:count]


def resolve_config(path: str) -> str:
    """``path`` when it is a file, else the shipped config of that name (see
    :func:`get_config_file`), with a line saying which file that is; an absolute path that
    is no file is refused (it names a file of the user's, not a shipped config)."""
    if os.path.isfile(path):
        return path
    if os.path.isabs(path):
        raise UserInputError(f"config {path} not found; check the path")
    found = get_config_file(path)
    print(f"config {path}: no such file here, so the shipped config {found} is used",
          flush=True)
    return found


