"""The pictures of tools/visualize.py, for any trained model behind the predictor interface of
``c3_dense.detectron2.inference.Predictor`` / ``c3_dense.mmseg.inference.Segmentor``:

    predict(path) -> prediction      draw(image_rgb, prediction, scale) -> RGB panel
    draw_truth(path, image_rgb, scale) -> RGB panel or None      network -> the nn.Module

Framework-free: the frameworks' visualizers draw the panels inside the predictors.
"""
from __future__ import annotations

import os
import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from c3_dense.core import C3Block
from c3_dense.data.images import read_rgb
from c3_dense.errors import UserInputError

from .figures import channel_figure, diversity_bars, diversity_curve, image_grid


def _scale_for(image, min_side: int) -> float:
    """How much to enlarge a small image so labels and boxes stay legible."""
    return max(1.0, min_side / max(1, min(image.shape[:2])))


def compare(models: Sequence[Tuple[str, object]], images: Sequence[str], path: str,
            min_side: int = 384) -> str:
    """One grid: a row per image, columns ground truth (from the first model's test set, when
    the image is in it) | each model's prediction."""
    rows, with_truth = [], True
    for image_path in images:
        image = read_rgb(image_path)
        scale = _scale_for(image, min_side)
        truth = models[0][1].draw_truth(image_path, image, scale)
        with_truth &= truth is not None
        predictions = [(m, m.predict(image_path)) for _, m in models]
        rows.append((truth, [m.draw(image, p, scale) for m, p in predictions],
                     [m.empty_note(p) for m, p in predictions]))
    titles = [label for label, _ in models]
    if with_truth:
        grid = [[truth] + drawn for truth, drawn, _ in rows]
        notes = [[None] + row_notes for _, _, row_notes in rows]
        titles = ["ground truth"] + titles
    else:
        grid = [drawn for _, drawn, _ in rows]
        notes = [row_notes for _, _, row_notes in rows]
    return image_grid(grid, titles, path, row_titles=[os.path.basename(p) for p in images],
                      notes=notes)


def c3_blocks(network: torch.nn.Module) -> List[str]:
    """Names of the C3 blocks of a model, in order."""
    return [n for n, m in network.named_modules() if isinstance(m, C3Block)]


def stage_of(block_name: str) -> str:
    """The stage a C3 block stands in front of: ``backbone.layer2.c3`` -> ``backbone.layer2``
    (C3Stage keeps the block as ``<stage>.c3``)."""
    return block_name[:-len(".c3")] if block_name.endswith(".c3") else block_name


def short_name(stage: str) -> str:
    """``backbone.bottom_up.res3`` -> ``res3``."""
    return stage.rsplit(".", 1)[-1]


def pick_block(network: torch.nn.Module, block: Optional[str]) -> str:
    """The C3 block named ``block`` (full name, or its stage's short name such as ``res4`` /
    ``layer3``); the first one when ``block`` is None."""
    names = c3_blocks(network)
    if not names:
        raise UserInputError("the model has no C3 block; give the config and weights of a C3 "
                             "model")
    if block is None:
        return names[0]
    for name in names:
        if block in (name, stage_of(name), short_name(stage_of(name))):
            return name
    raise UserInputError(f"no C3 block {block!r} in the model; its blocks: "
                         f"{', '.join(short_name(stage_of(n)) for n in names)}")


def block_maps(model, image_path: str, block: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """The C×H×W input and output of C3 block ``block`` when ``model`` predicts one image."""
    seen = {}

    def record(module, inputs, output):
        seen.setdefault("io", (inputs[0][0].detach().cpu(), output[0].detach().cpu()))

    handle = dict(model.network.named_modules())[block].register_forward_hook(record)
    try:
        model.predict(image_path)
    finally:
        handle.remove()
    return seen["io"]


def channels(model, image_path: str, path: str, block: Optional[str] = None, k: int = 8) -> Dict:
    """The paper's motivation figure for one C3 block and one image: the top-``k`` channel maps
    at the block's input and output with their response shares."""
    name = pick_block(model.network, block)
    block_in, block_out = block_maps(model, image_path, name)
    drawn = channel_figure(block_in, block_out, path, k=k, image=read_rgb(image_path),
                           title=f"{short_name(stage_of(name))}: C3 block input vs output, "
                                 f"{os.path.basename(image_path)}")
    return {"block": name, "image": image_path, **drawn}


def diversity(model, images: Sequence[str], stages: Optional[Sequence[str]] = None,
              method: str = "paper") -> Dict[str, Dict[str, float]]:
    """Mean diversity {stage: {"input", "output"}} over ``images``: of each C3 block (a C3
    model), or at the input of ``stages`` (a plain model, at the places the blocks take)."""
    from c3_dense.core import DiversityProbe

    blocks = c3_blocks(model.network)
    names = blocks if blocks else list(stages or [])
    if not names:
        raise UserInputError("a plain model needs the stages to probe (those of a C3 model)")
    probe = DiversityProbe(model.network, names=names, method=method)
    with probe.recording():
        for image_path in images:
            model.predict(image_path)
    return {stage_of(n): v for n, v in probe.results().items()}


def checkpoint_iteration(path: str, fallback: int) -> int:
    """The iteration a checkpoint file was saved at: ``model_0000199.pth`` (detectron2,
    0-based) -> 200, ``iter_300.pth`` (mmengine) -> 300; for other names (``model_final.pth``)
    what the checkpoint itself records (detectron2's ``iteration`` + 1, mmengine's
    ``meta.iter``); ``fallback`` when it records neither."""
    name = os.path.basename(path)
    match = re.fullmatch(r"model_(\d+)\.pth", name)
    if match:
        return int(match.group(1)) + 1
    match = re.fullmatch(r"iter_(\d+)\.pth", name)
    if match:
        return int(match.group(1))
    from c3_dense.weights import load_torch_file
    content = load_torch_file(path) if os.path.isfile(path) else None
    if isinstance(content, dict):
        if isinstance(content.get("iteration"), int):
            return content["iteration"] + 1
        meta = content.get("meta")
        if isinstance(meta, dict) and isinstance(meta.get("iter"), int):
            return meta["iter"]
    return fallback


def diversity_pictures(plain, c3_checkpoints: Sequence[Tuple[int, object]], images: Sequence[str],
                       out_dir: str, method: str = "paper", prefix: str = "",
                       progress: Optional[Callable[[str], None]] = None) -> Dict:
    """Bars (plain vs the last C3 checkpoint, per block) and, with several C3 checkpoints, the
    curve over training: ``<prefix>diversity_bars.png``, ``<prefix>diversity_curve.png``.
    Returns the numbers and the files written. ``progress``: where a line with the models
    done and the time left goes (c3_dense.progress), if anywhere."""
    from c3_dense.progress import counted

    models = list(c3_checkpoints)
    if progress is not None:
        models = counted(models, f"diversity on {len(images)} images, C3 checkpoints",
                         write=progress)
    points = [(it, diversity(model, images, method=method)) for it, model in models]
    final = points[-1][1]
    plain_stats = diversity(plain, images, stages=list(final), method=method) if plain else {}
    short = {short_name(s): v for s, v in final.items()}
    files = [diversity_bars({short_name(s): v["input"] for s, v in plain_stats.items()}, short,
                            os.path.join(out_dir, f"{prefix}diversity_bars.png"))]
    if len(points) > 1:
        files.append(diversity_curve([(it, {short_name(s): v for s, v in stats.items()})
                                      for it, stats in points],
                                     os.path.join(out_dir, f"{prefix}diversity_curve.png")))
    return {"method": method, "images": len(images), "plain": plain_stats,
            "c3": {str(it): stats for it, stats in points}, "files": files}
