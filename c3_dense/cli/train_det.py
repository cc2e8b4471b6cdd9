"""Train (or evaluate) Faster R-CNN with C3/SE ResNet backbones in detectron2.

detectron2's own command line:

    python tools/train_det.py --config-file configs/detectron2/PascalVOC0712/faster_rcnn_R_50_FPN_c3.yaml
    python tools/train_det.py --config-file CFG --num-gpus 8 [--num-machines N --machine-rank R --dist-url URL]
    python tools/train_det.py --config-file CFG --resume            # continue from the last checkpoint
    python tools/train_det.py --config-file CFG --overwrite         # train again into a used OUTPUT_DIR
    python tools/train_det.py --config-file CFG --eval-only MODEL.WEIGHTS output/model_final.pth
    python tools/train_det.py --config-file CFG SOLVER.IMS_PER_BATCH 4 MODEL.C3.INCLUDE_SELF True
    python tools/train_det.py --config-file CFG MODEL.BACKBONE.COMPILE True   # torch.compile

Final metrics are written to OUTPUT_DIR/final_metrics.json.
"""
from __future__ import annotations

import sys

from c3_dense.errors import (CliParser, UserInputError, check_output_dir, resume_command,
                             run_cli)
from c3_dense.config_files import resolve_config
from c3_dense.weights import run_would_overwrite

# detectron2 and the adapter are imported inside the functions: without detectron2 the
# command says so in one line (and how to install it) instead of a traceback at import.


def check(args):
    """Config, device and data checks (UserInputError); returns the frozen config."""
    import c3_dense.detectron2  # noqa: F401  (registers the backbones and demo data)
    from c3_dense.detectron2.engine import (CHECKPOINT_NAMES, check_datasets,
                                            finished_run_files, setup_cfg)

    # A shipped config's name becomes its path here: detectron2's default_setup reads it too.
    args.config_file = resolve_config(args.config_file)
    cfg = setup_cfg(args.config_file, args.opts)
    # The data first: a user on a machine without CUDA needs to hear about missing data as
    # much as about the device, and the data are the longer fix.
    check_datasets(cfg, train=not args.eval_only)
    if cfg.MODEL.DEVICE.startswith("cuda"):
        import torch
        if not torch.cuda.is_available():
            raise UserInputError(f"MODEL.DEVICE is {cfg.MODEL.DEVICE} but this machine has no "
                                 "CUDA GPU; add `MODEL.DEVICE cpu` to the command")
    if cfg.SOLVER.AMP.ENABLED and not args.eval_only:
        import torch
        if not torch.cuda.is_available():
            raise UserInputError("SOLVER.AMP.ENABLED needs a CUDA GPU (detectron2's AMPTrainer); "
                                 "add `SOLVER.AMP.ENABLED False` on this machine")
    processes = args.num_gpus * args.num_machines
    if not args.eval_only and cfg.SOLVER.IMS_PER_BATCH % processes:
        raise UserInputError(f"SOLVER.IMS_PER_BATCH {cfg.SOLVER.IMS_PER_BATCH} does not divide "
                             f"over {processes} processes (--num-gpus x --num-machines); make "
                             "it a multiple")
    check_output_dir(cfg.OUTPUT_DIR, "OUTPUT_DIR")
    if not args.eval_only and not args.resume and run_would_overwrite(
            cfg.OUTPUT_DIR, cfg.MODEL.WEIGHTS, CHECKPOINT_NAMES):
        raise UserInputError(f"MODEL.WEIGHTS {cfg.MODEL.WEIGHTS} is a checkpoint in OUTPUT_DIR "
                             f"{cfg.OUTPUT_DIR} that this run would write over; copy it "
                             "elsewhere first, or set another OUTPUT_DIR")
    if not args.eval_only and not args.resume and not args.overwrite:
        done = finished_run_files(cfg.OUTPUT_DIR)
        if done:
            raise UserInputError(f"OUTPUT_DIR {cfg.OUTPUT_DIR} already holds a run ({done[0]}); "
                                 "pass --resume to continue it, set another OUTPUT_DIR, or "
                                 "--overwrite to train over it")
    return cfg


def setup(args):
    from detectron2.engine import default_setup

    cfg = check(args)
    default_setup(cfg, args)
    return cfg


def worker(args):
    """One process of the run (detectron2's launch starts one per GPU)."""
    from c3_dense.detectron2.engine import (Trainer, evaluate, load_model, per_dataset,
                                            write_metrics)

    cfg = setup(args)
    if args.eval_only:
        results = evaluate(cfg, load_model(cfg))
    else:
        trainer = Trainer(cfg)
        trainer.resume_or_load(resume=args.resume)
        trainer.train()
        # The final evaluation (EvalHook after the last iteration) leaves its results in
        # DefaultTrainer's _last_eval_results, which has no public accessor; reading it avoids
        # evaluating a second time.
        results = per_dataset(cfg, getattr(trainer, "_last_eval_results", None))
    path = write_metrics(cfg.OUTPUT_DIR, results, "final_metrics.json")
    print(f"final metrics written to {path}")
    return results


def parser() -> CliParser:
    """detectron2's own arguments, with bad ones reported as one error line."""
    from detectron2.engine import default_argument_parser

    ap = CliParser(parents=[default_argument_parser()], add_help=False,
                   description=__doc__.splitlines()[0])
    ap.add_argument("--overwrite", action="store_true",
                    help="train into an OUTPUT_DIR that already holds checkpoints (its "
                         "metrics.json starts anew; checkpoints are overwritten by name)")
    return ap


def main(argv=None) -> int:
    def check_then_launch():
        from detectron2.engine import launch

        from c3_dense.detectron2.engine import run_seed, start_metrics_anew

        args = parser().parse_args(argv)
        # Config and data errors surface here once, not in every spawned worker.
        cfg = check(args)
        if not args.eval_only and cfg.SEED < 0:
            # One drawn seed for all workers, kept in config.yaml: the data order of a
            # resumed run is the uninterrupted run's.
            args.opts = list(args.opts) + ["SEED", str(run_seed(cfg, args.resume))]
        if args.overwrite and not (args.eval_only or args.resume) and args.machine_rank == 0:
            if start_metrics_anew(cfg.OUTPUT_DIR):  # before any worker's writer opens it
                print(f"--overwrite: {cfg.OUTPUT_DIR}/metrics.json of the earlier run removed; "
                      "the new run's records start it anew")
        launch(worker, args.num_gpus, num_machines=args.num_machines,
               machine_rank=args.machine_rank, dist_url=args.dist_url, args=(args,))

    return run_cli(check_then_launch, resume=lambda: resume_command(argv))


if __name__ == "__main__":
    sys.exit(main())
