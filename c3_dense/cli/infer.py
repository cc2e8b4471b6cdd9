"""Run a trained detector or segmentor on your own images or videos: drawn predictions and raw JSON.

    python tools/infer.py det CONFIG.yaml WEIGHTS.pth IMAGE_OR_FOLDER... --out DIR [--score-thresh 0.5] [--device cuda] [--opts KEY VALUE ...]
    python tools/infer.py mmdet CONFIG.py CHECKPOINT.pth IMAGE_OR_FOLDER... --out DIR [--score-thresh 0.5] [--cfg-options k=v ...]
    python tools/infer.py seg CONFIG.py CHECKPOINT.pth IMAGE_OR_FOLDER... --out DIR [--opacity 0.6] [--device cuda] [--cfg-options k=v ...]
    python tools/infer.py det CONFIG.yaml WEIGHTS.pth --video clip.mp4 --out DIR     # (seg likewise)

Writes, per input image, DIR/<name>.png (the image with the predictions drawn by the
framework's visualizer: detectron2's Visualizer, mmdet's DetLocalVisualizer, mmseg's
SegLocalVisualizer) and one DIR/predictions.json: det and mmdet — every detection scoring at least --score-thresh (the same ones
as drawn): box (XYXY pixels), score and class; seg — the class shares, with the label map as
DIR/<name>_labels.png (class index per pixel). A video gives DIR/<name>.webm (VP9, which
browsers play as they are) with every frame
drawn (det: detectron2's VideoVisualizer, which keeps an object's colour across frames) and
its frames' predictions in the JSON. Plain, SE and C3 models alike; weights of another model
are refused. Runs on the CPU unless --device says otherwise.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys

import numpy as np

from c3_dense.errors import (CliParser, UserInputError, check_device, check_output_dir,
                             refuse_overwriting_inputs, run_cli, summary)
from c3_dense.config_files import resolve_config
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
    """The task's predictor: predict(path), predict_image(rgb), draw, draw_frame, to_json,
    describe."""
    print(f"loading {args.weights} into the model of {args.config} on {args.device} ...",
          flush=True)
    if args.task == "det":  # the package registers the backbones and the demo data
        from c3_dense.detectron2.inference import load_detector
        return load_detector(args.config, args.weights, args.opts, args.score_thresh,
                             args.device)
    if args.task == "mmdet":
        from c3_dense.mmdet.inference import load_detector as load_mmdet
        return load_mmdet(args.config, args.weights, args.cfg_options, args.score_thresh,
                          args.device)
    from c3_dense.mmseg.inference import load_segmentor
    return load_segmentor(args.config, args.weights, args.cfg_options, args.device, args.opacity)


def infer(args, model, images, names) -> list:
    from PIL import Image

    from c3_dense.data.images import read_rgb

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
        print(f"[{len(records)}/{len(images)}] {path}: {model.describe(prediction)}", flush=True)
    return records


def check_video(path: str) -> None:
    """``path`` is a video whose first frame OpenCV decodes."""
    try:
        import cv2
    except ImportError:
        raise UserInputError("--video needs OpenCV: pip install opencv-python") from None
    if not os.path.isfile(path):
        raise UserInputError(f"video {path} not found")
    capture = cv2.VideoCapture(path)
    try:
        if not (capture.isOpened() and capture.read()[0]):
            raise UserInputError(f"{path} is not a video OpenCV can read; pass an mp4/avi file")
    finally:
        capture.release()


def video_output(out: str, video: str) -> str:
    """Where the drawn frames of ``video`` go: ``out/<name>.webm``."""
    return os.path.join(out, os.path.splitext(os.path.basename(video))[0] + ".webm")


@contextlib.contextmanager
def _quiet_stderr():
    """OpenCV's FFmpeg writer prints a harmless line for WebM (a format without codec tags:
    "tag ... is not supported ... fallback") straight to the process's stderr; it is not the
    user's to read."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def video_writer(path: str, fps: float, size):
    """A VP9 WebM writer: the format browsers play without a plug-in (OpenCV's MPEG-4 'mp4v'
    does not play in Chromium)."""
    import cv2

    with _quiet_stderr():
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"VP90"), fps, size)
    if not writer.isOpened():
        raise UserInputError(f"cannot write {path}: this OpenCV has no VP9 (WebM) encoder; "
                             "pip install opencv-python-headless")
    return writer


def planned_outputs(args, names) -> list:
    """Every file this run will write (checked against its inputs before any work)."""
    out = [os.path.join(args.out, "predictions.json")]
    if args.video:
        return out + [video_output(args.out, args.video)]
    suffixes = (".png", "_labels.png") if args.task == "seg" else (".png",)
    return out + [os.path.join(args.out, name + s) for name in names for s in suffixes]


def infer_video(args, model, path: str) -> list:
    """Every frame of ``path`` through the model, drawn into ``--out/<name>.webm``; returns one
    record per frame."""
    import time

    import cv2

    capture = cv2.VideoCapture(path)
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    out_path = video_output(args.out, path)
    writer, frames, start, said = None, [], time.time(), time.time()
    try:
        while True:
            ok, frame_bgr = capture.read()
            if not ok:
                break
            frame = np.ascontiguousarray(frame_bgr[:, :, ::-1])
            prediction = model.predict_image(frame)
            drawn = model.draw_frame(frame, prediction)
            if writer is None:
                writer = video_writer(out_path, fps, (drawn.shape[1], drawn.shape[0]))
            writer.write(np.ascontiguousarray(drawn[:, :, ::-1]))
            frames.append(dict(frame=len(frames), **model.to_json(prediction)))
            if time.time() - said > 5 or len(frames) == total:
                said = time.time()
                rate = len(frames) / max(said - start, 1e-6)
                left = f", about {(total - len(frames)) / rate:.0f} s left" if total else ""
                print(f"{path}: frame {len(frames)}/{total or '?'} ({rate:.1f} frames/s{left})",
                      flush=True)
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    return [{"video": path, "drawn": os.path.basename(out_path), "fps": fps,
             "frames": frames}]


def main(argv=None) -> int:
    ap = CliParser(description=summary(__doc__))
    sub = ap.add_subparsers(dest="task", required=True)
    det = sub.add_parser("det", help="detection (detectron2 config)")
    det.add_argument("config", help="detectron2 YAML config the weights were trained with")
    det.add_argument("weights", help="checkpoint (.pth from tools/train_det.py, or .pkl)")
    det.add_argument("inputs", nargs="*", metavar="IMAGE_OR_FOLDER")
    mmdet = sub.add_parser("mmdet", help="detection (MMDetection config)")
    mmdet.add_argument("config", help="mmdet config the checkpoint was trained with")
    mmdet.add_argument("weights", help="checkpoint (.pth from tools/train_mmdet.py)")
    mmdet.add_argument("inputs", nargs="*", metavar="IMAGE_OR_FOLDER")
    for parser in (det, mmdet):
        parser.add_argument("--score-thresh", type=_unit_interval, default=0.5,
                            help="keep detections scoring at least this, in the drawings and "
                                 "the JSON alike (default 0.5)")
    det.add_argument("--opts", nargs=argparse.REMAINDER, default=[], metavar="KEY VALUE",
                     help="config overrides, last on the line")
    seg = sub.add_parser("seg", help="semantic segmentation (mmseg config)")
    seg.add_argument("config", help="mmseg config the checkpoint was trained with")
    seg.add_argument("weights", help="checkpoint (.pth from tools/train_seg.py)")
    seg.add_argument("inputs", nargs="*", metavar="IMAGE_OR_FOLDER")
    seg.add_argument("--opacity", type=_unit_interval, default=0.6,
                     help="opacity of the class colours over the image (default 0.6)")
    for parser in (det, mmdet, seg):
        parser.add_argument("--video", help="a video file: every frame drawn into "
                                            "DIR/<name>.webm")
        parser.add_argument("--out", required=True, help="output folder")
        parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    try:  # mmseg's own key=value parsing (lists, tuples, nested keys)
        from mmengine.config import DictAction
    except ImportError:  # detection-only installs
        DictAction = None
    for parser in (mmdet, seg):
        parser.add_argument("--cfg-options", nargs="+", action=DictAction, metavar="KEY=VALUE",
                            **({} if DictAction else {"default": None}))

    def body():
        args = ap.parse_args(argv)
        args.config = resolve_config(args.config)  # a file, or a shipped config's name
        from c3_dense.data.images import find_images, unique_stems
        if bool(args.inputs) == bool(args.video):
            raise UserInputError("give images (files or folders) or --video FILE, not both "
                                 "and not neither")
        # Every input checked before the model loads.
        images = find_images(args.inputs) if args.inputs else []
        if args.video:
            check_video(args.video)
        check_device(args.device)
        check_output_dir(args.out, "--out")
        names = unique_stems(images)
        refuse_overwriting_inputs(planned_outputs(args, names),
                                  images + [args.video, args.config, args.weights])
        model = load_model(args)
        path = os.path.join(args.out, "predictions.json")
        if args.video:
            videos = infer_video(args, model, args.video)
            write_json(path, {"task": args.task, "config": args.config, "weights": args.weights,
                              "videos": videos}, indent=1)
            print(f"{len(videos[0]['frames'])} frame(s) drawn in "
                  f"{os.path.join(args.out, videos[0]['drawn'])}; raw predictions in {path}")
            return
        records = infer(args, model, images, names)
        write_json(path, {"task": args.task, "config": args.config, "weights": args.weights,
                          "images": records}, indent=1)
        print(f"{len(records)} image(s) drawn in {args.out}; raw predictions in {path}")

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
