"""The paper's protocol: the C3 block's two published forms by name, and the network that made
the paper's CIFAR table re-stated here from its description.

The authors' CIFAR-100 ResNet-56 + C3, as their paper and code describe it: post-activation
basic blocks (conv-BN-ReLU-conv-BN, + shortcut, ReLU) with 1×1-conv + BN projection shortcuts
where the shape changes; their final C3 block in front of stages 1-3 (windows 16, 16, 8 on the
maps it sees: 16ch@32², 16ch@32², 32ch@16²), which nearest-resizes its input to the window,
encodes each channel's map with an MLP over the positions (A → A/8 → A), weights every channel
of its group (itself included) by softmax(-(v_i - v_j)²) of the encoded maps' means, decodes
the mixed maps with a second MLP, resizes the update back and returns ReLU(x + x̄).
Everything below is written from that description, not from this package's code."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from c3_dense import C3Block
from c3_dense.core import FORMS, C3OptionError
from c3_dense.models import create


class AuthorsC3(nn.Module):
    def __init__(self, window: int, reduction: int = 8):
        super().__init__()
        area = window * window
        self.window = window
        self.enc1, self.enc2 = nn.Linear(area, area // reduction), nn.Linear(area // reduction, area)
        self.dec1, self.dec2 = nn.Linear(area, area // reduction), nn.Linear(area // reduction, area)

    def forward(self, x):
        b, c, h, w = x.shape
        small = F.interpolate(x, size=(self.window, self.window), mode="nearest").flatten(2)
        z = self.enc2(F.relu(self.enc1(small)))                      # b × c × A
        groups = c // 512 if c > 512 else 1
        z = z.reshape(b, groups, c // groups, -1)
        v = z.mean(-1)
        a = torch.softmax(-(v.unsqueeze(-1) - v.unsqueeze(-2)) ** 2, dim=-1)  # self included
        m = (a @ z).reshape(b, c, -1)
        update = self.dec2(F.relu(self.dec1(m))).reshape(b, c, self.window, self.window)
        return F.relu(x + F.interpolate(update, size=(h, w), mode="nearest"))


class AuthorsBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.project = None
        if stride != 1 or cin != cout:
            self.project = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                         nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.project is None else self.project(x)))


class AuthorsResNetC3(nn.Module):
    def __init__(self, depth: int = 56, num_classes: int = 100):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1, self.bn1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16)
        self.body, cin = nn.ModuleList(), 16
        for width, stride, window in ((16, 1, 16), (32, 2, 16), (64, 2, 8)):
            blocks = [AuthorsC3(window)]
            for j in range(n):
                blocks.append(AuthorsBlock(cin, width, stride if j == 0 else 1))
                cin = width
            self.body.append(nn.Sequential(*blocks))
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for stage in self.body:
            x = stage(x)
        return self.fc(x.mean((2, 3)))


def _randomised(model):
    """Every parameter and BN statistic random, at a trained network's scale (activations stay
    of order one through the 56 layers, so gradients compare in relative terms)."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith(("running_var", "bn1.weight", "bn2.weight", ".1.weight")) \
                    and t.dim() == 1:
                t.copy_(torch.rand(t.shape, generator=g, dtype=t.dtype) * 0.4 + 0.8)
            elif t.dim() > 1:  # conv and linear weights: He-scaled
                t.copy_(torch.randn(t.shape, generator=g, dtype=t.dtype)
                        * (1.0 / t[0].numel()) ** 0.5)
            else:  # biases, BN shifts and means
                t.copy_(torch.randn(t.shape, generator=g, dtype=t.dtype) * 0.1)
    return model


def _restated_and_ours(form: str):
    ours = _randomised(create("cifar_resnet56_c3", form=form).double())
    theirs = AuthorsResNetC3().double()
    mine, their_state = ours.state_dict(), theirs.state_dict()
    # The same tensors in the same order (conv1, bn1, each stage's C3 then its blocks, fc).
    assert [tuple(t.shape) for t in mine.values()] == [tuple(t.shape) for t in their_state.values()]
    theirs.load_state_dict(dict(zip(their_state, mine.values())))
    return ours, theirs


@pytest.mark.parametrize("train", [False, True])
def test_the_authors_form_is_the_authors_cifar_network_restated(train):
    ours, theirs = _restated_and_ours("authors")
    ours.train(train), theirs.train(train)
    x = torch.randn(4, 3, 32, 32, dtype=torch.float64)
    x_ours, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    logits, reference = ours(x_ours), theirs(x_theirs)
    torch.testing.assert_close(logits, reference, rtol=1e-12, atol=1e-12)
    weights = torch.randn_like(logits)
    (logits * weights).sum().backward()
    (reference * weights).sum().backward()
    torch.testing.assert_close(x_ours.grad, x_theirs.grad, rtol=1e-10, atol=1e-12)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-9, atol=1e-11, msg=name)


def test_the_paper_form_is_another_network_on_the_same_weights():
    ours, theirs = _restated_and_ours("paper")
    x = torch.randn(4, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        assert (ours.eval()(x) - theirs.eval()(x)).abs().max() > 1e-2


def test_forms_set_the_defaults_and_explicit_options_win():
    assert FORMS == {"paper": dict(include_self=False, final_relu=False),
                     "authors": dict(include_self=True, final_relu=True)}
    paper, authors = C3Block(7), C3Block(7, form="authors")
    assert (paper.include_self, paper.final_relu) == (False, False)
    assert (authors.include_self, authors.final_relu) == (True, True)
    mixed = C3Block(7, form="authors", final_relu=False)
    assert (mixed.include_self, mixed.final_relu) == (True, False)
    assert "form='authors'" in repr(authors)
    with pytest.raises(C3OptionError, match="form must be one of"):
        C3Block(7, form="author")
    # Scripting keeps the form's options: ReLU(x + x̄) is never negative.
    block = C3Block(4, form="authors", mode="native").eval()
    x = torch.randn(1, 3, 4, 4)
    scripted = torch.jit.script(block)
    torch.testing.assert_close(scripted(x), block(x))
    assert (scripted(x) >= 0).all() and (C3Block(4, mode="native").eval()(x) < 0).any()
