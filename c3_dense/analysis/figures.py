"""Pictures of what C3 does, with matplotlib (framework-free: panels drawn by the frameworks'
visualizers come in as RGB arrays; logs are read from the files the frameworks write).

* :func:`image_grid` — panels side by side (ground truth | plain | C3), one row per image;
* :func:`top_channels`, :func:`channel_figure` — the paper's motivation figure: the k channels
  of one layer with the largest response, at the C3 block's input and output, each with its
  share of the layer's total response;
* :func:`diversity_bars`, :func:`diversity_curve` — the paper's diversity measure per block;
* :func:`read_detectron2_metrics`, :func:`read_mmengine_scalars`, :func:`training_curves` —
  loss and AP / mIoU against iteration from detectron2's ``metrics.json`` and mmengine's
  ``vis_data/scalars.json``.
"""
from __future__ import annotations

import glob
import json
import math
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def image_grid(rows: Sequence[Sequence[np.ndarray]], column_titles: Sequence[str], path: str,
               row_titles: Optional[Sequence[str]] = None, panel_inches: float = 3.0,
               notes: Optional[Sequence[Sequence[Optional[str]]]] = None) -> str:
    """Write RGB panels as a grid (one row per image, one column per source) to ``path``;
    ``notes[r][c]``, where given, is written under its panel (say, why it shows nothing)."""
    plt = _pyplot()
    n_rows, n_cols = len(rows), len(column_titles)
    fig, axes = plt.subplots(n_rows, n_cols, squeeze=False,
                             figsize=(panel_inches * n_cols, panel_inches * n_rows))
    for r, row in enumerate(rows):
        if len(row) != n_cols:
            raise ValueError(f"row {r} has {len(row)} panels for {n_cols} columns")
        for c, panel in enumerate(row):
            ax = axes[r][c]
            ax.imshow(panel)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(column_titles[c], fontsize=11)
            if c == 0 and row_titles:
                ax.set_ylabel(row_titles[r], fontsize=9)
            if notes and notes[r][c]:
                ax.set_xlabel(notes[r][c], fontsize=9, color="firebrick")
    fig.tight_layout()
    return _save(fig, path)


def response_shares(x: torch.Tensor) -> torch.Tensor:
    """Each channel's share of a layer's total response: Σ|x_c| / Σ_c' Σ|x_c'| for a C×H×W
    map (shares sum to 1; all zero for an all-zero map)."""
    if x.dim() != 3:
        raise ValueError(f"expected a C×H×W map, got shape {tuple(x.shape)}")
    per_channel = x.detach().float().abs().flatten(1).sum(1)
    total = per_channel.sum()
    return per_channel / total if total > 0 else per_channel


def top_channels(x: torch.Tensor, k: int) -> Tuple[List[int], List[float]]:
    """The ``k`` channels of a C×H×W map with the largest response share, largest first, and
    their shares."""
    shares = response_shares(x)
    values, index = shares.topk(min(k, shares.numel()))
    return index.tolist(), values.tolist()


def channel_figure(block_input: torch.Tensor, block_output: torch.Tensor, path: str, k: int = 8,
                   image: Optional[np.ndarray] = None, title: str = "") -> Dict:
    """The top-``k`` channel maps at a C3 block's input (top row) and output (bottom row), each
    titled with its channel index and share of the total response, plus the image. Returns
    the channels and shares drawn, and the share the top k hold at input and output."""
    plt = _pyplot()
    rows = []
    for name, x in (("input", block_input), ("output", block_output)):
        index, shares = top_channels(x, k)
        rows.append((name, x, index, shares))
    extra = 1 if image is not None else 0
    cols = k + extra
    fig, axes = plt.subplots(2, cols, squeeze=False, figsize=(2.0 * cols + 1.0, 4.8),
                             constrained_layout=True)
    ranges = {}
    for r, (name, x, index, shares) in enumerate(rows):
        if image is not None:
            ax = axes[r][0]
            if r == 0:
                ax.imshow(image)
                ax.set_title("image", fontsize=11)
            ax.axis("off")
        # One colour scale per row (the colour bar's): the maps compare with each other.
        maps = [x[ch].detach().float().numpy() for ch in index]
        low = float(min(m.min() for m in maps)) if maps else 0.0
        high = float(max(m.max() for m in maps)) if maps else 1.0
        ranges[name] = (low, high)
        shown = None
        for c, (ch, share, values) in enumerate(zip(index, shares, maps)):
            ax = axes[r][c + extra]
            shown = ax.imshow(values, cmap="viridis", vmin=low, vmax=high)
            ax.set_title(f"ch {ch}: {100 * share:.1f}%", fontsize=11)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(f"block {name}\ntop {len(index)}: {100 * sum(shares):.0f}%",
                              fontsize=11)
        for c in range(len(index) + extra, cols):
            axes[r][c].axis("off")
        if shown is not None:
            bar = fig.colorbar(shown, ax=list(axes[r]), shrink=0.9, pad=0.01)
            bar.set_label(f"{name} response", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=12)
    _save(fig, path)
    return {name: {"channels": index, "shares": shares, "top_k_share": float(sum(shares)),
                   "colour_range": ranges[name]}
            for name, _, index, shares in rows}


def diversity_bars(plain: Dict[str, float], c3: Dict[str, Dict[str, float]], path: str,
                   title: str = "Channel diversity (lower = more diverse)") -> str:
    """Bars per block: the plain model at the block's place (``plain[stage]``), and the C3
    model's block input and output (``c3[stage] = {"input", "output"}``)."""
    plt = _pyplot()
    stages = list(c3)
    x = np.arange(len(stages))
    fig, ax = plt.subplots(figsize=(1.9 * len(stages) + 2.5, 3.4))
    bars = [("plain", [plain.get(s, math.nan) for s in stages], "#9e9e9e"),
            ("C3 block input", [c3[s]["input"] for s in stages], "#64b5f6"),
            ("C3 block output", [c3[s]["output"] for s in stages], "#1565c0")]
    width = 0.8 / len(bars)
    for i, (label, values, colour) in enumerate(bars):
        ax.bar(x + (i - 1) * width, values, width, label=label, color=colour)
    ax.set_xticks(x, stages)
    ax.set_ylabel("mean |correlation|")
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return _save(fig, path)


def diversity_curve(points: Sequence[Tuple[int, Dict[str, Dict[str, float]]]], path: str,
                    title: str = "Channel diversity over training (lower = more diverse)") -> str:
    """One line per block and side over training iterations (input: dashed, hollow squares;
    output: solid, filled circles); ``points``: (iteration, {stage: {"input", "output"}})."""
    plt = _pyplot()
    points = sorted(points, key=lambda p: p[0])
    iters = [p[0] for p in points]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for i, stage in enumerate(points[0][1]):
        colour = f"C{i}"
        for side, style, marker, face in (("input", "--", "s", "none"),
                                          ("output", "-", "o", colour)):
            ax.plot(iters, [p[1][stage][side] for p in points], style, marker=marker,
                    markerfacecolor=face, color=colour, label=f"{stage} {side}")
    ax.set_xlabel("iteration")
    ax.set_ylabel("mean |correlation|")
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return _save(fig, path)


Series = Dict[str, List[Tuple[int, float]]]


def _json_lines(path: str) -> List[dict]:
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))  # NaN is allowed: detectron2 writes it
    return rows


def read_detectron2_metrics(output_dir: str) -> Series:
    """``{"loss": [(iteration, total_loss)], "AP": [(iteration, bbox/AP)], "AP50": ...}`` from
    detectron2's ``OUTPUT_DIR/metrics.json`` (iterations 1-based, as the evaluation's).

    detectron2 appends to that file: a resumed run continues it from its checkpoint, a run
    trained again into the same folder starts it over. A training record whose iteration is
    below the previous one marks such a restart: records of the earlier attempt from that
    iteration on are dropped, so the series are those of the run that trained last (records
    repeated at one iteration: the later one wins)."""
    path = output_dir if output_dir.endswith(".json") else os.path.join(output_dir, "metrics.json")
    keys = ("loss", "AP", "AP50")
    by_iteration: Dict[str, Dict[int, float]] = {key: {} for key in keys}
    last = -1
    for row in _json_lines(path):
        iteration = int(row["iteration"])
        if "total_loss" in row:
            if iteration < last:  # a restart (resume or a new run): the later records win
                for values in by_iteration.values():
                    for it in [it for it in values if it >= iteration]:
                        del values[it]
            last = iteration
            by_iteration["loss"][iteration] = float(row["total_loss"])
        for key in ("AP", "AP50"):
            if row.get(f"bbox/{key}") is not None:
                by_iteration[key][iteration] = float(row[f"bbox/{key}"])
    return {"loss": [(it + 1, v) for it, v in sorted(by_iteration["loss"].items())],
            "AP": sorted(by_iteration["AP"].items()), "AP50": sorted(by_iteration["AP50"].items())}


def read_mmengine_scalars(work_dir: str) -> Series:
    """``{"loss": [(iter, loss)], "mIoU": [(iter, mIoU)], "mAcc": ..., "aAcc": ...}`` from the
    newest ``WORK_DIR/<timestamp>/vis_data/scalars.json`` mmengine wrote (or that file)."""
    if work_dir.endswith(".json"):
        path = work_dir
    else:
        found = sorted(glob.glob(os.path.join(work_dir, "*", "vis_data", "scalars.json")))
        if not found:
            raise FileNotFoundError(f"no */vis_data/scalars.json under {work_dir}")
        path = found[-1]
    series: Series = {"loss": [], "mIoU": [], "mAcc": [], "aAcc": []}
    for row in _json_lines(path):
        step = int(row.get("step", row.get("iter", 0)))
        if "loss" in row:
            series["loss"].append((step, float(row["loss"])))
        for key in ("mIoU", "mAcc", "aAcc"):
            if key in row:
                series[key].append((step, float(row[key])))
    return series


# One style per run: where two runs' curves coincide the second (dashed, open markers) leaves
# the first visible; markers keep a series of one point (a short run's loss) visible.
RUN_STYLES = ({"linestyle": "-", "marker": "o"},
              {"linestyle": "--", "marker": "s", "markerfacecolor": "none"},
              {"linestyle": ":", "marker": "^", "markerfacecolor": "none"})


def training_curves(runs: Dict[str, Series], metric: str, path: str, title: str = "") -> str:
    """Loss (left) and ``metric`` (right) against iteration, one line per run; iterations
    are whole numbers on the axes."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 3.6))
    for i, (label, series) in enumerate(runs.items()):
        style = dict(RUN_STYLES[i % len(RUN_STYLES)], color=f"C{i}", label=label)
        if series.get("loss"):
            it, values = zip(*series["loss"])
            few = len(it) <= 30  # markers only where they do not crowd the line
            ax_loss.plot(it, values, linewidth=1.3, markersize=5 if few else 0, **style)
        if series.get(metric):
            it, values = zip(*series[metric])
            ax_metric.plot(it, values, linewidth=1.3, markersize=6, **style)
    ax_loss.set_xlabel("iteration")
    ax_loss.set_ylabel("training loss")
    losses = [v for series in runs.values() for _, v in series.get("loss") or () if v > 0]
    if losses and max(losses) > 10 * min(losses):  # log scale only where it spans a decade
        ax_loss.set_yscale("log")
    ax_metric.set_xlabel("iteration")
    ax_metric.set_ylabel(metric)
    for ax in (ax_loss, ax_metric):
        low, high = ax.get_xlim()
        if high - low < 2:  # one iteration only: room for whole-number ticks around it
            middle = (low + high) / 2
            ax.set_xlim(middle - 1, middle + 1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, path)
