"""C3Stage: C3 in front of a stage; its output stored for backward as a recipe."""
import gc
import weakref

import pytest
import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from c3_dense import C3Block, C3Stage


class Bottleneckish(nn.Module):
    """Two consumers of the stage input (as a ResNet block's conv1 and shortcut)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 1, stride)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride)

    def forward(self, x):
        return torch.relu(self.conv2(torch.relu(self.conv1(x))) + self.shortcut(x))


def _network(recompute: bool, **c3_kwargs):
    torch.manual_seed(0)
    stages = [C3Stage(C3Block(8, **c3_kwargs), [Bottleneckish(16, 16, 1), Bottleneckish(16, 16, 1)]),
              C3Stage(C3Block(4, mode="tile"), [Bottleneckish(16, 32, 2), Bottleneckish(32, 32, 1)])]
    for stage in stages:
        stage.recompute_c3_output = recompute
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), *stages)


@pytest.mark.parametrize("how", ["plain", "reentrant checkpoint", "non-reentrant checkpoint"])
@pytest.mark.parametrize("c3_kwargs", [{}, {"final_relu": True, "mode": "resize"}])
def test_recipe_gives_the_same_gradients(how, c3_kwargs):
    x = torch.randn(2, 3, 20, 28, requires_grad=True)
    grads = []
    for recompute in (False, True):
        net = _network(recompute, **c3_kwargs)
        if how == "plain":
            out = net(x)
        else:
            out = checkpoint(net, x, use_reentrant=how.startswith("reentrant"))
        out.square().sum().backward(retain_graph=True)
        out.sum().backward()  # a second backward through the same graph rebuilds again
        grads.append([p.grad.clone() for p in net.parameters()])
        x.grad = None
    for with_tensor, with_recipe in zip(*grads):
        assert torch.equal(with_tensor, with_recipe)


def _c3_output_alive_after_forward(recompute: bool) -> bool:
    net = _network(recompute)
    outputs = []
    net[2].c3.register_forward_hook(lambda m, i, o: outputs.append(weakref.ref(o)))
    loss = net(torch.randn(2, 3, 16, 16)).sum()
    gc.collect()
    alive = outputs[0]() is not None
    loss.backward()
    return alive


def test_c3_output_is_not_kept_for_backward():
    # The stage's blocks would store the C3 output (full size); with the recipe autograd keeps
    # only the block's input (stored anyway) and the small update.
    assert _c3_output_alive_after_forward(recompute=False)
    assert not _c3_output_alive_after_forward(recompute=True)


def test_a_hook_that_replaces_the_output_is_respected():
    net = _network(True)
    net[2].c3.register_forward_hook(lambda m, i, o: o * 2)
    x = torch.randn(1, 3, 16, 16)
    reference = _network(False)
    reference[2].c3.register_forward_hook(lambda m, i, o: o * 2)
    net(x).sum().backward()
    reference(x).sum().backward()
    for a, b in zip(net.parameters(), reference.parameters()):
        assert torch.equal(a.grad, b.grad)


def test_eval_and_no_grad_take_the_plain_path():
    net = _network(True).eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, 16, 16))
    assert out.shape == (1, 32, 8, 8) and net[2].c3._recompute_sink is None


class InplaceFirst(nn.Module):
    """A block that changes its input in place before a layer saves it."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        x.mul_(2)
        return self.conv(x)


def test_output_changed_in_place_before_saving_is_stored_as_is():
    # The recipe rebuilds what the C3 block returned; if a block modifies that in place and
    # a layer then saves it, the saved values are the modified ones: stored as a tensor.
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    grads = []
    for recompute in (False, True):
        torch.manual_seed(0)
        stage = C3Stage(C3Block(4), [InplaceFirst(4)])
        stage.recompute_c3_output = recompute
        stage(x).square().sum().backward()
        grads.append([p.grad.clone() for p in stage.parameters()] + [x.grad.clone()])
        x.grad = None
    for a, b in zip(*grads):
        assert torch.equal(a, b)
