#!/usr/bin/env python
"""`make demo`: plain vs C3 on the embedded demo data, on this machine's CPU.

1. Writes the demo data (digits on photographs; VOC layout, COCO JSON, palette PNG labels).
2. Detection: Faster R-CNN R-18-FPN, plain and C3, trained from scratch with
   tools/train_det.py, evaluated (COCO AP), next to the untrained model.
3. Segmentation: DeepLabv2 R-18, plain and C3, trained with tools/train_seg.py (mmseg),
   evaluated with tools/eval.py seg (mIoU).

    python tools/demo.py [--only det|seg] [--quick]

Full logs: output/demo/<run>/ (detectron2) and work_dirs/demo/<run>/ (mmseg), under --out-root.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

DET_CONFIGS = os.path.join(ROOT, "configs", "detectron2", "Demo")
SEG_CONFIGS = os.path.join(ROOT, "configs", "mmseg", "demo")


def stream(label: str, cmd, total: int, log_path: str) -> int:
    """Run ``cmd``, keep its full output in ``log_path`` and show one progress line."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    start = time.time()
    env = dict(os.environ, PYTHONWARNINGS="ignore", PYTHONUNBUFFERED="1")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            log.write(line)
            # detectron2: "iter: 19 total_loss: ..." (0-based); mmengine: "Iter(train) [ 20/300]"
            m = re.search(r"\biter: (\d+)\b", line)
            m2 = re.search(r"Iter\(train\) \[\s*(\d+)/", line)
            loss = re.search(r"(?:total_loss|loss): ([0-9.]+)", line)
            if m or m2:
                it = min(int(m.group(1)) + 1 if m else int(m2.group(1)), total)
                elapsed = time.time() - start
                eta = elapsed / max(it, 1) * (total - it)
                bar = "#" * int(30 * it / total)
                print(f"\r  {label:<14} [{bar:<30}] {it:>4}/{total}"
                      f"{'  loss ' + loss.group(1) if loss else ''}  "
                      f"{elapsed:4.0f}s elapsed, ~{eta:3.0f}s left ", end="", flush=True)
            elif "Start inference" in line or "Evaluating" in line or "Iter(val)" in line:
                print(f"\r  {label:<14} evaluating ...{' ' * 50}", end="", flush=True)
        proc.wait()
    status = "done" if proc.returncode == 0 else f"FAILED (exit {proc.returncode}), see {log_path}"
    print(f"\r  {label:<14} {status} in {time.time() - start:.0f}s{' ' * 50}", flush=True)
    if proc.returncode != 0:
        with open(log_path) as f:
            tail = f.read().splitlines()[-15:]
        print("\n".join("    " + t for t in tail))
    return proc.returncode


def run_detection(quick: bool, out_root: str) -> list:
    rows = []
    iters = 10 if quick else None
    runs = [("untrained", "faster_rcnn_R_18_FPN.yaml", True),
            ("plain", "faster_rcnn_R_18_FPN.yaml", False),
            ("C3", "faster_rcnn_R_18_FPN_c3.yaml", False)]
    print("\nDetection: Faster R-CNN R-18-FPN from scratch, COCO AP on the demo test set")
    for label, config, untrained in runs:
        out = os.path.join(out_root, "output", "demo", f"det_{label.lower()}")
        # The demo retrains into its own output folders each time (--overwrite).
        cmd = [sys.executable, os.path.join("tools", "train_det.py"), "--config-file",
               os.path.join(DET_CONFIGS, config), "--overwrite", "OUTPUT_DIR", out]
        if untrained:
            cmd.insert(2, "--eval-only")
            cmd += ["MODEL.WEIGHTS", ""]
        elif iters:
            cmd += ["SOLVER.MAX_ITER", str(iters), "SOLVER.STEPS", f"({iters - 1},)",
                    "SOLVER.WARMUP_ITERS", "1"]
        total = 1 if untrained else (iters or 400)
        if stream(f"det {label}", cmd, total, os.path.join(out, "demo_stdout.log")) != 0:
            return rows
        with open(os.path.join(out, "final_metrics.json")) as f:
            summary = json.load(f)["summary"]
        rows.append((label, next(iter(summary.values()))))
    return rows


def run_segmentation(quick: bool, out_root: str) -> list:
    from c3_dense.data import demo_root

    rows = []
    iters = 4 if quick else 300
    print("\nSegmentation: DeepLabv2 R-18-D8 from scratch, mIoU on the demo test set")
    for label, config in (("plain", "deeplabv2_r18-d8_demo.py"),
                          ("C3", "deeplabv2_r18-d8_demo_c3.py")):
        work = os.path.join(out_root, "work_dirs", "demo", f"seg_{label.lower()}")
        config = os.path.join(SEG_CONFIGS, config)
        # The data live where make_demo_dataset put them ($DETECTRON2_DATASETS/c3_demo).
        data = [f"{split}_dataloader.dataset.data_root={os.path.join(demo_root(), 'VOC')}"
                for split in ("train", "val", "test")]
        cmd = [sys.executable, os.path.join("tools", "train_seg.py"), config, "--work-dir", work,
               "--overwrite", "--cfg-options", *data]
        if quick:
            cmd += [f"train_cfg.max_iters={iters}", f"train_cfg.val_interval={iters}",
                    f"default_hooks.checkpoint.interval={iters}", f"param_scheduler.0.end={iters}"]
        if stream(f"seg {label}", cmd, iters, os.path.join(work, "demo_stdout.log")) != 0:
            return rows
        out = os.path.join(work, "eval_metrics.json")
        cmd = [sys.executable, os.path.join("tools", "eval.py"), "seg", config,
               os.path.join(work, f"iter_{iters}.pth"), "--work-dir", work, "--out", out,
               "--cfg-options", *data]
        if stream(f"seg {label} eval", cmd, 1, os.path.join(work, "demo_eval.log")) != 0:
            return rows
        with open(out) as f:
            rows.append((label, json.load(f)["metrics"]))
    return rows


def print_table(rows, keys) -> None:
    if rows:
        print(f"\n  {'model':<10} " + " ".join(f"{k:>6}" for k in keys))
        for label, metrics in rows:
            print(f"  {label:<10} " + " ".join(f"{metrics.get(k, float('nan')):6.1f}" for k in keys))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["det", "seg"])
    ap.add_argument("--quick", action="store_true", help="a few iterations only (smoke test)")
    ap.add_argument("--out-root", default=ROOT,
                    help="where output/demo and work_dirs/demo go (default: the repository)")
    args = ap.parse_args(argv)
    from c3_dense.data import make_demo_dataset
    t0 = time.time()
    print(f"Demo data: {make_demo_dataset()}")
    failed = False
    if args.only in (None, "det"):
        rows = run_detection(args.quick, args.out_root)
        failed |= len(rows) < 3
        print_table(rows, ("AP", "AP50", "AP75"))
    if args.only in (None, "seg"):
        rows = run_segmentation(args.quick, args.out_root)
        failed |= len(rows) < 2
        print_table(rows, ("mIoU", "mAcc", "aAcc"))
    print(f"\nDemo finished in {(time.time() - t0) / 60:.1f} min")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
