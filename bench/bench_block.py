#!/usr/bin/env python
"""The C3 block against the memory floor and what users feel, measured side by side in one run.

1. Stage table: at the six ResNet-50 stage inputs (224×224 images, batch 8; an 800×1216 image,
   batch 1) the C3 block (resize mode, default options, the detectron2/mmseg windows) against
   the floor `x + y`, in eval and in forward+backward (backward of a fixed random gradient),
   with the same for SE and mmcv's ContextBlock (GCNet); tile mode against resize mode; the
   "GEMM floor" (the block's two big matmuls timed alone: no implementation of the block can
   be faster); the affinity matrices' size against the map's; and the memory a training
   forward keeps for backward (on CUDA also the peak, `torch.cuda.max_memory_allocated`).
2. Cost growth: block time against H·W (fixed C) and against C (fixed map), with the fitted
   log-log slope (1 = linear).
3. Training iterations users run: Faster R-CNN R-50-FPN (detectron2, the COCO configs as
   shipped: FrozenBN, stem and res2 frozen; 1×800×1216, three boxes) and DeepLabv2 R-50-D8
   (mmseg, the VOC configs with BN for SyncBN; 1×512×512), plain / SE / C3, random weights:
   time per iteration (forward, losses, backward) and the memory the forward keeps for
   backward (from the profiler's allocation records).

Runs are interleaved candidate by candidate, repeat by repeat, and the medians are compared,
so machine noise hits all alike. `bench/gpu_check.py` reuses sections 1 and 3 on CUDA.

    python bench/bench_block.py [--quick] [--repeats N] [--device cpu|cuda] [--only stages,growth,iterations]
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from typing import Callable, Dict, List, Sequence, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from c3_dense import C3Block, SEBlock  # noqa: E402
from c3_dense.core.c3 import channel_groups  # noqa: E402

# ResNet-50 stage inputs (batch, channels, height, width): 224×224 images in a batch of 8 (the
# ImageNet case) and one 800×1216 image (detection); windows are the detectron2/mmseg defaults.
STAGES = [(8, 256, 56, 56), (8, 512, 28, 28), (8, 1024, 14, 14),
          (1, 256, 200, 304), (1, 512, 100, 152), (1, 1024, 50, 76)]
WINDOWS = {256: 28, 512: 14, 1024: 7}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(fns: Dict[str, Callable[[], None]], repeats: int, device: torch.device,
                warmup: int = 2) -> Dict[str, float]:
    """Median seconds of each function, run in turn, ``repeats`` rounds after a warm-up."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: Dict[str, List[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            times[k].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def held_bytes(forward: Callable[[], object]) -> Tuple[int, object]:
    """Bytes that ``forward()`` allocates and still holds when it returns (what autograd keeps
    for backward, and the result), and the result. From the profiler's allocation records, so
    it sees everything, whatever saved-tensor hooks are active."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available()
                                           else [])
    with profile(activities=activities, profile_memory=True) as prof:
        result = forward()
    events = prof.key_averages()
    total = sum(e.self_cpu_memory_usage + getattr(e, "self_device_memory_usage", 0)
                for e in events)
    return total, result


class AddFloor(nn.Module):
    """The floor: one elementwise add over the map (read twice, written once)."""

    def __init__(self, shape, device):
        super().__init__()
        self.register_buffer("other", torch.randn(shape, device=device))

    def forward(self, x):
        return x + self.other


class BlockGemms(nn.Module):
    """The C3 block's two big matmuls alone (N·C×A by A×A/k, N·C×A/k by A/k×A) on the
    windowed vectors: what any implementation of the block must at least compute."""

    def __init__(self, block: C3Block):
        super().__init__()
        self.block = block

    def forward(self, x):
        b, c = x.shape[:2]
        # Any A positions per channel will do: the cost is in the matmuls.
        flat, area = x.reshape(b * c, -1), self.block.area
        if flat.shape[1] < area:
            flat = flat.repeat(1, -(-area // flat.shape[1]))
        small = flat[:, :area]
        return self.block.dec_fc2(self.block.enc_fc1(small))


def context_block(channels: int):
    """mmcv's ContextBlock (GCNet), when mmcv (or mmcv-lite) provides it."""
    try:
        from mmcv.cnn.bricks import ContextBlock
    except ImportError:
        return None
    return ContextBlock(channels, ratio=1 / 16)


def _eval_step(module, x):
    def step():
        module.eval()
        with torch.no_grad():
            module(x)
    return step


def _train_step(module, x, grad):
    def step():
        module.train()
        xi = x.detach().requires_grad_(True)
        module(xi).backward(grad)
        module.zero_grad(set_to_none=True)
    return step


def _held_for_backward(module, x) -> int:
    """Bytes a training forward of ``module`` keeps for backward (its output excluded)."""
    module.train()
    xi = x.detach().requires_grad_(True)
    held, out = held_bytes(lambda: module(xi))
    return held - out.numel() * out.element_size()


def affinity_elements(batch: int, channels: int, group_size: int = 512) -> int:
    """Entries of the block's S×S affinity matrices for one call (resize mode)."""
    return batch * sum(s * s for s in channel_groups(channels, group_size))


def stage_rows(device: torch.device, repeats: int, stages=STAGES) -> List[dict]:
    """One dict per stage input with medians (s) and bytes kept for backward per candidate."""
    rows = []
    for batch, c, h, w in stages:
        shape = (batch, c, h, w)
        window = WINDOWS.get(c, 7)
        torch.manual_seed(0)
        c3 = C3Block(window)
        tile = C3Block(window, mode="tile")
        tile.load_state_dict(c3.state_dict())
        candidates = {"x+y": AddFloor(shape, device), "C3": c3, "C3 tile": tile,
                      "GEMM floor": BlockGemms(c3), "SE": SEBlock(c)}
        gc = context_block(c)
        if gc is not None:
            candidates["GCNet"] = gc
        candidates = {k: m.to(device) for k, m in candidates.items()}
        x = torch.randn(shape, device=device)
        grad = torch.randn(shape, device=device)
        row = {"map": f"{batch}×{c}@{h}×{w}", "elements": x.numel(),
               "affinity": affinity_elements(batch, c), "window": window}
        row["eval"] = interleaved({k: _eval_step(m, x) for k, m in candidates.items()},
                                  repeats, device)
        train = {k: m for k, m in candidates.items() if k != "GEMM floor"}
        fns = {k: _train_step(m, x, grad) for k, m in train.items()}
        # The GEMM floor's own gradients: its output is smaller than the map.
        fns["GEMM floor"] = _train_step(candidates["GEMM floor"], x,
                                        torch.randn(batch * c, window * window, device=device))
        row["train"] = interleaved(fns, repeats, device)
        row["saved"] = {k: _held_for_backward(m, x) for k, m in train.items()}
        if device.type == "cuda":
            row["peak"] = {}
            for k, m in train.items():
                torch.cuda.reset_peak_memory_stats(device)
                base = torch.cuda.memory_allocated(device)
                _train_step(m, x, grad)()
                sync(device)
                row["peak"][k] = torch.cuda.max_memory_allocated(device) - base
        rows.append(row)
    return rows


def print_stage_rows(rows: List[dict], device: torch.device) -> None:
    cuda = device.type == "cuda"
    print("| map (window) | pass | x+y (ms) | C3 / x+y | GEMM floor / x+y | C3 tile / C3 "
          "| SE / x+y | GCNet / x+y | S×S / map |" + (" C3 peak / x+y peak |" if cuda else ""))
    print("|---|---|---|---|---|---|---|---|---|" + ("---|" if cuda else ""))
    for row in rows:
        for mode in ("eval", "train"):
            med = row[mode]
            base = med["x+y"]
            gc = f"{med['GCNet'] / base:.2f}" if "GCNet" in med else "n/a"
            line = (f"| {row['map']} ({row['window']}²) | {mode} | {base * 1e3:.2f} "
                    f"| {med['C3'] / base:.2f} | {med['GEMM floor'] / base:.2f} "
                    f"| {med['C3 tile'] / med['C3']:.2f} | {med['SE'] / base:.2f} | {gc} "
                    f"| {row['affinity'] / row['elements']:.2f} |")
            if cuda:
                peak = row.get("peak", {})
                line += (f" {peak['C3'] / max(peak['x+y'], 1):.2f} |" if mode == "train" and peak
                         else " |")
            print(line, flush=True)
    print("\nMemory kept for backward by the block alone, relative to the map (in a C3Stage the "
          "output is kept as a recipe, see c3_dense/core/stage.py):")
    print("| map | C3 | C3 tile | SE | GCNet |\n|---|---|---|---|---|")
    for row in rows:
        s, size = row["saved"], row["elements"] * 4
        gc = f"{s['GCNet'] / size:.2f}" if "GCNet" in s else "n/a"
        print(f"| {row['map']} | {s['C3'] / size:.2f} | {s['C3 tile'] / size:.2f} "
              f"| {s['SE'] / size:.2f} | {gc} |", flush=True)


def slope(sizes: Sequence[float], times: Sequence[float]) -> float:
    """Least-squares slope of log(time) against log(size)."""
    xs, ys = [math.log(s) for s in sizes], [math.log(t) for t in times]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return (sum((a - mx) * (b - my) for a, b in zip(xs, ys))
            / sum((a - mx) ** 2 for a in xs))


def growth(device: torch.device, repeats: int, quick: bool) -> None:
    """Block time (eval) against H·W at C = 256 and against C at 28×28, window 14."""
    sides = [28, 56, 112] if quick else [28, 56, 112, 224]
    channels = [64, 256, 1024] if quick else [64, 128, 256, 512, 1024, 2048]
    torch.manual_seed(0)
    block = C3Block(14).to(device)
    print("| varied | size | C3 (ms) | x+y (ms) |\n|---|---|---|---|")
    for label, shapes, sizes in (("H·W (C = 256)", [(1, 256, s, s) for s in sides],
                                  [s * s for s in sides]),
                                 ("C (28×28)", [(1, c, 28, 28) for c in channels], channels)):
        c3_times, add_times = [], []
        for shape, size in zip(shapes, sizes):
            x = torch.randn(shape, device=device)
            med = interleaved({"C3": _eval_step(block, x),
                               "x+y": _eval_step(AddFloor(shape, device), x)}, repeats, device)
            c3_times.append(med["C3"])
            add_times.append(med["x+y"])
            print(f"| {label} | {size} | {med['C3'] * 1e3:.2f} | {med['x+y'] * 1e3:.2f} |",
                  flush=True)
        print(f"| {label} | **fitted slope** | **{slope(sizes, c3_times):.2f}** "
              f"| **{slope(sizes, add_times):.2f}** |", flush=True)


def detectron2_model_and_batch(config: str, device: torch.device, size, images: int = 1,
                               opts=()):
    """A COCO Faster R-CNN R-50-FPN config's model (random weights, train mode) and a batch of
    ``images`` random images of ``size`` (h, w) with three boxes each."""
    from detectron2.structures import Boxes, Instances

    from c3_dense.detectron2.engine import Trainer, setup_cfg

    cfg = setup_cfg(os.path.join(ROOT, "configs", "detectron2", "COCO-1x", config),
                    ["MODEL.WEIGHTS", "", "MODEL.DEVICE", device.type, *opts])
    torch.manual_seed(0)
    model = Trainer.build_model(cfg)
    model.train()
    h, w = size
    boxes = torch.tensor([[40., 60., 400., 430.], [500., 80., 800., 600.],
                          [900., 300., 1150., 700.]]) * torch.tensor([w, h, w, h]) / torch.tensor(
                              [1216., 800., 1216., 800.])
    batch = []
    for _ in range(images):
        inst = Instances((h, w))
        inst.gt_boxes = Boxes(boxes.clone())
        inst.gt_classes = torch.tensor([3, 17, 40])
        batch.append({"image": torch.randint(0, 256, (3, h, w), dtype=torch.uint8),
                      "instances": inst, "height": h, "width": w})
    return cfg, model, batch


def mmseg_model_and_data(config: str, device: torch.device, size: int, images: int = 1):
    """A VOC DeepLabv2 config's model (random weights; BN in place of SyncBN, which needs a
    process group; train mode) and a batch of ``images`` random size×size images and labels."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from c3_dense.mmseg.engine import build_model, load_config

    path = os.path.join(ROOT, "configs", "mmseg", "deeplabv2", config)
    cfg = load_config(path, {"model.pretrained": None,
                             "model.backbone.norm_cfg": {"type": "BN", "requires_grad": True},
                             "model.data_preprocessor.size": (size, size)})
    torch.manual_seed(0)
    model = build_model(cfg, path).to(device)
    model.train()
    samples = []
    for _ in range(images):
        sample = SegDataSample(metainfo={"img_shape": (size, size), "ori_shape": (size, size),
                                         "pad_shape": (size, size)})
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 21, (1, size, size)))
        samples.append(sample)
    inputs = [torch.randint(0, 256, (3, size, size), dtype=torch.uint8) for _ in range(images)]
    return model, {"inputs": inputs, "data_samples": samples}


def _detectron2_step(variant: str, device: torch.device, size=(800, 1216)):
    """A training iteration of the COCO Faster R-CNN R-50-FPN config as shipped (random
    weights), its forward alone, and the model."""
    from detectron2.utils.events import EventStorage

    name = {"plain": "faster_rcnn_R_50_FPN.yaml", "SE": "faster_rcnn_R_50_FPN_se.yaml",
            "C3": "faster_rcnn_R_50_FPN_c3.yaml"}[variant]
    _, model, batch = detectron2_model_and_batch(name, device, size)

    def forward():
        with EventStorage(0):  # the RPN logs into detectron2's event storage
            return sum(model(batch).values())

    def step():
        forward().backward()
        model.zero_grad(set_to_none=True)

    return step, forward, model


def _mmseg_step(variant: str, device: torch.device, size=512):
    """A training iteration of the VOC DeepLabv2 R-50-D8 config, its forward alone, and the
    model."""
    suffix = {"plain": "", "SE": "_se", "C3": "_c3"}[variant]
    model, data = mmseg_model_and_data(f"deeplabv2_r50-d8_4xb4-20k_voc12aug-512x512{suffix}.py",
                                       device, size)

    def forward():
        batch = model.data_preprocessor(data, True)
        losses = model(**batch, mode="loss")
        return sum(v for k, v in losses.items() if "loss" in k)

    def step():
        forward().backward()
        model.zero_grad(set_to_none=True)

    return step, forward, model


def iterations(device: torch.device, repeats: int, quick: bool) -> List[tuple]:
    """(model, variant, median s, saved bytes, peak bytes or None) for both frameworks."""
    rows = []
    for label, make, size in (("Faster R-CNN R-50-FPN 1×{}×{}", _detectron2_step,
                               (256, 384) if quick else (800, 1216)),
                              ("DeepLabv2 R-50-D8 1×{}×{}", _mmseg_step,
                               128 if quick else 512)):
        label = label.format(*(size if isinstance(size, tuple) else (size, size)))
        built = {v: make(v, device, size) for v in ("plain", "SE", "C3")}
        med = interleaved({v: b[0] for v, b in built.items()}, repeats, device, warmup=1)
        for v, (step, forward, model) in built.items():
            saved, loss = held_bytes(forward)
            del loss
            peak = None
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
                base = torch.cuda.memory_allocated(device)
                step()
                sync(device)
                peak = torch.cuda.max_memory_allocated(device) - base
            rows.append((label, v, med[v], saved, peak))
        del built
    return rows


def print_iterations(rows: List[tuple]) -> None:
    print("| model | variant | s / iteration | × plain | held for backward (MB) | × plain "
          "| peak (MB) |\n|---|---|---|---|---|---|---|")
    plain = {}
    for label, v, t, saved, peak in rows:
        if v == "plain":
            plain[label] = (t, saved, peak)
        pt, ps, pp = plain[label]
        peak_text = f"{peak / 2 ** 20:.0f} ({peak / pp:.3f}×)" if peak else "n/a"
        print(f"| {label} | {v} | {t:.3f} | {t / pt:.3f} | {saved / 2 ** 20:.0f} "
              f"| {saved / ps:.3f} | {peak_text} |", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats (a dry run)")
    ap.add_argument("--only", default="stages,growth,iterations",
                    help="comma-separated sections: stages, growth, iterations")
    args = ap.parse_args(argv)
    sections = set(args.only.split(","))
    unknown = sections - {"stages", "growth", "iterations"}
    if unknown:
        ap.error(f"--only: unknown section(s) {sorted(unknown)}; use stages, growth, iterations")
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench_block: no CUDA device on this machine; run with --device cpu")
        return 2
    device = torch.device(args.device)
    repeats = 2 if args.quick else args.repeats
    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    print(f"# bench_block on {device.type} ({where}), torch {torch.__version__}, "
          f"median of {repeats}\n")
    if "stages" in sections:
        stages = [(b, c, h // 4, w // 4) for b, c, h, w in STAGES[::3]] if args.quick else STAGES
        print("## 1. The block at the ResNet-50 stage inputs (ratios to x + y)")
        print_stage_rows(stage_rows(device, repeats, stages), device)
    if "growth" in sections:
        print("\n## 2. Cost growth (eval, window 14)")
        growth(device, repeats, args.quick)
    if "iterations" in sections:
        print("\n## 3. Training iterations (random weights)")
        print_iterations(iterations(device, max(1, repeats // 2), args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
