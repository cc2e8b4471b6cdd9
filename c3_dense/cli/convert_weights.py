"""Turn a classification checkpoint (plain or C3 ResNet: trained with tools/train_cls.py,
torchvision's, or c3_dense.models') into a detectron2, an mmdet or an mmseg backbone checkpoint.

    python tools/convert_weights.py work_dirs/resnet101_8xb64-90e_in1k_c3/epoch_90.pth \
        weights/c3_resnet101_d2.pkl --to detectron2
    python tools/convert_weights.py work_dirs/resnet101_8xb64-90e_in1k_c3/epoch_90.pth \
        weights/c3_resnet101_mmdet.pth --to mmdet
    python tools/convert_weights.py work_dirs/resnetv1c101_8xb64-90e_in1k_c3/epoch_90.pth \
        weights/c3_resnetv1c101.pth --to mmseg

detectron2 gets a ``.pkl`` as its own torchvision converter writes (fine-tune with
``MODEL.WEIGHTS FILE MODEL.RESNETS.STRIDE_IN_1X1 False MODEL.C3.ZERO_INIT False``); mmdet and
mmseg a ``.pth`` state dict (``--cfg-options model.backbone.init_cfg.checkpoint=FILE``,
``model.pretrained=FILE``). The C3 blocks' weights are kept.
An existing output file is not overwritten without ``--overwrite``.
"""
from __future__ import annotations

import os
import pickle
import sys

from c3_dense.errors import (CliParser, UserInputError, check_output_file,
                             refuse_overwriting_inputs, run_cli, summary)


def detectron2_options(weights: str, record, c3: bool):
    """The detectron2 config keys a converted file needs (KEY, VALUE): the stride in the 3×3
    convolution, and the input and C3 form the classifier was trained with."""
    options = [("MODEL.WEIGHTS", weights), ("MODEL.RESNETS.STRIDE_IN_1X1", "False")]
    if record is not None:
        options += [("INPUT.FORMAT", "RGB" if record["rgb"] else "BGR"),
                    ("MODEL.PIXEL_MEAN", str(record["mean"]).replace(" ", "")),
                    ("MODEL.PIXEL_STD", str(record["std"]).replace(" ", ""))]
    if c3:
        options.append(("MODEL.C3.ZERO_INIT", "False"))
        from c3_dense.convert import form_of
        form = form_of(record["c3"]) if record and record.get("c3") else None
        if form:
            options.append(("MODEL.C3.FORM", form))
    return options


def check_target_config(to: str, config: str, record, source: str) -> None:
    """Refuse now what fine-tuning with ``config`` would refuse: other input, another C3 block."""
    if record is None:
        raise UserInputError(f"--config: {source} does not record its input (not an mmengine "
                             "checkpoint), so it cannot be checked against a config; leave "
                             "--config out and set the config to what the weights saw")
    if to == "detectron2":
        import c3_dense.detectron2  # noqa: F401
        from c3_dense.detectron2.engine import check_pretraining, setup_cfg
        check_pretraining(setup_cfg(config), record, source)
    else:
        from importlib import import_module

        from c3_dense.openmmlab.engine import check_pretraining
        load_config = import_module(f"c3_dense.{to}.engine").load_config
        check_pretraining(load_config(config), record, source)


def main(argv=None) -> int:
    ap = CliParser(description=summary(__doc__))
    ap.add_argument("checkpoint", help="classification checkpoint (.pth, or a .pkl of arrays)")
    ap.add_argument("out", help="output file (.pkl for detectron2, .pth for mmdet and mmseg)")
    ap.add_argument("--to", required=True, choices=["detectron2", "mmdet", "mmseg"])
    ap.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    ap.add_argument("--config", help="the fine-tuning config the weights are for: refused now "
                                     "if it feeds them other input or another C3 block")

    def body():
        args = ap.parse_args(argv)
        import torch

        from c3_dense.convert import TARGETS, backbone_state, form_of, pretraining_record
        from c3_dense.files import write_whole
        from c3_dense.weights import read_weights_file, torch_bytes

        suffix = ".pkl" if args.to == "detectron2" else ".pth"
        if not args.out.endswith(suffix):
            raise UserInputError(f"output {args.out}: {args.to} weights are written as {suffix}; "
                                 f"name the file *{suffix}")
        check_output_file(args.out, "output")
        # Before --overwrite is consulted: replacing the checkpoint it reads loses it.
        refuse_overwriting_inputs([args.out], [args.checkpoint])
        if os.path.exists(args.out) and not args.overwrite:
            raise UserInputError(f"output {args.out} exists; pass --overwrite to replace it or "
                                 "choose another name")
        if not os.path.isfile(args.checkpoint):
            raise UserInputError(f"checkpoint {args.checkpoint} not found")
        checkpoint = read_weights_file(args.checkpoint)
        record = pretraining_record(checkpoint)
        if args.config:  # before the conversion: the config the weights are meant for
            check_target_config(args.to, args.config, record, args.checkpoint)
        state = backbone_state(checkpoint, args.checkpoint)
        state = {k: torch.as_tensor(v) for k, v in state.items()}
        converted = TARGETS[args.to](state, args.checkpoint)
        c3 = sorted({k.split(".c3.")[0] for k in converted if ".c3." in k})
        if args.to == "detectron2":
            data = pickle.dumps({"model": {k: v.numpy() for k, v in converted.items()},
                                 "__author__": "c3_dense", "matching_heuristics": True,
                                 "pretraining": record})
            hint = " ".join(f"{k} {v}" for k, v in detectron2_options(args.out, record, bool(c3)))
        else:
            data = torch_bytes({"state_dict": converted, "meta": {"pretraining": record}})
            hint = "--cfg-options " + ("model.pretrained=" if args.to == "mmseg" else
                                       "model.backbone.init_cfg.checkpoint=") + args.out
        # Written whole or not at all: a full disk leaves neither a half file nor a .part.
        write_whole(args.out, data, "free space on that disk or write the output elsewhere")
        print(f"wrote {len(converted)} tensors to {args.out} (C3 blocks: "
              f"{', '.join(c3) if c3 else 'none'}); use it with {hint}")
        if record is None:
            print("its input (channel order, mean, std) is not recorded in the checkpoint "
                  "(not an mmengine one): set the fine-tuning config's to what it was trained "
                  "with")
        else:
            print(f"recorded with it: trained on {'RGB' if record['rgb'] else 'BGR'} input, mean "
                  f"{record['mean']}, std {record['std']}"
                  + (f", C3 form {form_of(record['c3']) or record['c3']}" if record["c3"] else "")
                  + "; fine-tuning configs that differ are refused (the _in1k configs match)")

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
