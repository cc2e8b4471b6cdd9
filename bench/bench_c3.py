#!/usr/bin/env python
"""CPU/GPU timings, measured side by side in one run (ratios, not absolute promises).

1. ResNet-50 plain / +SE / +C3 (torchvision, c3_dense.models), forward and forward+backward,
   at 224×224 (batch 8) and 800×1216 (batch 1): median time and ratio to plain.
2. The C3 block alone against the loop reference (c3_dense.core.reference_forward): time and
   the largest absolute difference of their outputs.

Runs are interleaved model by model, repeat by repeat, so machine noise hits all alike.

    python bench/bench_c3.py [--repeats 3] [--device cpu|cuda] [--quick]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from c3_dense import C3Block
from c3_dense.core import reference_forward
from c3_dense.models import create


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, device) -> float:
    _sync(device)
    t = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t


def bench_resnet50(device, repeats, sizes):
    names = ["resnet50", "resnet50_se", "resnet50_c3"]
    models = {n: create(n).to(device) for n in names}
    print(f"\n## ResNet-50 on {device} ({platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads), median of {repeats}")
    print("| input | pass | plain (s) | +SE (s) | +C3 (s) | SE / plain | C3 / plain |")
    print("|---|---|---|---|---|---|---|")
    for batch, h, w in sizes:
        x = torch.randn(batch, 3, h, w, device=device)

        def forward(m):
            m.eval()
            with torch.no_grad():
                m(x)

        def train_step(m):
            m.train()
            m.zero_grad(set_to_none=True)
            m(x).sum().backward()

        for label, step in (("forward", forward), ("fwd+bwd", train_step)):
            for _ in range(2):  # warm-up (allocator, oneDNN primitives)
                for m in models.values():
                    step(m)
            times = {n: [] for n in names}
            for _ in range(repeats):
                for n in names:
                    times[n].append(_time(lambda: step(models[n]), device))
            med = {n: statistics.median(t) for n, t in times.items()}
            print(f"| {batch}×{h}×{w} | {label} | {med['resnet50']:.3f} | {med['resnet50_se']:.3f} "
                  f"| {med['resnet50_c3']:.3f} | {med['resnet50_se'] / med['resnet50']:.3f} "
                  f"| {med['resnet50_c3'] / med['resnet50']:.3f} |", flush=True)


def bench_block(repeats):
    print("\n## C3 block alone vs the loop reference (CPU, eval)")
    print("| case | fast (ms) | reference (ms) | speed-up | max abs diff |")
    print("|---|---|---|---|---|")
    cases = [
        ("resize 28², 256ch@56² (ResNet layer2 input)", C3Block(28, norm="bn"), (2, 256, 56, 56)),
        ("tile 14², 64ch@50×70", C3Block(14, mode="tile"), (1, 64, 50, 70)),
        ("resize 7², 1024ch (2 groups)", C3Block(7, norm="bn"), (2, 1024, 14, 14)),
    ]
    for label, block, shape in cases:
        block.eval()
        x = torch.randn(*shape)
        with torch.no_grad():
            fast_out, ref_out = block(x), reference_forward(block, x)
            fast = statistics.median(_time(lambda: block(x), x.device) for _ in range(max(repeats, 5)))
            ref = statistics.median(_time(lambda: reference_forward(block, x), x.device)
                                    for _ in range(1 if shape[1] > 512 else repeats))
        diff = (fast_out - ref_out).abs().max().item()
        print(f"| {label} | {fast * 1e3:.1f} | {ref * 1e3:.0f} | {ref / fast:.0f}× | {diff:.1e} |",
              flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true", help="224×224 only, one repeat")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    sizes = [(8, 224, 224)] + ([] if args.quick else [(1, 800, 1216)])
    repeats = 1 if args.quick else args.repeats
    bench_resnet50(device, repeats, sizes)
    bench_block(repeats)


if __name__ == "__main__":
    main()
