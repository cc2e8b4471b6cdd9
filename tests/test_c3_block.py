"""C3Block: shapes, semantics, the paper's variants, precision and bad arguments."""
import itertools

import pytest
import torch
import torch.nn.functional as F

from c3_dense import C3Block
from c3_dense.core import channel_affinity, reference_forward, tile_starts

MODES_SIZES = [
    ("resize", 7, (2, 5, 1, 1)),
    ("resize", 8, (1, 3, 3, 500)),
    ("resize", (4, 6), (3, 9, 13, 17)),
    ("resize", 32, (1, 4, 5, 7)),          # window larger than the map
    ("tile", 4, (2, 6, 13, 17)),           # overlapping tiles
    ("tile", (3, 5), (1, 3, 3, 500)),
    ("tile", 8, (2, 4, 1, 1)),             # window larger than the map
    ("tile", 5, (1, 2, 10, 15)),           # exact multiples
    ("native", (6, 5), (2, 9, 6, 5)),
]


@pytest.mark.parametrize("mode,window,shape", MODES_SIZES)
@pytest.mark.parametrize("variant", ["full", "enc_dec", "message"])
def test_matches_loop_reference(mode, window, shape, variant):
    block = C3Block(window, mode=mode, variant=variant, reduction=4, group_size=4).eval()
    x = torch.randn(*shape)
    out = block(x)
    assert out.shape == x.shape
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, reference_forward(block, x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("include_self,norm,final_relu",
                         list(itertools.product([False, True], ["none", "bn"], [False, True])))
def test_options_match_reference(include_self, norm, final_relu):
    block = C3Block(6, include_self=include_self, norm=norm, final_relu=final_relu,
                    group_size=3)
    if norm == "bn":  # non-trivial running statistics
        block.train()
        block(torch.randn(4, 7, 12, 12))
    block.eval()
    x = torch.randn(2, 7, 11, 9)
    torch.testing.assert_close(block(x), reference_forward(block, x), rtol=1e-4, atol=1e-4)
    if final_relu:
        assert (block(x) >= 0).all()


def test_tile_starts_cover_and_overlap():
    assert tile_starts(16, 8) == [0, 8]
    assert tile_starts(8, 8) == [0]
    starts = tile_starts(13, 4)
    assert len(starts) == 4 and starts[0] == 0 and starts[-1] == 9
    covered = set()
    for s in starts:
        covered.update(range(s, s + 4))
    assert covered == set(range(13))


def test_tile_averages_overlaps_by_coverage():
    # With the update forced to a constant, averaging by coverage gives that constant back
    # everywhere; a wrong divisor (the older code's bug) would not.
    block = C3Block(4, mode="tile", variant="enc_dec", reduction=2)
    torch.nn.init.zeros_(block.dec_fc2.weight)
    torch.nn.init.constant_(block.dec_fc2.bias, 3.0)
    x = torch.randn(1, 2, 13, 7)
    torch.testing.assert_close(block(x) - x, torch.full_like(x, 3.0))


@pytest.mark.parametrize("mode,window", [("tile", 5), ("tile", 3), ("resize", 5),
                                         ("resize", (6, 3))])
def test_channels_last_input(mode, window):
    block = C3Block(window, mode=mode)
    x = torch.randn(2, 6, 12, 9)
    upstream = torch.randn(2, 6, 12, 9)
    results = []
    for layout in (torch.channels_last, torch.contiguous_format):
        xi = x.to(memory_format=layout).requires_grad_(True)
        out = block(xi)
        results.append([out] + list(torch.autograd.grad(out, [xi] + list(block.parameters()),
                                                        upstream)))
    for got, want in zip(*results):
        torch.testing.assert_close(got, want)


def test_every_parameter_gets_a_gradient():
    for variant, norm in [("full", "none"), ("full", "bn"), ("enc_dec", "bn"), ("message", "bn")]:
        block = C3Block(6, variant=variant, norm=norm, reduction=2)
        x = torch.randn(2, 5, 10, 10, requires_grad=True)
        block(x).square().sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()
        for name, p in block.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, (variant, norm, name)


@pytest.mark.parametrize("norm", ["none", "bn"])
@pytest.mark.parametrize("mode", ["resize", "tile"])
def test_zero_init_is_identity(norm, mode):
    block = C3Block(6, mode=mode, norm=norm, zero_init=True)
    x = torch.randn(2, 8, 13, 11)
    assert torch.equal(block(x), x)
    block.eval()
    assert torch.equal(block(x), x)
    # ... and it still learns: the zeroed layer gets a gradient.
    block.train()
    block(x).sum().backward()
    last = block.norm if norm == "bn" else block.dec_fc2
    assert last.weight.grad.abs().sum() > 0


def test_default_init_is_not_identity():
    block = C3Block(6)
    x = torch.randn(1, 4, 6, 6)
    assert not torch.allclose(block(x), x)


def test_include_self_semantics_on_hand_made_example():
    # Channel summaries 0, 0, 10: with include_self=False channel 0 hears only channel 1
    # (weight 1 vs e^-100 for channel 2); with include_self=True it splits between 0 and 1.
    v = torch.tensor([[0.0, 0.0, 10.0]])
    paper = channel_affinity(v, [3], include_self=False)[0, 0]
    authors = channel_affinity(v, [3], include_self=True)[0, 0]
    assert torch.allclose(paper.diagonal(), torch.zeros(3))
    torch.testing.assert_close(paper[0], torch.tensor([0.0, 1.0, 0.0]))
    torch.testing.assert_close(authors[0], torch.tensor([0.5, 0.5, 0.0]))
    # Channel 2 is far from both: excluded from itself it still must split 50/50 over 0 and 1.
    torch.testing.assert_close(paper[2], torch.tensor([0.5, 0.5, 0.0]))
    torch.testing.assert_close(authors[2], torch.tensor([0.0, 0.0, 1.0]))
    # Softmax of s_ij = -(v_i - v_j)^2, no temperature.
    v = torch.tensor([[0.0, 1.0, 2.0]])
    a = channel_affinity(v, [3], include_self=True)[0, 0]
    expected = torch.softmax(torch.tensor([0.0, -1.0, -4.0]), 0)
    torch.testing.assert_close(a[0], expected)


def test_message_variant_mixes_raw_maps():
    # variant='message' with include_self=False: channel 0's update is channel 1's map.
    block = C3Block((2, 2), mode="native", variant="message")
    x = torch.stack([torch.zeros(2, 2), torch.ones(2, 2) * 0.1, torch.ones(2, 2) * 50])[None]
    out = block(x)
    torch.testing.assert_close(out[0, 0], x[0, 0] + x[0, 1], rtol=1e-5, atol=1e-5)


def test_enc_dec_variant_has_no_cross_talk():
    block = C3Block(4, variant="enc_dec").eval()
    x = torch.randn(1, 6, 8, 8)
    y = x.clone()
    y[:, 3] += 5.0
    changed = (block(y) - block(x)).abs().amax(dim=(0, 2, 3))
    assert changed[3] > 0
    assert torch.all(changed[[0, 1, 2, 4, 5]] == 0)
    full = C3Block(4, variant="full").eval()
    changed = (full(y) - full(x)).abs().amax(dim=(0, 2, 3))
    assert torch.all(changed > 0)


@pytest.mark.parametrize("grouping,groups", [
    ("fixed", [{0, 1, 2}, {3, 4, 5}, {6, 7}]),   # groups of 3 and a remainder
    ("equal", [{0, 1, 2, 3}, {4, 5, 6, 7}]),     # the authors': 8 // 3 = 2 equal groups
])
def test_groups_keep_messages_inside(grouping, groups):
    block = C3Block(8, group_size=3, grouping=grouping, reduction=2).eval()
    # Small inputs keep the softmax soft, so every sender in a group is heard.
    x = torch.randn(1, 8, 8, 8) * 0.05
    for group in groups:
        poke = max(group)
        y = x.clone()
        y[:, poke] = y[:, poke] * 3 + 0.1
        changed = (block(y) - block(x)).abs().amax(dim=(0, 2, 3)) > 0
        assert set(torch.nonzero(changed).flatten().tolist()) == group


def test_single_channel_group_gets_zero_message_not_nan():
    block = C3Block(4, group_size=1, include_self=False)
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    out = block(x)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in block.parameters())
    # Zero message: the update equals the decoder applied to a zero vector.
    with torch.no_grad():
        zero_update = block.dec_fc2(torch.relu(block.dec_fc1.bias))
        one = C3Block(4, group_size=1).eval()
        one.load_state_dict(block.state_dict())
        v = torch.randn(1, 1, 4, 4)
        torch.testing.assert_close(one(v) - v, zero_update.reshape(1, 1, 4, 4).expand_as(v))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_cpu_autocast_has_no_nan(dtype):
    block = C3Block(8, norm="bn", group_size=4)
    x = torch.randn(2, 10, 20, 20) * 50  # large values: squared differences overflow fp16
    with torch.autocast("cpu", dtype=dtype):
        out = block(x)
    assert torch.isfinite(out).all()
    out.float().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in block.parameters())
    with torch.no_grad():
        ref = block(x)
    assert (out.float() - ref).abs().max() < 0.05 * ref.abs().max()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    block = C3Block(8, mode="tile", norm="bn").eval()
    x = torch.randn(2, 12, 20, 30)
    torch.testing.assert_close(block.cuda()(x.cuda()).cpu(), block.cpu()(x), rtol=1e-3, atol=1e-3)
    with torch.autocast("cuda", dtype=torch.float16):
        assert torch.isfinite(block.cuda()(x.cuda() * 100)).all()


def test_param_count_independent_of_channels():
    block = C3Block(16, norm="bn")
    a, h = 256, 32
    assert sum(p.numel() for p in block.parameters()) == 2 * (a * h + h + h * a + a) + 2 * a
    block(torch.randn(1, 3, 20, 20))
    block(torch.randn(1, 700, 20, 20))


BAD_ARGS = [
    (dict(window=0), "window"), (dict(window=(3,)), "window"), (dict(window=2.5), "window"),
    (dict(window=True), "window"), (dict(mode="crop"), "mode"), (dict(reduction=0), "reduction"),
    (dict(reduction=1.5), "reduction"), (dict(group_size=0), "group_size"),
    (dict(include_self="yes"), "include_self"), (dict(norm="ln"), "norm"),
    (dict(final_relu=1), "final_relu"), (dict(variant="both"), "variant"),
    (dict(zero_init=None), "zero_init"), (dict(variant="message", zero_init=True), "zero_init"),
]


@pytest.mark.parametrize("kwargs,name", BAD_ARGS)
def test_bad_arguments_raise_value_error_naming_them(kwargs, name):
    kwargs = {"window": 4, **kwargs}
    with pytest.raises(ValueError, match=name):
        C3Block(kwargs.pop("window"), **kwargs)


def test_bad_inputs():
    with pytest.raises(ValueError, match="native"):
        C3Block((4, 4), mode="native")(torch.randn(1, 2, 5, 4))
    with pytest.raises(ValueError, match="B×C×H×W"):
        C3Block(4)(torch.randn(2, 4, 4))


def test_channel_groups_follow_the_authors_rule_by_default():
    from c3_dense.core import channel_groups
    assert channel_groups(768, 512) == [768]
    assert channel_groups(1024, 512) == [512, 512]
    assert channel_groups(1280, 512) == [640, 640]
    assert channel_groups(2048, 512) == [512] * 4
    assert channel_groups(300, 512) == [300]
    assert channel_groups(1500, 512) == [750, 750]
    assert channel_groups(1501, 512) == [751, 750]       # not a multiple: sizes differ by one
    assert channel_groups(1280, 512, "fixed") == [512, 512, 256]
    assert C3Block(4).groups(1280) == [640, 640]
    with pytest.raises(ValueError, match="grouping"):
        C3Block(4, grouping="authors")


@pytest.mark.parametrize("grouping,channels", [("equal", 7), ("equal", 9), ("fixed", 7)])
def test_unequal_groups_match_reference(grouping, channels):
    # group_size 3: equal -> [4, 3] / [3, 3, 3]; fixed -> [3, 3, 1] (a lone channel).
    block = C3Block(5, group_size=3, grouping=grouping, reduction=2).eval()
    x = torch.randn(2, channels, 9, 11)
    torch.testing.assert_close(block(x), reference_forward(block, x), rtol=1e-4, atol=1e-4)


def test_float64_stays_float64():
    block = C3Block(6, norm="bn").double().eval()
    x = torch.randn(2, 5, 12, 12, dtype=torch.float64) * 30
    out = block(x)
    assert out.dtype == torch.float64
    # fp64 end to end: agrees with the loop reference far below float32 resolution.
    torch.testing.assert_close(out, reference_forward(block, x), rtol=1e-12, atol=1e-10)
    from c3_dense.core.c3 import channel_affinity, compute_dtype
    assert compute_dtype(torch.float16) == torch.float32
    assert compute_dtype(torch.bfloat16) == torch.float32
    assert channel_affinity(torch.randn(1, 4, dtype=torch.float64), [4], False).dtype == torch.float64


def test_biases_keep_pytorchs_default_init():
    # The authors' final code: Kaiming-normal weights, PyTorch's uniform bias init.
    block = C3Block(16)
    for fc in (block.enc_fc1, block.enc_fc2, block.dec_fc1, block.dec_fc2):
        bound = fc.in_features ** -0.5
        assert fc.bias.abs().max() <= bound and fc.bias.abs().max() > 0.3 * bound
        assert fc.weight.std().item() == pytest.approx((2 / fc.in_features) ** 0.5, rel=0.25)


@pytest.mark.parametrize("mode,window,shape", [("resize", 4, (2, 6, 8, 12)),
                                               ("resize", 5, (1, 6, 13, 7)),
                                               ("tile", 4, (1, 6, 8, 12)),
                                               ("tile", 5, (1, 6, 13, 7))])
def test_output_is_never_a_view_without_autograd(mode, window, shape):
    # Activation checkpointing runs the block inside a custom Function (autograd off) and the
    # caller may modify the output in place: a view there is an error.
    block = C3Block(window, mode=mode).eval()
    x = torch.randn(*shape)
    with torch.no_grad():
        out = block(x)
    assert out._base is None
    torch.testing.assert_close(out, reference_forward(block, x), rtol=1e-4, atol=1e-4)


def test_under_activation_checkpointing_with_inplace_after():
    from torch.utils.checkpoint import checkpoint
    block = C3Block(4, mode="resize")
    x = torch.randn(2, 6, 8, 8, requires_grad=True)
    out = checkpoint(block, x, use_reentrant=True)
    torch.relu_(out)  # mmseg's Bottleneck does this after its checkpointed body
    out.sum().backward()
    assert torch.isfinite(x.grad).all()


def _authors_block_restated(block, x):
    """The authors' final block as their equations read, on the whole map (native window):
    encoder and decoder MLPs over the spatial axis, softmax over all channels of a group
    (self included), C // 512 equal groups, ReLU(x + x_bar)."""
    b, c, h, w = x.shape
    z = block.enc_fc2(torch.relu(block.enc_fc1(x.reshape(b, c, h * w))))
    groups = max(1, c // 512) if c > 512 else 1
    zg = z.reshape(b, groups, c // groups, h * w)
    v = zg.mean(-1)
    a = torch.softmax(-(v.unsqueeze(-1) - v.unsqueeze(-2)) ** 2, dim=-1)
    m = (a @ zg).reshape(b, c, h * w)
    x_bar = block.dec_fc2(torch.relu(block.dec_fc1(m)))
    return torch.relu(x + x_bar.reshape(b, c, h, w))


@pytest.mark.parametrize("channels", [40, 1024, 1280])
def test_matches_the_authors_final_block_restated(channels):
    block = C3Block((7, 7), mode="native", include_self=True, final_relu=True).eval()
    x = torch.randn(2, channels, 7, 7)
    torch.testing.assert_close(block(x), _authors_block_restated(block, x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("groups,include_self", [([4, 4], False), ([4, 4], True),
                                                 ([3, 3, 1], False), ([4, 3], True),
                                                 ([1, 1], False)])
def test_channel_messages_match_plain_ops_and_gradcheck(groups, include_self):
    # The fused messages (custom backward) against the plain softmax ops, values and
    # gradients, including uneven groups and lone channels (no sender: zero message).
    from c3_dense.core.c3 import channel_messages, mix_channels
    torch.manual_seed(0)
    c = sum(groups)
    v = (torch.randn(3, c, dtype=torch.float64) * 2).requires_grad_(True)
    values = torch.randn(3, c, 5, dtype=torch.float64, requires_grad=True)
    fused = channel_messages(v, values, groups, include_self)
    plain = mix_channels(channel_affinity(v, groups, include_self), values, groups)
    torch.testing.assert_close(fused, plain, rtol=1e-12, atol=1e-12)
    upstream = torch.randn_like(fused)
    grads = torch.autograd.grad(fused, (v, values), upstream)
    expected = torch.autograd.grad(plain, (v, values), upstream)
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    assert torch.autograd.gradcheck(lambda a, b: channel_messages(a, b, groups, include_self),
                                    (v, values))


@pytest.mark.parametrize("offset", [0.0, 1000.0])
def test_channel_messages_float32_gradients_survive_a_common_offset(offset):
    # The affinities depend only on differences of v; so must the gradient's precision. A
    # common offset of 1000 in float32 costs digits unless backward centres v.
    from c3_dense.core.c3 import channel_messages
    torch.manual_seed(3)
    v = (torch.randn(4, 64, dtype=torch.float64) + offset).float().double()  # same inputs
    values = torch.randn(4, 64, 5, dtype=torch.float64)
    upstream = torch.randn(4, 64, 5, dtype=torch.float64)
    grads = {}
    for dtype in (torch.float64, torch.float32):
        vi = v.to(dtype).requires_grad_(True)
        out = channel_messages(vi, values.to(dtype), [64], False)
        (grads[dtype],) = torch.autograd.grad(out, vi, upstream.to(dtype))
    want = grads[torch.float64]
    err = (grads[torch.float32].double() - want).abs().max() / want.abs().max()
    assert err < 2e-5, err


GRADIENT_CASES = [
    ("resize", 4, (2, 6, 8, 12)),      # integer factors
    ("resize", 5, (1, 7, 13, 9)),      # odd sizes, non-integer factors
    ("resize", 8, (2, 3, 5, 6)),       # window larger than the map
    ("tile", 4, (1, 5, 10, 7)),        # overlapping tiles
    ("tile", 4, (1, 3, 8, 12)),        # windows side by side (a view)
    ("tile", 6, (1, 3, 4, 13)),        # map lower than the window
    ("native", (3, 5), (2, 6, 3, 5)),
]


@pytest.mark.parametrize("mode,window,shape", GRADIENT_CASES)
@pytest.mark.parametrize("variant", ["full", "message", "enc_dec"])
def test_gradients_match_loop_reference(mode, window, shape, variant):
    # Every fast path (windows, fused messages, folded linear layers) against the loop
    # reference: output, input gradient and parameter gradients, in float64.
    torch.manual_seed(1)
    block = C3Block(window, mode=mode, variant=variant, reduction=2, group_size=4,
                    norm="bn" if variant == "message" else "none").double().eval()
    x = torch.randn(*shape, dtype=torch.float64)
    upstream = torch.randn(*shape, dtype=torch.float64)
    results = []
    for forward in (block, lambda t: reference_forward(block, t)):
        xi = x.clone().requires_grad_(True)
        out = forward(xi)
        params = list(block.parameters())
        grads = torch.autograd.grad(out, [xi] + params, upstream)
        results.append([out] + list(grads))
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("shape", [(1, 3, 8, 12), (1, 3, 7, 9)])  # integer factors, and not
def test_resize_gradients_when_the_input_is_used_again_or_only_parameters_are_asked(shape):
    # Resize mode hands ∂L/∂out from the way up to the way down (one full-size map for ∂L/∂x).
    # Checked where autograd's own bookkeeping differs: x also used outside the block, a first
    # backward that asks only for the parameters (the way down is then skipped), and again.
    torch.manual_seed(4)
    block = C3Block(4, reduction=2).double()
    x = torch.randn(*shape, dtype=torch.float64)
    params = list(block.parameters())
    results = []
    for forward in (block, lambda t: reference_forward(block, t)):
        xi = x.clone().requires_grad_(True)
        loss = (forward(xi) * torch.cos(xi)).sum() + xi.square().sum()
        only_params = torch.autograd.grad(loss, params, retain_graph=True)
        both = torch.autograd.grad(loss, [xi] + params, retain_graph=True)
        again = torch.autograd.grad(loss, [xi])
        results.append(list(only_params) + list(both) + list(again))
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("shape", [(2, 3, 8, 12), (2, 3, 7, 9)])
def test_resize_add_back_of_an_update_that_does_not_depend_on_x(shape):
    # Without a way down in the graph, the way up must give ∂L/∂x itself.
    from c3_dense.core.windows import to_windows
    x = torch.randn(*shape, requires_grad=True)
    _, add_back = to_windows(x, (4, 4), "resize")
    update = torch.randn(shape[0] * shape[1], 4, 4, requires_grad=True)
    upstream = torch.randn(*shape)
    grad_x, grad_update = torch.autograd.grad(add_back(update), [x, update], upstream)
    assert torch.equal(grad_x, upstream)
    expected = F.interpolate(upstream, size=(4, 4), mode="area") * (shape[2] * shape[3] / 16)
    if shape[2] % 4 == 0 and shape[3] % 4 == 0:  # every output pixel feeds one window pixel
        torch.testing.assert_close(grad_update.reshape(shape[0], shape[1], 4, 4), expected)
    assert torch.isclose(grad_update.sum(), upstream.sum(), rtol=1e-4)
    # An update made from the vectors: the same ∂L/∂x with and without the promise.
    grads = []
    for promise in (False, True):
        vectors, add_back = to_windows(x, (4, 4), "resize")
        out = add_back(vectors.tanh().reshape(-1, 4, 4), from_vectors=promise)
        grads.append(torch.autograd.grad(out, x, upstream)[0])
    assert not torch.equal(grads[0], upstream)
    torch.testing.assert_close(grads[0], grads[1])


@pytest.mark.parametrize("mode", ["resize", "tile"])
@pytest.mark.parametrize("shape", [(1, 2, 8, 4), (1, 2, 5, 7)])
def test_window_functions_have_second_derivatives(mode, shape):
    # The window Functions' backward is made of differentiable ops: the encoder/decoder
    # variant (no message step) supports double backward in resize and tile mode.
    torch.manual_seed(5)
    block = C3Block(4, mode=mode, variant="enc_dec", reduction=2).double()
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(block, (x,))


def test_gradients_in_float32_are_close_to_float64():
    torch.manual_seed(2)
    block = C3Block(6, group_size=8)
    x = torch.randn(2, 12, 17, 23)
    grads = {}
    for name, dtype in (("f64", torch.float64), ("f32", torch.float32)):
        b = C3Block(6, group_size=8).to(dtype)
        b.load_state_dict(block.state_dict())
        xi = x.to(dtype).requires_grad_(True)
        b(xi).square().sum().backward()
        grads[name] = [xi.grad.double()] + [p.grad.double() for p in b.parameters()]
    for a, b in zip(grads["f32"], grads["f64"]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * (1 + b.abs().max().item()))


def test_second_derivatives_raise_instead_of_being_incomplete():
    block = C3Block(4)
    x = torch.randn(1, 4, 8, 8, requires_grad=True)
    (grad,) = torch.autograd.grad(block(x).square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        grad.sum().backward()


def test_options_are_checked_by_name_before_anything_is_allocated():
    # One validator for the block and every adapter: the invalid option comes back by name
    # (an adapter maps it to its own config key without reading the message).
    from c3_dense.core import C3OptionError, check_c3_options
    cases = {"window": dict(window=(0, 3)), "mode": dict(mode="grid"),
             "reduction": dict(reduction=0), "group_size": dict(group_size=True),
             "grouping": dict(grouping="odd"), "include_self": dict(include_self=1),
             "norm": dict(norm="ln"), "final_relu": dict(final_relu="yes"),
             "variant": dict(variant="all"),
             "zero_init": dict(variant="message", zero_init=True)}
    for argument, options in cases.items():
        with pytest.raises(C3OptionError) as info:
            check_c3_options(**options)
        assert info.value.argument == argument, (argument, str(info.value))
        with pytest.raises(ValueError, match=argument):
            C3Block(**options)
    # A window far too large is refused from its parameter count (no allocation is tried).
    with pytest.raises(C3OptionError, match="window 4000x4000 gives the block") as info:
        check_c3_options(4000)
    assert info.value.argument == "window"
    assert check_c3_options((6, 4), norm=None)["norm"] == "none"
