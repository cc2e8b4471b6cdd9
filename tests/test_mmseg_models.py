"""MMSegmentation adapter: registry, backbone shapes, DeepLabV2Head design, plugins, the
mmcv.ops stand-in, every config builds, and config errors."""
import glob
import os

import pytest
import torch

pytest.importorskip("mmseg", reason="needs mmsegmentation (make test installs it)")

import c3_dense.mmseg  # noqa: E402,F401
from c3_dense import C3Block, SEBlock  # noqa: E402
from c3_dense.errors import UserInputError  # noqa: E402
from c3_dense.openmmlab import ops_fallback  # noqa: E402
from c3_dense.mmseg.engine import build_model, check_config, load_config  # noqa: E402
from c3_dense.openmmlab.engine import unknown_argument  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmseg.registry import DATASETS, METRICS, MODELS  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "configs", "mmseg")
DEMO = os.path.join(CONFIGS, "demo", "deeplabv2_r18-d8_demo.py")


def build(cfg):
    with DefaultScope.overwrite_default_scope("mmseg"):
        return MODELS.build(cfg)


def test_registry():
    for name in ("C3ResNetV1c", "SEResNetV1c", "C3Plugin", "SEPlugin", "DeepLabV2Head"):
        assert MODELS.get(name) is not None, name
    assert DATASETS.get("C3DemoDataset") is not None
    assert METRICS.get("PerClassIoUMetric") is not None


def test_mmseg_imports_with_or_without_compiled_ops():
    import mmseg.models  # noqa: F401  (fails with mmcv-lite unless the stand-in is active)
    import mmcv.ops
    if ops_fallback.compiled_ops_available():
        assert not getattr(mmcv.ops, "__c3_dense_fallback__", False)
    else:
        assert mmcv.ops.__c3_dense_fallback__
        with pytest.raises(ModuleNotFoundError, match="compiled ops"):
            from mmcv.ops import CrissCrossAttention  # noqa: F401
        with pytest.raises(ModuleNotFoundError):
            mmcv.ops.sigmoid_focal_loss(torch.zeros(1), torch.zeros(1))


def test_point_sample_matches_grid_sample_definition():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    # Pixel centres in [0, 1] coordinates pick the pixels themselves.
    points = torch.tensor([[[0.125, 0.125], [0.875, 0.375], [0.375, 0.875]]])
    out = ops_fallback.point_sample(x, points)
    assert out.shape == (1, 1, 3)
    torch.testing.assert_close(out[0, 0], torch.tensor([0.0, 7.0, 13.0]))
    grid = ops_fallback.point_sample(x, points[:, :, None, :].expand(1, 3, 2, 2))
    assert grid.shape == (1, 1, 3, 2)


@pytest.mark.parametrize("depth,channels", [(18, [64, 128, 256, 512]), (50, [256, 512, 1024, 2048])])
def test_c3_backbone_shapes_channels_and_identity(depth, channels):
    kw = dict(depth=depth, dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1))
    c3 = build(dict(type="C3ResNetV1c", c3_windows=(16, 8, 8), **kw))
    c3.init_weights()
    assert [n for n in ("layer1", "layer2", "layer3", "layer4") if hasattr(getattr(c3, n), "c3")] \
        == ["layer2", "layer3", "layer4"]
    x = torch.randn(2, 3, 96, 128)
    c3.eval()  # mmseg's ResNet.train() returns None, so no chaining
    outs = c3(x)
    assert [o.shape[1] for o in outs] == channels
    assert [tuple(o.shape[2:]) for o in outs] == [(24, 32), (12, 16), (12, 16), (12, 16)]
    plain = build(dict(type="ResNetV1c", **kw))
    plain.eval()
    missing = c3.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(k.split(".")[1] == "c3" for k in missing)
    with torch.no_grad():
        for a, b in zip(plain(x), c3(x)):
            assert torch.equal(a, b)


def test_c3_backbone_bad_arguments():
    with pytest.raises(ValueError, match="c3_windows has 2 entries"):
        build(dict(type="C3ResNetV1c", depth=18, c3_windows=(8, 8)))
    with pytest.raises(ValueError, match="c3_stages"):
        build(dict(type="C3ResNetV1c", depth=18, c3_stages=(4,), c3_windows=(8,)))
    with pytest.raises(ValueError, match="Bottleneck"):
        build(dict(type="SEResNetV1c", depth=18))


def test_deeplabv2_head_design():
    head = build(dict(type="DeepLabV2Head", in_channels=64, in_index=3, num_classes=7,
                      loss_decode=dict(type="CrossEntropyLoss")))
    head.init_weights()
    assert not hasattr(head, "conv_seg")
    assert len(head.aspp) == 4
    assert [b.dilation for b in head.aspp] == [(6, 6), (12, 12), (18, 18), (24, 24)]
    assert all(b.kernel_size == (3, 3) and b.in_channels == 64 and b.out_channels == 7
               for b in head.aspp)
    feats = [torch.randn(2, 8, 9, 11)] * 3 + [torch.randn(2, 64, 9, 11)]
    out = head(feats)
    assert out.shape == (2, 7, 9, 11)
    torch.testing.assert_close(out, sum(b(feats[3]) for b in head.aspp))


def test_plugins_route():
    model = build(dict(type="ResNetV1c", depth=50, plugins=[
        dict(cfg=dict(type="C3Plugin", window=8), position="after_conv3",
             stages=(False, True, True, True))]))
    n_c3 = sum(isinstance(m, C3Block) for m in model.modules())
    assert n_c3 == 4 + 6 + 3
    assert model(torch.randn(1, 3, 64, 64))[-1].shape == (1, 2048, 2, 2)
    se = build(dict(type="SEResNetV1c", depth=50))
    assert sum(isinstance(m, SEBlock) for m in se.modules()) == 16
    missing = se.load_state_dict(build(dict(type="ResNetV1c", depth=50)).state_dict(),
                                 strict=False).missing_keys
    assert missing and all(".se_plugin." in k for k in missing)


ALL_CONFIGS = sorted(glob.glob(os.path.join(CONFIGS, "**", "*.py"), recursive=True))
ALL_CONFIGS = [p for p in ALL_CONFIGS if "_base_" not in p]


def test_config_tree_is_complete():
    names = {os.path.basename(p) for p in ALL_CONFIGS}
    for depth in (50, 101):
        for tag in ("4xb4-20k_voc12aug-512x512", "4xb4-40k_voc12aug-512x512",
                    "4xb2-40k_cityscapes-512x1024", "4xb2-80k_cityscapes-512x1024"):
            for suffix in ("", "_se", "_c3"):
                assert f"deeplabv2_r{depth}-d8_{tag}{suffix}.py" in names


@pytest.mark.slow  # 40 configs, a second each
@pytest.mark.parametrize("config", ALL_CONFIGS, ids=lambda p: os.path.relpath(p, CONFIGS))
def test_every_config_builds_its_model(config):
    cfg = load_config(config)
    with DefaultScope.overwrite_default_scope("mmseg"):
        assert unknown_argument(cfg.model, MODELS) is None  # no false alarm on a real config
    assert cfg.custom_imports["imports"] == ["c3_dense.mmseg"]
    assert cfg.norm_cfg["type"] == "SyncBN"
    model = build_model(cfg, config)
    name = os.path.basename(config)
    assert (sum(isinstance(m, C3Block) for m in model.modules()) == 3) == ("_c3" in name)
    assert (sum(isinstance(m, SEBlock) for m in model.modules()) > 0) == ("_se" in name)
    depth = 101 if "r101" in name else 18 if "r18" in name else 50
    assert model.backbone.depth == depth
    expected = 21 if "voc" in name else 19 if "cityscapes" in name else 5
    assert model.decode_head.num_classes == expected
    assert isinstance(model.decode_head, MODELS.get("DeepLabV2Head"))
    assert cfg.optim_wrapper.clip_grad["max_norm"] > 0  # every variant alike


def test_config_errors(tmp_path):
    # A misspelled model argument is found by the classes' signatures, at any depth.
    cfg = load_config(DEMO, {"model.backbone.dpeth": 18})
    with pytest.raises(UserInputError, match=r"model\.backbone\.dpeth is not an argument of "
                                             r"\w*ResNetV1c; check the spelling"):
        build_model(cfg)
    cfg = load_config(DEMO, {"model.decode_head.loss_decode.use_sigmod": False})
    with pytest.raises(UserInputError, match=r"model\.decode_head\.loss_decode\.use_sigmod is "
                                             "not an argument of CrossEntropyLoss"):
        build_model(cfg)
    # A TypeError that no config key explains is not dressed up as a config error.
    cfg = load_config(DEMO, {"model.backbone.depth": "18"})
    with pytest.raises(Exception) as raised:
        build_model(cfg)
    assert not isinstance(raised.value, UserInputError) or "argument of" not in str(raised.value)
    cfg = load_config(DEMO, {"trian_dataloader": dict(batch_size=2)})
    with pytest.raises(UserInputError, match="'trian_dataloader'.*'train_dataloader'"):
        check_config(cfg, DEMO)
    cfg = load_config(DEMO, {"model.decode_head.num_classes": 21,
                             "train_dataloader.dataset.data_root": str(tmp_path)})
    with pytest.raises(UserInputError, match="num_classes is 21 .* 5 classes"):
        check_config(cfg, DEMO)
    cfg = load_config(DEMO, {"train_dataloader.dataset.data_root": str(tmp_path / "nope"),
                             "val_dataloader.dataset.data_root": str(tmp_path / "nope")})
    with pytest.raises(UserInputError, match="nope.*does not exist"):
        check_config(cfg, DEMO)
    with pytest.raises(UserInputError, match="not found"):
        load_config(str(tmp_path / "missing.py"))
    voc = os.path.join(CONFIGS, "deeplabv2", "deeplabv2_r50-d8_4xb4-20k_voc12aug-512x512.py")
    cfg = load_config(voc, {"train_dataloader.dataset.datasets.0.data_root": str(tmp_path)})
    with pytest.raises(UserInputError, match="does not exist|pretrained"):
        check_config(cfg, voc)


def test_checkpoint_allow_list_is_narrow(tmp_path):
    from mmengine.logging.history_buffer import HistoryBuffer

    buf = HistoryBuffer()
    buf.update(1.0)
    path = tmp_path / "hub.pth"
    torch.save({"state_dict": {"w": torch.ones(2)}, "hub": {"loss": buf}}, path)
    loaded = torch.load(path)  # weights_only=True, torch's default since 2.6
    assert loaded["hub"]["loss"].current() == 1.0

    class Sneaky:
        def __reduce__(self):
            return (getattr, ("abc", "upper"))

    torch.save({"x": Sneaky()}, tmp_path / "sneaky.pth")
    with pytest.raises(Exception, match="only mmengine HistoryBuffer statistics"):
        torch.load(tmp_path / "sneaky.pth")


def _plain_and_c3(tmp_path, **c3_cfg):
    kw = dict(depth=18, dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1))
    plain = build(dict(type="ResNetV1c", **kw))
    c3 = build(dict(type="C3ResNetV1c", c3_windows=(8, 4, 4), c3_cfg=c3_cfg, **kw))
    return kw, plain, c3


def test_c3_checkpoint_keeps_its_c3_weights_through_init_cfg(tmp_path):
    # The paper's protocol: a backbone trained with C3 is loaded through Pretrained; mmengine
    # runs the children's init_weights first, then the checkpoint, so C3 weights survive.
    kw, _, trained = _plain_and_c3(tmp_path, zero_init=False)
    path = tmp_path / "c3_backbone.pth"
    torch.save({"state_dict": trained.state_dict()}, path)
    fresh = build(dict(type="C3ResNetV1c", c3_windows=(8, 4, 4),
                       init_cfg=dict(type="Pretrained", checkpoint=str(path)), **kw))
    fresh.init_weights()
    for key, value in trained.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    assert fresh.layer2.c3.dec_fc2.weight.abs().sum() > 0


def test_plain_checkpoint_through_pretrained_leaves_c3_at_identity(tmp_path):
    kw, plain, _ = _plain_and_c3(tmp_path)
    path = tmp_path / "resnet18_v1c.pth"
    torch.save(plain.state_dict(), path)  # mmseg's ImageNet files: a bare state dict
    c3 = build(dict(type="C3ResNetV1c", c3_windows=(8, 4, 4), pretrained=str(path),
                    c3_cfg=dict(norm="bn"), **kw))
    c3.init_weights()
    plain.eval(), c3.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(plain(x), c3(x)):
            assert torch.equal(a, b)


def test_c3_plugin_with_bn_is_identity_at_init_inside_a_plain_resnet():
    model = build(dict(type="ResNetV1c", depth=50, plugins=[
        dict(cfg=dict(type="C3Plugin", window=4, norm="bn"), position="after_conv3",
             stages=(False, True, False, False))]))
    model.init_weights()
    plugins = [m for m in model.modules() if isinstance(m, C3Block)]
    assert plugins and all(torch.equal(p.norm.weight, torch.zeros_like(p.norm.weight))
                           for p in plugins)
    model.eval()
    x = torch.randn(1, 256, 16, 16)
    assert all(torch.equal(p(x), x) for p in plugins)


def test_c3_plugin_after_conv3_with_checkpointing_trains():
    model = build(dict(type="ResNetV1c", depth=50, with_cp=True, plugins=[
        dict(cfg=dict(type="C3Plugin", window=4), position="after_conv3",
             stages=(False, True, True, True))]))
    model.train()
    x = torch.randn(1, 3, 64, 64, requires_grad=True)
    model(x)[-1].sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("kind", ["SEResNetV1c", "C3ResNetV1c"])
def test_frozen_stages_keep_new_blocks_trainable(kind):
    cfg = dict(type=kind, depth=50, frozen_stages=2)
    if kind == "C3ResNetV1c":
        cfg.update(c3_windows=(8, 4, 4), plugins=[dict(cfg=dict(type="C3Plugin", window=4),
                                                       position="after_conv3",
                                                       stages=(True, True, False, False))])
    model = build(cfg)
    model.train()
    new = [m for m in model.modules() if isinstance(m, (C3Block, SEBlock))]
    frozen_layers = [model.layer1, model.layer2]
    in_frozen = [m for layer in frozen_layers for m in layer.modules() if m in new]
    assert in_frozen
    assert all(p.requires_grad for m in new for p in m.parameters())
    assert all(m.training for m in new)
    assert not model.layer1[0].conv1.weight.requires_grad
    assert not model.layer2[-1].conv1.weight.requires_grad
    assert not model.layer1[0].bn1.training
    # The frameworks' own contract on request: a frozen stage is frozen whole, new blocks too;
    # the new blocks of the stages that train still train.
    model = build(dict(cfg, freeze_new_blocks=True))
    model.train()
    for layer in frozen_layers:
        layer = getattr(model, "layer1" if layer is frozen_layers[0] else "layer2")
        assert not any(p.requires_grad for p in layer.parameters())
        assert not any(m.training for m in layer.modules())
    later = [m for layer in (model.layer3, model.layer4) for m in layer.modules()
             if isinstance(m, (C3Block, SEBlock))]
    assert later and all(p.requires_grad for m in later for p in m.parameters())


def test_real_config_with_pretrained_builds_twice(tmp_path):
    # tools/train_seg.py checks the model, then the Runner builds it again from the same
    # config: the first build must not leave `pretrained` in the backbone's config.
    voc = os.path.join(CONFIGS, "deeplabv2", "deeplabv2_r50-d8_4xb4-20k_voc12aug-512x512_c3.py")
    weights = tmp_path / "resnet50_v1c.pth"
    torch.save(build(dict(type="ResNetV1c", depth=50)).state_dict(), weights)
    cfg = load_config(voc, {"model.pretrained": str(weights)})
    first = build_model(cfg, voc)
    second = build_model(cfg, voc)
    assert cfg.model.backbone.get("pretrained") is None
    for model in (first, second):
        model.init_weights()
    assert torch.equal(first.backbone.layer1[0].conv1.weight, second.backbone.layer1[0].conv1.weight)


def test_demo_configs_find_the_demo_data_where_detectron2_does(monkeypatch):
    # make_demo_data writes $DETECTRON2_DATASETS/c3_demo; the mmseg demo configs read it there.
    monkeypatch.delenv("DETECTRON2_DATASETS", raising=False)
    for path in glob.glob(os.path.join(CONFIGS, "demo", "*.py")):
        assert load_config(path).train_dataloader.dataset.data_root == "datasets/c3_demo/VOC"
    monkeypatch.setenv("DETECTRON2_DATASETS", "/data/shared")
    cfg = load_config(os.path.join(CONFIGS, "demo", "deeplabv2_r18-d8_demo_c3.py"))
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        assert cfg[loader].dataset.data_root == "/data/shared/c3_demo/VOC"
