"""SE's wiring in each host framework's block: the SE sits in the host's slot after the
block's last norm (detectron2: the last Conv2d's ``activation``; mmpretrain: ``drop_path``;
torchvision, which has no slot: on the last BatchNorm) and the block's forward stays the
host's own.

The check needs no copy of any host forward: an SE whose scale is a constant s per channel
(zero first FC, bias b in the second: s = σ(b)) turns the last norm's output γ·x̂ + β into
s·γ·x̂ + s·β, so the block with SE must compute exactly what the plain host block computes
with that norm's weight and bias multiplied by s - in training and evaluation, with the
host's stochastic depth and activation checkpointing, outputs and input gradients alike."""
import copy
import importlib.util

import pytest
import torch
import torch.nn as nn


def _randomised(block):
    block.double()  # s·(γ·x̂ + β) and (s·γ)·x̂ + s·β differ only by rounding
    with torch.no_grad():
        for name, t in block.state_dict().items():
            if name.endswith("running_var"):
                t.uniform_(0.5, 1.5)
            elif t.is_floating_point():
                t.normal_(0, 0.2)
    return block


def _constant_scale(se, seed=5):
    """Make ``se`` (an SEBlock) scale channel c by a fixed s_c whatever its input; return s."""
    with torch.no_grad():
        se.fc1.weight.zero_()
        se.fc1.bias.zero_()
        se.fc2.weight.zero_()
        se.fc2.bias.copy_(torch.randn(se.channels, generator=torch.Generator().manual_seed(seed)))
        return torch.sigmoid(se.fc2.bias)


def _outputs(block, x, train, seed=3):
    block.train(train)
    torch.manual_seed(seed)  # drop_path draws
    xi = x.detach().clone().requires_grad_(True)
    out = block(xi)
    out = out[-1] if isinstance(out, tuple) else out  # OpenMMLab backbones return a tuple
    out.square().sum().backward()
    return out.detach(), xi.grad


def _same(ours, host, x, train):
    x = x.double()
    torch.testing.assert_close(_outputs(ours, x, train), _outputs(host, x, train),
                               rtol=1e-9, atol=1e-11)


def _scaled(norm, s):
    with torch.no_grad():
        norm.weight.mul_(s)
        norm.bias.mul_(s)


@pytest.mark.parametrize("kind", ["basic", "bottleneck"])
@pytest.mark.parametrize("train", [False, True])
def test_torchvision_se_rides_on_the_last_norm(kind, train):
    from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

    from c3_dense.models.imagenet import BatchNorm2dThenSE, add_se
    host_cls = {"basic": BasicBlock, "bottleneck": Bottleneck}[kind]
    host_net = _randomised(ResNet(host_cls, [1, 1, 1, 1], num_classes=3))
    ours = add_se(copy.deepcopy(host_net), reduction=4, bias=True).double()
    assert ours.state_dict().keys() >= host_net.state_dict().keys()  # the plain keys stay
    last = "bn3" if kind == "bottleneck" else "bn2"
    for block_ours, block_host in zip(ours.layer2, host_net.layer2):
        norm = getattr(block_ours, last)
        assert type(norm) is BatchNorm2dThenSE
        _scaled(getattr(block_host, last), _constant_scale(norm.se))
    _same(ours.layer2, host_net.layer2, torch.randn(2, 64 * host_cls.expansion, 12, 10), train)


def test_torchvision_add_se_refuses_other_norms():
    from torchvision.models.resnet import BasicBlock, ResNet

    from c3_dense.models.imagenet import add_se
    model = ResNet(BasicBlock, [1, 1, 1, 1], norm_layer=lambda c: nn.GroupNorm(1, c))
    with pytest.raises(ValueError, match="bn2 is a BatchNorm2d, got GroupNorm"):
        add_se(model)


@pytest.mark.skipif(not importlib.util.find_spec("mmpretrain"), reason="needs mmpretrain")
@pytest.mark.parametrize("depth", [18, 50])
@pytest.mark.parametrize("options", [dict(), dict(drop_path_rate=0.3), dict(with_cp=True)])
def test_mmpretrain_se_sits_in_the_drop_path_slot(depth, options):
    import c3_dense.mmpretrain  # noqa: F401  (the mmcv.ops stand-in first)
    from mmpretrain.models.backbones import ResNet

    from c3_dense.mmpretrain.backbones import ResNetSE, SEThenDropPath
    kwargs = dict(depth=depth, num_stages=2, out_indices=(1,), strides=(1, 2), dilations=(1, 1),
                  **options)
    ours = _randomised(ResNetSE(**kwargs))
    host = ResNet(**kwargs).double()
    host.load_state_dict({k.replace(".drop_path.drop_path.", ".drop_path."): v
                          for k, v in ours.state_dict().items() if ".se." not in k})
    for name in ours.res_layers:
        for block_ours, block_host in zip(getattr(ours, name), getattr(host, name)):
            assert isinstance(block_ours.drop_path, SEThenDropPath)
            assert type(block_ours.drop_path.drop_path) is type(block_host.drop_path)
            _scaled(block_host.norm3 if depth == 50 else block_host.norm2,
                    _constant_scale(block_ours.drop_path.se))
    _same(ours, host, torch.randn(2, 3, 24, 20), train=True)


@pytest.mark.skipif(not importlib.util.find_spec("detectron2"), reason="needs detectron2")
@pytest.mark.parametrize("kind", ["basic", "bottleneck"])
@pytest.mark.parametrize("train", [False, True])
def test_detectron2_se_is_the_last_convolutions_activation(kind, train):
    from detectron2.modeling.backbone.resnet import BasicBlock, BottleneckBlock

    from c3_dense import SEBlock
    from c3_dense.detectron2.backbone import add_se
    if kind == "basic":
        host = BasicBlock(in_channels=16, out_channels=32, stride=2, norm="BN")
    else:
        host = BottleneckBlock(in_channels=16, out_channels=32, bottleneck_channels=8,
                               stride=2, norm="BN")
    host = _randomised(host)
    ours = copy.deepcopy(host)
    add_se([ours], reduction=4)  # the SE takes the block's dtype
    last = "conv3" if kind == "bottleneck" else "conv2"
    se = getattr(ours, last).activation
    assert isinstance(se, SEBlock)
    assert set(ours.state_dict()) - set(host.state_dict()) == {
        f"{last}.activation.{p}" for p in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")}
    _scaled(getattr(host, last).norm, _constant_scale(se))
    _same(ours, host, torch.randn(2, 16, 12, 10), train)
    with pytest.raises(ValueError, match="already has an activation"):
        add_se([ours], reduction=4)


def test_torchvision_se_model_traces_at_one_size_and_runs_at_others():
    # The SE on the norm is traced like any module (torch.jit.script does not take it:
    # TorchScript has no super() call; the deprecated scripter is not the path for these).
    from c3_dense.models import create
    model = _randomised(create("resnet18_se", num_classes=5)).eval()
    with torch.no_grad():
        traced = torch.jit.trace(model, torch.randn(1, 3, 64, 64, dtype=torch.float64))
        for shape in [(2, 3, 96, 80), (1, 3, 33, 47)]:
            x = torch.randn(*shape, dtype=torch.float64)
            torch.testing.assert_close(traced(x), model(x))
