"""What OpenMMLab's ``mim`` runs for c3_dense: ``mim train c3_dense CONFIG [ARGS]`` and ``mim
test c3_dense CONFIG --checkpoint FILE [ARGS]`` call the installed package's
``.mim/tools/train.py`` / ``test.py``, which call :func:`train` / :func:`test` here: the
config's own command line (detectron2 ``.yaml`` -> train_det / eval det; an mmdet, mmseg or
mmpretrain config -> train_mmdet / train_seg / train_cls / eval mmdet / seg / cls), picked by
where the config lies among the shipped ones or, for a config of your own, by its
``default_scope``.

mim passes ``--launcher none`` (or ``pytorch`` / ``slurm`` for several GPUs); the OpenMMLab
commands take it as they are (this help names no GPU-count option: mim would add one, which
the OpenMMLab 1.x tools do not take); detectron2 starts its own processes, so there only ``none`` is
taken (for several GPUs: ``c3-train-det --num-gpus N``). ``--work-dir DIR`` becomes
detectron2's ``OUTPUT_DIR``. mim finds a config by its file name when that is unique in the
package; detectron2's names repeat across data sets (as in detectron2's own model zoo): give
those by path (``c3-configs`` lists them, ``c3_dense.model_zoo.get_config_file`` finds one).
Not for the ``mim`` configs alone: the same commands as ``c3-train-*`` / ``c3-eval``.
"""
from __future__ import annotations

import os
from typing import List, Optional, Sequence, Tuple

from c3_dense.errors import UserInputError, run_cli

# default_scope -> framework
SCOPES = {"mmdet": "mmdet", "mmseg": "mmseg", "mmpretrain": "mmpretrain"}


def framework_of(config: str) -> str:
    """detectron2, mmdet, mmseg or mmpretrain: the shipped config's folder, else the file's
    kind."""
    from c3_dense.config_files import FRAMEWORKS, configs_root

    path = os.path.realpath(config)
    rel = os.path.relpath(path, os.path.realpath(configs_root()))
    if not rel.startswith(".."):
        framework = rel.split(os.sep)[0]
        if framework in FRAMEWORKS:
            return framework
    if path.endswith((".yaml", ".yml")):
        return "detectron2"
    if not os.path.isfile(path):
        raise UserInputError(f"config not found: {config}; give a config file (c3-configs "
                             "lists the shipped ones)")
    from mmengine.config import Config

    scope = Config.fromfile(path).get("default_scope")
    if scope not in SCOPES:
        raise UserInputError(f"{config}: default_scope {scope!r} is none of "
                             f"{', '.join(SCOPES)}; c3_dense trains mmdet, mmseg and mmpretrain "
                             "configs (and detectron2 .yaml ones)")
    return SCOPES[scope]


def _take(args: List[str], flag: str) -> Tuple[Optional[str], List[str]]:
    """The value of ``flag`` (``--flag V`` or ``--flag=V``) and the other arguments."""
    rest, value, i = [], None, 0
    while i < len(args):
        if args[i] == flag and i + 1 < len(args):
            value, i = args[i + 1], i + 2
            continue
        if args[i].startswith(flag + "="):
            value = args[i].split("=", 1)[1]
        else:
            rest.append(args[i])
        i += 1
    return value, rest


def _detectron2_args(rest: List[str]) -> List[str]:
    launcher, rest = _take(rest, "--launcher")
    if launcher not in (None, "none"):
        raise UserInputError(f"--launcher {launcher}: detectron2 starts its own processes; "
                             "for several GPUs run c3-train-det --num-gpus N --config-file ...")
    work_dir, rest = _take(rest, "--work-dir")
    return rest + (["OUTPUT_DIR", work_dir] if work_dir else [])


def _command(argv: List[str], testing: bool):
    """(the command line's ``main``, its arguments) for mim's ``train.py`` / ``test.py``."""
    from c3_dense.cli import eval as evaluate

    config, rest = argv[0], argv[1:]
    framework = framework_of(config)
    if testing:
        if not rest or rest[0].startswith("-"):
            raise UserInputError("test.py needs CONFIG CHECKPOINT (mim test c3_dense CONFIG "
                                 "--checkpoint FILE)")
        checkpoint, rest = rest[0], rest[1:]
    if framework == "detectron2":
        rest = _detectron2_args(rest)
        if testing:
            return evaluate.main, ["det", "--config-file", config, "--weights", checkpoint,
                                   *rest]
        from c3_dense.cli import train_det
        return train_det.main, ["--config-file", config, *rest]
    if testing:
        launcher, rest = _take(rest, "--launcher")
        if launcher not in (None, "none"):
            raise UserInputError(f"--launcher {launcher}: evaluation runs in one process "
                                 "here; drop it")
        task = {"mmdet": "mmdet", "mmseg": "seg", "mmpretrain": "cls"}[framework]
        return evaluate.main, [task, config, checkpoint, *rest]
    module = {"mmdet": "train_mmdet", "mmseg": "train_seg",
              "mmpretrain": "train_cls"}[framework]
    return __import__(f"c3_dense.cli.{module}", fromlist=["main"]).main, [config, *rest]


def _run(argv: Sequence[str], testing: bool, usage: str) -> int:
    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: {usage}\n\n{__doc__}")
        return 0
    found: list = []
    code = run_cli(lambda: found.append(_command(argv, testing)))
    if code:
        return code
    main, args = found[0]
    return main(args)


def train(argv: Sequence[str]) -> int:
    """``CONFIG [ARGS]``: train with the config's own command line."""
    return _run(argv, False, "train.py CONFIG [--work-dir DIR] [--launcher L] [ARGS]")


def test(argv: Sequence[str]) -> int:
    """``CONFIG CHECKPOINT [ARGS]``: evaluate with eval.py's sub-command for the config."""
    return _run(argv, True, "test.py CONFIG CHECKPOINT [--work-dir DIR] [ARGS]")
