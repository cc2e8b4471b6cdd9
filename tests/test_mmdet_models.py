"""The mmdet adapter's first step (c3_dense.mmdet): C3 / SE ResNets on mmdet's own ResNet in
mmdet's registry, and MMDetection's own Faster R-CNN config training and predicting with them
on the mmcv.ops stand-in (mmcv-lite)."""
import os

import pytest
import torch

pytest.importorskip("mmdet", reason="needs mmdet (make test installs it)")

import c3_dense.mmdet  # noqa: E402,F401
from c3_dense import C3Block, SEBlock  # noqa: E402
from c3_dense.openmmlab import ops_fallback  # noqa: E402
from mmdet.registry import MODELS  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

register_all_modules(init_default_scope=False)
FASTER_RCNN = "faster-rcnn_r50_fpn_1x_coco.py"


def build(cfg):
    with DefaultScope.overwrite_default_scope("mmdet"):
        return MODELS.build(cfg)


def test_registry():
    for name in ("C3ResNet", "SEResNet", "C3Plugin", "SEPlugin", "ResNet"):
        assert MODELS.get(name) is not None, name


@pytest.mark.parametrize("kind", ["C3ResNet", "SEResNet"])
def test_backbones_start_as_the_plain_resnet_and_take_its_weights(kind):
    torch.manual_seed(0)
    plain = build(dict(type="ResNet", depth=50, norm_eval=False))
    new = build(dict(type=kind, depth=50, norm_eval=False))
    missing = new.load_state_dict(plain.state_dict(), strict=False)
    assert not missing.unexpected_keys and missing.missing_keys
    part = ".c3." if kind == "C3ResNet" else ".se_plugin."
    assert all(part in k for k in missing.missing_keys), missing.missing_keys[:3]
    if kind == "C3ResNet":
        assert [n for n in ("layer1", "layer2", "layer3", "layer4")
                if hasattr(getattr(new, n), "c3")] == ["layer2", "layer3", "layer4"]
    else:
        assert sum(isinstance(m, SEBlock) for m in new.modules()) == 3 + 4 + 6 + 3
    plain.eval(), new.eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        outs = [new(x), plain(x)]
    assert [o.shape[1] for o in outs[0]] == [256, 512, 1024, 2048]
    if kind == "C3ResNet":  # zero_init: the network starts as the plain one
        for a, b in zip(*outs):
            torch.testing.assert_close(a, b)


def test_new_blocks_train_in_frozen_stages_unless_asked():
    c3 = build(dict(type="C3ResNet", depth=50, frozen_stages=2))
    c3.train()
    blocks = [m for m in c3.modules() if isinstance(m, C3Block)]
    assert blocks and all(p.requires_grad for b in blocks for p in b.parameters())
    assert not any(p.requires_grad for p in getattr(c3.layer2, "0").parameters())  # its own
    frozen = build(dict(type="C3ResNet", depth=50, frozen_stages=2, freeze_new_blocks=True))
    frozen.train()
    assert not any(p.requires_grad for p in frozen.layer2.c3.parameters())
    with pytest.raises(ValueError, match="c3_windows has 2 entries for 3 c3_stages"):
        build(dict(type="C3ResNet", depth=50, c3_windows=(14, 7)))
    with pytest.raises(ValueError, match="SEResNet needs Bottleneck blocks"):
        build(dict(type="SEResNet", depth=18))


def _samples(count):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    samples = []
    for i in range(count):
        sample = DetDataSample(metainfo=dict(img_shape=(128, 160), ori_shape=(128, 160),
                                             pad_shape=(128, 160), scale_factor=(1.0, 1.0),
                                             batch_input_shape=(128, 160)))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([[10.0, 20.0, 60.0, 90.0], [70.0, 30.0, 150.0, 120.0]]),
            labels=torch.tensor([i, 5]))
        samples.append(sample)
    return samples


@pytest.mark.parametrize("backbone", ["ResNet", "C3ResNet", "SEResNet"])
def test_mmdet_s_own_faster_rcnn_trains_and_predicts_with_each_backbone(backbone):
    """MMDetection's own Faster R-CNN R-50-FPN config (from its wheel), its backbone swapped:
    RPN proposals through batched_nms, RoI features through RoIAlign (the stand-in's, with
    mmcv-lite), a loss step with gradients into the new blocks, a prediction."""
    import mmdet
    from mmengine.config import Config

    cfg = Config.fromfile(os.path.join(os.path.dirname(mmdet.__file__), ".mim", "configs",
                                       "faster_rcnn", FASTER_RCNN))
    cfg.model.backbone.type = backbone
    cfg.model.backbone.init_cfg = None  # no download: random weights
    # mmdet zeroes each block's last norm at random init, which would hide an SE's input
    # (pretrained weights do not): keep them, so every new block has a signal to learn from.
    cfg.model.backbone.zero_init_residual = False
    torch.manual_seed(0)
    model = build(cfg.model)
    model.init_weights()
    if not ops_fallback.compiled_ops_available():  # the stand-in's layer, not mmcv's
        assert all(type(layer) is ops_fallback.RoIAlign
                   for layer in model.roi_head.bbox_roi_extractor.roi_layers)
    data = model.data_preprocessor({"inputs": list(torch.rand(2, 3, 128, 160) * 255),
                                    "data_samples": _samples(2)}, True)
    model.train()
    losses = model.loss(data["inputs"], data["data_samples"])
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(x.sum() for x in v)
                for k, v in losses.items() if "loss" in k)
    assert torch.isfinite(total) and {"loss_rpn_cls", "loss_cls", "loss_bbox"} <= set(losses)
    total.backward()
    new = [m for m in model.backbone.modules() if isinstance(m, (C3Block, SEBlock))]
    assert bool(new) == (backbone != "ResNet")
    for block in new:  # the new blocks learn (C3: its zero-initialised last layer)
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in block.parameters()), \
            [(n, None if p.grad is None else float(p.grad.abs().sum())) for n, p in block.named_parameters()]
    model.eval()
    with torch.no_grad():
        results = model.predict(data["inputs"], data["data_samples"])
    assert len(results) == 2 and results[0].pred_instances.bboxes.shape[-1] == 4
    assert len(results[0].pred_instances) <= cfg.model.test_cfg.rcnn.max_per_img


def test_without_mmdet_the_adapter_names_the_command_that_installs_it():
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-c", "import sys; sys.modules['mmdet'] = None; "
                             "import c3_dense.mmdet"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode != 0
    assert f"install it with: {sys.executable} -m c3_dense setup --only mmdet" in result.stderr


@pytest.mark.parametrize("name", [n for n in __import__("c3_dense.model_zoo", fromlist=["x"])
                                  .list_configs("mmdet")])
def test_every_shipped_mmdet_config_builds_the_network_it_names(name):
    """Each shipped mmdet config (mmdet's own base configs through ``mmdet::``): its detector
    builds with the backbone its name says, the classes of its data, and local ImageNet
    weights named as their source names them (no download)."""
    from c3_dense import model_zoo
    from c3_dense.mmdet.engine import build_model, load_config

    info = model_zoo.describe(name)
    cfg = load_config(model_zoo.get_config_file(name))
    model = build_model(cfg, name)
    backbone = model.backbone
    assert type(backbone).__name__ == {"plain": "ResNet", "se": "SEResNet",
                                       "c3": "C3ResNet"}[info["variant"]]
    assert backbone.depth == info["depth"]
    assert model.roi_head.bbox_head.num_classes == {"coco": 80, "voc": 20, "demo": 4}[info["data"]]
    blocks = [m for m in backbone.modules() if isinstance(m, C3Block)]
    assert len(blocks) == (3 if info["variant"] == "c3" else 0)
    init = cfg.model.backbone.init_cfg
    if info["data"] == "demo":
        assert init is None  # from scratch
    else:
        file = init["checkpoint"]
        assert init["type"] == "Pretrained" and file.startswith("weights/") and "://" not in file
        assert (("_in1k" in name) == ("in1k_mmdet" in file)), file
        assert file.endswith(f"resnet{info['depth']}-0676ba61.pth" if info["depth"] == 50
                             else f"resnet{info['depth']}-63fe2227.pth") or "_in1k" in name
