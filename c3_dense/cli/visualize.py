"""Pictures of trained models: predictions side by side, C3's effect on channels, channel
diversity, training curves. Each subcommand writes PNGs (and the numbers as JSON).

    python tools/visualize.py compare det|seg --model plain CFG W --model C3 CFG W [--images IMAGE...] --out DIR
    python tools/visualize.py channels det|seg CFG W IMAGE [--block res4] [--k 8] --out DIR
    python tools/visualize.py diversity det|seg --plain CFG W --c3 CFG W [W ...] [--images IMAGE...] --out DIR
    python tools/visualize.py curves --run LABEL RUN_DIR [--run ...] --out DIR

seg subcommands take --cfg-options k=v ... (mmseg's), e.g. the test set's data_root.

compare: ground truth | each model, one row per image (default: the first 4 test images).
channels: the top-k channel maps at one C3 block's input and output with their share of the
response (the paper's motivation figure). diversity: per C3 block, the paper's measure at the
block's input and output against the plain model at the same place (bars); with several C3
checkpoints, its course over training (curve). curves: loss and AP (a detectron2 OUTPUT_DIR)
or mIoU (an mmseg work_dir) against iteration, runs on one plot. CFG is the framework's config
(detectron2 YAML for det, mmseg .py for seg), W its weights.
"""
from __future__ import annotations

import os
import sys

from c3_dense import records
from c3_dense.errors import (CliParser, UserInputError, check_output_dir,
                             positive_int, refuse_overwriting_inputs, run_cli, summary)
from c3_dense.config_files import resolve_config


def load_model(task: str, config: str, weights: str, cfg_options=None):
    """The predictor of ``task`` for a config and its weights (checked)."""
    config = resolve_config(config)  # a file, or a shipped config's name
    print(f"loading {weights} into the model of {config} ...", flush=True)
    if task == "det":
        if cfg_options:
            raise UserInputError("--cfg-options is for mmseg configs; detectron2 finds its "
                                 "data under $DETECTRON2_DATASETS")
        from c3_dense.detectron2 import inference
        return inference.load_detector(config, weights)
    from c3_dense.mmseg import inference
    return inference.load_segmentor(config, weights, cfg_options)


def default_images(model, count: int):
    """The first ``count`` images of the model's test set."""
    files = model.test_images()
    if not files:
        raise UserInputError("the config's test set is empty; pass --images")
    return files[:count]


def images_for(args, model):
    from c3_dense.data.images import find_images
    return find_images(args.images) if args.images else default_images(model, args.count)


def write_json(out: str, name: str, data) -> str:
    return records.write_json(os.path.join(out, name), data, indent=1)


def run_compare(args) -> None:
    from c3_dense.analysis.pictures import compare

    models = [(label, load_model(args.task, cfg, w, args.cfg_options))
              for label, cfg, w in args.model]
    images = images_for(args, models[0][1])
    print(f"drawing {len(images)} image(s) through {len(models)} model(s) ...", flush=True)
    path = compare(models, images, os.path.join(args.out, f"compare_{args.task}.png"))
    print(f"wrote {path}")


def run_channels(args) -> None:
    from c3_dense.analysis.pictures import channels
    from c3_dense.data.images import find_images

    model = load_model(args.task, args.config, args.weights, args.cfg_options)
    image = find_images([args.image])[0]
    path = os.path.join(args.out, f"channels_{args.task}.png")
    result = channels(model, image, path, block=args.block, k=args.k)
    for side in ("input", "output"):
        print(f"{side:>6}: top {len(result[side]['channels'])} channels hold "
              f"{100 * result[side]['top_k_share']:.1f}% of the response")
    print(f"wrote {path} and {write_json(args.out, f'channels_{args.task}.json', result)}")


def run_diversity(args) -> None:
    from c3_dense.analysis.pictures import checkpoint_iteration, diversity_pictures

    config, *weights = args.c3
    if not weights:
        raise UserInputError("--c3 needs a config and at least one weights file")
    checkpoints = [(checkpoint_iteration(w, i), load_model(args.task, config, w, args.cfg_options))
                   for i, w in enumerate(weights)]
    plain = load_model(args.task, *args.plain, args.cfg_options) if args.plain else None
    images = images_for(args, checkpoints[-1][1])
    print(f"measuring diversity on {len(images)} image(s), {len(checkpoints)} C3 checkpoint(s)"
          f"{' and the plain model' if plain else ''} ...", flush=True)
    result = diversity_pictures(plain, checkpoints, images, args.out, method=args.method)
    final = result["c3"][str(checkpoints[-1][0])]
    print(f"{'block':<28}{'plain':>8}{'C3 in':>8}{'C3 out':>8}   (lower = more diverse)")
    for stage, v in final.items():
        plain_value = result["plain"].get(stage, {}).get("input", float("nan"))
        print(f"{stage:<28}{plain_value:8.3f}{v['input']:8.3f}{v['output']:8.3f}")
    print(f"wrote {', '.join(result['files'])} and "
          f"{write_json(args.out, f'diversity_{args.task}.json', result)}")


def run_curves(args) -> None:
    from c3_dense.analysis.figures import (read_detectron2_metrics, read_mmengine_scalars,
                                           training_curves)

    runs, kinds = {}, set()
    for label, folder in args.run:
        if os.path.isfile(os.path.join(folder, "metrics.json")):
            runs[label], metric = read_detectron2_metrics(folder), "AP"
        else:
            try:
                runs[label], metric = read_mmengine_scalars(folder), "mIoU"
            except FileNotFoundError:
                raise UserInputError(f"run {folder} has neither metrics.json (detectron2) nor "
                                     "*/vis_data/scalars.json (mmengine); pass a training "
                                     "output folder") from None
        kinds.add(metric)
        if len(kinds) > 1:
            raise UserInputError("--run folders mix detectron2 and mmseg runs; plot them "
                                 "separately")
        if not runs[label]["loss"] and not runs[label][metric]:
            raise UserInputError(f"run {folder} has logged neither a training loss nor {metric} "
                                 "yet; pass a run that has trained for a while")
    metric = kinds.pop()
    path = training_curves(runs, metric, os.path.join(args.out, f"curves_{metric}.png"))
    print(f"wrote {path}")


def planned_outputs(args) -> list:
    """The files a subcommand writes into ``--out``."""
    task = getattr(args, "task", "")
    names = {"compare": [f"compare_{task}.png"],
             "channels": [f"channels_{task}.png", f"channels_{task}.json"],
             "diversity": ["diversity_bars.png", "diversity_curve.png", f"diversity_{task}.json"],
             "curves": ["curves_AP.png", "curves_mIoU.png"]}[args.command]
    return [os.path.join(args.out, name) for name in names]


def given_files(args) -> list:
    """The files named on the command line (configs, weights, images; folders expanded)."""
    paths = [p for label, *pair in (getattr(args, "model", None) or []) for p in pair]
    paths += list(getattr(args, "plain", None) or []) + list(getattr(args, "c3", None) or [])
    paths += [getattr(args, name, None) for name in ("config", "weights", "image")]
    for item in list(getattr(args, "images", None) or []):
        paths += ([os.path.join(item, f) for f in os.listdir(item)] if os.path.isdir(item)
                  else [item])
    return [p for p in paths if p]


def main(argv=None) -> int:
    ap = CliParser(description=summary(__doc__))
    sub = ap.add_subparsers(dest="command", required=True)

    try:  # mmseg's own key=value parsing (lists, tuples, nested keys)
        from mmengine.config import DictAction
    except ImportError:  # detection-only installs
        DictAction = None

    def task_parser(name, help_text):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("task", choices=["det", "seg"])
        p.add_argument("--out", required=True, help="output folder")
        p.add_argument("--cfg-options", nargs="+", action=DictAction, metavar="KEY=VALUE",
                       help="seg: overrides of the mmseg config (e.g. the test data_root)",
                       **({} if DictAction else {"default": None}))
        return p

    p = task_parser("compare", "ground truth | models, side by side")
    p.add_argument("--model", nargs=3, action="append", required=True,
                   metavar=("LABEL", "CONFIG", "WEIGHTS"))
    p.add_argument("--images", nargs="+", help="images or folders (default: test images)")
    p.add_argument("--count", type=positive_int, default=4, help="test images by default")
    p = task_parser("channels", "top-k channel maps at a C3 block's input and output")
    p.add_argument("config")
    p.add_argument("weights")
    p.add_argument("image")
    p.add_argument("--block", help="C3 block: its stage (res3, layer2, ...) or full name")
    p.add_argument("--k", type=positive_int, default=8)
    p = task_parser("diversity", "diversity in -> out per C3 block, plain vs C3")
    p.add_argument("--plain", nargs=2, metavar=("CONFIG", "WEIGHTS"))
    p.add_argument("--c3", nargs="+", required=True, metavar="CONFIG WEIGHTS",
                   help="the C3 config, then one or more checkpoints (in training order)")
    p.add_argument("--images", nargs="+", help="images or folders (default: test images)")
    p.add_argument("--count", type=positive_int, default=16, help="test images by default")
    p.add_argument("--method", choices=["paper", "authors"], default="paper")
    p = sub.add_parser("curves", help="loss and AP / mIoU against iteration")
    p.add_argument("--run", nargs=2, action="append", required=True, metavar=("LABEL", "DIR"))
    p.add_argument("--out", required=True, help="output folder")

    def body():
        args = ap.parse_args(argv)
        check_output_dir(args.out, "--out")
        refuse_overwriting_inputs(planned_outputs(args), given_files(args))
        {"compare": run_compare, "channels": run_channels, "diversity": run_diversity,
         "curves": run_curves}[args.command](args)

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
