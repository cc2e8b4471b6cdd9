"""tools/convert_weights.py: classification checkpoints (mmpretrain's, c3_dense.models' /
torchvision's naming; plain and C3) become detectron2, mmdet and mmseg backbones that compute
the same stage features (eval mode; detectron2's FrozenBN from the BatchNorm statistics), plain, SE
and C3."""
import os
import pickle
import subprocess
import sys

import pytest
import torch

pytestmark = pytest.mark.slow  # command lines end to end: make test-fast leaves these out
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(args):
    return subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, PYTHONWARNINGS="ignore"))


def _randomize(model: torch.nn.Module) -> None:
    """Non-trivial BN statistics and C3 weights (zero-initialised blocks would hide errors)."""
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.3, 0.3)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
        if type(m).__name__.endswith("C3Block") or hasattr(m, "enc_fc1"):
            for p in m.parameters():
                p.data.normal_(0, 0.05)


def _convert(tmp_path, state, to, name):
    src = tmp_path / f"{name}_cls.pth"
    torch.save({"meta": {"epoch": 90}, "state_dict": state}, src)
    out = tmp_path / (f"{name}.pkl" if to == "detectron2" else f"{name}.pth")
    result = run(["tools/convert_weights.py", str(src), str(out), "--to", to])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "wrote" in result.stdout
    return out


def _detectron2_backbone(weights, variant: str):
    pytest.importorskip("detectron2", reason="needs detectron2 (make test installs it)")
    from detectron2.modeling import build_backbone

    from c3_dense.detectron2.engine import C3Checkpointer, setup_cfg

    name = {"plain": "faster_rcnn_R_50_FPN.yaml", "se": "faster_rcnn_R_50_FPN_se.yaml",
            "c3": "faster_rcnn_R_50_FPN_c3.yaml"}[variant]
    cfg = setup_cfg(os.path.join(ROOT, "configs", "detectron2", "COCO-1x", name),
                    ["MODEL.WEIGHTS", str(weights), "MODEL.DEVICE", "cpu",
                     "MODEL.RESNETS.STRIDE_IN_1X1", "False", "MODEL.C3.ZERO_INIT", "False"])
    model = torch.nn.Module()
    model.backbone = build_backbone(cfg)
    C3Checkpointer(model).load(cfg.MODEL.WEIGHTS)
    return model.backbone.bottom_up.eval()


@pytest.mark.parametrize("variant", ["plain", "se", "c3"])
def test_mmpretrain_resnet_to_detectron2_same_features(tmp_path, variant):
    pytest.importorskip("mmpretrain", reason="needs mmpretrain (make test installs it)")
    from c3_dense.mmpretrain.engine import build_model, load_config

    suffix = "" if variant == "plain" else f"_{variant}"
    config = os.path.join(ROOT, "configs", "mmpretrain", "imagenet",
                          f"resnet50_8xb64-90e_in1k{suffix}.py")
    classifier = build_model(load_config(config)).eval()
    _randomize(classifier)
    weights = _convert(tmp_path, classifier.state_dict(), "detectron2", "r50")
    data = pickle.load(open(weights, "rb"))
    assert data["__author__"] == "c3_dense" and data["matching_heuristics"] is True
    assert any(".c3." in k for k in data["model"]) == (variant == "c3")
    assert any(".conv3.activation." in k for k in data["model"]) == (variant == "se")
    bottom_up = _detectron2_backbone(weights, variant)
    classifier.backbone.out_indices = (0, 1, 2, 3)
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        expected = classifier.backbone(x)
        got = bottom_up(x)
    for i, name in enumerate(("res2", "res3", "res4", "res5")):
        torch.testing.assert_close(got[name], expected[i], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("variant", ["c3", "se"])
def test_c3_dense_model_to_detectron2_same_features(tmp_path, variant):
    # c3_dense.models' ImageNet ResNets use torchvision's names (no prefix, fc.*; SE on bn3).
    from c3_dense.models import create

    net = create(f"resnet50_{variant}").eval()
    _randomize(net)
    weights = _convert(tmp_path, net.state_dict(), "detectron2", "tv")
    bottom_up = _detectron2_backbone(weights, variant)
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        x1 = net.maxpool(net.relu(net.bn1(net.conv1(x))))
        stages = []
        for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
            x1 = layer(x1)
            stages.append(x1)
        got = bottom_up(x)
    for i, name in enumerate(("res2", "res3", "res4", "res5")):
        torch.testing.assert_close(got[name], stages[i], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("variant", ["se", "c3"])
def test_v1c_to_mmseg_same_features_and_deeplab_takes_it(tmp_path, variant):
    pytest.importorskip("mmpretrain", reason="needs mmpretrain (make test installs it)")
    pytest.importorskip("mmseg", reason="needs mmsegmentation (make test installs it)")
    from mmengine.registry import DefaultScope

    from c3_dense.mmpretrain.engine import build_model, load_config
    from c3_dense.mmseg.engine import build_model as build_seg, load_config as load_seg
    from mmseg.registry import MODELS as SEG_MODELS

    classifier = build_model(load_config(os.path.join(
        ROOT, "configs", "mmpretrain", "imagenet",
        f"resnetv1c50_8xb64-90e_in1k_{variant}.py"))).eval()
    _randomize(classifier)
    weights = _convert(tmp_path, classifier.state_dict(), "mmseg", "v1c")
    state = torch.load(weights, map_location="cpu", weights_only=True)["state_dict"]
    with DefaultScope.overwrite_default_scope("mmseg"):
        seg = SEG_MODELS.build(dict(type=f"{variant.upper()}ResNetV1c", depth=50,
                                    out_indices=(0, 1, 2, 3),
                                    norm_cfg=dict(type="BN", requires_grad=True))).eval()
    expected_keys = {k for k in seg.state_dict() if not k.endswith("num_batches_tracked")}
    assert set(state) == expected_keys
    seg.load_state_dict(state, strict=False)
    classifier.backbone.out_indices = (0, 1, 2, 3)
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        for a, b in zip(classifier.backbone(x), seg(x)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    # The DeepLabv2 C3 config's backbone (dilated, same keys) loads the file through its own
    # pretrained path, every C3 weight included.
    config = os.path.join(ROOT, "configs", "mmseg", "deeplabv2",
                          f"deeplabv2_r50-d8_4xb4-20k_voc12aug-512x512_{variant}.py")
    segmentor = build_seg(load_seg(config, {"model.pretrained": str(weights)}), config)
    segmentor.init_weights()
    loaded = segmentor.backbone.state_dict()
    block = "layer2.c3.enc_fc1.weight" if variant == "c3" else "layer3.2.se_plugin.fc1.weight"
    for key in (block, "stem.0.weight", "layer4.2.conv3.weight"):
        torch.testing.assert_close(loaded[key], state[key])


@pytest.mark.parametrize("variant", ["plain", "se", "c3"])
def test_mmpretrain_resnet_to_mmdet_same_features_and_faster_rcnn_takes_it(tmp_path, variant):
    """A 7×7-stem classifier converted --to mmdet: mmdet's backbone of that variant computes
    the classifier's stage features, and the shipped Faster R-CNN config loads the file
    through its own init_cfg, every C3/SE weight included."""
    pytest.importorskip("mmpretrain", reason="needs mmpretrain (make test installs it)")
    pytest.importorskip("mmdet", reason="needs mmdet (make test installs it)")
    from mmengine.registry import DefaultScope

    from c3_dense.mmdet.engine import build_model as build_det, load_config as load_det
    from c3_dense.mmpretrain.engine import build_model, load_config
    from mmdet.registry import MODELS as DET_MODELS

    suffix = "" if variant == "plain" else f"_{variant}"
    classifier = build_model(load_config(os.path.join(
        ROOT, "configs", "mmpretrain", "imagenet", f"resnet50_8xb64-90e_in1k{suffix}.py"))).eval()
    _randomize(classifier)
    weights = _convert(tmp_path, classifier.state_dict(), "mmdet", "r50")
    state = torch.load(weights, map_location="cpu", weights_only=True)["state_dict"]
    kind = {"plain": "ResNet", "se": "SEResNet", "c3": "C3ResNet"}[variant]
    extra = dict(c3_cfg=dict(zero_init=False)) if variant == "c3" else {}
    with DefaultScope.overwrite_default_scope("mmdet"):
        det = DET_MODELS.build(dict(type=kind, depth=50, out_indices=(0, 1, 2, 3),
                                    norm_eval=True, **extra))
    det.eval()  # (mmdet's ResNet.train returns None)
    expected_keys = {k for k in det.state_dict() if not k.endswith("num_batches_tracked")}
    assert set(state) == expected_keys
    det.load_state_dict(state, strict=False)
    classifier.backbone.out_indices = (0, 1, 2, 3)
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        for a, b in zip(classifier.backbone(x), det(x)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    config = os.path.join(ROOT, "configs", "mmdet", "faster_rcnn",
                          f"faster-rcnn_r50_fpn_1x_coco{suffix}.py")
    detector = build_det(load_det(config, {"model.backbone.init_cfg.checkpoint": str(weights)}),
                         config)
    detector.init_weights()
    loaded = detector.backbone.state_dict()
    block = {"plain": "layer1.0.conv1.weight", "se": "layer3.2.se_plugin.fc1.weight",
             "c3": "layer2.c3.enc_fc1.weight"}[variant]
    for key in (block, "conv1.weight", "layer4.2.conv3.weight"):
        torch.testing.assert_close(loaded[key], state[key])


def test_wrong_targets_and_files_are_one_line(tmp_path):
    from c3_dense.models import create

    src = tmp_path / "r18.pth"
    torch.save(create("resnet18").state_dict(), src)
    deep = tmp_path / "v1c.pth"  # a deep (ResNetV1c) stem's keys
    torch.save({"stem.0.conv.weight": torch.zeros(32, 3, 3, 3),
                "layer1.0.conv1.weight": torch.zeros(64, 64, 1, 1)}, deep)
    for args, words in (
            ([str(src), str(tmp_path / "a.pth"), "--to", "mmseg"], "7×7 stem"),
            ([str(deep), str(tmp_path / "a.pth"), "--to", "mmdet"], "deep (ResNetV1c) stem"),
            ([str(src), str(tmp_path / "a.pth"), "--to", "detectron2"], "as .pkl"),
            ([str(tmp_path / "none.pth"), str(tmp_path / "a.pkl"), "--to", "detectron2"],
             "not found")):
        result = run(["tools/convert_weights.py"] + args)
        assert result.returncode == 2, result.stderr[-2000:]
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and words in errors[0], result.stderr[-2000:]
    out = tmp_path / "r18.pkl"
    assert run(["tools/convert_weights.py", str(src), str(out), "--to", "detectron2"]
               ).returncode == 0
    again = run(["tools/convert_weights.py", str(src), str(out), "--to", "detectron2"])
    assert again.returncode == 2 and "--overwrite" in again.stderr
