#!/usr/bin/env python
"""torch.compile of the C3 block and of C3-ResNet-50, against eager and the floor, side by side.

Block: at the six ResNet-50 stage inputs (bench_block.py's STAGES, the detectron2/mmseg
windows), in eval and in forward+backward: the eager block, the compiled block (Inductor,
dynamic shapes; under Dynamo the block runs its portable path), `x + y` eager and compiled, and
the block's two matmuls alone (the GEMM floor). The floor at a size is the larger of the
compiled `x + y` and the GEMM floor. Compile time is the first call's time minus a later
call's; "max diff" is the largest |compiled - eager| of the block's eval output.

Networks: C3-ResNet-50 and ResNet-50 (torchvision layout), eager and compiled (Inductor), at
8×224² and 1×800×1216, eval and forward+backward.

Messages: the portable path's message step compiled, on the channel groups' G×S×S layout
(``c3_dense.core.portable.messages``) against one C×C matrix masked by group (the layout the
portable path had before; written here as the comparison), forward+backward, at the channel
counts of ResNet-50's stages and 2048.

    python bench/bench_compile.py [--part block|networks|messages|all] [--repeats N] [--quick]
                                  [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from bench_block import (STAGES, WINDOWS, AddFloor, BlockGemms, _eval_step,  # noqa: E402
                         _train_step, interleaved, sync)
from c3_dense import C3Block  # noqa: E402

NETWORK_SIZES = [(8, 224, 224), (1, 800, 1216)]


def first_call_seconds(step, device: torch.device) -> float:
    sync(device)
    start = time.perf_counter()
    step()
    sync(device)
    return time.perf_counter() - start


def block_rows(device: torch.device, repeats: int, stages=STAGES,
               backend: str = "inductor") -> list:
    """One dict per (size, pass): medians in seconds, compile seconds, eval max diff."""
    rows = []
    for batch, c, h, w in stages:
        shape = (batch, c, h, w)
        window = WINDOWS.get(c, min(h, w) // 2)
        torch.manual_seed(0)
        block = C3Block(window, zero_init=False).to(device)
        add = AddFloor(shape, device)
        candidates = {"x+y": add, "C3": block, "GEMM floor": BlockGemms(block),
                      "compiled C3": torch.compile(block, dynamic=True, backend=backend),
                      "compiled x+y": torch.compile(add, dynamic=True, backend=backend)}
        x = torch.randn(shape, device=device)
        grad = torch.randn(shape, device=device)
        for mode in ("eval", "train"):
            torch._dynamo.reset()
            steps = {k: (_eval_step(m, x) if mode == "eval" else _train_step(m, x, grad))
                     for k, m in candidates.items() if not (mode == "train" and k == "GEMM floor")}
            compile_s = first_call_seconds(steps["compiled C3"], device)
            compile_s -= first_call_seconds(steps["compiled C3"], device)
            diff = float("nan")
            if mode == "eval":
                with torch.no_grad():
                    diff = (candidates["compiled C3"](x) - block(x)).abs().max().item()
            else:  # the GEMM floor's own gradient (its output is small)
                steps["GEMM floor"] = _train_step(
                    candidates["GEMM floor"], x,
                    torch.randn(batch * c, window * window, device=device))
            med = interleaved(steps, repeats, device)
            rows.append(dict(label=f"{batch}×{c}@{h}×{w} ({window}²)", mode=mode, med=med,
                             compile_s=compile_s, diff=diff))
    return rows


def print_block_rows(rows: list) -> None:
    print("| map (window) | pass | x+y (ms) | eager C3 / x+y | compiled C3 / x+y "
          "| compiled x+y / x+y | GEMM floor / x+y | compiled C3 / floor | compile (s) "
          "| max diff |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        med = row["med"]
        base = med["x+y"]
        floor = max(med["compiled x+y"], med["GEMM floor"])
        diff = "" if math.isnan(row["diff"]) else f"{row['diff']:.1e}"
        print(f"| {row['label']} | {row['mode']} | {base * 1e3:.2f} "
              f"| {med['C3'] / base:.2f} | {med['compiled C3'] / base:.2f} "
              f"| {med['compiled x+y'] / base:.2f} | {med['GEMM floor'] / base:.2f} "
              f"| {med['compiled C3'] / floor:.2f} | {row['compile_s']:.1f} | {diff} |",
              flush=True)


def network_rows(device: torch.device, repeats: int, sizes=NETWORK_SIZES) -> list:
    """Eager and compiled (Inductor) ResNet-50 and C3-ResNet-50: medians in seconds and the
    compile seconds of each compiled network, per (size, pass)."""
    from c3_dense.models import create

    rows = []
    torch.manual_seed(0)
    nets = {n: create(n, zero_init=False).to(device) if n.endswith("_c3") else create(n).to(device)
            for n in ("resnet50", "resnet50_c3")}
    for batch, h, w in sizes:
        x = torch.randn(batch, 3, h, w, device=device)
        for mode in ("eval", "train"):
            torch._dynamo.reset()
            compiled = {n: torch.compile(m) for n, m in nets.items()}

            def step(m):
                def run():
                    if mode == "eval":
                        m.eval()
                        with torch.no_grad():
                            m(x)
                    else:
                        m.train()
                        m(x).sum().backward()
                return run
            steps = {**{n: step(m) for n, m in nets.items()},
                     **{"compiled " + n: step(m) for n, m in compiled.items()}}
            compile_s = {}
            for n in nets:
                compile_s[n] = first_call_seconds(steps["compiled " + n], device)
                compile_s[n] -= first_call_seconds(steps["compiled " + n], device)
            med = interleaved(steps, repeats, device, warmup=1)
            for m in nets.values():
                m.zero_grad(set_to_none=True)
            rows.append(dict(label=f"{batch}×3×{h}×{w}", mode=mode, med=med, compile_s=compile_s))
    return rows


MESSAGE_SIZES = [(8, 256, 6), (8, 512, 24), (8, 1024, 6), (8, 2048, 6), (1, 1024, 6)]


def masked_channel_messages(v, values, sizes, include_self: bool):
    """The message step on one C×C matrix per sample, other groups masked (the comparison)."""
    ids = torch.cat([torch.full([s], g, dtype=torch.long, device=v.device)
                     for g, s in enumerate(sizes)])
    scores = -(v.unsqueeze(-1) - v.unsqueeze(-2)).square()
    invalid = ids.unsqueeze(1) != ids.unsqueeze(0)
    if not include_self:
        eye = torch.arange(ids.shape[0], device=v.device)
        invalid = invalid | (eye.unsqueeze(1) == eye.unsqueeze(0))
    weights = torch.softmax(scores.masked_fill(invalid, -1.0e30), dim=-1)
    return (weights * (~invalid).any(-1, keepdim=True).to(weights.dtype)) @ values


def message_rows(device: torch.device, repeats: int, sizes=MESSAGE_SIZES) -> list:
    """Compiled forward+backward of both layouts; medians in seconds and the max difference."""
    from c3_dense.core import portable

    rows = []
    for n, c, d in sizes:
        groups = portable.group_sizes(c, 512, "equal")
        torch.manual_seed(0)
        v = torch.randn(n, c, device=device)
        values = torch.randn(n, c, d, device=device)
        fns = {"C×C": torch.compile(masked_channel_messages, dynamic=True),
               "G×S×S": torch.compile(portable.messages, dynamic=True)}

        def step(fn):
            def run():
                vv, xx = v.clone().requires_grad_(), values.clone().requires_grad_()
                fn(vv, xx, groups, False).sum().backward()
            return run
        steps = {name: step(fn) for name, fn in fns.items()}
        for run in steps.values():
            run()  # compile
        with torch.no_grad():
            diff = (fns["C×C"](v, values, groups, False)
                    - fns["G×S×S"](v, values, groups, False)).abs().max().item()
        rows.append(dict(label=f"{n}×{c} (groups {len(groups)}×{max(groups)}), D={d}",
                         med=interleaved(steps, repeats, device, warmup=1), diff=diff))
    return rows


def print_message_rows(rows: list) -> None:
    print("| channels | C×C (ms) | G×S×S (ms) | C×C / G×S×S | max diff |")
    print("|---|---|---|---|---|")
    for row in rows:
        med = row["med"]
        print(f"| {row['label']} | {med['C×C'] * 1e3:.2f} | {med['G×S×S'] * 1e3:.2f} "
              f"| {med['C×C'] / med['G×S×S']:.2f} | {row['diff']:.1e} |", flush=True)


def print_network_rows(rows: list) -> None:
    print("| input | pass | ResNet-50 eager (ms) | C3 / plain, eager | C3 / plain, compiled "
          "| compiled / eager, ResNet-50 | compiled / eager, C3 | compile R-50 / C3 (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        med, cs = row["med"], row["compile_s"]
        print(f"| {row['label']} | {row['mode']} | {med['resnet50'] * 1e3:.0f} "
              f"| {med['resnet50_c3'] / med['resnet50']:.3f} "
              f"| {med['compiled resnet50_c3'] / med['compiled resnet50']:.3f} "
              f"| {med['compiled resnet50'] / med['resnet50']:.2f} "
              f"| {med['compiled resnet50_c3'] / med['resnet50_c3']:.2f} "
              f"| {cs['resnet50']:.0f} / {cs['resnet50_c3']:.0f} |", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=["block", "networks", "messages", "all"], default="all")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--quick", action="store_true", help="small sizes, one repeat (a dry run)")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    repeats = 1 if args.quick else args.repeats
    print(f"# bench_compile: {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}, {device.type}\n")
    if args.part in ("block", "all"):
        stages = [(2, 64, 16, 16), (1, 128, 12, 20)] if args.quick else STAGES
        print_block_rows(block_rows(device, repeats, stages))
    if args.part in ("networks", "all"):
        print()
        sizes = [(2, 64, 64)] if args.quick else NETWORK_SIZES
        print_network_rows(network_rows(device, repeats, sizes))
    if args.part in ("messages", "all"):
        print()
        sizes = [(2, 24, 3), (1, 40, 2)] if args.quick else MESSAGE_SIZES
        print_message_rows(message_rows(device, repeats, sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
