"""SE's wiring against each host framework's own block: our SE blocks override the host's
``forward`` (torchvision's and mmpretrain's blocks have no slot after their last norm that
keeps the pretrained keys and survives SyncBN / FrozenBN conversion; docs in the README).
With the SE replaced by an identity, each must compute exactly what the host block computes,
in every mode the host has (drop_path, with_cp), so a change upstream fails here instead of
drifting silently."""
import copy
import importlib.util

import pytest
import torch
import torch.nn as nn


def _same_as_host(ours, host, x, train: bool, seed: int = 3):
    ours.se = nn.Identity()
    host.load_state_dict(ours.state_dict())
    outs = []
    for block in (ours, host):
        block.train(train)
        torch.manual_seed(seed)  # drop_path draws
        xi = x.detach().clone().requires_grad_(True)
        out = block(xi)
        out.square().sum().backward()
        outs.append((out.detach(), xi.grad))
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)


def _randomised(block):
    with torch.no_grad():
        for name, t in block.state_dict().items():
            if name.endswith("running_var"):
                t.uniform_(0.5, 1.5)
            elif t.is_floating_point():
                t.normal_(0, 0.2)
    return block


@pytest.mark.parametrize("kind", ["basic", "bottleneck"])
@pytest.mark.parametrize("train", [False, True])
def test_torchvision_se_blocks_are_the_host_blocks_plus_se(kind, train):
    from torchvision.models.resnet import BasicBlock, Bottleneck

    from c3_dense.models.imagenet import SEBasicBlock, SEBottleneck
    ours_cls, host_cls, planes = {"basic": (SEBasicBlock, BasicBlock, 16),
                                  "bottleneck": (SEBottleneck, Bottleneck, 8)}[kind]
    inplanes = planes * host_cls.expansion * 2
    down = nn.Sequential(nn.Conv2d(inplanes, planes * host_cls.expansion, 1, stride=2),
                         nn.BatchNorm2d(planes * host_cls.expansion))
    ours = _randomised(ours_cls(inplanes, planes, stride=2, downsample=copy.deepcopy(down)))
    _same_as_host(ours, host_cls(inplanes, planes, stride=2, downsample=down),
                  torch.randn(2, inplanes, 12, 10), train)


@pytest.mark.skipif(not importlib.util.find_spec("mmpretrain"), reason="needs mmpretrain")
@pytest.mark.parametrize("kind", ["basic", "bottleneck"])
@pytest.mark.parametrize("options", [dict(), dict(drop_path_rate=0.3), dict(with_cp=True)])
def test_mmpretrain_se_blocks_are_the_host_blocks_plus_se(kind, options):
    import c3_dense.mmpretrain  # noqa: F401  (the mmcv.ops stand-in first)
    from mmpretrain.models.backbones.resnet import BasicBlock, Bottleneck

    from c3_dense.mmpretrain.backbones import SEBasicBlock, SEBottleneck
    ours_cls, host_cls, out = {"basic": (SEBasicBlock, BasicBlock, 16),
                               "bottleneck": (SEBottleneck, Bottleneck, 32)}[kind]
    down = None if out == 16 else nn.Sequential(nn.Conv2d(16, out, 1), nn.BatchNorm2d(out))
    ours = _randomised(ours_cls(16, out, downsample=copy.deepcopy(down), **options))
    host = host_cls(16, out, downsample=down, **options)
    _same_as_host(ours, host, torch.randn(2, 16, 9, 11), train=True)


@pytest.mark.skipif(not importlib.util.find_spec("detectron2"), reason="needs detectron2")
@pytest.mark.parametrize("kind", ["basic", "bottleneck"])
@pytest.mark.parametrize("train", [False, True])
def test_detectron2_se_blocks_are_the_host_blocks_plus_se(kind, train):
    from detectron2.modeling.backbone.resnet import BasicBlock, BottleneckBlock

    from c3_dense.detectron2.backbone import SEBasicBlock, SEBottleneckBlock
    if kind == "basic":
        ours_cls, host_cls, kwargs = SEBasicBlock, BasicBlock, dict(
            in_channels=16, out_channels=32, stride=2, norm="BN")
    else:
        ours_cls, host_cls, kwargs = SEBottleneckBlock, BottleneckBlock, dict(
            in_channels=16, out_channels=32, bottleneck_channels=8, stride=2, norm="BN")
    ours = _randomised(ours_cls(**kwargs))
    _same_as_host(ours, host_cls(**kwargs), torch.randn(2, 16, 12, 10), train)
