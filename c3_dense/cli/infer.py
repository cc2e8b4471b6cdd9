"""Run a trained detector or segmentor on your own images: drawn predictions and raw JSON.

    python tools/infer.py det CONFIG.yaml WEIGHTS.pth IMAGE_OR_FOLDER... --out DIR [--score-thresh 0.5] [KEY VALUE ...]
    python tools/infer.py seg CONFIG.py CHECKPOINT.pth IMAGE_OR_FOLDER... --out DIR [--cfg-options k=v ...]

Writes, per input image, DIR/<name>.png (the image with the predictions drawn by the
framework's visualizer: detectron2's Visualizer, mmseg's SegLocalVisualizer) and one
DIR/predictions.json: det — every detection's box (XYXY pixels), score and class; seg — the
class shares, with the label map as DIR/<name>_labels.png (class index per pixel). Plain, SE
and C3 models alike; weights of another model are refused. Runs on the CPU unless the config
says otherwise (det: MODEL.DEVICE cuda).
"""
from __future__ import annotations

import argparse
import os
import sys

from c3_dense.errors import CliParser, check_output_dir, run_cli, summary
from c3_dense.model_zoo import resolve_config
from c3_dense.records import write_json


def _unit_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1")
    return value


def load_model(args):
    """The task's predictor: predict(path), draw(image, prediction), to_json, describe."""
    if args.task == "det":  # the package registers the backbones and the demo data
        from c3_dense.detectron2.inference import load_detector
        return load_detector(args.config, args.weights, args.opts, args.score_thresh)
    from c3_dense.mmseg.inference import load_segmentor
    return load_segmentor(args.config, args.weights, args.cfg_options)


def infer(args, images, names) -> list:
    from PIL import Image

    from c3_dense.data.images import read_rgb

    model = load_model(args)
    records = []
    for path, name in zip(images, names):
        image = read_rgb(path)
        prediction = model.predict(path)
        Image.fromarray(model.draw(image, prediction)).save(os.path.join(args.out, f"{name}.png"))
        record = {"image": path, "height": image.shape[0], "width": image.shape[1],
                  "drawn": f"{name}.png"}
        if args.task == "seg":  # the raw label map, one class index per pixel
            Image.fromarray(prediction).save(os.path.join(args.out, f"{name}_labels.png"))
            record["labels"] = f"{name}_labels.png"
        records.append(dict(record, **model.to_json(prediction)))
        print(f"{path}: {model.describe(prediction)}")
    return records


def main(argv=None) -> int:
    ap = CliParser(description=summary(__doc__))
    sub = ap.add_subparsers(dest="task", required=True)
    det = sub.add_parser("det", help="detection (detectron2 config)")
    det.add_argument("config", help="detectron2 YAML config the weights were trained with")
    det.add_argument("weights", help="checkpoint (.pth from tools/train_det.py, or .pkl)")
    det.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER")
    det.add_argument("--out", required=True, help="output folder")
    det.add_argument("--score-thresh", type=_unit_interval, default=0.5,
                     help="draw detections scoring at least this (all go to the JSON)")
    det.add_argument("--opts", nargs=argparse.REMAINDER, default=[], metavar="KEY VALUE",
                     help="config overrides, last on the line")
    seg = sub.add_parser("seg", help="semantic segmentation (mmseg config)")
    seg.add_argument("config", help="mmseg config the checkpoint was trained with")
    seg.add_argument("weights", help="checkpoint (.pth from tools/train_seg.py)")
    seg.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER")
    seg.add_argument("--out", required=True, help="output folder")
    try:  # mmseg's own key=value parsing (lists, tuples, nested keys)
        from mmengine.config import DictAction
    except ImportError:  # detection-only installs
        DictAction = None
    seg.add_argument("--cfg-options", nargs="+", action=DictAction, metavar="KEY=VALUE",
                     **({} if DictAction else {"default": None}))

    def body():
        args = ap.parse_args(argv)
        args.config = resolve_config(args.config)  # a file, or a shipped config's name
        from c3_dense.data.images import find_images, unique_stems
        images = find_images(args.inputs)  # every input checked before the model loads
        check_output_dir(args.out, "--out")
        names = unique_stems(images)
        records = infer(args, images, names)
        path = os.path.join(args.out, "predictions.json")
        write_json(path, {"task": args.task, "config": args.config, "weights": args.weights,
                          "images": records}, indent=1)
        print(f"{len(records)} image(s) drawn in {args.out}; raw predictions in {path}")

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
