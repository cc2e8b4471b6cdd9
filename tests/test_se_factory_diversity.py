import pytest
import torch
import torch.nn as nn

from c3_dense import C3Block, DiversityProbe, SEBlock, channel_diversity, create_block


def test_se_matches_its_equation():
    se = SEBlock(16, reduction=8)
    assert se.fc1.bias is None and se.fc1.out_channels == 2
    assert sum(p.numel() for p in se.parameters()) == 2 * 16 * 2
    x = torch.randn(2, 16, 5, 7)
    s = torch.sigmoid(se.fc2.weight[:, :, 0, 0] @ torch.relu(se.fc1.weight[:, :, 0, 0] @ x.mean((2, 3)).T))
    torch.testing.assert_close(se(x), x * s.T[:, :, None, None])


def test_se_bad_arguments():
    for kwargs, name in [(dict(channels=0), "channels"), (dict(channels=8, reduction=0), "reduction"),
                         (dict(channels=8, bias="no"), "bias")]:
        with pytest.raises(ValueError, match=name):
            SEBlock(**kwargs)
    with pytest.raises(ValueError, match="SEBlock"):
        SEBlock(8)(torch.randn(1, 4, 3, 3))


def test_factory():
    assert isinstance(create_block("c3", window=7), C3Block)
    assert isinstance(create_block("SE", 32), SEBlock)
    assert isinstance(create_block(None), nn.Identity)
    with pytest.raises(ValueError, match="unknown block"):
        create_block("cbam")
    with pytest.raises(ValueError, match="channels"):
        create_block("se")


def test_diversity_known_answers():
    base = torch.randn(1, 1, 8, 8)
    identical = base.repeat(1, 6, 1, 1) * torch.arange(1, 7).view(1, 6, 1, 1)
    assert channel_diversity(identical).item() == pytest.approx(1.0, abs=1e-5)
    # Mutually uncorrelated: orthogonal zero-mean patterns (rows of a Hadamard matrix).
    h = torch.tensor([[1.0]])
    for _ in range(4):
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    x = h[1:9].reshape(1, 8, 4, 4)  # 8 channels, each zero-mean, pairwise orthogonal
    assert channel_diversity(x).item() == pytest.approx(1 / 8, abs=1e-6)
    # Anti-correlated channels count by absolute value.
    assert channel_diversity(torch.cat([base, -base], 1)).item() == pytest.approx(1.0, abs=1e-5)


def test_diversity_variants_and_errors():
    x = torch.randn(3, 5, 6, 6)
    per_sample = channel_diversity(x, reduce=False)
    assert per_sample.shape == (3,)
    assert torch.all((per_sample >= 1 / 5 - 1e-6) & (per_sample <= 1 + 1e-6))
    # The authors' variant centres each pixel across channels: a shared offset map vanishes.
    offset = torch.randn(1, 1, 6, 6) * 100
    a = channel_diversity(x + offset, method="authors")
    b = channel_diversity(x, method="authors")
    torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)
    assert channel_diversity(x + offset, method="paper") > channel_diversity(x, method="paper") + 0.3
    # A constant channel contributes zero correlations, not NaN.
    x[:, 0] = 1.0
    assert torch.isfinite(channel_diversity(x))
    with pytest.raises(ValueError, match="method"):
        channel_diversity(x, method="cosine")


def test_probe_records_every_c3_block():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), C3Block(4), nn.ReLU(), C3Block(4))
    probe = DiversityProbe(model)
    batches = [torch.randn(2, 3, 8, 8) for _ in range(3)]
    stats = probe.measure(batches, max_batches=2)
    assert set(stats) == {"1", "3"}
    for entry in stats.values():
        assert 0 < entry["input"] <= 1 and 0 < entry["output"] <= 1
    x = batches[0]
    direct = channel_diversity(model[0](x))
    one = DiversityProbe(model).measure([x])
    assert one["1"]["input"] == pytest.approx(direct.item(), rel=1e-5)
    with pytest.raises(ValueError, match="no C3Block"):
        DiversityProbe(nn.Conv2d(1, 1, 1))


def test_probe_by_name_while_recording_any_call():
    """A plain model is probed at named modules (the places C3 blocks take in a C3 model),
    whatever runs it; the model's mode and autograd are restored afterwards."""
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Sequential(nn.ReLU()), nn.Conv2d(8, 8, 1))
    model.train()
    probe = DiversityProbe(model, names=["1"])
    x = torch.randn(2, 3, 8, 8)
    with probe.recording():
        assert not torch.is_grad_enabled() and not model.training
        model(x)
    assert model.training and torch.is_grad_enabled()
    stats = probe.results()
    assert stats["1"]["input"] == pytest.approx(channel_diversity(model[0](x)).item(), rel=1e-5)
    with pytest.raises(ValueError, match="no module 'res9'"):
        DiversityProbe(model, names=["res9"])
