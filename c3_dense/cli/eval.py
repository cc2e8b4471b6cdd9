"""Evaluate a trained model: mAP for detection (detectron2 or MMDetection), mIoU for
segmentation (mmseg), top-1 / top-5 for classification (mmpretrain).

    python tools/eval.py det --config-file CFG --weights CKPT [KEY VALUE ...]
    python tools/eval.py det --config-file CFG --predictions coco_instances_results.json
    python tools/eval.py mmdet CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options k=v ...]
    python tools/eval.py seg CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options k=v ...]
    python tools/eval.py cls CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options k=v ...]

det prints AP, AP50, AP75 (and COCO's APs/APm/APl) per test set, mmdet the config's own
metric (CocoMetric's bbox_mAP..., whose predictions it keeps beside the metrics as
``<name>_eval.bbox.json``; VOCMetric's mAP), seg aAcc, mIoU, mAcc and the per-class table, cls
top-1 and top-5; each writes them as JSON to --out, by default beside
the file evaluated, named after it (``model_final.pth`` → ``model_final_eval.json``; with
--predictions, beside the predictions file).
"""
from __future__ import annotations

import argparse
import os
import sys

from c3_dense.errors import (CliParser, UserInputError, check_output_file,
                             refuse_overwriting_inputs, run_cli, summary)
from c3_dense.records import metrics_path


def checked_out(args, evaluated: str) -> str:
    """Where the metrics go (``--out``, else beside the evaluated file: ``model_final.pth`` →
    ``model_final_eval.json``), checked before the evaluation: a writable file that is none of
    the command's inputs."""
    out = args.out or metrics_path(evaluated)
    if not args.out and not os.path.isfile(evaluated):
        return out  # a missing checkpoint is named by the loader; no folder made for it
    check_output_file(out, "--out" if args.out else "the metrics file")
    refuse_overwriting_inputs([out], [
        getattr(args, name, None) for name in
        ("config", "config_file", "checkpoint", "weights", "predictions")] + [evaluated],
        "--out" if args.out else "the metrics file")
    return out


def run_det(args) -> None:
    import c3_dense.detectron2  # noqa: F401  (registers backbones and demo data)
    from c3_dense.detectron2.engine import (check_datasets, evaluate, load_model,
                                            rescore_predictions, setup_cfg, summarize,
                                            write_metrics)

    opts = list(args.opts)
    if args.weights:
        opts += ["MODEL.WEIGHTS", args.weights]
    if args.output_dir:
        opts += ["OUTPUT_DIR", args.output_dir]
    cfg = setup_cfg(args.config_file, opts)
    if not args.predictions and not cfg.MODEL.WEIGHTS:
        raise UserInputError("no weights: pass --weights CKPT (or --predictions FILE)")
    out = checked_out(args, args.predictions or cfg.MODEL.WEIGHTS)
    if args.predictions:
        results = rescore_predictions(cfg, args.predictions)
    else:
        check_datasets(cfg, train=False)  # the data before the device and the (slow) weights
        if cfg.MODEL.DEVICE.startswith("cuda"):
            import torch
            if not torch.cuda.is_available():
                raise UserInputError(f"MODEL.DEVICE is {cfg.MODEL.DEVICE} but this machine has "
                                     "no CUDA GPU; add `MODEL.DEVICE cpu`")
        # detectron2's evaluator logs its progress with time left every few seconds.
        from detectron2.utils.logger import setup_logger
        setup_logger(name="detectron2", abbrev_name="d2")
        print(f"evaluating {cfg.MODEL.WEIGHTS} on {', '.join(cfg.DATASETS.TEST)} ...", flush=True)
        results = evaluate(cfg, load_model(cfg))
    for name, metrics in summarize(results).items():
        print(f"{name}: " + "  ".join(f"{k} {v:.2f}" for k, v in metrics.items()))
    path = write_metrics(os.path.dirname(out) or ".", results, os.path.basename(out))
    print(f"metrics written to {path}")


def run_mmdet(args) -> None:
    from c3_dense.mmdet.engine import evaluate_checkpoint, format_det_metrics

    metrics, path = evaluate_checkpoint(args.config, args.checkpoint, work_dir=args.work_dir,
                                        cfg_options=args.cfg_options,
                                        out=checked_out(args, args.checkpoint))
    print(format_det_metrics(metrics))
    if metrics.get("predictions"):
        print(f"predictions written to {metrics['predictions']}")
    print(f"metrics written to {path}")


def run_seg(args) -> None:
    from c3_dense.mmseg.engine import evaluate_checkpoint, format_seg_metrics

    metrics, path = evaluate_checkpoint(args.config, args.checkpoint, work_dir=args.work_dir,
                                        cfg_options=args.cfg_options,
                                        out=checked_out(args, args.checkpoint))
    print(format_seg_metrics(metrics))
    print(f"metrics written to {path}")


def run_cls(args) -> None:
    from c3_dense.mmpretrain.engine import evaluate_checkpoint, format_cls_metrics

    metrics, path = evaluate_checkpoint(args.config, args.checkpoint, work_dir=args.work_dir,
                                        cfg_options=args.cfg_options,
                                        out=checked_out(args, args.checkpoint))
    print(format_cls_metrics(metrics))
    print(f"metrics written to {path}")


def main(argv=None) -> int:
    ap = CliParser(description=summary(__doc__))
    sub = ap.add_subparsers(dest="task", required=True)
    det = sub.add_parser("det", help="detection mAP (detectron2 config)")
    det.add_argument("--config-file", required=True, metavar="FILE")
    det.add_argument("--weights", help="checkpoint to evaluate (sets MODEL.WEIGHTS)")
    det.add_argument("--predictions", help="re-score a COCO-format results JSON without the model")
    det.add_argument("--output-dir", help="sets OUTPUT_DIR")
    det.add_argument("--out", help="metrics JSON path (default: beside the weights or "
                                   "predictions, <name>_eval.json)")
    det.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    try:  # mmengine's own key=value parsing (lists, tuples, nested keys)
        from mmengine.config import DictAction
    except ImportError:  # detection-only installs: seg/cls then fail with a clear message
        DictAction = None
    for task, what in (("mmdet", "detection mAP (MMDetection config)"),
                       ("seg", "segmentation mIoU (mmseg config)"),
                       ("cls", "classification top-1/top-5 (mmpretrain config)")):
        parser = sub.add_parser(task, help=what)
        parser.add_argument("config")
        parser.add_argument("checkpoint")
        parser.add_argument("--work-dir")
        parser.add_argument("--out", help="metrics JSON path (default: beside the checkpoint, "
                                          "<name>_eval.json)")
        parser.add_argument("--cfg-options", nargs="+", action=DictAction, metavar="KEY=VALUE",
                            **({} if DictAction else {"default": None}))
    def body():
        args = ap.parse_args(argv)
        if args.out:  # before a long evaluation, not after it (again with the file evaluated)
            check_output_file(args.out, "--out")
        {"det": run_det, "mmdet": run_mmdet, "seg": run_seg, "cls": run_cls}[args.task](args)

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
