#!/usr/bin/env python
"""torch.compile of the C3 block against the eager block and the floor, side by side in one run.

At the six ResNet-50 stage inputs (bench_block.py's STAGES, the detectron2/mmseg windows), in
eval and in forward+backward: the eager block, the compiled block (Inductor, dynamic shapes;
under Dynamo the block runs its portable path), `x + y` eager and compiled, and the block's
two matmuls alone (the GEMM floor). The floor at a size is the larger of the compiled `x + y`
and the GEMM floor. Compile time is the first call's time minus a later call's.

    python bench/bench_compile.py [--repeats N] [--quick]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from bench_block import (STAGES, WINDOWS, AddFloor, BlockGemms, _eval_step,  # noqa: E402
                         _train_step, interleaved)
from c3_dense import C3Block  # noqa: E402


def first_call_seconds(step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="small maps, one repeat (a dry run)")
    args = ap.parse_args(argv)
    device = torch.device("cpu")
    stages = [(2, 64, 16, 16), (1, 128, 12, 20)] if args.quick else STAGES
    repeats = 1 if args.quick else args.repeats
    print(f"# bench_compile: {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}\n")
    print("| map (window) | pass | x+y (ms) | eager C3 / x+y | compiled C3 / x+y "
          "| compiled x+y / x+y | GEMM floor / x+y | compiled C3 / floor | compile (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for batch, c, h, w in stages:
        shape = (batch, c, h, w)
        window = WINDOWS.get(c, min(h, w) // 2)
        torch.manual_seed(0)
        block = C3Block(window)
        add = AddFloor(shape, device)
        candidates = {"x+y": add, "C3": block, "GEMM floor": BlockGemms(block),
                      "compiled C3": torch.compile(block, dynamic=True),
                      "compiled x+y": torch.compile(add, dynamic=True)}
        x, grad = torch.randn(shape), torch.randn(shape)
        for mode in ("eval", "train"):
            torch._dynamo.reset()
            steps = {k: (_eval_step(m, x) if mode == "eval" else _train_step(m, x, grad))
                     for k, m in candidates.items() if not (mode == "train" and k == "GEMM floor")}
            compile_s = first_call_seconds(steps["compiled C3"])
            compile_s -= first_call_seconds(steps["compiled C3"])
            if mode == "train":  # the GEMM floor's own gradient (its output is small)
                gemm = candidates["GEMM floor"]
                gemm_grad = torch.randn(batch * c, window * window)

                def gemm_train():
                    gemm.train()
                    gemm(x.detach().requires_grad_(True)).backward(gemm_grad)
                    gemm.zero_grad(set_to_none=True)
                steps["GEMM floor"] = gemm_train
            med = interleaved(steps, repeats, device)
            base = med["x+y"]
            floor = max(med["compiled x+y"], med["GEMM floor"])
            print(f"| {batch}×{c}@{h}×{w} ({window}²) | {mode} | {base * 1e3:.2f} "
                  f"| {med['C3'] / base:.2f} | {med['compiled C3'] / base:.2f} "
                  f"| {med['compiled x+y'] / base:.2f} | {med['GEMM floor'] / base:.2f} "
                  f"| {med['compiled C3'] / floor:.2f} | {compile_s:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
