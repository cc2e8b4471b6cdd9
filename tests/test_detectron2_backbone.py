"""Detectron2 adapter: registry, shapes, identity at init, pretrained loading, configs, errors."""
import glob
import logging
import os
import pickle

import numpy as np
import pytest
import torch

pytest.importorskip("detectron2", reason="needs detectron2 (make test installs it)")

from detectron2.layers import ShapeSpec  # noqa: E402
from detectron2.modeling import (BACKBONE_REGISTRY, ROI_HEADS_REGISTRY, build_backbone,  # noqa: E402
                                 build_model)

import c3_dense.detectron2  # noqa: E402,F401
from c3_dense import C3Block, SEBlock  # noqa: E402
from c3_dense.detectron2.engine import C3Checkpointer, setup_cfg  # noqa: E402
from c3_dense.errors import UserInputError  # noqa: E402
from real_layouts import caffe2_name  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "configs", "detectron2")
DEMO = os.path.join(CONFIGS, "Demo", "faster_rcnn_R_18_FPN.yaml")


def cfg_for(config=DEMO, *opts):
    return setup_cfg(config, ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "", *opts])


def test_registry_round_trip():
    for name in ("build_c3_resnet_backbone", "build_c3_resnet_fpn_backbone",
                 "build_se_resnet_backbone", "build_se_resnet_fpn_backbone"):
        assert BACKBONE_REGISTRY.get(name).__name__ == name
    for name in ("C3Res5ROIHeads", "SERes5ROIHeads"):
        assert ROI_HEADS_REGISTRY.get(name).__name__ == name
    backbone = build_backbone(cfg_for(DEMO, "MODEL.BACKBONE.NAME", "build_c3_resnet_fpn_backbone"))
    assert sum(isinstance(m, C3Block) for m in backbone.modules()) == 3


def test_c4_and_fpn_shapes_and_strides():
    cfg = cfg_for(DEMO, "MODEL.BACKBONE.NAME", "build_c3_resnet_backbone",
                  "MODEL.RESNETS.OUT_FEATURES", "['res4']", "MODEL.C3.STAGES", "['res3','res4']",
                  "MODEL.C3.WINDOWS", "[16,8]")
    c4 = build_backbone(cfg)
    out = c4(torch.randn(2, 3, 96, 128))
    assert out["res4"].shape == (2, 256, 6, 8)
    assert c4.output_shape()["res4"] == ShapeSpec(channels=256, stride=16)
    fpn = build_backbone(cfg_for(DEMO, "MODEL.BACKBONE.NAME", "build_c3_resnet_fpn_backbone"))
    out = fpn(torch.randn(1, 3, 128, 192))
    for level, stride in zip(("p2", "p3", "p4", "p5", "p6"), (4, 8, 16, 32, 64)):
        assert out[level].shape == (1, 128, 128 // stride, 192 // stride)
        assert fpn.output_shape()[level].stride == stride
    se = build_backbone(cfg_for(DEMO, "MODEL.BACKBONE.NAME", "build_se_resnet_fpn_backbone"))
    assert sum(isinstance(m, SEBlock) for m in se.modules()) == 8
    assert se(torch.randn(1, 3, 64, 64))["p2"].shape == (1, 128, 16, 16)


@pytest.mark.parametrize("backbone", ["build_c3_resnet_fpn_backbone", "build_c3_resnet_backbone"])
def test_zero_init_c3_backbone_equals_plain_with_its_weights(backbone):
    c4 = backbone == "build_c3_resnet_backbone"
    opts = ["MODEL.RESNETS.OUT_FEATURES", "['res4']", "MODEL.C3.STAGES", "['res3','res4']",
            "MODEL.C3.WINDOWS", "[16,8]"] if c4 else []
    plain_name = "build_resnet_backbone" if c4 else "build_resnet_fpn_backbone"
    plain = build_backbone(cfg_for(DEMO, "MODEL.BACKBONE.NAME", plain_name, *opts)).eval()
    c3 = build_backbone(cfg_for(DEMO, "MODEL.BACKBONE.NAME", backbone, *opts)).eval()
    missing = c3.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(".c3." in k for k in missing)
    x = torch.randn(2, 3, 96, 128)
    with torch.no_grad():
        a, b = plain(x), c3(x)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _r50_c4_cfg(kind, *opts):
    config = os.path.join(CONFIGS, "PascalVOC07", f"faster_rcnn_R_50_C4{kind}.yaml")
    return cfg_for(config, "MODEL.RESNETS.DEPTH", "50", "MODEL.RPN.POST_NMS_TOPK_TEST", "20", *opts)


def test_c4_roi_head_runs_c3_on_pooled_rois_and_starts_as_identity():
    plain = build_model(_r50_c4_cfg("")).eval()
    c3 = build_model(_r50_c4_cfg("_c3")).eval()
    res5 = c3.roi_heads.res5
    assert isinstance(res5.c3, C3Block) and res5.c3.window == (7, 7)
    seen = []
    res5.c3.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape[1:])))
    missing = c3.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(".c3." in k for k in missing)
    images = [{"image": torch.randint(0, 255, (3, 160, 192), dtype=torch.uint8)}]
    with torch.no_grad():
        a, b = plain(images)[0]["instances"], c3(images)[0]["instances"]
    assert seen == [(1024, 14, 14)]
    assert torch.equal(a.pred_boxes.tensor, b.pred_boxes.tensor)
    assert torch.equal(a.scores, b.scores)


def test_new_blocks_train_whatever_freeze_at():
    model = build_model(cfg_for(DEMO, "MODEL.BACKBONE.NAME", "build_c3_resnet_fpn_backbone",
                                "MODEL.BACKBONE.FREEZE_AT", "5"))
    trunk = model.backbone.bottom_up
    assert not any(p.requires_grad for b in trunk.res4.stage_blocks() for p in b.parameters())
    assert type(trunk.res4[1].conv1.norm).__name__ == "FrozenBatchNorm2d"
    assert all(p.requires_grad for s in ("res3", "res4", "res5")
               for p in getattr(trunk, s).c3.parameters())
    se = build_model(cfg_for(DEMO, "MODEL.BACKBONE.NAME", "build_se_resnet_fpn_backbone",
                             "MODEL.BACKBONE.FREEZE_AT", "5"))
    block = se.backbone.bottom_up.res4[0]
    assert not block.conv1.weight.requires_grad
    assert type(block.conv2.norm).__name__ == "FrozenBatchNorm2d"  # conv2 is the last
    assert all(p.requires_grad for p in block.conv2.activation.parameters())


def _plain_trunk_as_pkl(model, path):
    """A torchvision-converted-style ImageNet checkpoint (backbone keys only, numpy)."""
    trunk = {k[len("backbone.bottom_up."):]: v.numpy() for k, v in model.state_dict().items()
             if k.startswith("backbone.bottom_up.")}
    # detectron2's converter renames torchvision's classifier to stem.fc.*
    trunk["stem.fc.weight"], trunk["stem.fc.bias"] = np.zeros((1000, 512), np.float32), np.zeros(1000, np.float32)
    with open(path, "wb") as f:
        pickle.dump({"model": trunk, "__author__": "test", "matching_heuristics": True}, f)


def test_pretrained_checkpoints_load_with_only_new_keys_missing(tmp_path, caplog):
    plain = build_model(cfg_for(DEMO))
    full = tmp_path / "plain_model.pth"
    torch.save({"model": plain.state_dict()}, full)
    trunk = tmp_path / "R-18.pkl"
    _plain_trunk_as_pkl(plain, trunk)
    for name in ("build_c3_resnet_fpn_backbone", "build_se_resnet_fpn_backbone"):
        model = build_model(cfg_for(DEMO, "MODEL.BACKBONE.NAME", name))
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            C3Checkpointer(model).load(str(full))
        missing_logs = [r for r in caplog.records if "not found in the checkpoint" in r.getMessage()]
        assert len(missing_logs) == 1
        state = model.state_dict()
        for key, value in plain.state_dict().items():
            assert torch.equal(state[key], value), key
        model2 = build_model(cfg_for(DEMO, "MODEL.BACKBONE.NAME", name))
        C3Checkpointer(model2).load(str(trunk))
        for key, value in plain.state_dict().items():
            if key.startswith("backbone.bottom_up."):
                assert torch.equal(model2.state_dict()[key], value), key


def test_weights_from_another_architecture_are_refused(tmp_path):
    r18 = build_model(cfg_for(DEMO))
    _plain_trunk_as_pkl(r18, tmp_path / "R-18.pkl")
    r34 = build_model(cfg_for(DEMO, "MODEL.RESNETS.DEPTH", "34",
                              "MODEL.BACKBONE.NAME", "build_c3_resnet_fpn_backbone"))
    with pytest.raises(UserInputError, match="do not fit"):
        C3Checkpointer(r34).load(str(tmp_path / "R-18.pkl"))
    wide = build_model(cfg_for(DEMO, "MODEL.FPN.OUT_CHANNELS", "64"))
    torch.save({"model": r18.state_dict()}, tmp_path / "m.pth")
    with pytest.raises(UserInputError, match="other shapes"):
        C3Checkpointer(wide).load(str(tmp_path / "m.pth"))
    with pytest.raises(UserInputError, match="not found"):
        C3Checkpointer(wide).load(str(tmp_path / "nope.pkl"))


def test_se_checkpoints_with_the_earlier_keys_load_renamed(tmp_path, caplog):
    # Earlier versions kept a block's SE at <block>.se.*; it is now detectron2's slot
    # <block>.conv2.activation.* (R-18) - a run trained then still loads, every tensor.
    trained = build_model(cfg_for(DEMO, "MODEL.BACKBONE.NAME", "build_se_resnet_fpn_backbone"))
    with torch.no_grad():
        for p in trained.parameters():
            p.normal_()
    earlier = {k.replace(".conv2.activation.", ".se."): v for k, v in trained.state_dict().items()}
    assert earlier.keys() != trained.state_dict().keys()
    torch.save({"model": earlier, "iteration": 9}, tmp_path / "model_final.pth")
    model = build_model(cfg_for(DEMO, "MODEL.BACKBONE.NAME", "build_se_resnet_fpn_backbone"))
    with caplog.at_level(logging.WARNING):
        C3Checkpointer(model, complete=True).load(str(tmp_path / "model_final.pth"))
    assert any("earlier keys" in r.getMessage() for r in caplog.records)
    for key, value in trained.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key


ALL_CONFIGS = sorted(p for p in glob.glob(os.path.join(CONFIGS, "**", "*.yaml"), recursive=True)
                     if not os.path.basename(p).startswith("Base-"))


def test_config_tree_is_complete():
    names = {os.path.relpath(p, CONFIGS) for p in ALL_CONFIGS}
    for folder in ("PascalVOC07", "PascalVOC0712", "COCO-1x", "COCO-3x"):
        for depth in (50, 101):
            for arch in ("C4", "FPN"):
                for suffix in ("", "_se", "_c3"):
                    assert f"{folder}/faster_rcnn_R_{depth}_{arch}{suffix}.yaml" in names


@pytest.mark.parametrize("config", ALL_CONFIGS, ids=lambda p: os.path.relpath(p, CONFIGS))
def test_every_config_builds_its_model(config):
    cfg = cfg_for(config)
    model = build_model(cfg)
    name = os.path.basename(config)
    n_c3 = sum(isinstance(m, C3Block) for m in model.modules())
    n_se = sum(isinstance(m, SEBlock) for m in model.modules())
    assert n_c3 == (3 if "_c3" in name else 0)
    assert (n_se > 0) == ("_se" in name)
    if "_c3" in name and "C4" in name:
        assert isinstance(model.roi_heads.res5.c3, C3Block)
    expected = 4 if "Demo" in config else (20 if "VOC" in config else 80)
    assert cfg.MODEL.ROI_HEADS.NUM_CLASSES == expected
    assert cfg.SOLVER.CLIP_GRADIENTS.ENABLED  # every variant alike (see Base-RCNN-*.yaml)


@pytest.mark.parametrize("opts,match", [
    (["MODEL.C3.WINDOW", "[7]"], "unknown config key MODEL.C3.WINDOW.*WINDOWS"),
    (["MODEL.C3.STAGES", "['res6','res4','res5']"], "res6"),
    (["MODEL.C3.WINDOWS", "[16, 8]"], "MODEL.C3.WINDOWS has 2 entries for 3"),
    (["MODEL.C3.SPATIAL_MODE", "crop"], "MODEL.C3.SPATIAL_MODE"),
    (["MODEL.SE.STAGES", "['res1']"], "MODEL.SE.STAGES"),
    (["SOLVER.MAX_ITER"], "overrides come in KEY VALUE pairs"),
    (["MODEL.C3", "[4]"], "override MODEL.C3 names a section.*WINDOWS"),
    (["MODEL.C3.WINDOWS.FIRST", "4"], "unknown config key MODEL.C3.WINDOWS.FIRST"),
])
def test_bad_c3_config_is_one_clear_error(opts, match):
    config = os.path.join(CONFIGS, "Demo", "faster_rcnn_R_18_FPN_c3.yaml")
    if opts[0].startswith("MODEL.SE"):
        config = os.path.join(CONFIGS, "Demo", "faster_rcnn_R_18_FPN_se.yaml")
    with pytest.raises(UserInputError, match=match):
        cfg_for(config, *opts)


def test_c4_res5_needs_the_matching_roi_head():
    with pytest.raises(UserInputError, match="MODEL.ROI_HEADS.NAME C3Res5ROIHeads"):
        _r50_c4_cfg("_c3", "MODEL.ROI_HEADS.NAME", "Res5ROIHeads")
    with pytest.raises(UserInputError, match="MODEL.ROI_HEADS.NAME SERes5ROIHeads"):
        _r50_c4_cfg("_se", "MODEL.ROI_HEADS.NAME", "Res5ROIHeads")
    # Building directly (without setup_cfg's check) refuses too.
    cfg = _r50_c4_cfg("_c3")
    cfg.defrost()
    cfg.MODEL.ROI_HEADS.NAME = "Res5ROIHeads"
    with pytest.raises(ValueError, match="C3Res5ROIHeads"):
        build_model(cfg)


def test_config_checks_leave_the_rng_alone():
    from c3_dense.detectron2.config import c3_block_kwargs
    cfg = cfg_for(os.path.join(CONFIGS, "Demo", "faster_rcnn_R_18_FPN_c3.yaml"))
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    c3_block_kwargs(cfg)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("opts", [
    ["MODEL.RESNETS.DEPTH", "18"],
    ["MODEL.RESNETS.DEPTH", "50", "MODEL.RESNETS.RES2_OUT_CHANNELS", "256"],
    ["MODEL.RESNETS.DEPTH", "50", "MODEL.RESNETS.RES2_OUT_CHANNELS", "256",
     "MODEL.RESNETS.RES5_DILATION", "2", "MODEL.RESNETS.OUT_FEATURES", "['res5']",
     "MODEL.RESNETS.STRIDE_IN_1X1", "False", "MODEL.BACKBONE.FREEZE_AT", "3"],
    ["MODEL.RESNETS.DEPTH", "50", "MODEL.RESNETS.RES2_OUT_CHANNELS", "256",
     "MODEL.RESNETS.NUM_GROUPS", "32", "MODEL.RESNETS.WIDTH_PER_GROUP", "4",
     "MODEL.RESNETS.OUT_FEATURES", "['res4']"],
])
def test_stage_builder_equals_detectron2s_own(opts):
    # Our stage-by-stage builder (for SE's block_class) against detectron2's
    # build_resnet_backbone: same modules in the same order, hence the same weights.
    from detectron2.modeling.backbone.resnet import build_resnet_backbone
    from c3_dense.detectron2 import build_se_resnet_backbone
    cfg = cfg_for(DEMO, *opts)
    cfg.defrost()
    cfg.MODEL.SE.STAGES = []
    torch.manual_seed(0)
    theirs = build_resnet_backbone(cfg, ShapeSpec(channels=3))
    torch.manual_seed(0)
    ours = build_se_resnet_backbone(cfg, ShapeSpec(channels=3))
    a, b = theirs.state_dict(), ours.state_dict()
    assert list(a) == list(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert [p.requires_grad for p in theirs.parameters()] == [p.requires_grad for p in ours.parameters()]
    x = torch.randn(1, 3, 64, 96)
    theirs.eval(), ours.eval()
    for key, value in theirs(x).items():
        assert torch.equal(value, ours(x)[key])


def test_se_res5_head_is_the_plain_head_plus_se():
    plain = build_model(_r50_c4_cfg(""))
    se = build_model(_r50_c4_cfg("_se"))
    plain_keys = {k: v.shape for k, v in plain.roi_heads.state_dict().items()}
    se_keys = {k: v.shape for k, v in se.roi_heads.state_dict().items()}
    assert {k: v for k, v in se_keys.items() if ".activation." not in k} == plain_keys
    assert sum(".conv3.activation." in k for k in se_keys) == 3 * 4  # 3 blocks x 2 FCs x w, b


@pytest.mark.parametrize("name", ["build_c3_resnet_fpn_backbone", "build_se_resnet_fpn_backbone"])
def test_backbones_pickle_whole(name, tmp_path):
    backbone = build_backbone(cfg_for(DEMO, "MODEL.BACKBONE.NAME", name)).eval()
    torch.save(backbone, tmp_path / "b.pt")
    loaded = torch.load(tmp_path / "b.pt", weights_only=False)
    x = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(loaded(x)["p3"], backbone(x)["p3"])


@pytest.mark.parametrize("backbone", ["build_c3_resnet_fpn_backbone", "build_c3_resnet_backbone"])
def test_traced_c3_backbone_runs_at_another_size(backbone):
    # detectron2's export check: trace at one size, run at another.
    import warnings
    from detectron2.export import TracingAdapter
    opts = (["MODEL.RESNETS.OUT_FEATURES", "['res4']", "MODEL.C3.STAGES", "['res3','res4']",
             "MODEL.C3.WINDOWS", "[16,8]"] if backbone == "build_c3_resnet_backbone" else [])
    model = build_backbone(cfg_for(DEMO, "MODEL.BACKBONE.NAME", backbone,
                                   "MODEL.C3.ZERO_INIT", "False", *opts)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adapter = TracingAdapter(model, torch.randn(1, 3, 64, 96))
        # check_trace re-traces and compares graph text, which differs here only in the
        # numbering of parameter reads; the outputs at another size below are the real check.
        traced = torch.jit.trace(adapter, adapter.flattened_inputs, check_trace=False)
    x = torch.randn(2, 3, 96, 160)
    expected = model(x)
    outputs = adapter.outputs_schema(traced(x))
    for key, value in expected.items():
        torch.testing.assert_close(outputs[key], value, rtol=1e-4, atol=1e-4)


def test_traced_c4_res5_head_runs_at_another_roi_count():
    import warnings
    model = build_model(_r50_c4_cfg("_c3", "MODEL.C3.ZERO_INIT", "False")).eval()
    res5 = model.roi_heads.res5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(res5, torch.randn(3, 1024, 14, 14), check_trace=False)
    x = torch.randn(7, 1024, 14, 14)
    torch.testing.assert_close(traced(x), res5(x), rtol=1e-4, atol=1e-4)


def test_msra_caffe2_named_pkl_loads_into_c3_and_se_models(tmp_path):
    # An MSRA-style ImageNet file: Caffe2 blob names, FrozenBN scale/bias only, a classifier.
    plain = build_model(_r50_c4_cfg(""))
    state = {}
    for key, value in plain.backbone.state_dict().items():
        name = caffe2_name(key)
        if name:
            state[name] = torch.randn_like(value).numpy() if "bn_" in name else value.numpy()
    state["fc1000_w"], state["fc1000_b"] = torch.randn(1000, 2048).numpy(), torch.randn(1000).numpy()
    for key, value in plain.roi_heads.res5.state_dict().items():
        name = caffe2_name("res5." + key)
        if name:
            state[name] = value.numpy()
    path = tmp_path / "R-50.pkl"
    with open(path, "wb") as f:
        pickle.dump(state, f, protocol=2)
    for kind in ("_c3", "_se"):
        model = build_model(_r50_c4_cfg(kind))
        C3Checkpointer(model).load(str(path))
        got = model.state_dict()
        assert torch.equal(got["backbone.res3.0.conv1.weight"],
                           torch.from_numpy(state["res3_0_branch2a_w"]))
        assert torch.equal(got["backbone.stem.conv1.norm.weight"],
                           torch.from_numpy(state["res_conv1_bn_s"]))
        assert torch.equal(got["roi_heads.res5.2.conv3.norm.bias"],
                           torch.from_numpy(state["res5_2_branch2c_bn_b"]))


@pytest.mark.parametrize("grouping", [False, True])
def test_iteration_batches_are_a_function_of_the_iteration(grouping):
    import itertools
    from c3_dense.detectron2.loader import IterationBatchSampler
    groups = [i % 3 == 0 for i in range(10)] if grouping else None

    def batches(start, rank=0, world=1, count=12):
        sampler = IterationBatchSampler(10, 2, seed=5, aspect_groups=groups, rank=rank,
                                        world_size=world, start_iter=start)
        return list(itertools.islice(iter(sampler), count))

    whole = batches(0)
    assert batches(4, count=8) == whole[4:]            # a restart continues the stream
    assert batches(0) == whole                          # deterministic
    other_seed = IterationBatchSampler(10, 2, seed=6, aspect_groups=groups)
    assert [i for i, _ in next(iter(other_seed))] != [i for i, _ in whole[0]]
    indices = [i for batch in whole[:5] for i, _ in batch]
    assert sorted(indices) == list(range(10)) or grouping  # one epoch without grouping
    if grouping:  # every batch is of one aspect group
        assert all(len({groups[i] for i, _ in batch}) == 1 for batch in whole)
    # Two processes share one stream: rank r takes batches r, r + 2, ...
    r0, r1 = batches(0, 0, 2, 6), batches(0, 1, 2, 6)
    assert [b for pair in zip(r0, r1) for b in pair] == whole
    assert batches(2, 1, 2, 4) == r1[2:]
    seeds = [s for batch in whole for _, s in batch]
    assert len(set(seeds)) == len(seeds)                # every sample its own seed


@pytest.mark.parametrize("name", ["build_c3_resnet_fpn_backbone", "build_se_resnet_fpn_backbone",
                                  "build_c3_resnet_backbone", "build_se_resnet_backbone"])
def test_scripted_backbones_equal_eager_at_other_sizes(name):
    # detectron2's scripting path: torch.jit.script after importing detectron2.export (which
    # makes detectron2's own ResNet scriptable); plain R-50 C4/FPN script upstream.
    import warnings
    import detectron2.export  # noqa: F401
    c4 = ["MODEL.RESNETS.OUT_FEATURES", "['res4']", "MODEL.C3.STAGES", "['res3','res4']",
          "MODEL.C3.WINDOWS", "[16,8]", "MODEL.SE.STAGES", "['res2','res3','res4']"]
    model = build_backbone(cfg_for(DEMO, "MODEL.BACKBONE.NAME", name, "MODEL.C3.ZERO_INIT",
                                   "False", *([] if "fpn" in name else c4))).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script is deprecated in torch 2.14
        scripted = torch.jit.script(model)
    for shape in [(1, 3, 64, 96), (2, 3, 96, 160)]:
        x = torch.randn(*shape)
        with torch.no_grad():
            expected, got = model(x), scripted(x)
        for key, value in expected.items():
            torch.testing.assert_close(got[key], value, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["_c3", "_se"])
def test_scripted_c4_res5_heads_equal_eager(kind):
    # (A whole C4 Faster R-CNN does not script upstream either: Res5ROIHeads without masks
    # has no mask_head. The whole-detector check is the FPN one below.)
    import warnings
    model = build_model(_r50_c4_cfg(kind, "MODEL.C3.ZERO_INIT", "False")).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res5 = torch.jit.script(model.roi_heads.res5)
    x = torch.randn(5, 1024, 14, 14)
    with torch.no_grad():
        torch.testing.assert_close(res5(x), model.roi_heads.res5(x), rtol=1e-4, atol=1e-4)


def test_whole_c3_detector_scripts_with_instances():
    # detectron2's deployment path for a whole model: scripting_with_instances.
    import warnings
    from detectron2.export import scripting_with_instances
    from detectron2.structures import Boxes
    model = build_model(cfg_for(DEMO.replace(".yaml", "_c3.yaml"), "MODEL.C3.ZERO_INIT",
                                "False", "MODEL.RPN.POST_NMS_TOPK_TEST", "20",
                                "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0")).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        detector = scripting_with_instances(model, {
            "proposal_boxes": Boxes, "objectness_logits": torch.Tensor, "pred_boxes": Boxes,
            "scores": torch.Tensor, "pred_classes": torch.Tensor})
    for size in [(64, 96), (96, 160)]:
        image = [{"image": torch.rand(3, *size) * 255}]
        with torch.no_grad():
            scripted = detector.inference(image, do_postprocess=False)[0]
            eager = model.inference(image, do_postprocess=False)[0]
        assert len(scripted) == len(eager) > 0
        torch.testing.assert_close(scripted.pred_boxes.tensor, eager.pred_boxes.tensor,
                                   rtol=1e-4, atol=1e-3)
        torch.testing.assert_close(scripted.scores, eager.scores, rtol=1e-4, atol=1e-4)
