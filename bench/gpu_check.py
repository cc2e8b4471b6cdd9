#!/usr/bin/env python
"""What only a GPU can show, in one run (meant to take well under 8 minutes on one H100):

1. CUDA vs CPU: the C3 block in every mode (resize, tile, native), variant (full, enc_dec,
   message), with and without BN, include_self, both groupings — fp32 outputs and the
   gradients of input and parameters, largest difference against a tolerance.
2. Mixed precision without NaN: fp16 and bf16 autocast training steps of a C3 Faster R-CNN
   R-50-FPN (detectron2's AMPTrainer, the trainer of SOLVER.AMP.ENABLED) and a C3 DeepLabv2
   R-50-D8 (mmengine's AmpOptimWrapper, what `train_seg.py --amp` uses), from scratch on
   generated images: every loss and every weight finite afterwards.
3. Timings, CUDA-synchronised, interleaved, medians, with peak memory
   (torch.cuda.max_memory_allocated): bench/bench_block.py's tables on the GPU (the C3 block
   at the six ResNet-50 stage inputs against the floor `x + y`, SE and mmcv's ContextBlock
   (GCNet), eval and forward+backward; cost growth; Faster R-CNN and DeepLabv2 training
   iterations plain / SE / C3), and C3-ResNet-50 / plain at 8×224×224 and 1×800×1216.
4. The message step's two implementations (the block's autograd Function, PyTorch's fused
   attention: ``message_impl``) at the six stage inputs: what decides the default per device.
5. torch.compile on the GPU (Inductor's Triton kernels): bench/bench_compile.py's tables, the
   compiled block against eager and the floor at the six stage inputs (with the largest
   |compiled - eager|, a problem above 1e-3), compiled C3-ResNet-50 / ResNet-50 and the
   portable message step's group layout.
Check 1 also runs the block on channels-last input (same values, layout kept) and in
deterministic mode (no error, two runs equal bit for bit).

Prints Markdown tables (the README's GPU rows) and a last line `gpu_check: N problems`; exits 1
when a check fails. On a machine without CUDA it says so in one line and exits 0. Sections run
in order (``--sections``, by name: agreement, amp, block, growth, iterations, messages,
compile); ``--budget S`` starts none after S seconds; ``--out DIR`` writes each one to
``DIR/<n>_<name>.md`` as it ends, so that a limited machine loan brings back what finished.

    python bench/gpu_check.py [--quick] [--device cuda|cpu] [--sections a,b] [--budget S] [--out DIR]

``--device cpu`` is a dry run of the script's code on a machine without a GPU: check 1 then
compares the CPU with itself, check 2 trains in fp32 (the AMP wrappers need CUDA), check 3
times the CPU without memory figures.
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import bench_block  # noqa: E402
import bench_compile  # noqa: E402
from c3_dense import C3Block  # noqa: E402


def agreement(device: torch.device, quick: bool) -> list:
    """Largest |device - CPU| of outputs and gradients for every block configuration."""
    rows = []
    modes = ("resize", "tile", "native")
    variants = ("full", "enc_dec", "message")
    options = list(itertools.product(modes, variants, ("none", "bn"), (False, True),
                                     ("equal", "fixed")))
    if quick:
        options = options[::7]
    for mode, variant, norm, include_self, grouping in options:
        torch.manual_seed(0)
        size = (7, 7) if mode == "native" else (19, 26)
        block = C3Block(7, mode=mode, variant=variant, norm=norm, include_self=include_self,
                        group_size=32, grouping=grouping)
        x = torch.randn(2, 80, *size)  # 80 channels: 2 equal groups of 40, or 32 + 32 + 16
        outputs = []
        for dev in (torch.device("cpu"), device):
            b = C3Block(7, mode=mode, variant=variant, norm=norm, include_self=include_self,
                        group_size=32, grouping=grouping).to(dev)
            b.load_state_dict(block.state_dict())
            b.train()
            xi = x.to(dev).requires_grad_(True)
            out = b(xi)
            out.square().sum().backward()
            grads = [xi.grad] + [p.grad for p in b.parameters()]
            outputs.append([out.detach().cpu()] + [g.detach().cpu() for g in grads])
        diff = max((a - b).abs().max().item() / (1 + a.abs().max().item())
                   for a, b in zip(*outputs))
        rows.append((f"{mode}/{variant}/{norm}/self={include_self}/{grouping}", diff))
    return rows


def amp_detectron2(dtype: torch.dtype, steps: int, size: int, device: torch.device) -> list:
    """Losses of `steps` AMPTrainer steps of the COCO C3 Faster R-CNN R-50-FPN config (BN,
    nothing frozen: from scratch; on the CPU: SimpleTrainer in fp32, a dry run of everything
    but autocast)."""
    from detectron2.engine import AMPTrainer, SimpleTrainer
    from detectron2.utils.events import EventStorage

    from c3_dense.detectron2.engine import Trainer

    cfg, model, batch = bench_block.detectron2_model_and_batch(
        "faster_rcnn_R_50_FPN_c3.yaml", device, (size, size), images=2,
        opts=["MODEL.RESNETS.NORM", "BN", "MODEL.BACKBONE.FREEZE_AT", "0"])
    optimizer = Trainer.build_optimizer(cfg, model)
    if device.type == "cuda":
        trainer = AMPTrainer(model, itertools.repeat(batch), optimizer, precision=dtype)
    else:
        trainer = SimpleTrainer(model, itertools.repeat(batch), optimizer)
    losses = []
    with EventStorage(0) as storage:
        for it in range(steps):
            storage.iter = it
            trainer.iter = it
            trainer.run_step()
            losses.append(storage.history("total_loss").latest())
    weights_ok = all(torch.isfinite(p).all().item() for p in model.parameters())
    return losses + ([] if weights_ok else [float("nan")])


def amp_mmseg(dtype: torch.dtype, steps: int, size: int, device: torch.device) -> list:
    """Losses of `steps` train steps of the VOC C3 DeepLabv2 R-50-D8 config under mmengine's
    AmpOptimWrapper (the Runner's train_step, as `train_seg.py --amp` runs it; on the CPU:
    OptimWrapper in fp32, a dry run of everything but autocast)."""
    from mmengine.optim import AmpOptimWrapper, OptimWrapper

    model, data = bench_block.mmseg_model_and_data(
        "deeplabv2_r50-d8_4xb4-20k_voc12aug-512x512_c3.py", device, size, images=2)
    sgd = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    if device.type == "cuda":
        optim = AmpOptimWrapper(optimizer=sgd, dtype=dtype, clip_grad=dict(max_norm=35, norm_type=2))
    else:
        optim = OptimWrapper(optimizer=sgd, clip_grad=dict(max_norm=35, norm_type=2))
    losses = []
    for _ in range(steps):
        log = model.train_step(data, optim)
        losses.append(log["loss"].item())
    weights_ok = all(torch.isfinite(p).all().item() for p in model.parameters())
    return losses + ([] if weights_ok else [float("nan")])


def network_table(device: torch.device, repeats: int, quick: bool) -> list:
    """C3-ResNet-50 / plain, forward+backward, at 8×224² and 1×800×1216 (medians of
    bench_block.interleaved: the two networks in turn, synchronised)."""
    from c3_dense.models import create

    models = {n: create(n).to(device).train() for n in ("resnet50", "resnet50_c3")}
    sizes = [(2, 64, 64)] if quick else [(8, 224, 224), (1, 800, 1216)]
    rows = []
    for batch, h, w in sizes:
        x = torch.randn(batch, 3, h, w, device=device)

        def step(m):
            m.zero_grad(set_to_none=True)
            m(x).sum().backward()

        med = bench_block.interleaved({n: (lambda m=m: step(m)) for n, m in models.items()},
                                      repeats, device, warmup=1)
        rows.append((f"{batch}×{h}×{w}", med["resnet50"], med["resnet50_c3"]))
    return rows


def readiness(device: torch.device, quick: bool) -> list:
    """The block on channels-last input (values against the contiguous input's, layout kept)
    and in deterministic mode (runs, and two runs agree bit for bit): (label, max diff, ok)."""
    rows = []
    for mode, size in (("resize", (28, 28)), ("resize", (26, 27)), ("tile", (20, 15))):
        torch.manual_seed(0)
        block = C3Block(7, mode=mode, zero_init=False).to(device)
        x = torch.randn(2, 64, *size, device=device)
        outs = []
        for layout in (torch.contiguous_format, torch.channels_last):
            xi = x.to(memory_format=layout).requires_grad_(True)
            out = block(xi)
            grad = torch.autograd.grad(out.square().sum(), xi)[0]
            outs.append((out.detach(), grad, out.is_contiguous(memory_format=layout)))
        diff = max((a - b).abs().max().item() / (1 + a.abs().max().item())
                   for a, b in zip(outs[0][:2], outs[1][:2]))  # relative, as agreement()
        rows.append((f"channels_last {mode} {size}", diff, diff < 1e-4 and outs[1][2]))
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        for options in (dict(), dict(mode="tile"), dict(message_impl="sdpa")):
            block = C3Block(7, zero_init=False, **options).to(device)
            x = torch.randn(2, 80, 20, 15, device=device)
            results = []
            for _ in range(2):
                xi = x.clone().requires_grad_(True)
                out = block(xi)
                results.append(torch.autograd.grad(out.square().sum(), xi)[0])
            diff = (results[0] - results[1]).abs().max().item()
            rows.append((f"deterministic {options or 'default'}", diff, diff == 0))
    except RuntimeError as exc:  # an op PyTorch has no deterministic version of
        rows.append((f"deterministic: {str(exc).splitlines()[0][:120]}", float("nan"), False))
    finally:
        torch.use_deterministic_algorithms(previous)
    return rows


def message_impls(device: torch.device, repeats: int, quick: bool) -> list:
    """The message step's two implementations (the block's Function, fused attention) at the
    six stage inputs, forward+backward: medians and the largest difference of the outputs,
    what decides message_impl='auto' per device."""
    rows = []
    stages = bench_block.STAGES
    if quick:
        stages = [(b, c, h // 4, w // 4) for b, c, h, w in stages[::3]]
    for batch, c, h, w in stages:
        window = bench_block.WINDOWS.get(c, min(h, w) // 2)
        torch.manual_seed(0)
        blocks = {impl: C3Block(window, zero_init=False, message_impl=impl).to(device)
                  for impl in ("function", "sdpa")}
        blocks["sdpa"].load_state_dict(blocks["function"].state_dict())
        x = torch.randn(batch, c, h, w, device=device)

        def step(block):
            def run():
                xi = x.clone().requires_grad_(True)
                block(xi).sum().backward()
            return run
        med = bench_block.interleaved({k: step(b) for k, b in blocks.items()}, repeats,
                                      device, warmup=1)
        with torch.no_grad():
            diff = (blocks["function"](x) - blocks["sdpa"](x)).abs().max().item()
        rows.append((f"{batch}×{c}@{h}×{w} ({window}²)", med["function"], med["sdpa"], diff))
    return rows


class _Tee:
    """Writes to the console and keeps a copy (a section's output, for its file)."""

    def __init__(self, console):
        self.console, self.parts = console, []

    def write(self, text):
        self.parts.append(text)
        return self.console.write(text)

    def flush(self):
        self.console.flush()


SECTIONS = ("agreement", "amp", "block", "growth", "iterations", "messages", "compile")


def main(argv=None) -> int:
    import contextlib

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--sections", default=",".join(SECTIONS),
                    help=f"comma-separated, in this order: {', '.join(SECTIONS)} (default all)")
    ap.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                    help="start no section after this many seconds (the rest are listed as "
                         "skipped), so that a limited machine loan brings back what finished")
    ap.add_argument("--out", default=None, metavar="DIR",
                    help="also write each section, as it ends, to DIR/<n>_<section>.md")
    args = ap.parse_args(argv)
    chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        print(f"error: --sections: {unknown[0]!r} is not one of {', '.join(SECTIONS)}",
              file=sys.stderr)
        return 2
    if args.device == "cuda" and not torch.cuda.is_available():
        print(f"gpu_check: no CUDA device on this machine (torch {torch.__version__}); "
              "nothing to check - run it where a GPU is")
        return 0
    device = torch.device(args.device)
    repeats = 2 if args.quick else args.repeats
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        name = (f"{props.name}, {props.total_memory / 2 ** 30:.0f} GiB, CUDA "
                f"{torch.version.cuda}, driver {_driver()}")
    else:
        name = "CPU"
    print(f"# gpu_check on {name}, torch {torch.__version__}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}\n")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    problems = 0
    start = time.time()
    for number, section in enumerate(SECTIONS, 1):
        if section not in chosen:
            continue
        if args.budget is not None and time.time() - start > args.budget:
            print(f"\n## {number}. {section}: skipped (the {args.budget:.0f} s budget is spent)")
            continue
        tee = _Tee(sys.stdout)
        began = time.time()
        with contextlib.redirect_stdout(tee):
            problems += SECTION_RUNNERS[section](number, device, repeats, args.quick)
            print(f"({section}: {time.time() - began:.0f} s)", flush=True)
        if args.out:
            with open(os.path.join(args.out, f"{number}_{section}.md"), "w") as f:
                f.write("".join(tee.parts))
    print(f"\ngpu_check: {problems} problems, {time.time() - start:.0f} s")
    return 1 if problems else 0


def _driver() -> str:
    import subprocess
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def _agreement(number, device, repeats, quick) -> int:
    problems = 0
    print(f"## {number}. CUDA vs CPU, fp32 (largest |difference| of outputs and gradients, "
          "relative); channels-last input and deterministic mode")
    print("| block | max diff | ok |\n|---|---|---|")
    for label, diff in agreement(device, quick):
        ok = diff < 1e-4
        problems += not ok
        print(f"| {label} | {diff:.1e} | {'yes' if ok else 'NO'} |", flush=True)
    for label, diff, ok in readiness(device, quick):
        problems += not ok
        print(f"| {label} | {diff:.1e} | {'yes' if ok else 'NO'} |", flush=True)
    return problems


def _amp(number, device, repeats, quick) -> int:
    problems = 0
    print(f"\n## {number}. Mixed-precision training steps (losses; nan = a NaN/inf loss or "
          "weight)")
    dtypes = (torch.float16, torch.bfloat16)
    if device.type != "cuda":
        print("(CPU dry run in fp32: detectron2's AMPTrainer and mmengine's AmpOptimWrapper "
              "need CUDA)")
        dtypes = (torch.float32,)
    steps, size = (2, 128 if device.type == "cpu" else 256) if quick else (5, 512)
    print("| model | dtype | losses | ok |\n|---|---|---|---|")
    for label, fn in (("Faster R-CNN R-50-FPN C3", amp_detectron2),
                      ("DeepLabv2 R-50-D8 C3", amp_mmseg)):
        for dtype in dtypes:
            try:
                losses = fn(dtype, steps, size, device)
                ok = all(torch.isfinite(torch.tensor(v)).item() for v in losses)
                shown = ", ".join(f"{v:.3f}" for v in losses)
            except Exception as exc:  # report and go on: the other checks still count
                ok, shown = False, f"{type(exc).__name__}: {exc}"[:200]
            problems += not ok
            print(f"| {label} | {str(dtype).split('.')[-1]} | {shown} | "
                  f"{'yes' if ok else 'NO'} |", flush=True)
    return problems


def _block(number, device, repeats, quick) -> int:
    print(f"\n## {number}. The block against x + y, SE and GCNet ({device.type}, median of "
          f"{repeats})")
    stages = bench_block.STAGES
    if quick:
        stages = [(b, c, h // 4, w // 4) for b, c, h, w in stages[::3]]
    bench_block.print_stage_rows(bench_block.stage_rows(device, repeats, stages), device)
    return 0


def _growth(number, device, repeats, quick) -> int:
    print(f"\n## {number}. Cost growth (eval, window 14)")
    bench_block.growth(device, repeats, quick)
    return 0


def _iterations(number, device, repeats, quick) -> int:
    print(f"\n## {number}. Training iterations (random weights)")
    bench_block.print_iterations(bench_block.iterations(device, max(1, repeats // 2), quick))
    print("\n| ResNet-50 input | fwd+bwd plain (ms) | C3 / plain |\n|---|---|---|")
    for label, plain, c3 in network_table(device, repeats, quick):
        print(f"| {label} | {plain * 1e3:.1f} | {c3 / plain:.3f} |", flush=True)
    return 0


def _messages(number, device, repeats, quick) -> int:
    print(f"\n## {number}. The message step: the block's Function against fused attention "
          f"(message_impl, fwd+bwd, median of {repeats})")
    print("| map (window) | function (ms) | sdpa (ms) | sdpa / function | max diff | ok |")
    print("|---|---|---|---|---|---|")
    problems = 0
    for label, function, sdpa, diff in message_impls(device, repeats, quick):
        ok = diff < 1e-3
        problems += not ok
        print(f"| {label} | {function * 1e3:.2f} | {sdpa * 1e3:.2f} | {sdpa / function:.2f} "
              f"| {diff:.1e} | {'yes' if ok else 'NO'} |", flush=True)
    return problems


def _compile(number, device, repeats, quick) -> int:
    # --quick, a dry run: one small map, Dynamo's graphs run as captured (no code generation).
    backend = "eager" if quick else "inductor"
    print(f"\n## {number}. torch.compile ({device.type}, backend {backend}; median of "
          f"{repeats})")
    stages = bench_block.STAGES
    if quick:
        stages = [(b, c, h // 4, w // 4) for b, c, h, w in stages[:1]]
    rows = bench_compile.block_rows(device, repeats, stages, backend=backend)
    bench_compile.print_block_rows(rows)
    bad = [r["label"] for r in rows if r["mode"] == "eval" and not r["diff"] < 1e-3]
    if bad:
        print(f"compiled block differs from eager by more than 1e-3 at {bad}")
    if not quick:  # compiling two ResNet-50s twice: minutes even on a GPU machine
        print()
        bench_compile.print_network_rows(bench_compile.network_rows(
            device, max(1, repeats // 2), bench_compile.NETWORK_SIZES))
        print()
        bench_compile.print_message_rows(bench_compile.message_rows(device, repeats))
    return len(bad)


SECTION_RUNNERS = {"agreement": _agreement, "amp": _amp, "block": _block, "growth": _growth,
                   "iterations": _iterations, "messages": _messages, "compile": _compile}


if __name__ == "__main__":
    sys.exit(main())
