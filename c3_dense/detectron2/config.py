"""``add_c3_config(cfg)``: the MODEL.C3 and MODEL.SE keys of the C3/SE backbones."""
from __future__ import annotations

from detectron2.config import CfgNode as CN

from c3_dense.core import C3OptionError, check_c3_options

STAGE_NAMES = ("res2", "res3", "res4", "res5")


def add_c3_config(cfg: CN) -> CN:
    """Add MODEL.C3.* and MODEL.SE.* (defaults: the ImageNet placement, docs/method.md) and
    MODEL.BACKBONE.COMPILE(_BACKEND)."""
    cfg.MODEL.C3 = CN()
    # C3 runs in front of these stages; in C4 models res5 is the ROI head's (C3Res5ROIHeads),
    # where C3 sees each pooled 14×14 ROI feature map, as ImageNet's layer4 input.
    cfg.MODEL.C3.STAGES = ["res3", "res4", "res5"]
    cfg.MODEL.C3.WINDOWS = [28, 14, 7]  # one per stage: int (square) or [h, w]
    # paper: the paper's figure (j != i, plain residual); authors: the authors' final code,
    # which made the paper's tables (j = i included, ReLU(x + x_bar)). INCLUDE_SELF and
    # FINAL_RELU, when set, override the form's.
    cfg.MODEL.C3.FORM = "paper"
    cfg.MODEL.C3.REDUCTION = 8
    cfg.MODEL.C3.GROUP_SIZE = 512
    cfg.MODEL.C3.GROUPING = "equal"  # equal: C // GROUP_SIZE equal groups (authors) | fixed
    cfg.MODEL.C3.SPATIAL_MODE = "resize"  # resize | tile | native
    cfg.MODEL.C3.INCLUDE_SELF = None  # None: the form's; False: j != i; True: j = i included
    cfg.MODEL.C3.NORM = "none"  # none | bn (BatchNorm1d over the window's positions)
    cfg.MODEL.C3.FINAL_RELU = None  # None: the form's
    cfg.MODEL.C3.VARIANT = "full"  # full | enc_dec | message
    # The message step's implementation (same values): auto | function | sdpa (PyTorch's
    # fused attention).
    cfg.MODEL.C3.MESSAGE_IMPL = "auto"
    # Identity at init, so ImageNet weights start the detector exactly as without C3.
    cfg.MODEL.C3.ZERO_INIT = True

    cfg.MODEL.SE = CN()
    cfg.MODEL.SE.STAGES = ["res2", "res3", "res4", "res5"]  # SE in every block of these
    cfg.MODEL.SE.REDUCTION = 16

    # torch.compile the backbone wherever a model is built from this config (training,
    # evaluation, inference); in a C4 model res5 is the ROI head's and stays eager. In place
    # (Module.compile), so checkpoint keys are the same either way. The backend: torch.compile's
    # (inductor; aot_eager to check the graph without code generation).
    cfg.MODEL.BACKBONE.COMPILE = False
    cfg.MODEL.BACKBONE.COMPILE_BACKEND = "inductor"
    return cfg


def _stages(cfg_stages, key: str):
    stages = list(cfg_stages)
    bad = [s for s in stages if s not in STAGE_NAMES]
    if bad:
        raise ValueError(f"{key} has {bad}; stages must be among {list(STAGE_NAMES)}")
    if len(set(stages)) != len(stages):
        raise ValueError(f"{key} lists a stage twice: {stages}")
    return stages


def c3_block_kwargs(cfg: CN) -> dict:
    """{stage: C3Block keyword arguments} from MODEL.C3, checked (ValueError naming the key)."""
    c3 = cfg.MODEL.C3
    stages = _stages(c3.STAGES, "MODEL.C3.STAGES")
    windows = list(c3.WINDOWS)
    if len(windows) != len(stages):
        raise ValueError(f"MODEL.C3.WINDOWS has {len(windows)} entries for {len(stages)} "
                         f"MODEL.C3.STAGES {stages}; give one window per stage")
    common = dict(form=c3.FORM, mode=c3.SPATIAL_MODE, reduction=c3.REDUCTION,
                  group_size=c3.GROUP_SIZE,
                  grouping=c3.GROUPING,
                  include_self=c3.INCLUDE_SELF, norm=c3.NORM, final_relu=c3.FINAL_RELU,
                  variant=c3.VARIANT, zero_init=c3.ZERO_INIT, message_impl=c3.MESSAGE_IMPL)
    keys = dict(form="FORM", mode="SPATIAL_MODE", reduction="REDUCTION", group_size="GROUP_SIZE",
                grouping="GROUPING",
                include_self="INCLUDE_SELF", norm="NORM", final_relu="FINAL_RELU",
                variant="VARIANT", zero_init="ZERO_INIT", window="WINDOWS",
                message_impl="MESSAGE_IMPL")
    out = {}
    for stage, window in zip(stages, windows):
        window = tuple(window) if isinstance(window, (list, tuple)) else window
        try:
            check_c3_options(window, **common)
        except C3OptionError as exc:
            raise ValueError(f"MODEL.C3.{keys[exc.argument]}: {exc}") from None
        out[stage] = dict(window=window, **common)
    return out


def se_stages(cfg: CN):
    return _stages(cfg.MODEL.SE.STAGES, "MODEL.SE.STAGES")


_RES5_HEADS = {"c3": "C3Res5ROIHeads", "se": "SERes5ROIHeads"}


def check_c4_roi_head(cfg: CN, kind: str, stages) -> None:
    """In a C4 model res5 is the ROI head's: res5 among the ``kind`` ("c3"/"se") stages needs
    the matching ROI head (ValueError)."""
    backbone, head, roi_head = cfg.MODEL.BACKBONE.NAME, cfg.MODEL.ROI_HEADS.NAME, _RES5_HEADS[kind]
    c4 = "res5" not in cfg.MODEL.RESNETS.OUT_FEATURES and "fpn" not in backbone
    if c4 and f"build_{kind}_" in backbone and "res5" in stages and head != roi_head:
        key = f"MODEL.{kind.upper()}.STAGES"
        raise ValueError(f"{key} has res5, which a C4 model runs in its ROI head: set "
                         f"MODEL.ROI_HEADS.NAME {roi_head} (or remove res5 from {key})")


def check_c3_se_config(cfg: CN) -> None:
    """Check MODEL.C3 / MODEL.SE for the backbone and ROI head the config names (ValueError)."""
    backbone, head = cfg.MODEL.BACKBONE.NAME, cfg.MODEL.ROI_HEADS.NAME
    if "build_c3_" in backbone or head == _RES5_HEADS["c3"]:
        check_c4_roi_head(cfg, "c3", c3_block_kwargs(cfg))
    if "build_se_" in backbone or head == _RES5_HEADS["se"]:
        check_c4_roi_head(cfg, "se", se_stages(cfg))
