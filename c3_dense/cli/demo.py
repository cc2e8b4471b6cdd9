"""`make demo`: plain vs C3 on the embedded demo data, on this machine's CPU.

1. Writes the demo data (digits on photographs; VOC layout, COCO JSON, palette PNG labels).
2. Detection: Faster R-CNN R-18-FPN, plain and C3 side by side, trained from scratch with
   tools/train_det.py, evaluated (COCO AP), next to the untrained model.
3. Segmentation: DeepLabv2 R-18-D8 (half width), plain and C3 side by side, trained with
   tools/train_seg.py (mmseg), evaluated with tools/eval.py seg (mIoU).
4. Pictures (tools/visualize.py's library functions): predictions against the ground truth,
   the strongest channels in and out of a C3 block, channel diversity, training curves; and
   one page with all of it, output/demo/report.html.

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
import warnings

from c3_dense.config_files import configs_root
from c3_dense.records import write_json

DET_CONFIGS = os.path.join(configs_root(), "detectron2", "Demo")
SEG_CONFIGS = os.path.join(configs_root(), "mmseg", "demo")
QUICK_DET_ITERS = 6  # --quick: a smoke test of every stage (checkpoints at 3 and 6)


class Job:
    """One command of the demo: its full output goes to ``log``; progress is parsed from it."""

    def __init__(self, label: str, cmd, total: int, log: str, cwd: str):
        self.label, self.cmd, self.total, self.log, self.cwd = label, cmd, total, log, cwd
        self.iteration, self.loss, self.state, self.returncode = 0, "", "starting", None
        self.start = self.end = self.eval_start = 0.0
        self.tested = None  # (images done, images) of the evaluation under way

    def follow(self, threads: int) -> None:
        """Run to the end (in a thread of :func:`run_jobs`)."""
        os.makedirs(os.path.dirname(self.log), exist_ok=True)
        env = dict(os.environ, PYTHONWARNINGS="ignore", PYTHONUNBUFFERED="1",
                   OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        self.start = time.time()
        with open(self.log, "w") as log:
            proc = subprocess.Popen(self.cmd, cwd=self.cwd, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            for line in proc.stdout:
                log.write(line)
                # detectron2: "iter: 19 total_loss: ..." (0-based); mmengine: "Iter(train) [ 20/300]"
                # ours between detectron2's lines (by time): "progress: iteration 7/20"
                d2 = re.search(r"\biter: (\d+)\b", line)
                ours = re.search(r"progress: iteration (\d+)/", line)
                mm = re.search(r"Iter\(train\) \[\s*(\d+)/", line)
                loss = re.search(r"(?:total_loss|loss):? ([0-9.]+)", line)
                # evaluation: detectron2 "Inference done 11/40.", ours "on X, 5/40 images",
                # mmengine (ours in its form) "Iter(val) [ 5/40]" / "Iter(test) [ 5/40]"
                tested = re.search(r"(?:Inference done |, |Iter\((?:val|test)\) \[\s*)"
                                   r"(\d+)/(\d+)(?:\.| images|\])", line)
                if d2 or ours or mm:
                    done = int(d2.group(1)) + 1 if d2 else int((ours or mm).group(1))
                    self.iteration = min(done, self.total)
                    self.state = "training"
                    if loss:
                        self.loss = loss.group(1)
                elif tested:
                    if self.state != "evaluating":
                        self.state, self.eval_start = "evaluating", time.time()
                    self.tested = (int(tested.group(1)), int(tested.group(2)))
                elif "Start inference" in line or "Iter(val)" in line or "Iter(test)" in line:
                    self.state, self.eval_start, self.tested = "evaluating", time.time(), None
            proc.wait()
        self.returncode, self.end = proc.returncode, time.time()

    def status(self) -> str:
        if self.returncode is not None:
            if self.returncode == 0:
                return f"{self.label} done in {self.end - self.start:.0f}s"
            return f"{self.label} FAILED (exit {self.returncode})"
        if self.state == "training":
            left = ""
            if 0 < self.iteration < self.total:
                per_iteration = (time.time() - self.start) / self.iteration
                left = f", ~{per_iteration * (self.total - self.iteration):.0f}s left"
            return (f"{self.label} {self.iteration}/{self.total}"
                    + (f" loss {self.loss}" if self.loss else "") + left)
        if self.state == "evaluating" and self.tested:
            done, total = self.tested
            left = (time.time() - self.eval_start) / done * (total - done) if done else 0
            return f"{self.label} evaluating {done}/{total} images, ~{left:.0f}s left"
        return f"{self.label} {self.state}"


def run_jobs(jobs) -> bool:
    """Run ``jobs`` side by side (one CPU thread each when there are several: on a small
    machine two single-threaded runs finish sooner than two two-threaded runs in turn), with
    one progress line; True when all succeed."""
    import threading

    threads_each = max(1, (os.cpu_count() or 1) // len(jobs))
    workers = [threading.Thread(target=job.follow, args=(threads_each,)) for job in jobs]
    start = said = time.time()
    # One line redrawn in place on a terminal; in a log file, a plain line when the counts
    # move (at most every C3_PROGRESS_SECONDS, default 10) and every 30 s regardless.
    from c3_dense.progress import progress_seconds

    on_terminal, every, last = sys.stdout.isatty(), progress_seconds(), ""
    for w in workers:
        w.start()
    while any(w.is_alive() for w in workers):
        line = " | ".join(job.status() for job in jobs)
        if on_terminal:
            print(f"\r  {line}  [{time.time() - start:4.0f}s] ", end="", flush=True)
        elif (line != last and time.time() - said >= every) or time.time() - said >= 30:
            said, last = time.time(), line
            print(f"  {line}  [{said - start:4.0f}s]", flush=True)
        time.sleep(0.2 if every < 1 else 1)
    final = " | ".join(job.status() for job in jobs)
    print(f"\r  {final}{' ' * 30}" if on_terminal else f"  {final}", flush=True)
    ok = True
    for job in jobs:
        if job.returncode != 0:
            ok = False
            with open(job.log) as f:
                tail = f.read().splitlines()[-15:]
            print(f"  {job.label} failed, see {job.log}:\n" + "\n".join("    " + t for t in tail))
    return ok


def run_detection(quick: bool, out_root: str) -> list:
    iters = QUICK_DET_ITERS if quick else det_max_iter()
    print("\nDetection: Faster R-CNN R-18-FPN from scratch, COCO AP on the demo test set")

    def job(label, config, untrained=False):
        out = os.path.join(out_root, "output", "demo", f"det_{label.lower()}")
        # The demo retrains into its own output folders each time (--overwrite).
        cmd = [sys.executable, "-m", "c3_dense", "train_det", "--config-file",
               os.path.join(DET_CONFIGS, config), "--overwrite", "OUTPUT_DIR", out]
        if untrained:
            cmd.insert(4, "--eval-only")
            cmd += ["MODEL.WEIGHTS", ""]
        elif quick:
            cmd += ["SOLVER.MAX_ITER", str(iters), "SOLVER.STEPS", f"({iters - 1},)",
                    "SOLVER.WARMUP_ITERS", "1", "SOLVER.CHECKPOINT_PERIOD", str(iters // 2),
                    "TEST.EVAL_PERIOD", str(iters // 2)]
        return Job(f"det {label}", cmd, 1 if untrained else iters,
                   os.path.join(out, "demo_stdout.log"), out_root)

    rows = []
    for jobs in ([job("untrained", "faster_rcnn_R_18_FPN.yaml", untrained=True)],
                 [job("plain", "faster_rcnn_R_18_FPN.yaml"),
                  job("C3", "faster_rcnn_R_18_FPN_c3.yaml")]):
        if not run_jobs(jobs):
            return rows
        for j in jobs:
            with open(os.path.join(os.path.dirname(j.log), "final_metrics.json")) as f:
                rows.append((j.label.split()[-1], next(iter(json.load(f)["summary"].values()))))
    return rows


def run_segmentation(quick: bool, out_root: str) -> list:
    from c3_dense.data import demo_root

    iters = 4 if quick else seg_max_iters()
    print("\nSegmentation: DeepLabv2 R-18-D8 (half width) from scratch, mIoU on the demo test set")
    runs = (("plain", "deeplabv2_r18-d8_demo.py"), ("C3", "deeplabv2_r18-d8_demo_c3.py"))
    work = {label: os.path.join(out_root, "work_dirs", "demo", f"seg_{label.lower()}")
            for label, _ in runs}
    train, evaluate = [], []
    for label, config in runs:
        config = os.path.join(SEG_CONFIGS, config)
        cmd = [sys.executable, "-m", "c3_dense", "train_seg", config, "--work-dir",
               work[label], "--overwrite", "--cfg-options", *seg_data_options(demo_root())]
        if quick:
            cmd += [f"train_cfg.max_iters={iters}", f"train_cfg.val_interval={iters // 2}",
                    f"default_hooks.checkpoint.interval={iters // 2}",
                    "default_hooks.logger.interval=1", f"param_scheduler.0.end={iters}"]
        train.append(Job(f"seg {label}", cmd, iters, os.path.join(work[label], "demo_stdout.log"),
                         out_root))
        cmd = [sys.executable, "-m", "c3_dense", "eval", "seg", config,
               os.path.join(work[label], f"iter_{iters}.pth"), "--work-dir", work[label],
               "--out", os.path.join(work[label], "eval_metrics.json"),
               "--cfg-options", *seg_data_options(demo_root())]
        evaluate.append(Job(f"seg {label} eval", cmd, 1, os.path.join(work[label], "demo_eval.log"),
                            out_root))
    if not (run_jobs(train) and run_jobs(evaluate)):
        return []
    rows = []
    for label, _ in runs:
        with open(os.path.join(work[label], "eval_metrics.json")) as f:
            rows.append((label, json.load(f)["metrics"]))
    return rows


def det_max_iter() -> int:
    from c3_dense.detectron2.engine import setup_cfg
    return int(setup_cfg(os.path.join(DET_CONFIGS, "faster_rcnn_R_18_FPN.yaml")).SOLVER.MAX_ITER)


def seg_max_iters() -> int:
    from c3_dense.mmseg.engine import load_config
    return int(load_config(os.path.join(SEG_CONFIGS, "deeplabv2_r18-d8_demo.py")).train_cfg.max_iters)


def seg_data_options(data_root: str) -> list:
    """The data live where make_demo_dataset put them ($DETECTRON2_DATASETS/c3_demo)."""
    return [f"{split}_dataloader.dataset.data_root={os.path.join(data_root, 'VOC')}"
            for split in ("train", "val", "test")]


def number(value, width: int = 0) -> str:
    """A metric with one decimal; "n/a" where it is not defined (null in our JSON)."""
    return f"{value:{width}.1f}" if isinstance(value, (int, float)) else f"{'n/a':>{width}}"


def print_table(rows, keys) -> None:
    if rows:
        print(f"\n  {'model':<10} " + " ".join(f"{k:>6}" for k in keys))
        for label, metrics in rows:
            print(f"  {label:<10} " + " ".join(number(metrics.get(k), 6) for k in keys))


def _checkpoints(folder: str, pattern: str) -> list:
    """(iteration, path) of the run's numbered checkpoints, in training order."""
    import glob

    from c3_dense.analysis.pictures import checkpoint_iteration
    return sorted((checkpoint_iteration(p, -1), p) for p in glob.glob(os.path.join(folder, pattern)))


def make_pictures(out_root: str, det: bool, seg: bool, det_iters: int) -> list:
    """The demo's pictures (tools/visualize.py's library functions, in this process):
    returns report sections as (heading, [(relative path, caption)])."""
    from c3_dense.analysis import pictures
    from c3_dense.analysis.figures import (read_detectron2_metrics, read_mmengine_scalars,
                                           training_curves)

    page_dir = os.path.join(out_root, "output", "demo")
    pics = os.path.join(page_dir, "pictures")
    os.makedirs(pics, exist_ok=True)
    sections = []

    def rel(path):
        return os.path.relpath(path, page_dir)

    def section(task, heading, load, plain_cfg, plain_w, c3_cfg, c3_ws, curves, metric):
        """c3_ws: (iteration, checkpoint) of the C3 run in training order, the final last."""
        start = time.time()

        def step(number, what):  # each step names itself; the long one counts its models
            print(f"  pictures {task}: step {number}/5, {what} "
                  f"[{time.time() - start:.0f}s]", flush=True)

        step(1, f"loading the plain model and {len(c3_ws)} C3 checkpoints")
        plain = load(plain_cfg, plain_w)
        checkpoints = [(it, load(c3_cfg, w)) for it, w in c3_ws]
        c3 = checkpoints[-1][1]
        tests = c3.test_images()
        step(2, "test images: ground truth, plain, C3 (4 images)")
        compare = pictures.compare([("plain", plain), ("C3", c3)], tests[:4],
                                   os.path.join(pics, f"compare_{task}.png"))
        block = pictures.pick_block(c3.network, None)
        step(3, "the strongest channels around a C3 block (1 image)")
        channels = pictures.channels(c3, tests[1], os.path.join(pics, f"channels_{task}.png"))
        step(4, f"channel diversity: plain and {len(checkpoints)} C3 checkpoints")
        diversity = pictures.diversity_pictures(
            plain, checkpoints, tests[:16], pics, prefix=f"{task}_",
            progress=lambda line: print(f"  pictures {task}: {line}", flush=True))
        write_json(os.path.join(pics, f"diversity_{task}.json"), diversity, indent=1)
        step(5, "training curves")
        curve = training_curves(curves, metric, os.path.join(pics, f"curves_{task}.png"))
        top = channels["input"]["top_k_share"], channels["output"]["top_k_share"]
        items = [(rel(compare), "Test images: ground truth | plain | C3 (first four test images)"),
                 (rel(curve), f"Training loss and test {metric} against iteration"),
                 (rel(os.path.join(pics, f"channels_{task}.png")),
                  f"The {len(channels['input']['channels'])} strongest channels at the input "
                  f"(top) and output (bottom) of the C3 block {pictures.short_name(pictures.stage_of(block))}; "
                  f"their share of the response: {100 * top[0]:.0f}% in, {100 * top[1]:.0f}% out"),
                 (rel(os.path.join(pics, f"{task}_diversity_bars.png")),
                  "Channel diversity (mean |correlation|, lower = more diverse) per C3 block: "
                  "plain at the same place, C3 block input and output (16 test images)")]
        if os.path.isfile(os.path.join(pics, f"{task}_diversity_curve.png")):
            items.append((rel(os.path.join(pics, f"{task}_diversity_curve.png")),
                          "The same over the C3 run's checkpoints"))
        sections.append((heading, items))
        print(f"  pictures {task:<5} done in {time.time() - start:.0f}s")

    if det:
        from c3_dense.detectron2.inference import load_detector
        runs = os.path.join(out_root, "output", "demo")
        # detectron2 saves model_<iter-1> every CHECKPOINT_PERIOD and model_final at the end
        # (the same weights when the period divides MAX_ITER).
        c3_ws = [(it, p) for it, p in _checkpoints(os.path.join(runs, "det_c3"), "model_[0-9]*.pth")
                 if it < det_iters]
        section("det", "Detection", load_detector,
                os.path.join(DET_CONFIGS, "faster_rcnn_R_18_FPN.yaml"),
                os.path.join(runs, "det_plain", "model_final.pth"),
                os.path.join(DET_CONFIGS, "faster_rcnn_R_18_FPN_c3.yaml"),
                c3_ws + [(det_iters, os.path.join(runs, "det_c3", "model_final.pth"))],
                {label: read_detectron2_metrics(os.path.join(runs, f"det_{label.lower()}"))
                 for label in ("plain", "C3")}, "AP")
    if seg:
        from c3_dense.data import demo_root
        from c3_dense.mmseg.inference import load_segmentor
        options = dict(o.split("=", 1) for o in seg_data_options(demo_root()))  # k=v, as above

        def load(config, weights):
            return load_segmentor(config, weights, options)

        runs = os.path.join(out_root, "work_dirs", "demo")
        section("seg", "Segmentation", load,
                os.path.join(SEG_CONFIGS, "deeplabv2_r18-d8_demo.py"),
                _checkpoints(os.path.join(runs, "seg_plain"), "iter_*.pth")[-1][1],
                os.path.join(SEG_CONFIGS, "deeplabv2_r18-d8_demo_c3.py"),
                _checkpoints(os.path.join(runs, "seg_c3"), "iter_*.pth"),
                {label: read_mmengine_scalars(os.path.join(runs, f"seg_{label.lower()}"))
                 for label in ("plain", "C3")}, "mIoU")
    return sections


def write_report(out_root: str, det_rows: list, seg_rows: list, seg_classes: dict,
                 sections: list, minutes: float, quick: bool) -> str:
    """output/demo/report.html: the tables and pictures of this run."""
    from c3_dense.cli.demo_report import Report

    page = Report("c3_dense demo: plain vs C3 on digits-on-photographs")
    page.paragraph(
        f"Trained and evaluated on this machine's CPU in {minutes:.1f} min"
        f"{' (--quick: a few iterations, numbers meaningless)' if quick else ''}. Data: "
        "400 generated 128x128 images (320 train, 80 test), handwritten digits 0-3 pasted on "
        "photographs; both models of a task start from the same seed. Differences between "
        "plain and C3 here are within the spread between seeds (see the README); the page "
        "shows the pipelines and what the block does, not an effect size.")
    if det_rows:
        page.heading("Detection: Faster R-CNN R-18-FPN from scratch")
        page.table(["model", "AP", "AP50", "AP75"],
                   [[label] + [number(m.get(k)) for k in ("AP", "AP50", "AP75")]
                    for label, m in det_rows], caption="COCO box AP on the 80 test images")
    if seg_rows:
        page.heading("Segmentation: DeepLabv2 R-18-D8 (half width) from scratch")
        page.table(["model", "mIoU", "mAcc", "aAcc"],
                   [[label] + [number(m.get(k)) for k in ("mIoU", "mAcc", "aAcc")]
                    for label, m in seg_rows], caption="on the 80 test images")
        if seg_classes:
            labels = list(seg_classes)
            names = list(next(iter(seg_classes.values())))
            page.table(["class"] + [f"IoU {label}" for label in labels],
                       [[name] + [number(seg_classes[label][name]["IoU"]) for label in labels]
                        for name in names], caption="IoU per class")
    for heading, items in sections:
        page.heading(f"Pictures: {heading.lower()}")
        for path, caption in items:
            page.picture(path, caption)
    return page.write(os.path.join(out_root, "output", "demo", "report.html"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["det", "seg"])
    ap.add_argument("--quick", action="store_true", help="a few iterations only (smoke test)")
    ap.add_argument("--out-root", default=os.getcwd(),
                    help="where output/demo and work_dirs/demo go (default: the current "
                         "folder; `make demo` runs in the repository)")
    args = ap.parse_args(argv)
    # The frameworks' import-time warnings (pkg_resources, mmcv-lite's missing ops) are noise
    # here; the training runs below get PYTHONWARNINGS=ignore for the same reason.
    for category in (UserWarning, DeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category)
    from c3_dense.data import make_demo_dataset
    # One absolute data folder for this process and the runs it starts (they work in
    # --out-root): $DETECTRON2_DATASETS, else ./datasets of where the demo was started.
    os.environ["DETECTRON2_DATASETS"] = os.path.abspath(os.environ.get("DETECTRON2_DATASETS",
                                                                       "datasets"))
    t0 = time.time()
    data = make_demo_dataset(progress=lambda line: print(f"  {line}", flush=True))
    print(f"Demo data: {data}")
    det_rows, seg_rows, seg_classes = [], [], {}
    if args.only in (None, "det"):
        det_rows = run_detection(args.quick, args.out_root)
        print_table(det_rows, ("AP", "AP50", "AP75"))
    if args.only in (None, "seg"):
        seg_rows = run_segmentation(args.quick, args.out_root)
        print_table(seg_rows, ("mIoU", "mAcc", "aAcc"))
        for label in ("plain", "C3"):
            path = os.path.join(args.out_root, "work_dirs", "demo", f"seg_{label.lower()}",
                                "eval_metrics.json")
            if os.path.isfile(path):
                with open(path) as f:
                    seg_classes[label] = json.load(f).get("per_class") or {}
    det_ok, seg_ok = len(det_rows) == 3, len(seg_rows) == 2
    failed = (args.only != "seg" and not det_ok) or (args.only != "det" and not seg_ok)
    if failed:
        print(f"\nDemo failed after {(time.time() - t0) / 60:.1f} min (see the logs named above)")
        return 1
    print("\nPictures and report")
    det_iters = QUICK_DET_ITERS if args.quick else det_max_iter()
    sections = make_pictures(args.out_root, det_ok, seg_ok, det_iters)
    minutes = (time.time() - t0) / 60
    report = write_report(args.out_root, det_rows, seg_rows, seg_classes, sections, minutes,
                          args.quick)
    print(f"\nDemo finished in {minutes:.1f} min. Report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
