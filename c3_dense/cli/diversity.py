"""Channel diversity in and out of every C3 block of a model (the paper's analysis, §4).

    python tools/diversity.py --model resnet18_c3 [--weights W.pth] [--images DIR] [--method paper|authors]
    python tools/diversity.py --det-config CFG --weights output/.../model_final.pth   # a C3 detector

Images: a folder of JPEG/PNG files (default: the demo data's test images, made if missing),
resized to --size. Prints, per C3 block, the mean diversity of its input and output (lower =
more diverse) and writes them as JSON with --out.
"""
from __future__ import annotations

import glob
import os
import sys

import numpy as np
import torch

from c3_dense import DiversityProbe
from c3_dense.errors import (CliParser, UserInputError, check_output_file,
                             positive_int, refuse_overwriting_inputs, run_cli, summary)
from c3_dense.models import create, list_models
from c3_dense.records import write_json
from c3_dense.weights import check_state_dict_fits, load_torch_file

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def load_images(folder: str, size: int, limit: int):
    from PIL import Image

    files = sorted(f for ext in ("jpg", "jpeg", "png") for f in glob.glob(os.path.join(folder, f"*.{ext}")))
    if not files:
        raise UserInputError(f"no .jpg/.png images in {folder}; pass --images DIR")
    batch = []
    for path in files[:limit]:
        img = np.asarray(Image.open(path).convert("RGB").resize((size, size)), np.float32) / 255
        batch.append(torch.from_numpy(img.transpose(2, 0, 1)))
    return torch.stack(batch)  # RGB in [0, 1]


def main(argv=None) -> int:
    ap = CliParser(description=summary(__doc__))
    ap.add_argument("--model", default="resnet18_c3", help="a c3_dense.models name with _c3")
    ap.add_argument("--det-config", help="probe the backbone of a detectron2 C3 model instead")
    ap.add_argument("--weights", help="state_dict (or {'state_dict'|'model': ...}) to load")
    ap.add_argument("--images", help="folder of images (default: demo test images)")
    ap.add_argument("--size", type=positive_int, default=224)
    ap.add_argument("--limit", type=positive_int, default=32)
    ap.add_argument("--method", choices=["paper", "authors"], default="paper")
    ap.add_argument("--out", help="write the numbers as JSON here")
    return run_cli(lambda: measure(ap.parse_args(argv)))


def detector_backbone(config: str, weights: str):
    """The backbone of a trained detectron2 model and the input normalisation it expects."""
    import c3_dense.detectron2  # noqa: F401
    from c3_dense.detectron2.engine import load_model, setup_cfg

    cfg = setup_cfg(config, ["MODEL.DEVICE", "cpu"] + (["MODEL.WEIGHTS", weights] if weights else []))
    model = load_model(cfg).eval()
    mean = torch.tensor(cfg.MODEL.PIXEL_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(cfg.MODEL.PIXEL_STD).view(1, 3, 1, 1)
    bgr = cfg.INPUT.FORMAT == "BGR"
    return model.backbone, mean, std, bgr


def measure(args) -> None:
    if args.out:
        check_output_file(args.out, "--out")
        refuse_overwriting_inputs([args.out], [args.weights, args.det_config], "--out")
    if args.det_config:
        return measure_detector(args)
    if args.model not in list_models():
        raise UserInputError(f"unknown model {args.model!r}; known: {', '.join(list_models())}")
    model = create(args.model)
    if args.weights:
        if not os.path.isfile(args.weights):
            raise UserInputError(f"weights file {args.weights} not found")
        state = load_torch_file(args.weights)
        state = state.get("state_dict", state.get("model", state)) if isinstance(state, dict) else None
        if not isinstance(state, dict):
            raise UserInputError(f"weights {args.weights} hold no state_dict")
        fit = check_state_dict_fits(model, state)
        if fit:
            raise UserInputError(f"weights {args.weights} do not fit {args.model}: {fit}; use "
                                 "weights of that model")
        model.load_state_dict(state, strict=False)
    folder = args.images
    if folder is None:
        from c3_dense.data import make_demo_dataset
        folder = os.path.join(make_demo_dataset(), "VOC", "JPEGImages")
    images = load_images(folder, args.size, args.limit)
    images = (images - torch.from_numpy(MEAN).view(1, 3, 1, 1)) / torch.from_numpy(STD).view(1, 3, 1, 1)
    stats = DiversityProbe(model, method=args.method).measure(images.split(8))
    report(args, args.model, stats)


def measure_detector(args) -> None:
    backbone, mean, std, bgr = detector_backbone(args.det_config, args.weights)
    folder = args.images
    if folder is None:
        from c3_dense.data import make_demo_dataset
        folder = os.path.join(make_demo_dataset(), "VOC", "JPEGImages")
    # Pixels as detectron2 feeds them: 0-255 in the config's channel order, then normalised.
    images = load_images(folder, args.size, args.limit) * 255
    if bgr:
        images = images.flip(1)
    images = (images - mean) / std
    stats = DiversityProbe(backbone, method=args.method).measure(images.split(8))
    report(args, args.det_config, stats)


def report(args, name: str, stats) -> None:
    print(f"{'block':<16}{'input':>8}{'output':>8}   ({args.method} diversity; lower = more diverse)")
    for block, v in stats.items():
        print(f"{block:<16}{v['input']:8.3f}{v['output']:8.3f}")
    if args.out:
        write_json(args.out, {"model": name, "method": args.method, "blocks": stats})


if __name__ == "__main__":
    sys.exit(main())
